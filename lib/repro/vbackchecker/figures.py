"""VBackChecker's figures from the step artifacts. Introduced in ``notebooks/vbackchecker/05_figures.ipynb``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.scores import load_scores
from repro.vbackchecker import artifacts
from repro.vbackchecker.data import scene_tensors, target_masks
from repro.vbackchecker.evaluate import TRIVIAL
from repro.vbackchecker.scenes import ERROR_TYPES

LEVEL_ROWS = ("none", *ERROR_TYPES)


def examples(data_dir: Path, evaluate_dir: Path, folder: Path, arms=("checker", "grounder"), n: int = 3) -> list[Path]:
    """Referring rows (grounded and no-target) with each arm's predicted mask and verdict."""
    tables = artifacts.load_tables(data_dir)
    scenes = scene_tensors(tables["scenes"])
    refer = tables["refer"]
    pred = artifacts.load_predictions(evaluate_dir)
    arms = [a for a in arms if f"refer_masks__{a}" in pred]
    no_target = np.asarray(refer["no_target"])
    rows = [*np.flatnonzero(~no_target)[:n], *np.flatnonzero(no_target)[:n]]
    truth = target_masks(refer.select(rows), scenes)
    fig, axes = plots.figure(ncols=len(rows), nrows=1 + len(arms), width=1.9, height=2.0)
    for col, r in enumerate(rows):
        image = scenes.images[refer[int(r)]["image_id"]]
        panels = [("target", truth[col], "")]
        for a in arms:
            panels.append(
                (a, pred[f"refer_masks__{a}"][r], " [SEG]" if pred[f"refer_margin__{a}"][r] > 0 else " [REJ]")
            )
        for row, (name, mask, verdict) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(image)
            if mask.any():
                ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=1.2)
            ax.set_xticks([]), ax.set_yticks([]), ax.grid(False)
            ax.set_title(f"{name}{verdict}", fontsize=7)
        axes[0, col].set_xlabel("\n".join(textwrap.wrap(refer[int(r)]["sentence"], 26)), fontsize=6)
        axes[0, col].xaxis.set_label_position("top")
    return plots.save(fig, folder, "examples")


def levels(evaluate_dir: Path, folder: Path) -> list[Path]:
    """Balanced accuracy per hallucination level, mean over seeds with the seed range."""
    scores = load_scores(Path(evaluate_dir) / artifacts.SCORES)
    metrics = [m for m in (*(f"bacc_{level}" for level in ERROR_TYPES), "bacc_heldout") if m in scores]
    arms = sorted(a for a in scores[metrics[0]] if a not in ("chance", *TRIVIAL))  # constants score 50: the line
    fig, axes = plots.figure(width=5.2, height=2.6)
    ax = axes[0, 0]
    width = 0.8 / len(arms)
    for k, arm in enumerate(arms):
        per_seed = np.array([scores[m][arm].mean(1) for m in metrics])  # (metric, seed)
        x = np.arange(len(metrics)) + k * width
        ax.bar(x, per_seed.mean(1), width, label=arm)
        ax.vlines(x, per_seed.min(1), per_seed.max(1), color="black", lw=0.8)
    ax.axhline(50, color="grey", ls="--", lw=0.8, label="chance")
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, [m.removeprefix("bacc_") for m in metrics])
    ax.set_ylabel("balanced accuracy (points)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7, ncols=3, loc="lower center")
    return plots.save(fig, folder, "levels")


def confusion(data_dir: Path, evaluate_dir: Path, folder: Path) -> list[Path]:
    """Share of bench captions rejected, by true level (rows) and arm (panels), first seed."""
    bench = artifacts.load_tables(data_dir)["bench"]
    truth = np.asarray(bench["error_type"])
    pred = artifacts.load_predictions(evaluate_dir)
    arms = sorted(k.split("__", 1)[1] for k in pred if k.startswith("bench_margin__"))
    fig, axes = plots.figure(ncols=len(arms), width=1.7, height=2.2)
    for ax, arm in zip(axes[0], arms):
        reject = pred[f"bench_margin__{arm}"] <= 0
        table = np.array([[np.mean(~reject[truth == t]), np.mean(reject[truth == t])] for t in LEVEL_ROWS])
        ax.imshow(table, vmin=0, vmax=1, cmap="Blues")
        for (i, j), v in np.ndenumerate(table):
            ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7, color="white" if v > 0.6 else "black")
        ax.set_xticks([0, 1], ["SEG", "REJ"]), ax.set_yticks(range(len(LEVEL_ROWS)), LEVEL_ROWS)
        ax.set_title(arm, fontsize=8)
        ax.grid(False)
    return plots.save(fig, folder, "confusion")


def losses(train_dir: Path, folder: Path) -> list[Path]:
    history = artifacts.load_history(train_dir)
    fig, axes = plots.figure(width=4.0, height=2.6)
    ax = axes[0, 0]
    for arm, runs in sorted(history.items()):
        curve = np.mean(np.array(runs), axis=0)
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", ms=2, label=arm)
    ax.set_xlabel("epoch"), ax.set_ylabel("training loss (mean over seeds)"), ax.set_yscale("log")
    ax.legend(fontsize=7)
    return plots.save(fig, folder, "losses")


def all_figures(upstream: dict[str, Path], folder: Path) -> list[Path]:
    return [
        *examples(upstream["data"], upstream["evaluate"], folder),
        *levels(upstream["evaluate"], folder),
        *confusion(upstream["data"], upstream["evaluate"], folder),
        *losses(upstream["train"], folder),
    ]
