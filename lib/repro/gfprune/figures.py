"""gfprune's figures, used by the figures step and shown in the notebooks.
Introduced in ``notebooks/gfprune/05_figures.ipynb``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.claims import load_claims
from repro.core.steps import read_json
from repro.gfprune import artifacts as files
from repro.gfprune.config import GfpruneConfig, arms


def image_rows(rows: dict[str, np.ndarray], n: int = 8, title: str = ""):
    """One row of images per entry (in [-1, 1]), labelled on the left."""
    fig, axes = plots.figure(ncols=n, nrows=len(rows), width=0.8, height=0.85)
    for i, (label, images) in enumerate(rows.items()):
        for j in range(n):
            ax = axes[i][j]
            ax.imshow(
                np.transpose(images[j], (1, 2, 0)).squeeze(-1)
                if images.shape[1] == 1
                else (np.transpose(images[j], (1, 2, 0)) + 1) / 2,
                cmap="gray",
                vmin=-1,
                vmax=1,
            )
            ax.set_xticks([]), ax.set_yticks([])
            ax.grid(False)
        axes[i][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def frechet_vs_macs(doc: dict):
    """Each arm's Frechet distance (classifier features) against its MACs fraction, dense marked."""
    fig, axes = plots.figure(width=5.0, height=3.2)
    ax = axes[0][0]
    markers = "osD^v<>ph*"
    rows = [r for r in doc["table"] if "frechet_plugin" in r and "macs_fraction" in r]
    for i, row in enumerate(rows):
        ax.errorbar(
            row["macs_fraction"],
            row["frechet_plugin"],
            yerr=row.get("frechet_plugin_sd", 0),
            fmt=markers[i % len(markers)],
            ms=4,
            capsize=2,
            label=row["method"],
        )
    floor = next((r["frechet_plugin"] for r in doc["table"] if r["method"].startswith("real")), None)
    if floor is not None:
        ax.axhline(floor, color="grey", lw=0.8, ls=":", label="real test digits")
    ax.set(
        xlabel="MACs (fraction of the dense model)",
        ylabel="Frechet distance (plug-in, classifier features)",
        title="quality vs compute",
    )
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def loss_vs_gradient_evaluations(curves: dict[str, tuple[np.ndarray, np.ndarray]], ledger: dict, batch_size: int):
    """Validation loss during fine-tuning against the total gradient evaluations spent so far
    (pruning phase included: the soft phase, its HVPs, the Taylor gradients), and against
    fine-tuning steps alone. The honesty guard (``docs/papers/gfprune.md``) asks for the first; every
    method ends at the same total (one-shot methods fine-tune longer)."""
    fig, axes = plots.figure(ncols=2, width=3.6, height=2.8)
    for arm, (steps, runs) in curves.items():
        mean = runs.mean(axis=(0, 2))
        before = ledger[arm]["prune_gradient_evaluations"]
        axes[0][0].plot(before + steps * batch_size, mean, lw=1, marker=".", ms=3, label=arm)
        axes[0][1].plot(steps, mean, lw=1, marker=".", ms=3, label=arm)
    axes[0][0].set(
        xlabel="gradient evaluations (samples, pruning + fine-tuning)",
        ylabel="validation DDPM loss",
        title="fine-tuning vs total budget",
    )
    axes[0][1].set(xlabel="fine-tuning steps", title="fine-tuning vs steps")
    axes[0][1].legend(fontsize=6)
    return fig


def mask_decay(trajectories: dict, stage_steps: int):
    """Mean soft mask of each stage's newly chosen channels along the gradient flow (seed 0)."""
    fig, axes = plots.figure(width=4.2, height=2.8)
    ax = axes[0][0]
    for i, (cohort, values) in enumerate(trajectories.items()):
        start = i * stage_steps
        ax.plot(np.arange(start, start + len(values)) + 1, values, lw=1.2, label=f"chosen at {cohort}")
    ax.set(
        xlabel="soft-phase step",
        ylabel="mean mask of the cohort",
        title="masks along the gradient flow",
        ylim=(-0.05, 1.05),
    )
    ax.legend(fontsize=6)
    return fig


def all_figures(cfg: GfpruneConfig, upstream: dict[str, Path], out: Path) -> list[Path]:
    """Every figure of the figures step."""
    doc = load_claims(upstream["evaluate"] / files.CLAIMS)
    curves = files.load_curves(upstream["train"])
    targets = {arm.name for arm in arms(cfg) if arm.condition is None}
    trajectories = read_json(upstream["train"] / files.TRAJECTORIES)
    made = {
        "samples_same_noise": image_rows(
            files.load_grids(upstream["evaluate"]), title="DDIM samples from the same noise (seed 0 of each method)"
        ),
        "frechet_vs_macs": frechet_vs_macs(doc),
        "loss_vs_gradient_evaluations": loss_vs_gradient_evaluations(
            {k: v for k, v in curves.items() if k in targets},
            read_json(upstream["train"] / files.BUDGET),
            cfg.batch_size,
        ),
    }
    if "gfprune" in trajectories:
        made["mask_decay"] = mask_decay(trajectories["gfprune"][0], cfg.stage_steps)
    return [path for name, fig in made.items() for path in plots.save(fig, out, name)]
