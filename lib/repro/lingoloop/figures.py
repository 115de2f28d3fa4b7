"""LingoLoop's figures, used by the figures step and shown in the notebooks.
Introduced in ``notebooks/lingoloop/05_figures.ipynb``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.scores import load_scores
from repro.core.steps import read_json
from repro.lingoloop import artifacts

MAIN_ARMS = ("clean", "random_noise", "eos_only", "verbose_images", "uniform_eos", "lps_only", "lingoloop")


def length_histograms(scores: dict, cap: int):
    """Generated tokens per arm (all seeds and images), the cap marked."""
    arms = [a for a in MAIN_ARMS if a in scores["tokens"]]
    fig, axes = plots.figure(ncols=len(arms), width=1.7, height=1.9, sharey=True)
    bins = np.linspace(0, cap, 17)
    for ax, arm in zip(axes[0], arms):
        ax.hist(scores["tokens"][arm].ravel(), bins=bins, color="tab:blue")
        ax.axvline(cap, color="grey", ls=":", lw=0.8)
        ax.set_title(arm, fontsize=7)
        ax.set_xlabel("tokens", fontsize=7)
    axes[0][0].set_ylabel("images")
    return fig


def tokens_vs_step(history: dict, cap: int):
    """Mean generated tokens after each regeneration (mean over images and seeds)."""
    fig, axes = plots.figure(width=4.4, height=3.0)
    ax = axes[0][0]
    for arm, runs in history.items():
        if arm == "random_noise":
            continue
        steps = runs[0]["checkpoints"]
        mean = np.mean([np.mean(r["lengths"], axis=1) for r in runs], axis=0)
        ax.plot(steps, mean, marker="o", ms=2.5, lw=1, ls="--" if "@" in arm else "-", label=arm)
    ax.axhline(cap, color="grey", ls=":", lw=0.8, label="cap")
    ax.set(xlabel="attack step", ylabel="generated tokens", title="tokens vs attack step")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def norm_vs_repetition(scores: dict):
    """Per-arm mean hidden-state norm (% of clean) against repetition (100 x (1 - distinct-2))."""
    fig, axes = plots.figure(width=4.4, height=3.0)
    ax = axes[0][0]
    for arm in scores["hidden_norm"]:
        ax.scatter(scores["hidden_norm"][arm].mean(), scores["repetition"][arm].mean(), s=18, label=arm)
    ax.set(xlabel="hidden-state norm (% of clean)", ylabel="repetition (1 - distinct-2, %)", title="path pruning")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def loss_curves(history: dict):
    """Mean attack loss per step (first seed), normalised by its first value."""
    fig, axes = plots.figure(width=4.4, height=3.0)
    ax = axes[0][0]
    for arm, runs in history.items():
        loss = np.asarray(runs[0]["loss"])
        if len(loss):
            ax.plot(loss / (abs(loss[0]) + 1e-12), lw=1, label=arm)
    ax.set(xlabel="attack step", ylabel="loss / |first loss|", title="attack losses")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def example_outputs(outputs: dict, arms=("clean", "verbose_images", "lingoloop"), width: int = 110):
    """The first image's output under a few attacks (seed 0), as text."""
    fig, axes = plots.figure(width=7.5, height=0.55 * len(arms) + 0.4)
    ax = axes[0][0]
    ax.axis("off")
    lines = []
    for arm in arms:
        if arm in outputs:
            text = outputs[arm][0][0]
            lines.append(f"{arm}: {text[:width]}{' ...' if len(text) > width else ''}")
    ax.text(0, 1, "\n\n".join(lines), va="top", family="monospace", fontsize=6, wrap=True)
    return fig


def all_figures(upstream: dict[str, Path], out: Path, cap: int) -> list[Path]:
    """Every figure of the figures step (``cap``: the generation's max_new_tokens)."""
    scores = load_scores(upstream["evaluate"] / artifacts.SCORES)
    history = read_json(upstream["train"] / artifacts.HISTORY)
    made = {
        "length_histograms": length_histograms(scores, cap),
        "tokens_vs_step": tokens_vs_step(history, cap),
        "norm_vs_repetition": norm_vs_repetition(scores),
        "loss_curves": loss_curves(history),
        "example_outputs": example_outputs(read_json(upstream["evaluate"] / artifacts.OUTPUTS)),
    }
    return [path for name, fig in made.items() for path in plots.save(fig, out, name)]
