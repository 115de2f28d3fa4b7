"""A rerun beside the golden: did the verdicts hold, how far did the effects move, where was each made.

The committed goldens (``results/<profile>/<paper>/claims.json``) reproduce to the bit only on the
kind of machine that made them (:mod:`repro.core.machine`); elsewhere every effect moves about as a
new seed draw would, and a verdict near its boundary can flip. So a rerun is judged claim by claim:

* the verdict: same or changed (a changed verdict is what ``python -m repro compare`` exits 1 for);
* the effect and its interval, golden and rerun, and the shift in units of the golden's standard
  error (``se``): two independent seed draws differ by about 1.1 se on average, so shifts of that
  size are drift, not a bug; identical machines and code give 0;
* every results-table cell that differs, the gates (where the document has them), the trivial
  references' verdicts, and the per-unit scores (where both sides saved ``scores.npz``);
* both machines, when they differ.

    python -m repro compare                      # runs/cpu against results/cpu
    python -m repro compare 'cpu+*' --paper mmard  # every run with overrides (a papermill sweep)
    python -m repro compare /elsewhere/runs/cpu --against results/cpu --any-difference

In a notebook, :func:`golden_comparison` shows the same table for one paper (``04_evaluate.ipynb``);
the printed form (the command's output, REPORT.md's last section) is :mod:`repro.core.report`'s.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import machine, papers
from .steps import REPO_ROOT, read_json, read_meta, runs_root, sha256_file, write_json

GOLDEN_ROOT = REPO_ROOT / "results"


def golden_folder(profile: str) -> Path:
    return GOLDEN_ROOT / profile


def claims_path(folder: Path, paper: str) -> Path | None:
    """A paper's claims.json in a run folder (``<paper>/evaluate/``) or a golden folder (``<paper>/``)."""
    for path in (folder / paper / "evaluate" / "claims.json", folder / paper / "claims.json"):
        if path.is_file():
            return path
    return None


def read_claims(path: Path) -> dict[str, Any]:
    """A claims document, checked only for what the comparison reads: older goldens lack newer
    fields (gates, trivial references, machine), and the schema moves on."""
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise ValueError(f"{path} is not a claims document (no 'claims' list)")
    return doc


# ----------------------------------------------------------------------------------------------
# one paper


@dataclass
class PaperComparison:
    """One paper's rerun against its golden."""

    paper: str
    claims: list[dict[str, Any]] = field(default_factory=list)
    cells: list[dict[str, Any]] = field(default_factory=list)
    gates: list[dict[str, Any]] = field(default_factory=list)
    machines: tuple[dict | None, dict | None] = (None, None)
    notes: list[str] = field(default_factory=list)
    refused: str | None = None  # why the rerun's claims.json was not compared (edited, corrupted)

    @property
    def verdict_changes(self) -> list[dict[str, Any]]:
        return [c for c in self.claims if c["status"] == "changed"]

    @property
    def largest_shift(self) -> dict[str, Any] | None:
        shifted = [c for c in self.claims if c["shift (se)"] is not None]
        return max(shifted, key=lambda c: abs(c["shift (se)"]), default=None)

    @property
    def identical(self) -> bool:
        """Every verdict, effect, table cell and gate the same."""
        return all(c["status"] == "same" and c["shift"] == 0 for c in self.claims) and not self.cells and not self.gates

    def summary(self) -> str:
        """``mmard: verdicts 6/7 same (K1 inconclusive -> reproduced); largest effect shift 0.4 se (C1b); ...``."""
        if self.refused:
            return f"{self.paper}: not compared: {self.refused}"
        decided = [c for c in self.claims if c["status"] in ("same", "changed")]
        text = f"{self.paper}: verdicts {len(decided) - len(self.verdict_changes)}/{len(decided)} same"
        if self.verdict_changes:
            text += " (" + ", ".join(f"{c['claim']} {c['golden']} -> {c['rerun']}" for c in self.verdict_changes) + ")"
        largest = self.largest_shift
        if largest is not None and largest["shift (se)"] != 0:
            text += f"; largest effect shift {abs(largest['shift (se)']):.2g} se ({largest['claim']})"
        elif largest is not None and not self.identical:
            text += "; effects identical"
        unmatched = [c for c in self.claims if c["status"] not in ("same", "changed")]
        if unmatched:
            text += f"; {len(unmatched)} claim(s) on one side only"
        if self.identical:
            text += "; identical to the golden"
        elif self.cells:
            text += f"; {len(self.cells)} table cell(s) differ"
        if self.gates:
            text += f"; {len(self.gates)} gate(s) differ"
        return text


def compare_documents(golden: Mapping[str, Any], rerun: Mapping[str, Any]) -> PaperComparison:
    """Claim by claim, cell by cell, gate by gate: ``rerun`` against ``golden`` (two claims.json)."""
    result = PaperComparison(paper=str(rerun.get("paper") or golden.get("paper")))
    result.claims = claim_rows(golden["claims"], rerun["claims"])
    result.cells = cell_differences(golden.get("table") or [], rerun.get("table") or [], result.notes)
    if "gates" in golden and "gates" in rerun:
        result.gates = gate_differences(golden["gates"], rerun["gates"])
    for side, doc in (("golden", golden), ("rerun", rerun)):
        if "gates" not in doc:
            result.notes.append(f"the {side} records no gates (made before the kit had them): gates not compared")
    g_run, r_run = golden.get("run") or {}, rerun.get("run") or {}
    result.machines = (g_run.get("machine"), r_run.get("machine"))
    for key in ("run_name", "seeds"):
        if key in g_run and key in r_run and g_run[key] != r_run[key]:
            result.notes.append(
                f"{key} differs: golden {g_run[key]}, rerun {r_run[key]} (not a rerun of the same settings)"
            )
    return result


def _verdict(claim: Mapping[str, Any]) -> str:
    result = claim["result"]
    return result["verdict"] + (" (control)" if claim.get("control") else "")


def claim_rows(golden: Sequence[Mapping[str, Any]], rerun: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim id: verdicts, effects and intervals side by side, the shift in golden se."""
    g_by_id, r_by_id = {c["id"]: c for c in golden}, {c["id"]: c for c in rerun}
    rows = []
    for claim_id in list(g_by_id) + [i for i in r_by_id if i not in g_by_id]:
        g, r = g_by_id.get(claim_id), r_by_id.get(claim_id)
        if g is None or r is None:
            side = "golden" if r is None else "rerun"
            present = g or r
            rows.append(_row(claim_id, f"only in {side}", present if g else None, present if r else None))
            continue
        status = "same" if g["result"]["verdict"] == r["result"]["verdict"] else "changed"
        rows.append(_row(claim_id, status, g, r))
    return rows


def _row(claim_id: str, status: str, g: Mapping | None, r: Mapping | None) -> dict[str, Any]:
    gr, rr = (g or {}).get("result") or {}, (r or {}).get("result") or {}
    shift = se_shift = None
    if gr.get("effect") is not None and rr.get("effect") is not None:
        shift = float(rr["effect"]) - float(gr["effect"])
        se = gr.get("se") or rr.get("se")
        se_shift = 0.0 if shift == 0 else shift / se if se and math.isfinite(se) and se > 0 else None
    notes = []
    for side, res in (("golden", gr), ("rerun", rr)):
        if res.get("not_testable"):
            notes.append(f"{side} not testable: {res['not_testable']}")
    flips = _trivial_flips(gr["trivial"], rr["trivial"]) if "trivial" in gr and "trivial" in rr else []
    if flips:
        notes.append("trivial references changed: " + ", ".join(flips))
    return {
        "claim": claim_id,
        "status": status,
        "golden": _verdict(g) if g else "-",
        "rerun": _verdict(r) if r else "-",
        "golden effect": gr.get("effect"),
        "golden 95% CI": _ci(gr),
        "rerun effect": rr.get("effect"),
        "rerun 95% CI": _ci(rr),
        "shift": shift,
        "shift (se)": se_shift,
        "notes": "; ".join(notes),
    }


def _ci(result: Mapping[str, Any]) -> str:
    if "ci_low" not in result:
        return "-"
    lo, hi = result["ci_low"], result["ci_high"]
    return f"[{'-inf' if lo is None else f'{lo:.3g}'}, {'inf' if hi is None else f'{hi:.3g}'}]"


def _trivial_flips(golden: Mapping[str, str], rerun: Mapping[str, str]) -> list[str]:
    return [
        f"{p} {golden.get(p, '-')} -> {rerun.get(p, '-')}"
        for p in sorted({*golden, *rerun})
        if golden.get(p) != rerun.get(p)
    ]


def _row_key(row: Mapping[str, Any]) -> tuple:
    """A results row is named by its non-numeric cells (method, partition, ...)."""
    return tuple((k, v) for k, v in row.items() if not _is_number(v))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def cell_differences(golden: Sequence[Mapping], rerun: Sequence[Mapping], notes: list[str]) -> list[dict[str, Any]]:
    """Every numeric table cell whose value differs, largest change first; rows or columns on one
    side only go to ``notes``."""
    g_rows, r_rows = {_row_key(r): r for r in golden}, {_row_key(r): r for r in rerun}
    only = [("golden", k) for k in g_rows if k not in r_rows] + [("rerun", k) for k in r_rows if k not in g_rows]
    for side, key in only:
        notes.append(f"table row only in the {side}: {', '.join(str(v) for _, v in key)}")
    cells = []
    for key in (k for k in g_rows if k in r_rows):
        g, r = g_rows[key], r_rows[key]
        for column in (c for c in g if _is_number(g[c]) or _is_number(r.get(c))):
            a, b = g.get(column), r.get(column)
            if a != b and not (_is_number(a) and _is_number(b) and math.isnan(a) and math.isnan(b)):
                diff = b - a if _is_number(a) and _is_number(b) else None
                cells.append(
                    {"row": ", ".join(str(v) for _, v in key), "column": column, "golden": a, "rerun": b, "diff": diff}
                )
    return sorted(cells, key=lambda c: -abs(c["diff"]) if c["diff"] is not None else -math.inf)


def gate_differences(golden: Sequence[Mapping], rerun: Sequence[Mapping]) -> list[dict[str, Any]]:
    """Gates (``name``, per-seed ``value``, ``pass``) whose values or outcome differ."""
    g_by, r_by = {g["name"]: g for g in golden}, {g["name"]: g for g in rerun}
    rows = []
    for name in list(g_by) + [n for n in r_by if n not in g_by]:
        g, r = g_by.get(name) or {}, r_by.get(name) or {}
        if g.get("value") != r.get("value") or g.get("pass") != r.get("pass"):
            rows.append(
                {"gate": name, "threshold": g.get("threshold", r.get("threshold")),
                 "golden pass": g.get("pass", "-"), "rerun pass": r.get("pass", "-"),
                 "golden per seed": g.get("value", "-"), "rerun per seed": r.get("value", "-")}
            )  # fmt: skip
    return rows


def score_note(golden_scores: Path, rerun_scores: Path) -> str | None:
    """Whether the per-unit scores of both sides are identical (``None`` when either is missing)."""
    if not golden_scores.is_file() or not rerun_scores.is_file():
        return None
    from .scores import load_scores

    g, r = load_scores(golden_scores), load_scores(rerun_scores)
    keys = sorted({(m, a) for m in g for a in g[m]} & {(m, a) for m in r for a in r[m]})
    differ = [
        k
        for k in keys
        if g[k[0]][k[1]].shape != r[k[0]][k[1]].shape or not np.array_equal(g[k[0]][k[1]], r[k[0]][k[1]])
    ]
    if not differ:
        return f"per-unit scores identical ({len(keys)} arrays)"
    return f"per-unit scores: {len(differ)} of {len(keys)} arrays differ"


def compare_paper(golden_dir: Path, run_dir: Path, paper: str) -> PaperComparison | None:
    """``paper`` in a run folder against the golden folder; ``None`` when either side has no claims."""
    g_path, r_path = claims_path(golden_dir, paper), claims_path(run_dir, paper)
    if g_path is None or r_path is None:
        return None
    result = compare_documents(read_claims(g_path), read_claims(r_path))
    if result.machines[1] is None:  # a rerun made before claims.json recorded its machine
        meta = read_meta(r_path.parent / "step.json") or {}
        device = meta.get("device")
        result.machines = (
            result.machines[0],
            {"recorded": "step.json", **device} if isinstance(device, dict) else None,
        )
    note = score_note(g_path.parent / "scores.npz", r_path.parent / "scores.npz")
    if note:
        result.notes.append(note)
    return result


# ----------------------------------------------------------------------------------------------
# what users run


def resolve_runs(patterns: Sequence[str]) -> list[Path]:
    """Run folders from names under the runs folder (``cpu``, ``cpu+1a2b3c4d``, ``'cpu+*'``) or paths."""
    root, found = runs_root(), []
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if ("/" in pattern or pattern.startswith(".")) and path.is_dir():
            found.append(path.resolve())
            continue
        names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        matches = [root / n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not matches:
            raise ValueError(f"no run {pattern!r} under {root}; runs there: {', '.join(names) or 'none'}")
        found += [m for m in matches if m not in found]
    return found


def run_profile(run_dir: Path) -> str:
    """The profile a run folder was made with: its name before ``+``, else what its claims say."""
    for paper in papers.ALL_PAPERS:
        path = claims_path(run_dir, paper)
        if path is not None:
            return str(read_claims(path).get("run", {}).get("profile") or run_dir.name.split("+")[0])
    return run_dir.name.split("+")[0]


def machines_text(comparison: PaperComparison) -> str | None:
    """Both machines, when what they record differs; the commits, when only they differ (then a
    moved number is the code's doing, not the machine's); ``None`` when all is the same."""
    golden, rerun = comparison.machines
    if golden is None and rerun is None:
        return None
    strip = lambda m: {k: v for k, v in (m or {}).items() if k != "commit"}  # noqa: E731
    if golden and rerun and strip(golden) == strip(rerun):
        commits = [str(m.get("commit") or "-")[:7] for m in (golden, rerun)]
        return None if commits[0] == commits[1] else f"the same machine; code from commit {commits[0]} and {commits[1]}"
    changed = machine.numeric_differences(golden, rerun)
    text = f"golden: {machine.describe(golden)}; rerun: {_describe_rerun(rerun)}"
    return text + (f" (differ in {', '.join(changed)})" if changed else "")


def _describe_rerun(rerun: Mapping | None) -> str:
    if rerun and rerun.get("recorded") == "step.json":
        gpus = ", ".join(rerun.get("gpus") or []) or "no GPU"
        return f"{rerun.get('platform', '?')}, {rerun.get('torch_threads', '?')} threads, {gpus} (from step.json)"
    return machine.describe(rerun)


def exit_status(comparisons: Sequence[PaperComparison], any_difference: bool = False) -> int:
    """1 when a verdict changed (or, with ``any_difference``, anything differs), else 0."""
    if any(c.verdict_changes for c in comparisons):
        return 1
    return int(any_difference and any(c.refused or not c.identical for c in comparisons))


def golden_comparison(doc: Mapping[str, Any], profile: str):
    """This run's claims beside the committed golden of ``profile``, for a notebook: a DataFrame with
    one row per claim, its ``attrs["note"]`` the summary line (or why there is no golden)."""
    import pandas as pd

    paper = doc["paper"]
    path = claims_path(golden_folder(profile), paper)
    if path is None:
        frame = pd.DataFrame()
        frame.attrs["note"] = f"no golden for profile {profile} (the committed ones: results/{paper_goldens(paper)})"
        return frame
    comparison = compare_documents(read_claims(path), doc)
    frame = pd.DataFrame(comparison.claims).set_index("claim").round(3)
    notes = [comparison.summary()]
    machines = machines_text(comparison)
    if machines:
        notes.append(f"machines: {machines}")
    frame.attrs["note"] = "\n".join(notes + comparison.notes)
    return frame


def paper_goldens(paper: str) -> str:
    profiles = (
        sorted(p.name for p in GOLDEN_ROOT.iterdir() if (p / paper / "claims.json").is_file())
        if GOLDEN_ROOT.is_dir()
        else []
    )
    return "{" + ",".join(profiles) + "}" if len(profiles) > 1 else (profiles[0] if profiles else "none")


# ----------------------------------------------------------------------------------------------
# the golden under other settings: which verdicts are fragile

SETTINGS = "settings"  # results/<profile>/<paper>/settings/<name>.json: a rerun of the golden's code
INDEX = "index.json"  # <name>: what was changed, and the sha256 of the golden it was compared with


@dataclass(frozen=True)
class Setting:
    """The golden's code rerun under one changed setting (``ATEN_CPU_CAPABILITY=avx2``, 1 thread)."""

    name: str
    change: str
    comparison: PaperComparison


def record_setting(golden_dir: Path, paper: str, name: str, change: str, rerun: Path) -> Path:
    """Keep ``rerun`` (a claims.json of the golden's code under another setting) beside the golden, as
    ``<paper>/settings/<name>.json``, with ``change`` (what differs) and the golden's sha256 in the index:
    a golden made again leaves its settings stale, and :func:`settings` refuses them."""
    golden = claims_path(golden_dir, paper)
    if golden is None:
        raise ValueError(f"no golden claims.json for {paper} in {golden_dir}")
    doc = read_claims(rerun)
    if doc.get("paper") != paper:
        raise ValueError(f"{rerun} holds the claims of {doc.get('paper')!r}, not {paper!r}")
    folder = golden.parent / SETTINGS
    write_json(folder / f"{name}.json", doc)
    index = read_json(folder / INDEX) if (folder / INDEX).is_file() else {}
    index[name] = {"change": change, "golden_sha256": sha256_file(golden)}
    write_json(folder / INDEX, dict(sorted(index.items())))
    return folder / f"{name}.json"


def settings(golden_dir: Path, paper: str) -> list[Setting]:
    """The recorded reruns of ``paper``'s golden under other settings, each compared with it.
    Raises when one was compared with another golden than the one committed now (stale)."""
    golden = claims_path(golden_dir, paper)
    folder = golden.parent / SETTINGS if golden else None
    if folder is None or not (folder / INDEX).is_file():
        return []
    index, found = read_json(folder / INDEX), []
    digest = sha256_file(golden)
    for name, entry in index.items():
        if entry["golden_sha256"] != digest:
            raise ValueError(
                f"{folder / name}.json was compared with another golden of {paper} than {golden}: rerun the "
                f"setting ({entry['change']}) on the golden's code and record it again, or delete it"
            )
        comparison = compare_documents(read_claims(golden), read_claims(folder / f"{name}.json"))
        found.append(Setting(name, entry["change"], comparison))
    return found


def fragile_claims(found: Sequence[Setting]) -> dict[str, list[str]]:
    """``{claim id: ["inconclusive under avx2", ...]}`` for each claim whose verdict changed under a
    recorded setting: a verdict that the machine can flip."""
    flips: dict[str, list[str]] = {}
    for setting in found:
        for row in setting.comparison.verdict_changes:
            flips.setdefault(row["claim"], []).append(f"{row['rerun']} under {setting.name}")
    return flips


def setting_rows(profile: str = "cpu") -> list[dict[str, Any]]:
    """One row per paper and recorded setting: verdicts the same, effect shifts, verdicts that changed."""
    rows = []
    for paper in papers.ALL_PAPERS:
        for s in settings(golden_folder(profile), paper):
            decided = [c for c in s.comparison.claims if c["status"] in ("same", "changed")]
            shifts = sorted(abs(c["shift (se)"]) for c in decided if c["shift (se)"] is not None)
            largest = s.comparison.largest_shift
            rows.append({
                "paper": f"`{paper}`",
                "setting against the golden": s.change,
                "verdicts the same": f"{len(decided) - len(s.comparison.verdict_changes)}/{len(decided)}",
                "effect shift, median / largest": "none: identical to the golden" if s.comparison.identical
                    else "-" if not shifts else f"{np.median(shifts):.2g} / {shifts[-1]:.2g} se ({largest['claim']})",
                "verdicts that changed": "; ".join(
                    f"{c['claim']} {c['golden']} -> {c['rerun']}" for c in s.comparison.verdict_changes) or "none",
            })  # fmt: skip
    return rows
