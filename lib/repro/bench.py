"""The kit's benchmark: ``./run_all.sh bench`` (or ``python -m repro.bench``).

Two parts, written to ``<runs>/bench/bench.json`` and ``bench.md``:

* **Steps**: wall time and peak memory of every paper's steps at each profile asked for, read from
  the ``step.json`` files of the latest runs in the runs folder (``--run smoke`` first runs the
  ``smoke`` profile of every paper; a ``cpu`` run is the main job, ``./run_all.sh``, so the bench
  reads it rather than repeating it).
* **Jobs** (``--parallel smoke``): the runner over every paper (or those named with ``--paper``) with
  ``--jobs 1`` (one paper, one (arm, seed) at a time) and with its default (papers side by side as
  jobs), one after the other in one call, each into a fresh runs folder: wall time per paper and in
  all, the load average before and after each, and whether the two runs reached the same verdicts.
* **Kernels**: each kit kernel timed beside the straightforward alternative a user would write, in
  the same process, interleaved and repeated, reporting medians and their ratio (the headline; the
  absolute times are the context, and they move with the machine's load, which is recorded):

  - ``fit``: :func:`repro.core.train.fit` over an accelerate-prepared model, optimizer and loader
    against a plain PyTorch loop (same model, data, steps).
  - ``pgd``: MMARD's PGD (:func:`repro.mmard.attacks.pgd`) against ``torchattacks.PGD`` with the same
    settings, and the share of adversarial images on which the two agree.
  - ``clients``: ``torch.func.vmap(grad(loss))`` over stacked client parameters (how dFLMoE trains
    its clients) against a Python loop over the clients, with the largest gradient difference.
  - ``retrieval``: a faiss index against exact numpy search, with recall@10 of the index.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from repro.core import papers, runtime
from repro.core.steps import read_json, runs_root, write_json


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def compare(kit: Callable[[], Any], plain: Callable[[], Any], repeats: int) -> dict[str, float]:
    """Median seconds of each, measured interleaved (so load changes hit both), and kit / plain."""
    kit(), plain()  # warm-up: first calls pay for lazy initialisation
    kit_times, plain_times = [], []
    for _ in range(repeats):
        kit_times.append(median_time(kit, 1))
        plain_times.append(median_time(plain, 1))
    k, p = statistics.median(kit_times), statistics.median(plain_times)
    return {"kit_s": k, "plain_s": p, "ratio": k / p}


# ----------------------------------------------------------------------------------------------
# kernels


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))


def bench_fit(steps: int = 384, batch: int = 64, repeats: int = 5) -> dict[str, Any]:
    """The kit's training loop (accelerate-prepared) against a plain PyTorch loop."""
    from accelerate import Accelerator

    from repro.core.train import fit

    x, y = torch.randn(steps * batch, 64), torch.randint(0, 10, (steps * batch,))
    data = torch.utils.data.TensorDataset(x, y)
    loss_fn = lambda model, b: nn.functional.cross_entropy(model(b[0]), b[1])  # noqa: E731

    def kit():
        model = _mlp()
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        loader = torch.utils.data.DataLoader(data, batch_size=batch)
        accelerator = Accelerator()  # a GPU when there is one, as in the kit
        model, opt, loader = accelerator.prepare(model, opt, loader)
        fit(model, loss_fn, loader, opt, epochs=1, accelerator=accelerator)

    device = Accelerator().device  # where accelerate puts the kit's

    def plain():
        model = _mlp().to(device)
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        for b in torch.utils.data.DataLoader(data, batch_size=batch):
            loss = loss_fn(model, [t.to(device, non_blocking=True) for t in b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return {"what": f"MLP 64-256-256-10, {steps} Adam steps of batch {batch}"} | compare(kit, plain, repeats)


def bench_pgd(n: int = 256, steps: int = 10, repeats: int = 5) -> dict[str, Any]:
    """MMARD's PGD against torchattacks' PGD (no random start, so both are deterministic)."""
    import torchattacks

    from repro.mmard.attacks import pgd

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(128, 10),
    ).eval()  # fmt: skip
    x, y = torch.rand(n, 1, 8, 8), torch.randint(0, 10, (n,))
    eps, alpha = 0.1, 0.025
    reference = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
    ours = lambda: pgd(model, x, y, eps=eps, step=alpha, steps=steps, random_start=False)  # noqa: E731
    theirs = lambda: reference(x, y)  # noqa: E731
    agree = float((ours() - theirs()).abs().amax(dim=(1, 2, 3)).le(1e-6).float().mean())
    return {"what": f"{n} 8x8 images, {steps} steps, small CNN", "agree": agree} | compare(ours, theirs, repeats)


def bench_clients(clients: int = 16, batch: int = 32, repeats: int = 5) -> dict[str, Any]:
    """``vmap(grad(loss))`` over stacked client parameters against a loop over the clients."""
    from torch.func import functional_call, grad, stack_module_state, vmap

    models = [_mlp() for _ in range(clients)]
    params, _ = stack_module_state(models)
    base = _mlp().to("meta")
    x, y = torch.randn(clients, batch, 64), torch.randint(0, 10, (clients, batch))

    def loss(p, xb, yb):
        return nn.functional.cross_entropy(functional_call(base, p, (xb,)), yb)

    vmapped = vmap(grad(loss))
    kit = lambda: vmapped(params, x, y)  # noqa: E731

    def plain():
        out = []
        for k, model in enumerate(models):
            model.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x[k]), y[k]).backward()
            out.append([p.grad for p in model.parameters()])
        return out

    grads_v, grads_l = kit(), plain()
    names = [n for n, _ in models[0].named_parameters()]
    diff = max(
        float((grads_v[n][k] - grads_l[k][i]).detach().abs().max()) for i, n in enumerate(names) for k in range(clients)
    )
    return {"what": f"{clients} clients, MLP, batch {batch}", "max_grad_diff": diff} | compare(kit, plain, repeats)


def bench_retrieval(corpus: int = 50_000, dim: int = 64, queries: int = 500, k: int = 10, repeats: int = 3):
    """A faiss IVF index (the choice for a corpus of this size) against exact numpy search."""
    import faiss

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(64, dim))
    data = (centres[rng.integers(0, 64, corpus)] + 0.3 * rng.normal(size=(corpus, dim))).astype(np.float32)
    q = (centres[rng.integers(0, 64, queries)] + 0.3 * rng.normal(size=(queries, dim))).astype(np.float32)
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, 256)
    index.train(data)
    index.add(data)
    index.nprobe = 16
    norms = (data**2).sum(1)

    def exact():
        dist = norms[None, :] - 2 * q @ data.T
        return np.argpartition(dist, k, axis=1)[:, :k]

    found, truth = index.search(q, k)[1], exact()
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, truth)]))
    out = compare(lambda: index.search(q, k), exact, repeats)
    return {"what": f"IVF256 nprobe 16 vs exact, {corpus} x {dim}, {queries} queries", "recall_at_10": recall} | out


KERNELS = {"fit": bench_fit, "pgd": bench_pgd, "clients": bench_clients, "retrieval": bench_retrieval}


# ----------------------------------------------------------------------------------------------
# steps


def step_rows(root: Path, profiles: tuple[str, ...]) -> list[dict[str, Any]]:
    """Wall time and peak memory per paper and step, from the runs folder's ``step.json`` files."""
    rows = []
    for profile in profiles:
        for paper in papers.available():
            for step in papers.STEPS:
                meta_path = root / profile / paper / step / "step.json"
                meta = read_json(meta_path) if meta_path.exists() else None
                if not isinstance(meta, dict):
                    rows.append({"profile": profile, "paper": paper, "step": step, "wall_s": None, "peak_mb": None})
                    continue
                rows.append(
                    {
                        "profile": profile,
                        "paper": paper,
                        "step": step,
                        "wall_s": meta.get("wall_s"),
                        "peak_mb": meta.get("peak_rss_mb"),
                        "gpu_peak_mb": meta.get("peak_cuda_mb"),
                    }
                )
    return rows


# ----------------------------------------------------------------------------------------------
# jobs: --jobs 1 against the default


def bench_parallel(profile: str, logs: Path, only: tuple[str, ...] = ()) -> dict[str, Any]:
    """``python -m repro run --profile <profile>`` with ``--jobs 1``, then with the default, each from
    an empty runs folder (nothing reused), in child processes with the same environment; their output
    goes to ``logs/parallel-<label>.log``. ``only``: these papers (default: all)."""
    chosen = [arg for paper in only for arg in ("--paper", paper)]
    runs = {}
    for label, extra in (("jobs 1", ["--jobs", "1"]), ("default", [])):
        print(f"[bench] {profile}, {label} ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="repro-bench-") as folder, LoadSampler() as load:
            env = {k: v for k, v in os.environ.items() if k != "REPRO_JOBS"} | {"REPRO_RUNS_DIR": folder}
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "repro", "run", "--profile", profile, *chosen, *extra],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            wall = time.perf_counter() - started
            logs.mkdir(parents=True, exist_ok=True)
            (logs / f"parallel-{label.replace(' ', '')}.log").write_text(proc.stdout)
            runs[label] = {
                "wall_s": round(wall, 1),
                "exit": proc.returncode,
                "papers": paper_times(Path(folder) / profile, only),
                "verdicts": verdicts(Path(folder) / profile, only),
            }
        runs[label] |= load.summary()
    sequential, default = runs["jobs 1"], runs["default"]
    return {
        "profile": profile,
        "papers": list(only) or "all",
        "runs": runs,
        "ratio": round(default["wall_s"] / sequential["wall_s"], 3) if sequential["wall_s"] else None,
        "same_verdicts": sequential["verdicts"] == default["verdicts"],
        "verdicts_differ": verdict_changes(sequential["verdicts"], default["verdicts"]),
    }


def verdict_changes(a: dict[str, dict[str, str]], b: dict[str, dict[str, str]]) -> list[str]:
    """``"<paper> <claim>: <verdict in a> -> <verdict in b>"`` for each claim whose verdict differs."""
    return [
        f"{paper} {claim}: {a.get(paper, {}).get(claim, '-')} -> {b.get(paper, {}).get(claim, '-')}"
        for paper in sorted(set(a) | set(b))
        for claim in sorted(set(a.get(paper, {})) | set(b.get(paper, {})))
        if a.get(paper, {}).get(claim) != b.get(paper, {}).get(claim)
    ]


class LoadSampler:
    """The machine's load average before, during (the 1-minute figure every 5 s) and after a block:
    the cores are shared, and the numbers mean little without it."""

    def __enter__(self) -> LoadSampler:
        import threading

        self.before, self.samples, self._stop = os.getloadavg(), [], threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(5.0):
            self.samples.append(os.getloadavg()[0])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.after = os.getloadavg()

    def summary(self) -> dict[str, Any]:
        return {
            "load_before": [round(x, 2) for x in self.before],
            "load_after": [round(x, 2) for x in self.after],
            "load_mean": round(statistics.fmean(self.samples or [self.after[0]]), 2),
        }


def paper_times(run: Path, only: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Per paper: the wall time of its notebooks (its own, side by side or not) and how many failed."""
    out = {}
    for paper in only or papers.available():
        summary = run / paper / "notebooks" / "summary.json"
        rows = read_json(summary) if summary.exists() else []
        out[paper] = {
            "wall_s": round(sum(r["wall_s"] for r in rows), 1),
            "failed": sum(r["status"] != "ok" for r in rows),
        }
    return out


def verdicts(run: Path, only: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """Per paper, each claim's verdict (``{}`` where its evaluate step did not finish)."""
    out = {}
    for paper in only or papers.available():
        claims = run / paper / "evaluate" / "claims.json"
        doc = read_json(claims) if claims.exists() else {}
        out[paper] = {c["id"]: c["result"]["verdict"] for c in doc.get("claims", [])}
    return out


def _triple(load: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in load)


def parallel_markdown(doc: dict[str, Any]) -> list[str]:
    seq, par = doc["runs"]["jobs 1"], doc["runs"]["default"]
    which = "every paper" if doc.get("papers", "all") == "all" else ", ".join(doc["papers"])
    load = lambda r: f"{_triple(r['load_before'])} -> {_triple(r['load_after'])} (1-min mean {r['load_mean']:.1f})"
    lines = [
        "",
        f"## `--jobs 1` against the default, `{doc['profile']}`, {which}",
        "",
        "| paper | `--jobs 1` (s) | default (s) | failed (1 / default) |",
        "|---|---|---|---|",
    ]
    for paper, one in seq["papers"].items():
        other = par["papers"][paper]
        lines.append(f"| {paper} | {one['wall_s']:.0f} | {other['wall_s']:.0f} | {one['failed']} / {other['failed']} |")
    lines += [
        f"| **all, wall clock** | **{seq['wall_s']:.0f}** | **{par['wall_s']:.0f}** | ratio {doc['ratio'] or 0:.2f} |",
        "",
        f"Load average (1, 5, 15 min) before -> after: `--jobs 1` {load(seq)}; default {load(par)}. "
        f"Same verdicts in both runs: {'yes' if doc['same_verdicts'] else 'NO'}"
        + (
            "."
            if doc["same_verdicts"]
            else f" ({'; '.join(doc.get('verdicts_differ', []))}; a claim on wall time "
            "can legitimately move when papers share the cores)."
        ),
    ]
    return lines


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": runtime.gpu_name(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
    }


def markdown(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    where = m["gpu"] or f"{m['cores']} CPU cores"
    load = ", ".join(f"{x:.1f}" for x in m["load_average"] or ())
    lines = [
        f"# Benchmark ({where}, torch {m['torch']}, load average {load})",
        "",
        "| kernel | what | kit (s) | alternative (s) | kit / alternative | check |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in doc["kernels"].items():
        check = ", ".join(f"{k} {v:.3g}" for k, v in r.items() if k in ("agree", "max_grad_diff", "recall_at_10"))
        lines.append(f"| {name} | {r['what']} | {r['kit_s']:.4f} | {r['plain_s']:.4f} | {r['ratio']:.2f}x | {check} |")
    lines += ["", "| profile | paper | " + " | ".join(papers.STEPS) + " | peak RSS (MB) |", "|---|---|" + "---|" * 6]
    by_run: dict[tuple[str, str], list[dict]] = {}
    for row in doc["steps"]:
        by_run.setdefault((row["profile"], row["paper"]), []).append(row)
    for (profile, paper), rows in by_run.items():
        walls = [("-" if r["wall_s"] is None else f"{r['wall_s']:.1f}") for r in rows]
        peaks = [r["peak_mb"] for r in rows if r["peak_mb"] is not None]
        lines.append(f"| {profile} | {paper} | " + " | ".join(walls) + f" | {max(peaks) if peaks else '-'} |")
    if "parallel" in doc:
        lines += parallel_markdown(doc["parallel"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="repro.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", default="smoke,cpu", help="profiles whose step times to read (comma-separated)")
    parser.add_argument("--run", action="append", default=[], help="run this profile of every paper first")
    parser.add_argument("--kernels", default=",".join(KERNELS), help=f"subset of {', '.join(KERNELS)} ('' for none)")
    parser.add_argument("--parallel", metavar="PROFILE", help="time every paper's run with --jobs 1 and the default")
    parser.add_argument("--paper", action="append", default=[], help="with --parallel: only this paper (repeatable)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.paper) - set(papers.available()))
    if unknown:
        parser.error(f"unknown papers {unknown}; valid: {', '.join(papers.available())}")
    chosen = [k for k in args.kernels.split(",") if k]
    unknown = sorted(set(chosen) - set(KERNELS))
    if unknown:
        parser.error(f"unknown kernels {unknown}; valid: {', '.join(KERNELS)}")
    for profile in args.run:
        from repro.core.cli import main as cli

        cli(["run", "--profile", profile])
    # One intra-op thread by default: the kit's kernels are tiny, and on a shared machine a second
    # OpenMP thread stalls them (100x slower at load 19, measured); REPRO_BENCH_THREADS overrides.
    torch.set_num_threads(int(os.environ.get("REPRO_BENCH_THREADS", "1")))
    os.environ["REPRO_PROGRESS"] = "0"
    kernels = {}
    for name in chosen:
        print(f"[bench] {name} ...", flush=True)
        kernels[name] = KERNELS[name]()
    root = runs_root()
    doc = {"machine": machine(), "kernels": kernels, "steps": step_rows(root, tuple(args.profiles.split(",")))}
    if args.parallel:
        doc["parallel"] = bench_parallel(args.parallel, root / "bench", tuple(args.paper))
    out = root / "bench"
    write_json(out / "bench.json", doc)
    (out / "bench.md").write_text(markdown(doc))
    print(markdown(doc))
    print(f"[bench] wrote {out / 'bench.json'} and bench.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
