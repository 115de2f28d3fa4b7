"""dFLMoE's figures, drawn by the figures step and shown in the notebooks.
Introduced in ``notebooks/dflmoe/05_figures.ipynb`` (the label heatmap in ``01_data``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.steps import read_json
from repro.dflmoe import artifacts as files
from repro.dflmoe.data import Task
from repro.dflmoe.runs import DROPS, OUTAGE, Run


def label_heatmap(task: Task):
    """Training samples per (client, class): the partition's skew at a glance."""
    counts = task.label_counts()
    fig, axes = plots.figure(width=0.35 * task.n_classes + 1.5, height=0.3 * len(counts) + 1.0)
    ax = axes[0, 0]
    im = ax.imshow(counts, cmap="viridis", aspect="auto")
    ax.set(xlabel="class", ylabel="client", title=task.name, xticks=range(task.n_classes), yticks=range(len(counts)))
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="train samples")
    return fig


def curves(runs: dict, metric: str, arms: list[str], title: str = ""):
    """Mean client accuracy after each evaluated round, seed mean, one line per arm."""
    fig, axes = plots.figure(width=4.6, height=3.0)
    ax = axes[0, 0]
    for arm in arms:
        if arm in runs[metric]:
            per_seed = runs[metric][arm]
            ax.plot(per_seed[0]["rounds"], np.mean([r["curve"] for r in per_seed], axis=0), label=arm)
    ax.set(xlabel="round", ylabel="mean client accuracy (%)", title=title or metric)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, ncol=2)
    return fig


def client_bars(runs: dict, metric: str, arms: list[str], seed_index: int = 0, seed: int = 0):
    """Final accuracy of every client of one seed, grouped by client: each seed draws its own
    partition, so client i of one seed is not client i of another and is never averaged with it."""
    fig, axes = plots.figure(width=5.5, height=2.8)
    ax = axes[0, 0]
    present = [a for a in arms if a in runs[metric]]
    width = 0.8 / max(len(present), 1)
    for i, arm in enumerate(present):
        acc = np.asarray(runs[metric][arm][seed_index]["client_acc"])
        ax.bar(np.arange(len(acc)) + i * width, acc, width, label=arm)
    ax.set(xlabel="client", ylabel="test accuracy (%)", title=f"per-client accuracy, {metric}, seed {seed}")
    ax.legend(fontsize=7, ncol=len(present))
    return fig


def gate_heatmap(gate: list[list[float]], title: str = "dFLMoE gate"):
    """Mean gate weight each client (row) gives each expert head (column) on its test set."""
    g = np.asarray(gate)
    fig, axes = plots.figure(width=3.6, height=3.0)
    ax = axes[0, 0]
    im = ax.imshow(g, cmap="magma", vmin=0, vmax=max(g.max(), 1e-6))
    ax.set(xlabel="expert (whose head)", ylabel="client", title=title, xticks=range(len(g)), yticks=range(len(g)))
    ax.grid(False)
    fig.colorbar(im, ax=ax, label="mean gate weight")
    return fig


def all_figures(
    upstream: dict[str, Path],
    out: Path,
    *,
    matrix: list[Run],
    main: str,
    same_run: set[str],
    graph: str,
    drop_rate: float,
    seed: int,
) -> list[Path]:
    """Every figure of the figures step: ``matrix`` is the run matrix (which arms exist and how),
    ``main`` the partition the faults run on, ``same_run`` the outage arms that reuse a fault-free
    run, ``graph`` the main runs' peer graph; label heatmaps show ``seed``'s partitions."""
    runs = read_json(upstream["train"] / files.RUNS)
    tasks = files.load_tasks(upstream["data"], seed)
    written = []
    for name, task in tasks.items():
        written += plots.save(label_heatmap(task), out, f"labels_{name}")
    faulted = {arm.name for arm in matrix if arm.fault}
    for metric in runs:
        fault_free = [a for a in runs[metric] if a not in faulted]
        written += plots.save(curves(runs, metric, fault_free), out, f"accuracy_vs_round_{metric}")
    key = [a for a in ("local", "fedavg", "fedrep", "fedproto", "dflmoe") if a in runs[main]]
    written += plots.save(client_bars(runs, main, key, 0, seed), out, "per_client")
    if runs[main].get("dflmoe") and runs[main]["dflmoe"][0]["gate"]:
        written += plots.save(gate_heatmap(runs[main]["dflmoe"][0]["gate"], f"dFLMoE gate, {main}"), out, "gate")
    shown = [a for a in matrix if a.metric == main and a.method in ("fedavg", "dflmoe", "dpsgd")]
    fault_arms = [a.name for a in shown if not a.hetero and a.graph == graph and a.name not in same_run]
    title = f"faults: {drop_rate:.0%} drops + lost client ({DROPS}); server down ({OUTAGE})"
    written += plots.save(curves(runs, main, fault_arms, title), out, "faults")
    return written
