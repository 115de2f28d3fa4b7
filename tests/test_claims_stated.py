"""Every paper's claims are stated the way the verdict rule needs them (docs/design.md, Claims)."""

import importlib

import pytest

from repro.core import papers

DIRECTIONAL = ("better", "best_of", "argmax", "robust")


def claims_of(paper):
    return importlib.import_module(f"repro.{paper}.claims").CLAIMS


@pytest.mark.parametrize("paper", papers.available())
def test_each_directional_claim_says_why_its_margin(paper):
    """A margin is the smallest effect that would count as the paper's claim in the miniature, fixed
    before the run: its note gives the reason (0 included: 'any improvement is the claim')."""
    silent = [c.id for c in claims_of(paper) if c.type in DIRECTIONAL and not c.control and not c.note.strip()]
    assert not silent, f"{paper}: claims {silent} have no note on their margin"


@pytest.mark.parametrize("paper", papers.available())
def test_each_paper_has_a_control_that_says_why_it_can_fail(paper):
    controls = [c for c in claims_of(paper) if c.control]
    assert controls, f"{paper} has no control claim"
    silent = [c.id for c in controls if not c.note.strip()]
    assert not silent, f"{paper}: controls {silent} do not say why their outcome is not fixed by construction"
