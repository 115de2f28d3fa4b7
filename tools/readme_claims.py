"""Print the README's claims table of each paper from its golden claims (results/cpu/<paper>/claims.json).

    .venv/bin/python tools/readme_claims.py mmard mods ...

The README's tables are checked against the golden files by tests/test_project.py; this writes them.
"""

import json
import sys
from pathlib import Path

from repro.core.claims import needs_text

ROOT = Path(__file__).resolve().parents[1]


def short(text: str, limit: int = 95) -> str:
    text = text.removeprefix("...").strip().removeprefix("Control:").strip()
    first = text.split(". ")[0].rstrip(".")
    return first if len(first) <= limit else first[: limit - 3].rsplit(" ", 1)[0] + " ..."


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}" if abs(x) < 1000 else f"{x:+.3g}"


def table(paper: str) -> str:
    doc = json.loads((ROOT / "results/cpu" / paper / "claims.json").read_text())
    lines = [
        f"<!-- claims: {paper} -->",
        "| claim | ours | 95% CI | margin | paper delta | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for c in doc["claims"]:
        r = c["result"]
        label = f"{c['id']} {'control: ' if c['control'] else ''}{short(c['text'])}"
        ci = f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
        margin = str(tuple(c["band"])) if c["type"] == "tracks" else f"{c['margin']:g}"
        verdict = r["verdict"]
        if c["control"]:
            verdict += " (as expected)" if r.get("as_expected") else f" (NOT as expected: {c['expected']})"
        elif needs := needs_text(r):
            verdict += f"; to decide: {needs}"
        lines.append(f"| {label} | {fmt(r['effect'])} | {ci} | {margin} | {fmt(c['paper_delta'])} | {verdict} |")
    seeds = doc["run"]["seeds"]
    lines.append("")
    lines.append(f"*{len(seeds)} seeds; `results/cpu/{paper}/claims.json`.*")
    return "\n".join(lines)


if __name__ == "__main__":
    for paper in sys.argv[1:]:
        print(table(paper), end="\n\n")
