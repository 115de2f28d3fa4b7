"""MODS's figures, used by the figures step and shown in the notebooks.
Introduced in ``notebooks/mods/01_data.ipynb`` (sequences) and ``05_figures.ipynb`` (the rest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from repro.core import plots
from repro.core.arms import Arm
from repro.core.claims import load_claims
from repro.core.steps import read_json
from repro.mods import artifacts
from repro.mods.models import MODALITIES


def sequences(split: dict, index: int = 0):
    """One utterance's three sequences (frames x features), its label and dominant modality."""
    fig, axes = plots.figure(ncols=3, width=3.0, height=2.2)
    for ax, name in zip(axes[0], MODALITIES):
        x = np.asarray(split[name][index])
        valid = int(np.asarray(split[f"{name}_mask"][index]).sum())
        ax.imshow(x[:valid].T, aspect="auto", cmap="coolwarm", vmin=-1.5, vmax=1.5, interpolation="nearest")
        ax.set(title=f"{name} ({valid} frames)", xlabel="frame", ylabel="feature")
        ax.grid(False)
    dominant = int(split["dominant"][index]) if "dominant" in split else -1
    label = float(split["label"][index])
    fig.suptitle(f"label {label:+.2f}; dominant: {MODALITIES[dominant] if dominant >= 0 else 'unknown'}", fontsize=9)
    return fig


def label_histogram(labels: dict[str, np.ndarray]):
    """Label distribution per set (the 1/3 grid of averaged annotations)."""
    fig, axes = plots.figure(width=4.2, height=2.6)
    bins = np.arange(-3.5, 3.6, 1 / 3)
    for name, y in labels.items():
        axes[0][0].hist(np.asarray(y), bins=bins, alpha=0.5, label=name)
    axes[0][0].set(xlabel="regression label", ylabel="utterances", title="labels")
    axes[0][0].legend(fontsize=7)
    return fig


def metric_bars(doc: dict, metrics=("MAE", "Mult_acc_7")):
    """Each arm's metric, mean over seeds with the seed sd as an error bar."""
    rows = [r for r in doc["table"] if metrics[0] in r and not r["method"].startswith(("constant", "selector"))]
    fig, axes = plots.figure(ncols=len(metrics), width=3.8, height=2.8)
    for ax, metric in zip(axes[0], metrics):
        names = [r["method"] for r in rows]
        ax.bar(range(len(rows)), [r[metric] for r in rows], yerr=[r.get(f"{metric}_sd", 0) for r in rows],
               color=["C3" if n == "mods" else "C0" for n in names], capsize=2)  # fmt: skip
        ax.set_xticks(range(len(rows)), names, rotation=60, ha="right", fontsize=7)
        ax.set(title=metric, ylabel=metric)
    return fig


def selector_weights(weights: np.ndarray, dominant: np.ndarray, title: str = "MODS"):
    """Mean MSelector weight of each modality, grouped by the true dominant modality."""
    table = np.stack([weights[dominant == m].mean(0) if (dominant == m).any() else np.zeros(3) for m in range(3)])
    fig, axes = plots.figure(width=3.4, height=2.8)
    ax = axes[0][0]
    im = ax.imshow(table, cmap="viridis", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            ax.text(j, i, f"{table[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(3), MODALITIES)
    ax.set_yticks(range(3), MODALITIES)
    ax.set(xlabel="selector weight on", ylabel="true dominant", title=f"{title}: selector weights")
    ax.grid(False)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def gdc_routing(model: torch.nn.Module, batch: dict, modality: str = "audio"):
    """GDC on one utterance: the frames, and the routing couplings r_ij (frames x nodes)."""
    compressor = getattr(model.front, modality).capsules
    x, mask = batch[modality][:1], batch[f"{modality}_mask"][:1]
    with torch.no_grad():
        _, routing = compressor.route(x, mask)
    valid = int(mask.sum())
    fig, axes = plots.figure(ncols=2, width=3.6, height=2.6)
    axes[0][0].imshow(x[0, :valid].T.numpy(), aspect="auto", cmap="coolwarm", vmin=-1.5, vmax=1.5)
    axes[0][0].set(title=f"{modality}: {valid} frames", xlabel="frame", ylabel="feature")
    axes[0][1].imshow(routing[0, :valid].T.numpy(), aspect="auto", cmap="magma")
    axes[0][1].set(title=f"routing to {routing.shape[-1]} nodes", xlabel="frame", ylabel="node")
    for ax in axes[0]:
        ax.grid(False)
    return fig


def noise_curves(sweep: dict):
    """MAE against the test-time noise multiplier, per arm (mean over seeds)."""
    fig, axes = plots.figure(width=4.2, height=3.0)
    for arm, maes in sweep["mae"].items():
        style = {"lw": 2.0, "color": "C3"} if arm == "mods" else {"lw": 1.0}
        axes[0][0].plot(sweep["noise"], maes, marker="o", ms=3, label=arm, **style)
    axes[0][0].set(xlabel="test noise multiplier", ylabel="MAE", title="MAE vs acoustic/visual noise")
    axes[0][0].legend(fontsize=6, ncol=2)
    return fig


def training_curves(history: dict):
    fig, axes = plots.figure(width=4.2, height=3.0)
    for arm, runs in history.items():
        axes[0][0].plot(np.mean(runs, axis=0), lw=1, label=arm)
    axes[0][0].set(xlabel="epoch", ylabel="training loss", title="training curves")
    axes[0][0].legend(fontsize=6, ncol=2)
    return fig


def all_figures(upstream: dict[str, Path], out: Path, *, seed: int, data_source: str, routing: bool) -> list[Path]:
    """Every figure of the figures step; ``routing``: GDC's routing on one utterance of MODS's model
    of ``seed`` (when the run trained MODS)."""
    made = {
        "metrics": metric_bars(load_claims(upstream["evaluate"] / "claims.json")),
        "training_curves": training_curves(read_json(upstream["train"] / "history.json")),
    }
    sweep = read_json(upstream["evaluate"] / "sweep.json")
    if sweep["mae"]:
        made["noise_sweep"] = noise_curves(sweep)
    with np.load(upstream["evaluate"] / "selector_weights.npz") as npz:
        if "mods|weights" in npz.files:
            made["selector_weights"] = selector_weights(npz["mods|weights"], npz["mods|dominant"])
    if routing:
        model = artifacts.load_model(upstream["train"] / artifacts.model_file(Arm("mods"), seed))
        test = artifacts.load_set(upstream["data"], artifacts.main_set(data_source), "test")
        made["gdc_routing"] = gdc_routing(model, test)
    return [path for name, fig in made.items() for path in plots.save(fig, out, name)]
