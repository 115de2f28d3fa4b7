"""Decide a paper's golden claims again from the scores they came from, with the current rule:

    .venv/bin/python tools/redecide.py mmard mods ...

Reads ``results/cpu/<paper>/claims.json`` and ``scores.npz`` (per-unit scores, read without pickle),
keeps the run, the gates it measured, the table and the ledger, and rewrites the claims' results. For
a change of the verdict rule, not of any measurement: a changed method needs a new ``cpu`` run.
Prints each verdict that changed.
"""

import importlib
import json
import sys
from pathlib import Path

from repro.core.claims import redecide
from repro.core.scores import load_scores
from repro.core.steps import write_json

ROOT = Path(__file__).resolve().parents[1]


def main(paper: str) -> None:
    folder = ROOT / "results/cpu" / paper
    doc = json.loads((folder / "claims.json").read_text())
    claims = importlib.import_module(f"repro.{paper}.claims").CLAIMS
    new = redecide(doc, claims, load_scores(folder / "scores.npz"))
    for old, fresh in zip(doc["claims"], new["claims"]):
        if old["result"]["verdict"] != fresh["result"]["verdict"]:
            print(f"{paper} {old['id']}: {old['result']['verdict']} -> {fresh['result']['verdict']}")
    write_json(folder / "claims.json", new)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        main(name)
