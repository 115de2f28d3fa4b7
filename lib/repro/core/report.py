"""``<runs>/<run>/REPORT.md``: every paper's claims beside the paper's deltas, its results table,
budget ledger, figures, step timings, the environment, and what the miniature cannot show."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import papers
from .claims import claim_rows, load_claims
from .steps import atomic_path, read_json, runs_root


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


def paper_section(folder: Path, report_dir: Path) -> tuple[str, Counter]:
    paper = folder.name
    lines = [f"## {paper}", ""]
    verdicts: Counter = Counter()
    claims_path = folder / "evaluate" / "claims.json"
    if claims_path.exists():
        doc = load_claims(claims_path)
        verdicts.update(c["result"]["verdict"] for c in doc["claims"] if not c["control"])
        lines += ["### Claims", "", markdown_table(claim_rows(doc)), ""]
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
        nb = [{k: r[k] for k in ("notebook", "status", "wall_s", "peak_rss_mb")} for r in read_json(summary)]
        lines += ["### Notebooks", "", markdown_table(nb), ""]
    return "\n".join(lines), verdicts


def step_rows(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for step in papers.STEPS:
        meta_path = folder / step / "step.json"
        if meta_path.exists():
            meta = read_json(meta_path)
            rows.append(
                {
                    "step": step,
                    "wall s": meta["wall_s"],
                    "peak RSS MB": meta["peak_rss_mb"],
                    "code": meta["code_hash"],
                    "git": (meta["git"].get("commit") or "-")[:10],
                }
            )
    return rows


def environment(run: Path) -> str:
    for meta_path in sorted(run.glob("*/evaluate/step.json")):
        meta = read_json(meta_path)
        device = ", ".join(f"{k}={v}" for k, v in meta["device"].items())
        packages = ", ".join(f"{k} {v}" for k, v in meta["packages"].items())
        return f"- device: {device}\n- packages: {packages}"
    return "_(no completed step)_"


def build(run_name: str) -> Path:
    """Write ``<runs>/<run_name>/REPORT.md`` from whatever papers have results there."""
    run = runs_root() / run_name
    sections, totals = [], Counter()
    for paper in papers.ALL_PAPERS:
        if (run / paper).is_dir():
            text, verdicts = paper_section(run / paper, run)
            sections.append(text)
            totals += verdicts
    counts = ", ".join(f"{n} {v}" for v, n in sorted(totals.items())) or "no claims decided"
    head = [
        f"# Reproduction report: `{run_name}`",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}. Verdicts are computed by the kit's rule "
        "(paired bootstrap over seeds and evaluation examples; DESIGN.md, Claims), never written by hand. "
        "Effects are ours, in the metric's units, beside the paper's own delta on its own data.",
        "",
        f"**Claims (controls excluded): {counts}.**",
        "",
        "## Environment",
        "",
        environment(run),
        "",
    ]
    path = run / "REPORT.md"
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(head + sections) + "\n")
    return path
