"""MGTIL's figures, drawn from step artifacts through ``repro.core.plots``.
Introduced in ``notebooks/mgtil/05_figures.ipynb`` (samples in ``01_data``, retrievals in ``02_model``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.arms import Arm
from repro.core.steps import read_json
from repro.mgtil import artifacts as art
from repro.mgtil.data import images

MAIN_METHODS = ("zeroshot", "finetune", "l2", "lwf", "zscl", "ours_uniform", "ours")


def samples(table, classes: Sequence[str], title: str, n: int = 8):
    """The first ``n`` images of a task split (or the database) with their class or caption."""
    fig, axes = plots.figure(n, 1, width=1.2, height=1.45)
    pics = images(table.select(range(n)))
    for ax, pic, row in zip(axes[0], pics, table.select(range(n))):
        ax.imshow(pic.transpose(1, 2, 0))
        label = classes[row["label"]] if "label" in row else row["caption"]
        ax.set_title("\n".join(_wrap(label, 18)), fontsize=6)
        ax.axis("off")
    fig.suptitle(title, fontsize=9, y=1.12)  # above the two-line captions
    return fig


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) > width:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return [*lines, line]


def retrieved(db, example: Mapping) -> object:
    """The pairs one query retrieved (model step's example)."""
    fig = samples(db.select(example["ids"]), [], f"retrieved for: {example['query']!r}", n=len(example["ids"]))
    return fig


def matrices(metrics: Mapping[str, Mapping], arms: Sequence[str]):
    """Accuracy matrices A[step, task] of the given arms (mean over seeds)."""
    fig, axes = plots.figure(len(arms), 1, width=2.3, height=2.3)
    for ax, arm in zip(axes[0], arms):
        a = np.asarray(metrics[arm]["matrix"])
        ax.imshow(a, vmin=0, vmax=100, cmap="viridis")
        ax.grid(False)
        for (j, i), v in np.ndenumerate(a):
            ax.text(i, j, f"{v:.0f}", ha="center", va="center", fontsize=6, color="w" if v < 60 else "k")
        tasks = metrics[arm]["tasks"]
        ax.set_xticks(range(len(tasks)), tasks, rotation=60, fontsize=6)
        ax.set_yticks(range(len(tasks)), [f"after {t}" for t in tasks], fontsize=6)
        ax.set_title(f"{arm}\nAvg {metrics[arm]['avg']:.1f} · Last {metrics[arm]['last']:.1f}", fontsize=7)
    return fig


def task_curves(metrics: Mapping[str, Mapping], arms: Sequence[str]):
    """Accuracy on each task after every step, one panel per task, one line per arm."""
    tasks = metrics[arms[0]]["tasks"]
    fig, axes = plots.figure(len(tasks), 1, width=2.0, height=1.9, sharey=True)
    for k, (ax, task) in enumerate(zip(axes[0], tasks)):
        for arm in arms:
            ax.plot(range(1, len(tasks) + 1), np.asarray(metrics[arm]["matrix"])[:, k], marker=".", label=arm)
        ax.axvline(k + 1, color="grey", lw=0.8, ls=":")
        ax.set_title(task, fontsize=8)
        ax.set_xlabel("after task #")
    axes[0][0].set_ylabel("accuracy (%)")
    axes[0][-1].legend(fontsize=6, loc="lower right")
    return fig


def summary_bars(metrics: Mapping[str, Mapping], arms: Sequence[str]):
    """Transfer / Avg / Last per arm."""
    fig, axes = plots.figure(1, 1, width=6.5, height=2.4)
    ax = axes[0][0]
    width = 0.8 / 3
    for k, metric in enumerate(("transfer", "avg", "last")):
        ax.bar(np.arange(len(arms)) + (k - 1) * width, [metrics[a][metric] for a in arms], width, label=metric)
    ax.set_xticks(range(len(arms)), arms, rotation=30, fontsize=7)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7, ncol=3)
    return fig


def reference_mix(references: Mapping[str, list], arm: str, uniform: str, tasks: Sequence[str]):
    """What the dynamic siphon put into each task's reference set (first seed), and the share of
    pairs from the task's own domain beside the uniform sample's."""
    runs = references[arm][0]
    fig, axes = plots.figure(2, 1, width=3.2, height=2.4)
    bottom = np.zeros(len(tasks))
    for level in ("task", "domain", "general", "fill"):
        counts = np.array([r.get(level, 0) for r in runs], float)
        axes[0][0].bar(range(len(tasks)), counts, bottom=bottom, label=level)
        bottom += counts
    axes[0][0].set_xticks(range(len(tasks)), tasks, rotation=45, fontsize=7)
    axes[0][0].set_ylabel("reference pairs")
    axes[0][0].legend(fontsize=6)
    if "same_domain" in runs[0]:
        for name in (arm, uniform):
            share = [np.mean([seed[t]["same_domain"] for seed in references[name]]) for t in range(len(tasks))]
            axes[0][1].plot(range(len(tasks)), share, marker="o", label=name)
        axes[0][1].legend(fontsize=6)
    else:  # real captions name no domain
        axes[0][1].text(0.5, 0.5, "the database names no domains", ha="center", transform=axes[0][1].transAxes)
    axes[0][1].set_xticks(range(len(tasks)), tasks, rotation=45, fontsize=7)
    axes[0][1].set_ylabel("share from the task's domain")
    axes[0][1].set_ylim(0, 1)
    return fig


def loss_curves(history: Mapping[str, list], arms: Sequence[str]):
    """Training loss per step across the stream (mean over seeds; dotted lines mark task switches)."""
    fig, axes = plots.figure(1, 1, width=6.5, height=2.4)
    ax = axes[0][0]
    for arm in arms:
        per_seed = [np.concatenate([np.asarray(task, float) for task in seed]) for seed in history[arm]]
        if len(per_seed[0]):
            ax.plot(np.mean(per_seed, axis=0), label=arm, lw=1)
    steps = len(history[arms[-1]][0][0])
    for k in range(1, len(history[arms[-1]][0])):
        ax.axvline(k * steps, color="grey", lw=0.6, ls=":")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend(fontsize=6, ncol=2)
    return fig


def all_figures(upstream: Mapping[str, Path], out: Path, main: str) -> list[Path]:
    """Every figure of ``05_figures`` for the stream ``main``, written as PNG and PDF."""
    metrics = read_json(upstream["evaluate"] / art.METRICS)
    name = {m: Arm(m, main).name for m in MAIN_METHODS}
    arms = [name[m] for m in MAIN_METHODS if name[m] in metrics]
    history = read_json(upstream["train"] / art.HISTORY)
    references = read_json(upstream["train"] / art.REFERENCES)
    written = []
    written += plots.save(matrices(metrics, arms), out, "accuracy_matrices")
    written += plots.save(task_curves(metrics, arms), out, "task_curves")
    written += plots.save(summary_bars(metrics, list(metrics)), out, "mtil_metrics")
    mix = reference_mix(references, name["ours"], name["ours_uniform"], metrics[name["ours"]]["tasks"])
    written += plots.save(mix, out, "reference_sets")
    written += plots.save(loss_curves(history, [a for a in arms if a != name["zeroshot"]]), out, "loss_curves")
    db = art.load_world(upstream["data"])["database"]
    written += plots.save(retrieved(db, read_json(upstream["model"] / art.RETRIEVAL_EXAMPLE)), out, "retrieval_example")
    return written
