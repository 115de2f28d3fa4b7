"""Write each paper's results block, generated from its golden claims (results/cpu/<paper>/claims.json),
into the README and into the paper's page (docs/papers/<paper>.md):

    .venv/bin/python tools/readme_claims.py mmard mods ...        # print the blocks
    .venv/bin/python tools/readme_claims.py --write mmard mods ...  # replace them in place

A block opens with the paper's one-line summary (verdict counts, controls as expected, gates passed),
then the gates and the claims tables; a claim whose verdict changed when the golden's code was rerun
under another setting (``results/cpu/<paper>/settings/``, recorded by ``python -m repro compare
--record-setting``) is marked **fragile**. ``--write`` also rewrites the README's table of those
reruns. tests/test_project.py checks that both files hold exactly the block this writes, so a rerun
that changes a verdict cannot leave the README or a page behind.
"""

import json
import re
import sys
from pathlib import Path

from repro.core import compare
from repro.core.claims import needs_text, summary_line, verdict_text
from repro.core.report import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def short(text: str, limit: int = 95) -> str:
    text = text.removeprefix("...").strip().removeprefix("Control:").strip()
    first = text.split(". ")[0].rstrip(".")
    first = first if len(first) <= limit else first[: limit - 3].rsplit(" ", 1)[0] + " ..."
    return first.replace("|", "\\|")  # a table cell: |theta * Hg| stays one cell


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:+.2f}" if abs(x) < 1000 else f"{x:+.3g}"


def golden(paper: str) -> dict:
    return json.loads((ROOT / "results/cpu" / paper / "claims.json").read_text())


def gates_table(doc: dict) -> list[str]:
    if not doc.get("gates"):
        return ["*No gates in this golden.*"]
    lines = ["| gate | value per seed | needs | pass | covers |", "|---|---|---|---|---|"]
    for g in doc["gates"]:
        side = ">=" if g["higher_is_better"] else "<="
        values = ", ".join(f"{v:.3g}" for v in g["value"])
        covers = ", ".join(g["covers"])
        lines.append(f"| {g['name']}: {short(g['text'], 70)} | {values} | {side} {g['threshold']:g} | "
                     f"{'yes' if g['pass'] else '**no**'} | {covers} |")  # fmt: skip
    return lines


def claims_table(doc: dict, fragile: dict[str, list[str]]) -> list[str]:
    lines = ["| claim | ours | 95% CI | margin | paper delta | verdict |", "|---|---|---|---|---|---|"]
    for c in doc["claims"]:
        r = c["result"]
        label = f"{c['id']} {'control: ' if c['control'] else ''}{short(c['text'])}"
        ci = f"[{fmt(r['ci_low'])}, {fmt(r['ci_high'])}]"
        margin = str(tuple(c["band"])) if c["type"] == "tracks" else f"{c['margin']:g}"
        verdict = verdict_text(r)
        if c["control"]:
            verdict += " (as expected)" if r.get("as_expected") else f" (NOT as expected: {c['expected']})"
        elif needs := needs_text(r):
            verdict += f"; to decide: {needs}"
        if c["id"] in fragile:
            verdict += f"; **fragile**: {', '.join(fragile[c['id']])}"
        lines.append(f"| {label} | {fmt(r['effect'])} | {ci} | {margin} | {fmt(c['paper_delta'])} | {verdict} |")
    return lines


def block(paper: str) -> str:
    """The generated results block of ``paper``, markers included."""
    doc = golden(paper)
    seeds = doc["run"]["seeds"]
    found = compare.settings(compare.golden_folder("cpu"), paper)
    fragile = compare.fragile_claims(found)
    lines = [
        f"<!-- claims: {paper} -->",
        f"**{summary_line(doc)}.**",
        "",
        *gates_table(doc),
        "",
        *claims_table(doc, fragile),
    ]
    tail = f"*{len(seeds)} seeds; `results/cpu/{paper}/claims.json`"
    if found:
        held = f"{len(fragile)} fragile claim(s), marked" if fragile else "every verdict held"
        tail += f"; rerun under {', '.join(s.change for s in found)}: {held}"
    lines += ["", tail + ".*", f"<!-- /claims: {paper} -->"]
    return "\n".join(lines)


def settings_block() -> str:
    """The README's table of every golden rerun under another setting (``<!-- settings: cpu -->``)."""
    rows = compare.setting_rows("cpu")
    table = markdown_table(rows) if rows else "*No golden has been rerun under another setting.*"
    return f"<!-- settings: cpu -->\n{table}\n<!-- /settings: cpu -->"


def pattern(paper: str, text: str) -> re.Pattern:
    """An existing block: up to its end marker (or, in files written before end markers, its seeds line)."""
    if f"<!-- /claims: {paper} -->" in text:
        end = rf"<!-- /claims: {paper} -->"
    else:
        end = rf"\*\d+ seeds?; `results/cpu/{paper}/claims\.json`\.\*"
    return re.compile(rf"<!-- claims: {paper} -->.*?{end}", re.S)


def write_settings(path: Path) -> None:
    text = path.read_text()
    new, n = re.subn(
        r"<!-- settings: cpu -->.*?<!-- /settings: cpu -->", lambda _: settings_block(), text, count=1, flags=re.S
    )
    if n == 0:
        raise SystemExit(f"{path}: no <!-- settings: cpu --> block to replace")
    path.write_text(new)


def write(path: Path, paper: str, heading: str | None = None) -> None:
    text = path.read_text()
    new, n = pattern(paper, text).subn(lambda _: block(paper), text, count=1)
    if n == 0:
        if heading is None:
            raise SystemExit(f"{path}: no <!-- claims: {paper} --> block to replace")
        at = text.index("\n## ") + 1  # before the page's first section
        new = text[:at] + f"{heading}\n\n{block(paper)}\n\n" + text[at:]
    path.write_text(new)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--write" in args:
        for paper in (a for a in args if a != "--write"):
            write(ROOT / "README.md", paper)
            write(ROOT / "docs/papers" / f"{paper}.md", paper, heading="## Results of the golden `cpu` run")
        write_settings(ROOT / "README.md")
    else:
        for paper in args:
            print(block(paper), end="\n\n")
        print(settings_block())
