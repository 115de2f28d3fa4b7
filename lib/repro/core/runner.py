"""Run papers' notebooks headlessly with papermill: the engine behind ``./run_all.sh``.

Each notebook gets ``profile`` and ``overrides`` injected, runs in its own kernel with the notebook's
folder as working directory (as under nbval and JupyterLab), and is written executed to
``<run>/<paper>/notebooks/``. A failing notebook is recorded and the run goes on; the summary and the
exit status say what failed. ``resume`` skips notebooks whose step is already fresh (same config
slice, same code, artifacts intact).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import livelog, papers
from .steps import absolute_env_paths, read_meta, run_dir, unique_token, write_json


@dataclass
class NotebookRun:
    paper: str
    notebook: str
    status: str  # ok | failed | skipped
    wall_s: float
    peak_rss_mb: float | None
    output: str | None
    error: str | None = None


def execute(path: Path, output: Path, parameters: dict[str, Any] | None, timeout: int = 1800) -> None:
    """papermill, with the kernel's cwd at the notebook's folder and the immediate kernel shutdown
    (the default graceful one sometimes adds seconds). papermill rewrites its output after every cell,
    so it writes a temporary sibling that replaces ``output`` at the end (also when a cell failed):
    two runs into one folder never interleave their writes in one file.

    While it runs, the kernel's progress lines (each step's ``ctx.log``, epochs of ``fit``) are printed
    with the elapsed time (:mod:`repro.core.livelog`): plain lines in a log, beside papermill's tqdm
    bar over the cells on a terminal. The kernel talks over IPC, not TCP (:mod:`repro.core.kernels`)."""
    import papermill
    from tqdm.auto import tqdm

    from .kernels import LocalKernelManager

    os.environ.setdefault("REPRO_PROGRESS", "0")
    absolute_env_paths()  # the kernel runs in the notebook's folder: a relative runs folder would move
    output = Path(output)
    tmp = output.with_name(f".{output.stem}.tmp-{unique_token()}.ipynb")
    terminal = sys.stdout.isatty()
    show = (lambda line: tqdm.write(f"    {line}")) if terminal else (lambda line: print(f"    {line}", flush=True))
    with tempfile.TemporaryDirectory(prefix="repro-live-") as live_dir:
        live = Path(live_dir) / "live.jsonl"
        previous, os.environ[livelog.ENV] = os.environ.get(livelog.ENV), str(live)  # the kernel inherits it
        try:
            with livelog.follow(live, show):
                papermill.execute_notebook(
                    str(path),
                    str(tmp),
                    parameters=parameters,
                    kernel_name="python3",
                    kernel_manager_class=LocalKernelManager,
                    cwd=str(path.parent),
                    progress_bar=terminal,
                    log_output=False,
                    execution_timeout=timeout,
                    shutdown_kernel="immediate",
                )
        finally:
            _restore_env(livelog.ENV, previous)
            if tmp.exists():
                os.replace(tmp, output)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def run_notebook(paper: str, path: Path, output: Path, parameters: dict[str, Any] | None, log=print) -> NotebookRun:
    """Execute one notebook, recording failure instead of raising (the run goes on)."""
    started = time.perf_counter()
    try:
        execute(path, output, parameters)
        status, error = "ok", None
    except Exception as err:
        status, error = "failed", _short_error(err)
    wall = round(time.perf_counter() - started, 1)
    log(f"  {paper}/{path.name}: {status} in {wall:.1f} s" + (f"\n{error}" if error else ""))
    return NotebookRun(paper, path.name, status, wall, None, str(output), error)


def run_paper(paper: str, profile: str, overrides: dict[str, Any], resume: bool, log=print) -> list[NotebookRun]:
    cfg = papers.package(paper).config(profile, **overrides)
    pipe = papers.pipeline(paper)
    out_dir = run_dir(cfg) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for step, path in papers.notebooks(paper):
        meta_path = pipe.step_dir(step, cfg) / "step.json"
        if resume and pipe.staleness(step, cfg) is None:
            results.append(
                NotebookRun(paper, path.name, "skipped", 0.0, (read_meta(meta_path) or {}).get("peak_rss_mb"), None)
            )
            log(f"  {paper}/{path.name}: fresh, skipped (--resume)")
            continue
        log(f"  {paper}/{path.name} ...")
        result = run_notebook(paper, path, out_dir / path.name, {"profile": profile, "overrides": overrides}, log)
        if result.status == "ok":
            result.peak_rss_mb = (read_meta(meta_path) or {}).get("peak_rss_mb")
        results.append(result)
    write_json(out_dir / "summary.json", [asdict(r) for r in results])
    return results


def _short_error(err: Exception) -> str:
    lines = "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()
    return "\n".join(lines[-15:])


def run(profile: str, paper_names: list[str], overrides: dict[str, Any], resume: bool) -> list[NotebookRun]:
    """Run every selected paper's notebooks (each paper's summary goes to ``notebooks/summary.json``
    in its run folder, where the report finds it)."""
    results: list[NotebookRun] = []
    for i, paper in enumerate(paper_names, 1):
        print(f"[{i}/{len(paper_names)}] {paper} ({profile})", flush=True)
        try:
            results += run_paper(paper, profile, overrides, resume, log=lambda m: print(m, flush=True))
        except Exception as err:  # a config error for one paper must not stop the others
            print(f"  {paper}: {_short_error(err)}", flush=True)
            results.append(NotebookRun(paper, "-", "failed", 0.0, None, None, _short_error(err)))
    return results


def summary(results: list[NotebookRun]) -> str:
    rows = [f"{'paper':<14}{'notebook':<22}{'status':<9}{'wall s':>8}{'peak MB':>9}"]
    for r in results:
        peak = f"{r.peak_rss_mb:.0f}" if r.peak_rss_mb is not None else "-"
        rows.append(f"{r.paper:<14}{r.notebook:<22}{r.status:<9}{r.wall_s:>8.1f}{peak:>9}")
    failed = sum(r.status == "failed" for r in results)
    rows.append(f"{len(results)} notebooks, {failed} failed, {sum(r.wall_s for r in results):.0f} s")
    return "\n".join(rows)


def refresh_notebooks(paper_names: list[str]) -> list[NotebookRun]:
    """Re-execute the committed notebooks in place at ``smoke`` so their stored outputs are current.
    Runs in a fresh runs folder, so the stored outputs are those of a run from scratch."""
    previous = os.environ.get("REPRO_RUNS_DIR")
    try:
        with tempfile.TemporaryDirectory(prefix="repro-refresh-") as tmp:
            os.environ["REPRO_RUNS_DIR"] = tmp
            return [
                run_notebook(paper, path, path, None, log=lambda m: print(m, flush=True))
                for paper in paper_names
                for _step, path in papers.notebooks(paper)
            ]
    finally:
        if previous is None:
            os.environ.pop("REPRO_RUNS_DIR", None)
        else:
            os.environ["REPRO_RUNS_DIR"] = previous
