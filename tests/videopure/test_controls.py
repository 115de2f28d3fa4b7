"""The controls K1 and K2 can fail. With no attack a purifier keeps the recogniser's clean accuracy only
because its DDPM regenerates the clip it was given (and, for VideoPure, because the guided step moves
the candidates by the code's per-element amount). Sabotage that mechanism and each control's effect
falls past its 10-point margin; with a denoiser that regenerates the clip exactly under DDIM (noise
prediction 0: inversion and denoising undo each other) K1 stays inside it.

A recogniser is trained for a few seconds on smoke-sized moving digits (about 75% on the block); the
block is 40 test clips, one seed."""

import numpy as np
import pytest
import torch
from torch import nn

from repro.core.claims import decide
from repro.core.runtime import make_accelerator
from repro.videopure import config
from repro.videopure.baselines import rung
from repro.videopure.claims import CLAIMS
from repro.videopure.data import moving_digits
from repro.videopure.method import Purifier, predict
from repro.videopure.models import scheduler_config
from repro.videopure.training import train_recogniser

CONTROLS = {c.id: c for c in CLAIMS if c.control}


class Noise(nn.Module):
    """A stand-in DDPM: predicts zero noise (``scale=0``: DDIM regenerates the clip exactly), or noise
    uncorrelated with its input (``scale=1``: a DDPM that knows nothing of the data)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale, self.generator = scale, torch.Generator().manual_seed(0)

    def forward(self, z, t):
        return type("Out", (), {"sample": self.scale * torch.randn(z.shape, generator=self.generator)})()


@pytest.fixture(scope="module")
def setup():
    cfg = config("smoke", video={"frames": 4}, recogniser={"epochs": 12})
    clips = moving_digits(cfg.video, cfg.test_fraction, 0).with_format("torch")
    train, test = clips["train"][:], clips["test"][:40]
    torch.set_num_threads(1)
    recogniser, _, _ = train_recogniser(
        cfg.recogniser, train["video"], train["label"], cfg.n_classes, 0, make_accelerator(cfg)
    )
    return cfg, recogniser.eval(), test["video"], test["label"]


def control_effect(control: str, setup, unet: nn.Module, **knobs) -> tuple[float, str]:
    """The control's effect (points, a minus b) and its verdict on the block, with ``unet`` as the DDPM."""
    cfg, recogniser, video, label = setup
    p = Purifier(unet, scheduler_config(1000), cfg.ddim_steps, 6, 11, **knobs)
    claim = CONTROLS[control]
    scores = {}
    for arm in claim.arms:
        purified = rung(arm.split("@")[0])(p, video, torch.Generator().manual_seed(0))
        scores[arm] = 100.0 * (predict(recogniser, purified) == label).numpy()[None].astype(np.float64)
    return float(scores[claim.a].mean() - scores[claim.b[0]].mean()), decide(claim, scores).verdict


def test_k1_sabotage_a_ddpm_that_does_not_know_the_data(setup):
    margin = CONTROLS["K1"].margin
    kept, _ = control_effect("K1", setup, Noise(0.0))
    assert abs(kept) < margin  # regenerated exactly: the clean accuracy stays
    broken, verdict = control_effect("K1", setup, Noise(1.0))
    assert broken < -margin and verdict != "reproduced"


def test_k1_sabotage_the_guided_step_read_on_the_clips_own_elements(setup):
    """The code's mean read literally on a 4 x 12 x 12 clip moves each element ~300x further than in
    the code (repro.videopure.method, Scale): the candidates leave the clip."""
    broken, verdict = control_effect("K1", setup, Noise(0.0), reference_frames=0, reference_frame_elements=0)
    assert broken < -CONTROLS["K1"].margin and verdict != "reproduced"


def test_k2_sabotage_a_ddpm_that_removes_no_noise(setup):
    """DiffPure adds noise to every frame and relies on the DDPM to take it out again."""
    broken, verdict = control_effect("K2", setup, Noise(0.0))
    assert broken < -CONTROLS["K2"].margin and verdict != "reproduced"
