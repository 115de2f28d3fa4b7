"""Every paper's profiles build on CPU: models instantiated, one forward on a tiny batch (so the gpu
and paper configs, which CI never trains, cannot rot)."""

import importlib

import pytest
import torch

from repro.core import papers


def profiles():
    for paper in papers.available():
        for profile in papers.package(paper).PROFILES:
            yield paper, profile


@pytest.mark.parametrize("paper,profile", list(profiles()))
def test_profile_builds_and_runs_a_forward(paper, profile):
    cfg = papers.package(paper).config(profile)
    assert cfg.profile == profile and cfg.run_name == profile and cfg.seeds
    models = importlib.import_module(f"repro.{paper}.models")  # check_models lives beside the models it builds
    for name, (module, batch) in models.check_models(cfg).items():
        with torch.no_grad():
            out = module.eval()(batch)
        assert torch.isfinite(out).all(), f"{paper}/{profile}: {name} gives non-finite output"
