"""Run papers' notebooks headlessly with papermill: the engine behind ``./run_all.sh``.

Each notebook gets ``profile`` and ``overrides`` injected, runs in its own kernel with the notebook's
folder as working directory (as under nbval and JupyterLab), and is written executed to
``<run>/<paper>/notebooks/``. A failing notebook is recorded and the run goes on; the summary and the
exit status say what failed. ``resume`` skips notebooks whose step is already fresh (same config
slice, same code, artifacts intact).

Papers run side by side as jobs (:mod:`repro.core.jobs`: joblib's loky processes on this machine),
longest first by the README's measured times, as many at once as their threads fit in the cores; each
paper's kernel gets its share of the cores (``REPRO_CORES``), so the jobs inside its steps never take
a core another paper uses. Each paper writes ``notebooks/run.log``; side by side, every line on the
screen starts with ``[<paper>]``. ``--jobs 1`` (``REPRO_JOBS=1``) runs one paper after the other.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import jobs, livelog, papers
from .steps import REPO_ROOT, absolute_env_paths, read_meta, run_dir, unique_token, write_json


@dataclass
class NotebookRun:
    paper: str
    notebook: str
    status: str  # ok | failed | skipped
    wall_s: float
    peak_rss_mb: float | None
    output: str | None
    error: str | None = None


def execute(
    path: Path,
    output: Path,
    parameters: dict[str, Any] | None,
    timeout: int = 1800,
    show: Callable[[str], None] | None = None,
    bar: bool | None = None,
) -> None:
    """papermill, with the kernel's cwd at the notebook's folder and the immediate kernel shutdown
    (the default graceful one sometimes adds seconds). papermill rewrites its output after every cell,
    so it writes a temporary sibling that replaces ``output`` at the end (also when a cell failed):
    two runs into one folder never interleave their writes in one file.

    While it runs, the kernel's progress lines (each step's ``ctx.log``, epochs of ``fit``) are printed
    with the elapsed time (:mod:`repro.core.livelog`), through ``show`` when given: plain lines in a
    log, beside papermill's tqdm ``bar`` over the cells on a terminal (default: when stdout is one;
    papers side by side draw none). The kernel talks over IPC, not TCP (:mod:`repro.core.kernels`)."""
    import papermill
    from tqdm.auto import tqdm

    from .kernels import LocalKernelManager

    os.environ.setdefault("REPRO_PROGRESS", "0")
    absolute_env_paths()  # the kernel runs in the notebook's folder: a relative runs folder would move
    output = Path(output)
    tmp = output.with_name(f".{output.stem}.tmp-{unique_token()}.ipynb")
    bar = sys.stdout.isatty() if bar is None else bar
    show = show or (
        (lambda line: tqdm.write(f"    {line}")) if bar else (lambda line: print(f"    {line}", flush=True))
    )
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
                    progress_bar=bar,
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


def run_notebook(
    paper: str, path: Path, output: Path, parameters: dict[str, Any] | None, log=print, show=None, bar=None
) -> NotebookRun:
    """Execute one notebook, recording failure instead of raising (the run goes on)."""
    started = time.perf_counter()
    try:
        execute(path, output, parameters, show=show, bar=bar)
        status, error = "ok", None
    except Exception as err:
        status, error = "failed", _short_error(err)
    wall = round(time.perf_counter() - started, 1)
    log(f"  {paper}/{path.name}: {status} in {wall:.1f} s" + (f"\n{error}" if error else ""))
    return NotebookRun(paper, path.name, status, wall, None, str(output), error)


def run_paper(
    paper: str, profile: str, overrides: dict[str, Any], resume: bool, log=print, bar: bool | None = None
) -> list[NotebookRun]:
    """One paper's notebooks in order; every line also goes to its ``notebooks/run.log``."""
    cfg = papers.package(paper).config(profile, **overrides)
    pipe = papers.pipeline(paper)
    out_dir = run_dir(cfg) / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = sys.stdout.isatty() if bar is None else bar
    results = []
    with open(out_dir / "run.log", "w", encoding="utf-8") as log_file:

        def say(message: str, screen: Callable[[str], None] = log) -> None:
            screen(message)
            log_file.write(message + "\n")
            log_file.flush()

        def show(line: str) -> None:  # the kernel's live lines, beside papermill's bar when it draws one
            say(f"    {line}", _tqdm_write if bar else log)

        for step, path in papers.notebooks(paper):
            meta_path = pipe.step_dir(step, cfg) / "step.json"
            if resume and pipe.staleness(step, cfg) is None:
                peak = (read_meta(meta_path) or {}).get("peak_rss_mb")
                results.append(NotebookRun(paper, path.name, "skipped", 0.0, peak, None))
                say(f"  {paper}/{path.name}: fresh, skipped (--resume)")
                continue
            say(f"  {paper}/{path.name} ...")
            params = {"profile": profile, "overrides": overrides}
            result = run_notebook(paper, path, out_dir / path.name, params, say, show, bar)
            if result.status == "ok":
                result.peak_rss_mb = (read_meta(meta_path) or {}).get("peak_rss_mb")
            results.append(result)
    write_json(out_dir / "summary.json", [asdict(r) for r in results])
    return results


def _tqdm_write(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line)


def _short_error(err: Exception) -> str:
    lines = "".join(traceback.format_exception_only(type(err), err)).strip().splitlines()
    return "\n".join(lines[-15:])


def run(
    profile: str, paper_names: list[str], overrides: dict[str, Any], resume: bool, at_once: int | None = None
) -> list[NotebookRun]:
    """Run every selected paper's notebooks (each paper's summary goes to ``notebooks/summary.json``
    in its run folder, where the report finds it): papers of the same thread count side by side when
    more than one fits in the cores (the widest first, each group longest first), else one by one.
    ``at_once`` caps the jobs at every level (``REPRO_JOBS``, inherited by the kernels)."""
    if at_once is not None:
        os.environ[jobs.JOBS_ENV] = str(at_once)
    results: list[NotebookRun] = []
    groups: dict[int, list[str]] = {}
    for paper in longest_first(paper_names, profile):
        try:
            groups.setdefault(papers.package(paper).config(profile, **overrides).threads, []).append(paper)
        except Exception as err:  # a config error for one paper must not stop the others
            print(f"  {paper}: {_short_error(err)}", flush=True)
            results.append(NotebookRun(paper, "-", "failed", 0.0, None, None, _short_error(err)))
    count = iter(range(1, len(paper_names) + 1))
    for threads, group in sorted(groups.items(), reverse=True):
        if jobs.at_once(len(group), threads) == 1:
            for paper in group:
                print(f"[{next(count)}/{len(paper_names)}] {paper} ({profile})", flush=True)
                results += _paper_job(paper, profile, overrides, resume)
            continue
        started = [f"{paper} [{next(count)}/{len(paper_names)}]" for paper in group]
        print(f"side by side, {threads} thread(s) each ({profile}): {', '.join(started)}", flush=True)
        todo = [jobs.Job(paper, _paper_job, (paper, profile, overrides, resume, threads)) for paper in group]
        results += [run for done in jobs.run(todo, threads=threads, local=True) for run in done.value]
    return results


def _paper_job(paper: str, profile: str, overrides: dict, resume: bool, cores: int | None = None) -> list[NotebookRun]:
    """One paper as a job: on ``cores`` cores (its kernels' share) with prefixed lines, or, without
    ``cores``, here with the whole machine. Never raises: one paper's failure does not stop the others."""
    log, screen = (lambda m: print(m, flush=True)), {}
    if cores is not None:
        os.environ[jobs.CORES_ENV] = str(cores)  # this worker's kernels inherit it
        log, screen = (lambda m: print(_prefixed(paper, m), flush=True)), {"bar": False}  # no bar: others print too
    try:
        started, runs = time.perf_counter(), run_paper(paper, profile, overrides, resume, log=log, **screen)
        failed = sum(r.status == "failed" for r in runs)
        log(f"  {paper}: done in {time.perf_counter() - started:.0f} s, {len(runs)} notebooks, {failed} failed")
        return runs
    except Exception as err:
        log(f"  {paper}: {_short_error(err)}")
        return [NotebookRun(paper, "-", "failed", 0.0, None, None, _short_error(err))]


def _prefixed(paper: str, message: str) -> str:
    return "\n".join(f"[{paper}] {line}" for line in message.splitlines())


def longest_first(paper_names: list[str], profile: str) -> list[str]:
    """The papers by the README's measured time for ``profile`` (``cpu``'s where the table has no
    column for it), longest first; papers without a time keep their order, after the others."""
    measured = readme_seconds(profile)
    return sorted(paper_names, key=lambda p: -measured.get(p, -1.0))


def readme_seconds(profile: str, readme: Path = REPO_ROOT / "README.md") -> dict[str, float]:
    """``{paper: seconds}`` from the README's table of measured budgets (``| paper | `cpu` | `smoke` |``;
    an estimate reads ``~330 s``); empty when the README or the table is missing (the order then stays
    as given)."""
    try:
        lines = readme.read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    head = next((i for i, line in enumerate(lines) if re.match(r"\|\s*paper\s*\|\s*`cpu`", line)), None)
    if head is None:
        return {}
    columns = [c.strip(" `") for c in lines[head].strip("|").split("|")]
    column = columns.index(profile) if profile in columns else columns.index("cpu")
    seconds = {}
    for line in lines[head + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip(" `") for c in line.strip("|").split("|")]
        if len(cells) > column and (number := re.match(r"~?(\d+(?:\.\d+)?)\s*s\b", cells[column])):
            seconds[cells[0]] = float(number.group(1))
    return seconds


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
