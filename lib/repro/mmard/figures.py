"""MMARD's figures, used by the figures step and shown in the notebooks.
Introduced in ``notebooks/mmard/05_figures.ipynb``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from repro.core import plots
from repro.core.arms import Arm
from repro.core.claims import load_claims
from repro.core.runtime import seed_everything
from repro.core.steps import read_json
from repro.mmard import artifacts
from repro.mmard.attacks import attack_suite


def examples(x: torch.Tensor, y: torch.Tensor, n: int = 8, title: str = ""):
    """A row of images with their labels."""
    fig, axes = plots.figure(ncols=n, width=0.9, height=1.1)
    for ax, img, label in zip(axes[0], x[:n], y[:n]):
        ax.imshow(img.permute(1, 2, 0).squeeze(-1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(str(int(label)), fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return fig


def adversarial_examples(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, n: int = 8):
    """Clean images, PGD-20 images and the perturbation (scaled to +-eps), with predictions."""
    x, y = x[:n], y[:n]
    seed_everything(0)
    x_adv = attack_suite(eps)["pgd20"](model, x, y)
    with torch.no_grad():
        pred_clean, pred_adv = model(x).argmax(1), model(x_adv).argmax(1)
    fig, axes = plots.figure(ncols=n, nrows=3, width=0.9, height=1.0)
    for j in range(n):
        rows = ((x[j], f"{int(pred_clean[j])}"), (x_adv[j], f"{int(pred_adv[j])}"), (x_adv[j] - x[j], ""))
        for i, (img, title) in enumerate(rows):
            lim = (0, 1) if i < 2 else (-eps, eps)
            axes[i][j].imshow(img[0].cpu().numpy(), cmap="gray" if i < 2 else "coolwarm", vmin=lim[0], vmax=lim[1])
            axes[i][j].set_title(title, fontsize=8)
            axes[i][j].axis("off")
    fig.suptitle(f"clean / PGD-20 (eps={eps:g}) / perturbation; titles: predictions", fontsize=9)
    return fig


def clean_vs_robust(doc: dict, metric: str = "pgd20"):
    """Each arm's clean accuracy against its robust accuracy (mean over seeds), chance marked."""
    fig, axes = plots.figure(width=5.6, height=3.2)
    ax = axes[0][0]
    markers = "osD^v<>ph*"
    rows = [r for r in doc["table"] if metric in r and "clean" in r and r["method"] != "chance"]
    for i, row in enumerate(rows):
        ax.scatter(row["clean"], row[metric], s=22, marker=markers[i % len(markers)], label=row["method"])
    ax.axhline(10, color="grey", lw=0.8, ls=":", label="chance")
    ax.set(xlabel="clean accuracy (%)", ylabel=f"{metric} accuracy (%)", title="clean vs robust")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return fig


def robustness_curves(sweep: dict):
    """PGD-20 accuracy against eps for each arm (mean over seeds)."""
    fig, axes = plots.figure(width=4.2, height=3.0)
    ax = axes[0][0]
    for arm, accs in sweep["pgd20"].items():
        if "@natural" not in arm:
            ax.plot(sweep["eps"], accs, marker="o", ms=3, lw=1, label=arm)
    ax.set(xlabel="eps (pixel units)", ylabel="PGD-20 accuracy (%)", title="robustness vs eps")
    ax.legend(fontsize=6, ncol=2)
    return fig


def training_curves(history: dict):
    """Mean training loss per epoch, averaged over seeds, per arm."""
    fig, axes = plots.figure(width=4.2, height=3.0)
    ax = axes[0][0]
    for arm, runs in history.items():
        ax.plot(np.mean(runs, axis=0), lw=1, label=arm)
    ax.set(xlabel="epoch", ylabel="training loss", title="training curves", yscale="log")
    ax.legend(fontsize=6, ncol=2)
    return fig


def all_figures(upstream: dict[str, Path], out: Path, shown: Arm, seed: int, eps: float) -> list[Path]:
    """Every figure of the figures step; the adversarial examples are those of ``shown``'s student of
    ``seed`` at ``eps``."""
    split = artifacts.load_split(upstream["data"])
    student = artifacts.load_net(artifacts.student_path(upstream["train"], shown, seed))
    made = {
        "clean_vs_robust": clean_vs_robust(load_claims(upstream["evaluate"] / artifacts.CLAIMS)),
        "robustness_vs_eps": robustness_curves(read_json(upstream["evaluate"] / artifacts.SWEEP)),
        "adversarial_examples": adversarial_examples(student, split["x_test"], split["y_test"], eps),
        "training_curves": training_curves(read_json(upstream["train"] / artifacts.HISTORY)),
    }
    return [path for name, fig in made.items() for path in plots.save(fig, out, name)]
