"""Invert4TVG's figures from the step artifacts. Introduced in ``notebooks/invert4tvg/05_figures.ipynb``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.scores import load_scores
from repro.core.steps import read_json
from repro.invert4tvg import artifacts as art
from repro.invert4tvg.evaluate import THRESHOLDS

MAIN_ARMS = ("sft", "tvg_iou", "tvg_iouv2", "invert4tvg", "invert4tvg@cosine")
SWEEP = (("tvg_iou", 0.0), ("invert4tvg", 0.2), ("invert4tvg@p0.5", 0.5), ("invert4tvg@p0.8", 0.8))


def smooth(values: list[float], k: int = 10) -> np.ndarray:
    """Moving mean ignoring NaN (updates where the task was not drawn)."""
    v = np.asarray(values, dtype=float)
    out = np.full(len(v), np.nan)
    for i in range(len(v)):
        window = v[max(0, i - k + 1) : i + 1]
        if np.isfinite(window).any():
            out[i] = np.nanmean(window)
    return out


def reward_curves(history: dict, folder: Path) -> list[Path]:
    """The TVG accuracy reward per update (mean over seeds) for each arm on the verb set."""
    fig, axes = plots.figure(1, 1, width=5.0, height=3.0)
    ax = axes[0, 0]
    for arm, runs in history.items():
        if "objects" in arm:
            continue
        curve = np.nanmean(np.stack([smooth(r["reward_tvg"]) for r in runs]), axis=0)
        ax.plot(curve, label=arm)
    ax.set(xlabel="GRPO update", ylabel="TVG accuracy reward (smoothed)", title="Reward curves")
    ax.legend(fontsize=7, ncol=2)
    return plots.save(fig, folder, "reward_curves")


def recall_bars(scores: dict, folder: Path) -> list[Path]:
    """R1@m for the main arms (mean over seeds, error bar: one standard deviation across seeds)."""
    arms = [a for a in MAIN_ARMS if a in scores["R1@0.7"]]
    fig, axes = plots.figure(1, 1, width=5.5, height=3.0)
    ax = axes[0, 0]
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        per_seed = [scores[f"R1@{m}"][arm].mean(1) for m in THRESHOLDS]
        ax.bar(
            np.arange(3) + j * width, [p.mean() for p in per_seed], width, yerr=[p.std() for p in per_seed], label=arm
        )
    ax.set_xticks(np.arange(3) + 0.4 - width / 2, [f"R1@{m}" for m in THRESHOLDS])
    ax.set(ylabel="recall (%)", title="Grounding recall by arm")
    ax.legend(fontsize=7)
    return plots.save(fig, folder, "recall_bars")


def p_sweep(scores: dict, folder: Path) -> list[Path]:
    """R1@0.7 and the verb probe against the inversion share p."""
    points = [(p, a) for a, p in SWEEP if a in scores["R1@0.7"]]
    fig, axes = plots.figure(2, 1)
    for ax, metric in zip(axes[0], ("R1@0.7", "verb_probe")):
        if metric not in scores:
            continue
        seeds = np.stack([scores[metric][a].mean(1) for _, a in points], axis=1)
        ps = [p for p, _ in points]
        ax.plot(ps, seeds.T, color="0.8", lw=0.8)
        ax.plot(ps, seeds.mean(0), "o-", color="C0")
        ax.set(xlabel="inversion share p", ylabel=metric, title=f"{metric} vs p")
    return plots.save(fig, folder, "p_sweep")


def noise_sweep(scores: dict, folder: Path) -> list[Path]:
    """R1@0.7 against the eval noise (the generator's difficulty knob) for the TVG-only and Invert4TVG arms."""
    fig, axes = plots.figure(1, 1)
    ax = axes[0, 0]
    levels = sorted(float(m.split("=")[1]) for m in scores if m.startswith("R1@0.7 noise="))
    for arm in ("tvg_iou", "tvg_iouv2", "invert4tvg"):
        if arm not in scores["R1@0.7"]:
            continue
        ys = [scores[f"R1@0.7 noise={n:g}"][arm].mean() for n in levels]
        ax.plot(levels, ys, "o-", label=arm)
    ax.set(xlabel="eval noise", ylabel="R1@0.7", title="Difficulty sweep")
    ax.legend(fontsize=7)
    return plots.save(fig, folder, "noise_sweep")


def timelines(predictions: dict, frames: int, folder: Path, arms=("tvg_iou", "invert4tvg")) -> list[Path]:
    """Predicted vs true segments for the first videos: target (green), distractors (grey), answers."""
    arms = [a for a in arms if a in predictions]
    n = len(predictions[arms[0]]) if arms else 0
    fig, axes = plots.figure(1, 1, width=6.0, height=0.45 * max(n, 1) + 0.8)
    ax = axes[0, 0]
    for i in range(n):
        row = predictions[arms[0]][i]
        ax.broken_barh([(row["target"][0], row["target"][1] - row["target"][0])], (i - 0.4, 0.8), color="C2", alpha=0.4)
        for s, e in row["distractors"]:
            ax.broken_barh([(s, e - s)], (i - 0.4, 0.8), color="0.6", alpha=0.4)
        for k, arm in enumerate(arms):
            pred = predictions[arm][i]["predicted"]
            if pred:
                ax.plot(pred, [i - 0.2 + 0.4 * k] * 2, lw=2.5, color=f"C{k}", label=arm if i == 0 else None)
    ax.set_yticks(range(n), [predictions[arms[0]][i]["query"] for i in range(n)] if arms else [], fontsize=7)
    ax.set(xlim=(0, frames), xlabel="frame", title="Target (green), opposite-verb distractors (grey), answers")
    ax.grid(False)
    ax.legend(fontsize=7, loc="upper right")
    return plots.save(fig, folder, "timelines")


def all_figures(data_dir: Path, train_dir: Path, evaluate_dir: Path, folder: Path, cfg) -> list[Path]:
    scores = load_scores(Path(evaluate_dir) / "scores.npz")
    history = read_json(Path(train_dir) / "history.json")
    predictions = read_json(art.predictions_file(evaluate_dir))
    return [
        *reward_curves(history, folder),
        *recall_bars(scores, folder),
        *p_sweep(scores, folder),
        *noise_sweep(scores, folder),
        *timelines(predictions, cfg.video.frames, folder),
    ]
