"""VideoPure's figures from the step artifacts, in the kit's style (:mod:`repro.core.plots`).
Introduced in ``notebooks/videopure/05_figures.ipynb``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.arms import Arm
from repro.core.scores import load_scores
from repro.core.steps import read_json
from repro.videopure import artifacts as art


def clip_strip(ax_row, clip: np.ndarray, label: str) -> None:
    """One clip (T, 1, H, W) as a row of frames."""
    for t, ax in enumerate(ax_row):
        ax.imshow(clip[t, 0], cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        if t == 0:
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)


def clips_figure(clips: dict[str, np.ndarray]):
    """Named clips (T, 1, H, W), one row each."""
    frames = next(iter(clips.values())).shape[0]
    fig, axes = plots.figure(frames, len(clips), width=0.8, height=0.8)
    for (name, clip), ax_row in zip(clips.items(), axes):
        clip_strip(ax_row, clip, name)
    return fig


def purified_clips(train_dir: Path, attack: str, rungs: tuple[str, ...]):
    """Clip 0: clean, adversarial (``attack``), and each rung's purified output of it."""
    ex = art.load_arrays(Path(train_dir) / art.EXAMPLES)
    rows = [("clean", ex["input_clean"][0]), (attack, ex[f"input_{attack}"][0])]
    rows += [(rung, ex[f"out_{attack}_{rung}"][0]) for rung in rungs if f"out_{attack}_{rung}" in ex]
    return clips_figure(dict(rows))


def vote_matrix(train_dir: Path):
    """VideoPure's per-step votes under the adaptive attack: candidate x clip, coloured by class."""
    ex = art.load_arrays(Path(train_dir) / art.EXAMPLES)
    keys = [k for k in ex if k.startswith("votes_")]
    if not keys:
        return None
    votes = ex[keys[0]]
    fig, axes = plots.figure(1, 1, width=5.0, height=2.2)
    ax = axes[0, 0]
    ax.imshow(votes, cmap="tab10", vmin=0, vmax=9, aspect="auto")
    for (k, b), v in np.ndenumerate(votes):
        ax.text(b, k, str(v), ha="center", va="center", fontsize=6)
    ax.set_xlabel("clip")
    ax.set_ylabel("candidate (denoising step; last: output)")
    ax.set_title(f"votes under {keys[0].removeprefix('votes_')}")
    ax.grid(False)
    return fig


def accuracy_bars(eval_dir: Path, rungs: tuple[str, ...]):
    """Seed-mean accuracy per rung under each condition (clean = standard accuracy)."""
    scores = load_scores(Path(eval_dir) / art.SCORES)["accuracy"]
    conditions = sorted({a.split("@", 1)[1] for a in scores}, key=lambda c: (c != "clean", c))
    fig, axes = plots.figure(1, 1, width=6.5, height=2.6)
    ax = axes[0, 0]
    width = 0.8 / len(rungs)
    for i, rung in enumerate(rungs):
        means = [scores[Arm(rung, c).name].mean() if Arm(rung, c).name in scores else np.nan for c in conditions]
        ax.bar(np.arange(len(conditions)) + i * width, means, width, label=rung)
    ax.set_xticks(np.arange(len(conditions)) + 0.4 - width / 2, conditions)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=6, ncols=1, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def consistency_vs_time(eval_dir: Path):
    """Warping error (on the candidates each rung classifies) vs UNet frame passes per clip, clean clips,
    one point per rung (the input itself at 0 passes)."""
    scores = load_scores(Path(eval_dir) / art.SCORES)
    fig, axes = plots.figure(1, 1)
    ax = axes[0, 0]
    for name, warping in scores["warping_error"].items():
        if name.endswith("@clean"):
            passes = scores["unet_passes"][name].mean()
            ax.scatter(passes, warping.mean())
            ax.annotate(name.split("@")[0], (passes, warping.mean()), fontsize=6)
    ax.set_xscale("symlog")
    ax.set_xlabel("UNet frame passes per clip")
    ax.set_ylabel("warping error (x1000)")
    return fig


def loss_and_samples(model_dir: Path):
    """The DDPM's training loss, and DDIM samples from noise beside test frames."""
    summary = read_json(Path(model_dir) / "step.json")["summary"]
    samples = art.load_arrays(Path(model_dir) / art.SAMPLES)
    fig, axes = plots.figure(3, 1, width=2.4, height=2.2)
    axes[0, 0].plot(summary["ddpm"]["losses"])
    axes[0, 0].set_xlabel("tenth of training")
    axes[0, 0].set_ylabel("DDPM loss")
    panels = (("DDIM samples", samples["samples"]), ("test frames", samples["clips"][:, 0]))
    for ax, (title, images) in zip(axes[0, 1:], panels):
        grid = np.concatenate([np.concatenate(list(images[r * 4 : r * 4 + 4, 0]), 1) for r in range(2)], 0)
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    return fig


def all_figures(upstream: dict[str, Path], folder: Path) -> list[Path]:
    """Every figure of the paper, saved as PNG and PDF under ``folder``."""
    ex = art.load_arrays(Path(upstream["train"]) / art.EXAMPLES)
    attacks = sorted((k.removeprefix("input_") for k in ex if k.startswith("input_pgd")), key=lambda c: int(c[3:]))
    attack = attacks[-1] if attacks else "clean"
    rungs = tuple(read_json(Path(upstream["train"]) / "step.json")["config_slice"]["rungs"])
    figures = {
        "ddpm": loss_and_samples(upstream["model"]),
        f"clips_{attack}": purified_clips(upstream["train"], attack, rungs),
        "votes": vote_matrix(upstream["train"]),
        "accuracy": accuracy_bars(upstream["evaluate"], rungs),
        "consistency_time": consistency_vs_time(upstream["evaluate"]),
    }
    return [path for name, fig in figures.items() if fig is not None for path in plots.save(fig, folder, name)]
