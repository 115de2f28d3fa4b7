"""``python -m repro``: the kit outside Jupyter.

    python -m repro list
    python -m repro run --profile cpu [--paper mmard ...] [--resume] [--set seeds=[0,1]] [--jobs 1]
    python -m repro step mmard train --profile gpu [--set epochs=3]   # also under `accelerate launch`
    python -m repro refresh-notebooks [--paper mmard]
    python -m repro report --profile cpu
    python -m repro compare [cpu] [--against results/cpu] [--any-difference] [--record-setting NAME CHANGE]

``./run_all.sh`` is a thin wrapper around ``run`` that first makes sure the kit's venv exists.
What the user got wrong (a profile, a value, a step, missing or corrupted data, a folder it cannot
write) is one message and exit status 2, not a traceback; ``REPRO_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from . import papers
from .steps import UnknownStepError, absolute_env_paths, runs_root

# A user's mistake or the environment's, not the kit's: reported as a message.
USER_ERRORS = (ValueError, UnknownStepError, OSError, pickle.UnpicklingError)


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON when they parse as JSON (numbers, lists), else strings."""
    overrides = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expects a whole number >= 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m repro", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="papers, their steps and notebooks")

    run = sub.add_parser("run", help="execute notebooks with papermill, then write the report")
    run.add_argument("--profile", default="cpu")
    run.add_argument("--paper", action="append", help="repeatable; default: every available paper")
    run.add_argument("--resume", action="store_true", help="skip notebooks whose step is fresh")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    run.add_argument(
        "--jobs", type=positive_int, help="most jobs at once: papers side by side, (arm, seed) runs (default: cores)"
    )

    step = sub.add_parser("step", help="run one step of one paper (works under accelerate launch)")
    step.add_argument("paper")
    step.add_argument("step")
    step.add_argument("--profile", default="smoke")
    step.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    step.add_argument("--cached", action="store_true", help="reuse the step if it is fresh")

    refresh = sub.add_parser("refresh-notebooks", help="re-execute committed notebooks in place at smoke")
    refresh.add_argument("--paper", action="append")

    report = sub.add_parser("report", help="(re)build <runs>/<run>/REPORT.md")
    report.add_argument("--profile", default="cpu", help="run name: a profile or profile+hash")

    compare = sub.add_parser("compare", help="a rerun beside the committed golden; exit 1 if a verdict changed")
    compare.add_argument("run", nargs="*", default=["cpu"], help="run names (cpu, 'cpu+*') or run folders")
    compare.add_argument("--against", help="golden folder (default: results/<the run's profile>)")
    compare.add_argument("--paper", action="append", help="repeatable; default: every paper on both sides")
    compare.add_argument("--any-difference", action="store_true", help="exit 1 on any difference, not only a verdict")
    compare.add_argument(
        "--record-setting", nargs=2, metavar=("NAME", "CHANGE"),
        help="keep this rerun of the golden's code under another setting beside the golden, as "
        "results/<profile>/<paper>/settings/NAME.json (CHANGE says what differs, e.g. 'ATEN_CPU_CAPABILITY=avx2'): "
        "its changed verdicts mark the claims fragile in the README and the report",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    absolute_env_paths()  # before any kernel starts in another folder
    try:
        return dispatch(args)
    except USER_ERRORS as err:
        if os.environ.get("REPRO_DEBUG"):
            raise
        print(f"error: {describe(err)}", file=sys.stderr)
        return 2


def describe(err: BaseException) -> str:
    """The message of a user-facing error; for an OSError of the file system, which file and what to do."""
    if isinstance(err, OSError) and err.strerror and err.filename:
        text = f"{err.filename}: {err.strerror}"
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
            text += " (point REPRO_RUNS_DIR at a writable folder with free space)"
        return text
    return str(err)


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        for paper in papers.ALL_PAPERS:
            if paper in papers.available():
                steps = ", ".join(step for step, _ in papers.notebooks(paper))
                print(f"{paper:<14} {steps}")
            else:
                print(f"{paper:<14} (not implemented yet)")
        return 0
    if args.command == "step":
        pkg = papers.package(args.paper)
        cfg = pkg.config(args.profile, **parse_overrides(args.set))
        result = papers.pipeline(args.paper).run(args.step, cfg, force=not args.cached)
        print(json.dumps({"dir": str(result.dir), "cached": result.cached, "summary": result.summary}, indent=2))
        return 0
    if args.command == "compare":
        return compare(args)
    if args.command == "report":
        from .report import build

        print(build(args.profile))
        return report_refusals(args.profile)

    from . import runner

    selected = [papers.check(p) for p in (args.paper or papers.available())]
    if args.command == "refresh-notebooks":
        results = runner.refresh_notebooks(selected)
        print(runner.summary(results))
        return int(any(r.status == "failed" for r in results))
    overrides = parse_overrides(args.set)
    results = runner.run(args.profile, selected, overrides, args.resume, args.jobs)
    print(runner.summary(results))
    from .report import build

    failed = any(r.status == "failed" for r in results)
    for run_name in run_names(selected, args.profile, overrides):  # the papers that ran, even if one did not
        print(f"report: {build(run_name)}")
        failed |= bool(report_refusals(run_name))
    return int(failed)


def run_names(paper_names: list[str], profile: str, overrides: dict[str, Any]) -> list[str]:
    """The run folders of the papers whose config builds: an override changes the run name only for
    a paper where it differs from the profile, so one command can write to several runs."""
    names = []
    for paper in paper_names:
        try:
            name = papers.package(paper).config(profile, **overrides).run_name
        except ValueError:  # this paper's config error is in the summary already
            continue
        if name not in names and (runs_root() / name / paper).is_dir():
            names.append(name)
    return names


def compare(args: argparse.Namespace) -> int:
    """Print each run beside its golden (:mod:`repro.core.compare`); 1 when a verdict changed."""
    from . import compare as cmp
    from .report import compared, comparison_markdown

    status = 0
    for run in cmp.resolve_runs(args.run):
        golden = Path(args.against).resolve() if args.against else cmp.golden_folder(cmp.run_profile(run))
        if not golden.is_dir():
            raise ValueError(f"no golden folder {golden}; give one with --against results/<profile>")
        found = compared(golden, run, [papers.check(p) for p in args.paper or []] or None)
        if not found:
            raise ValueError(f"no paper has a claims.json both in {run} and in {golden}")
        if args.record_setting:
            for comparison in found:
                kept = cmp.record_setting(golden, comparison.paper, *args.record_setting,
                                          cmp.claims_path(run, comparison.paper))  # fmt: skip
                print(f"recorded {kept}", file=sys.stderr)
        print(f"## {run} against {golden}\n\n{comparison_markdown(found)}")
        status = max(status, cmp.exit_status(found, args.any_difference))
    return status


def report_refusals(run_name: str) -> int:
    """Say which claims.json the report refused to publish; 1 if any."""
    from .report import refused

    problems = refused(run_name)
    for paper, why in problems.items():
        print(f"warning: {paper}: claims not published: {why}", file=sys.stderr)
    return int(bool(problems))


if __name__ == "__main__":
    sys.exit(main())
