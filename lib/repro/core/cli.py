"""``python -m repro``: the kit outside Jupyter.

    python -m repro list
    python -m repro run --profile cpu [--paper mmard ...] [--resume] [--set seeds=[0,1]]
    python -m repro step mmard train --profile gpu [--set epochs=3]   # also under `accelerate launch`
    python -m repro refresh-notebooks [--paper mmard]
    python -m repro report --profile cpu

``./run_all.sh`` is a thin wrapper around ``run`` that first makes sure the kit's venv exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from . import papers


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m repro", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="papers, their steps and notebooks")

    run = sub.add_parser("run", help="execute notebooks with papermill, then write the report")
    run.add_argument("--profile", default="cpu")
    run.add_argument("--paper", action="append", help="repeatable; default: every available paper")
    run.add_argument("--resume", action="store_true", help="skip notebooks whose step is fresh")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except ValueError as err:  # unknown paper, profile, override or method: a message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


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
    if args.command == "report":
        from .report import build

        print(build(args.profile))
        return 0

    from . import runner

    selected = [papers.check(p) for p in (args.paper or papers.available())]
    if args.command == "refresh-notebooks":
        results = runner.refresh_notebooks(selected)
        print(runner.summary(results))
        return int(any(r.status == "failed" for r in results))
    overrides = parse_overrides(args.set)
    results = runner.run(args.profile, selected, overrides, args.resume)
    print(runner.summary(results))
    from .report import build

    run_name = papers.package(selected[0]).config(args.profile, **overrides).run_name
    print(f"report: {build(run_name)}")
    return int(any(r.status == "failed" for r in results))


if __name__ == "__main__":
    sys.exit(main())
