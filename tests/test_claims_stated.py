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


def gates_of(paper):
    return getattr(importlib.import_module(f"repro.{paper}.claims"), "GATES", ())


@pytest.mark.parametrize("paper", papers.available())
def test_every_claim_has_a_gate_and_every_gate_a_claim(paper):
    """Every paper trains a model, so every claim names the gate that shows the miniature can test it
    (docs/design.md, Claims); a gate that covers nothing, or an unknown claim, is an error too."""
    from repro.core.claims import check_gates

    gates = gates_of(paper)
    assert gates, f"{paper}: claims.py declares no GATES"
    check_gates(gates, claims_of(paper))


def _test_names(paper):
    import ast
    from pathlib import Path

    names = set()
    for path in (Path(__file__).parent / paper).glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


@pytest.mark.parametrize("paper", papers.available())
def test_every_control_has_a_sabotage_test(paper):
    """A control that no sabotage of its mechanism can move tests nothing: each control K has a test
    named ``test_<k>_sabotage...`` in tests/<paper>/ that breaks the mechanism K names and sees K's
    effect move past its margin."""
    names = _test_names(paper)
    controls = [c.id for c in claims_of(paper) if c.control]
    missing = [
        k for k in controls if not any(n.startswith(f"test_{k.lower().replace('-', '_')}_sabotage") for n in names)
    ]
    assert not missing, f"{paper}: controls {missing} have no test_<id>_sabotage test in tests/{paper}/"
