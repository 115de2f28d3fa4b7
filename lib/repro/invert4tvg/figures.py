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


def reward_curves(history: dict):
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
    return fig


def recall_bars(scores: dict):
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
    return fig


def p_sweep(scores: dict):
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
    return fig


def noise_sweep(scores: dict):
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
    return fig


def timelines(predictions: dict, frames: int, arms=("tvg_iou", "invert4tvg")):
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
    if ax.get_legend_handles_labels()[0]:  # no answer parsed (an untrained policy): nothing to label
        ax.legend(fontsize=7, loc="upper right")
    return fig


def video_example(row: dict):
    """One video's features over time (a heat map), with the target and the distractors marked."""
    x = np.asarray(row["features"])
    fig, axes = plots.figure(1, 1, width=6.0, height=2.2)
    ax = axes[0, 0]
    ax.imshow(x.T, aspect="auto", cmap="coolwarm", extent=(0, len(x), x.shape[1], 0))
    ax.axvspan(row["start"], row["end"], ymin=0.0, ymax=0.08, color="C2", label=row["sentence"])
    for s, e, text in zip(row["distractor_start"], row["distractor_end"], row["distractor_sentence"]):
        ax.axvspan(s, e, ymin=0.0, ymax=0.08, color="0.4", label=text)
    ax.set(xlabel="frame", ylabel="feature", title="frame features: target (green), distractor (grey)")
    ax.grid(False)
    ax.legend(fontsize=7, loc="upper right")
    return fig


def all_figures(data_dir: Path, train_dir: Path, evaluate_dir: Path, folder: Path, cfg) -> list[Path]:
    """Draw and save every figure of the figures step."""
    scores = load_scores(Path(evaluate_dir) / "scores.npz")
    history = read_json(Path(train_dir) / "history.json")
    predictions = read_json(art.predictions_file(evaluate_dir))
    figs = {
        "reward_curves": reward_curves(history),
        "recall_bars": recall_bars(scores),
        "p_sweep": p_sweep(scores),
        "noise_sweep": noise_sweep(scores),
        "timelines": timelines(predictions, cfg.video.frames),
    }
    return [path for name, fig in figs.items() for path in plots.save(fig, folder, name)]
