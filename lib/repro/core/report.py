"""``<runs>/<run>/REPORT.md``: every paper's claims beside the paper's deltas, its results table,
budget ledger, figures, step timings, the environment, and what the miniature cannot show.

A ``claims.json`` is published only when it is the file its evaluate step wrote: its sha256 must be
the one recorded in ``evaluate/step.json``. An edited or corrupted one is refused, with the reason,
in the report and by :func:`refused`."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import compare, papers
from .claims import claim_rows, gate_rows, load_claims, summary_line
from .compare import PaperComparison
from .steps import atomic_path, read_json, read_meta, runs_root, sha256_file

RUN_NAME = re.compile(r"[A-Za-z0-9_-]+(\+[0-9a-f]{8})?")  # <profile> or <profile>+<hash of the overrides>


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "_(none)_"
    columns = list(columns or dict.fromkeys(k for row in rows for k in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e4 else f"{value:.3e}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def with_sd(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold ``<metric>_sd`` columns into ``<metric>`` as ``mean ± sd``."""
    out = []
    for row in rows:
        merged = {}
        for key, value in row.items():
            if key.endswith("_sd") and key[:-3] in row:
                continue
            sd = row.get(f"{key}_sd")
            merged[key] = f"{value:.3g} ± {sd:.2g}" if isinstance(value, float) and sd is not None else value
        out.append(merged)
    return out


def claims_problem(folder: Path) -> str | None:
    """Why ``<folder>/evaluate/claims.json`` may not be published, or ``None`` when it is the file its
    step wrote (or there is none)."""
    claims_path = folder / "evaluate" / "claims.json"
    if not claims_path.exists():
        return None
    rerun = f"rerun the evaluate step (python -m repro step {folder.name} evaluate --profile {folder.parent.name})"
    meta = read_meta(folder / "evaluate" / "step.json")
    recorded = (meta or {}).get("artifacts", {})
    if not isinstance(recorded, dict) or "claims.json" not in recorded:
        return f"claims.json has no hash recorded by its evaluate step (step.json missing or unreadable); {rerun}"
    if sha256_file(claims_path) != recorded["claims.json"]:
        return (
            f"claims.json differs from the file its evaluate step wrote (sha256 mismatch: edited or corrupted); {rerun}"
        )
    try:
        load_claims(claims_path)
    except Exception as err:  # not JSON, or not the schema: jsonschema's error is no ValueError
        return f"claims.json is not a valid claims document ({str(err).splitlines()[0]}); {rerun}"
    return None


def refused(run_name: str) -> dict[str, str]:
    """``paper -> reason`` for every claims.json of the run that the report refuses to publish."""
    run = run_folder(run_name)
    found = {paper: claims_problem(run / paper) for paper in papers.ALL_PAPERS if (run / paper).is_dir()}
    return {paper: why for paper, why in found.items() if why}


def paper_section(folder: Path, report_dir: Path) -> tuple[str, Counter]:
    paper = folder.name
    lines = [f"## {paper}", ""]
    verdicts: Counter = Counter()
    claims_path = folder / "evaluate" / "claims.json"
    problem = claims_problem(folder)
    if problem:
        lines += [f"**Claims not published: {problem}.**", ""]
    elif claims_path.exists():
        doc = load_claims(claims_path)
        verdicts.update(c["result"]["verdict"] for c in doc["claims"] if not c["control"])
        lines += [f"**{summary_line(doc)}.**", ""]
        if doc.get("gates"):
            lines += ["### Gates (can this miniature test the claims?)", "", markdown_table(gate_rows(doc)), ""]
        lines += ["### Claims", "", markdown_table(with_settings(claim_rows(doc), doc)), ""]
        lines += ["Claim sentences:", ""] + [f"- **{c['id']}**: {c['text']}" for c in doc["claims"]] + [""]
        lines += ["### Results (mean ± sd over seeds)", "", markdown_table(with_sd(doc["table"])), ""]
        budget = [
            {
                "method": m,
                **{k: v for k, v in b.items() if k != "forward_samples"},
                **{f"fwd:{k}": v for k, v in b["forward_samples"].items()},
            }
            for m, b in doc["budget"].items()
        ]
        lines += ["### Budget ledger", "", markdown_table(budget), ""]
        lines += ["### What this miniature cannot show", ""] + [f"- {t}" for t in doc["cannot_show"]] + [""]
    else:
        lines += ["_No claims.json: the evaluate step did not complete._", ""]
    figures = sorted((folder / "figures").glob("*.png"))
    if figures:
        lines += ["### Figures", ""] + [f"![{p.stem}]({p.relative_to(report_dir)})" for p in figures] + [""]
    lines += ["### Steps", "", markdown_table(step_rows(folder)), ""]
    summary = folder / "notebooks" / "summary.json"
    if summary.exists():
        try:
            nb = [{k: r.get(k) for k in ("notebook", "status", "wall_s", "peak_rss_mb")} for r in read_json(summary)]
        except (ValueError, TypeError, AttributeError):
            nb = [{"notebook": "(notebooks/summary.json unreadable)"}]
        lines += ["### Notebooks", "", markdown_table(nb), ""]
    return "\n".join(lines), verdicts


def with_settings(rows: list[dict[str, Any]], doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The claims rows with a column "golden across settings" where the paper's golden was rerun under
    other settings (:func:`repro.core.compare.settings`): which verdicts held and which flipped."""
    profile = str((doc.get("run") or {}).get("profile", ""))
    found = compare.settings(compare.golden_folder(profile), doc["paper"]) if profile else []
    if not found:
        return rows
    fragile = compare.fragile_claims(found)
    held = ", ".join(s.name for s in found)
    for row, claim in zip(rows, doc["claims"]):
        flips = fragile.get(claim["id"])
        row["golden across settings"] = f"**fragile**: {', '.join(flips)}" if flips else f"held under {held}"
    return rows


def step_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for step in papers.STEPS:
        meta_path = folder / step / "step.json"
        if not meta_path.exists():
            continue
        meta = read_meta(meta_path)
        if meta is None:
            rows.append({"step": step, "wall s": "step.json unreadable"})
            continue
        git = meta.get("git") if isinstance(meta.get("git"), dict) else {}
        rows.append(
            {
                "step": step,
                "wall s": meta.get("wall_s", "-"),
                "peak RSS MB": meta.get("peak_rss_mb", "-"),
                "code": meta.get("code_hash", "-"),
                "git": str(git.get("commit") or "-")[:10],
            }
        )
    return rows


def environment(run: Path) -> str:
    for meta_path in sorted(run.glob("*/evaluate/step.json")):
        meta = read_meta(meta_path)
        if not meta or not isinstance(meta.get("device"), dict) or not isinstance(meta.get("packages"), dict):
            continue
        device = ", ".join(f"{k}={v}" for k, v in meta["device"].items())
        packages = ", ".join(f"{k} {v}" for k, v in meta["packages"].items())
        return f"- device: {device}\n- packages: {packages}"
    return "_(no completed step)_"


def run_folder(run_name: str) -> Path:
    """``<runs>/<run_name>`` for a run that exists; a name that is no run name (a path, ``..``) or a
    run with no paper folder is refused, listing the runs there are."""
    root = runs_root()
    run = root / run_name
    if RUN_NAME.fullmatch(run_name) and any((run / paper).is_dir() for paper in papers.ALL_PAPERS):
        return run
    present = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and RUN_NAME.fullmatch(p.name)) if root.is_dir() else []
    )
    if not RUN_NAME.fullmatch(run_name):
        problem = "is not a run name (a profile, or profile+<8 hex> for a run with overrides)"
    else:
        problem = f"has no results under {root}"
    raise ValueError(f"run {run_name!r} {problem}; runs there: {', '.join(present) or 'none'}")


# ----------------------------------------------------------------------------------------------
# A run beside the golden (repro.core.compare): the report's last section and `python -m repro compare`

CELL_ROWS_SHOWN = 12  # per paper; the count of all differing cells is always given


def compared(golden: Path, run: Path, only: Sequence[str] | None = None) -> list[PaperComparison]:
    """Every paper with claims on both sides (``only`` restricts them); a run's claims.json that the
    report would refuse (edited, corrupted) is not compared, and says why."""
    found = []
    for paper in only or papers.ALL_PAPERS:
        problem = claims_problem(run / paper) if (run / paper / "evaluate").is_dir() else None
        if problem and compare.claims_path(golden, paper):
            found.append(compare.PaperComparison(paper=paper, refused=problem))
        elif not problem and (comparison := compare.compare_paper(golden, run, paper)):
            found.append(comparison)
    return found


def comparison_markdown(comparisons: Sequence[PaperComparison], heading: str = "###") -> str:
    """Summary lines on top, then per paper: machines, claims side by side, cells that differ."""
    if not comparisons:
        return "_No paper has claims on both sides._"
    lines = [f"- {c.summary()}" for c in comparisons] + [""]
    for c in (c for c in comparisons if not c.refused):
        lines += [f"{heading} {c.paper}", ""]
        machines = compare.machines_text(c)
        if machines:
            lines += [f"Machines: {machines}.", ""]
        lines += [markdown_table(comparison_rows(c.claims)), ""]
        if c.cells:
            shown = c.cells[:CELL_ROWS_SHOWN]
            more = f" ({len(shown)} largest shown)" if len(c.cells) > len(shown) else ""
            lines += [f"Table cells that differ: {len(c.cells)}{more}", "", markdown_table(shown), ""]
        if c.gates:
            lines += ["Gates that differ:", "", markdown_table(c.gates), ""]
        lines += [f"- {n}" for n in c.notes] + ([""] if c.notes else [])
    return "\n".join(lines)


def comparison_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claim rows folded for a printed table: one verdict column, effect and interval together."""

    def effect(value: Any, ci: str) -> str:
        return "-" if value is None else f"{value:.3g} {ci}"

    notes = any(r["notes"] for r in rows)
    return [
        {
            "claim": r["claim"],
            "verdict": f"{r['status']}: {r['golden']}" if r["status"] != "changed"
            else f"changed: **{r['golden']} -> {r['rerun']}**",
            "golden effect [95% CI]": effect(r["golden effect"], r["golden 95% CI"]),
            "rerun effect [95% CI]": effect(r["rerun effect"], r["rerun 95% CI"]),
            "shift": "-" if r["shift"] is None else r["shift"],
            "shift (se)": "-" if r["shift (se)"] is None else round(r["shift (se)"], 2),
            **({"notes": r["notes"]} if notes else {}),
        }
        for r in rows
    ]  # fmt: skip


def golden_section(run: Path, run_name: str) -> list[str]:
    """A line for the top of the report, then the section "Compared with the golden" for its end:
    the run against the committed golden of its profile."""
    profile = run_name.split("+")[0]
    golden = compare.golden_folder(profile)
    found = compared(golden, run) if golden.is_dir() else []
    if not found:
        return [f"_No golden for profile {profile}._\n"]
    changed = sum(len(c.verdict_changes) for c in found)
    decided = sum(1 for c in found for r in c.claims if r["status"] in ("same", "changed"))
    top = (
        f"**Compared with the golden (`results/{profile}`, last section): {decided - changed}/{decided} verdicts "
        f"the same{f', {changed} changed' if changed else ''}.**\n"
    )
    intro = (
        f"Against `results/{profile}` (committed). A shift is the rerun's effect minus the golden's, in units "
        "of the golden's standard error: two independent seed draws differ by about 1.1 se on average, so a "
        "shift of that size on another machine is drift; the same machine and code give 0."
    )
    return [top, "## Compared with the golden", "", intro, "", comparison_markdown(found), ""]


def build(run_name: str) -> Path:
    """Write ``<runs>/<run_name>/REPORT.md`` from whatever papers have results there."""
    run = run_folder(run_name)
    sections, totals = [], Counter()
    for paper in papers.ALL_PAPERS:
        if (run / paper).is_dir():
            text, verdicts = paper_section(run / paper, run)
            sections.append(text)
            totals += verdicts
    counts = ", ".join(f"{n} {v}" for v, n in sorted(totals.items())) or "no claims decided"
    golden = golden_section(run, run_name)
    head = [
        f"# Reproduction report: `{run_name}`",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. Verdicts are computed by the kit's rule "
        "(a paired t interval over seeds, widened by the shared test examples' part; docs/design.md, Claims), "
        "never written by hand. "
        "Effects are ours, in the metric's units, beside the paper's own delta on its own data.",
        "",
        f"**Claims (controls excluded): {counts}.**",
        "",
        *golden[:1],
        "## Environment",
        "",
        environment(run),
        "",
    ]
    path = run / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(head + sections + golden[1:]) + "\n")
    return path
