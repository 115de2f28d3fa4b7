"""MedAide's figures, used by the figures step and shown in the notebooks.
Introduced in ``notebooks/medaide/05_figures.ipynb``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from repro.core import plots
from repro.core.claims import load_claims
from repro.core.steps import read_json
from repro.medaide import artifacts as files
from repro.medaide.kb import AGENT_OF, INTENTS
from repro.medaide.metrics import binarize

ABLATION_METRICS = ("intent_f1", "fact_recall", "rougeL", "bleu1", "gleu")


def intent_confusion(gold: list[list[str]], pred: list[list[str]], title: str = "MedAide"):
    """Row g, column p: share of test queries asking intent g for which intent p was predicted."""
    g, p = binarize(gold), binarize(pred)
    matrix = (g.T @ p) / np.maximum(g.sum(0), 1)[:, None]
    fig, axes = plots.figure(width=5.6, height=5.0)
    ax = axes[0][0]
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(INTENTS)), INTENTS, rotation=90, fontsize=6)
    ax.set_yticks(range(len(INTENTS)), INTENTS, fontsize=6)
    ax.set(xlabel="predicted intent", ylabel="gold intent", title=f"intent confusion ({title}, seed 0)")
    ax.grid(False)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return fig


def prototype_map(prototypes: np.ndarray, emb: np.ndarray, labels: np.ndarray):
    """Training sub-queries and the fitted prototypes in the first two principal components."""
    from sklearn.decomposition import PCA

    pca = PCA(2, random_state=0).fit(np.concatenate([emb, prototypes]))
    xy, pz = pca.transform(emb), pca.transform(prototypes)
    agents = sorted(set(AGENT_OF.values()), key=list(AGENT_OF.values()).index)
    fig, axes = plots.figure(width=5.2, height=4.0)
    ax = axes[0][0]
    for k, agent in enumerate(agents):
        members = [i for i, name in enumerate(INTENTS) if AGENT_OF[name] == agent]
        mask = np.isin(labels, members)
        ax.scatter(*xy[mask].T, s=5, alpha=0.35, color=f"C{k}", label=agent)
        ax.scatter(*pz[members].T, s=60, marker="*", edgecolor="black", linewidth=0.5, color=f"C{k}")
        for i in members:
            ax.annotate(INTENTS[i], pz[i], fontsize=5.5, xytext=(2, 2), textcoords="offset points")
    ax.set(title="prototypes (stars) and training sub-queries, PCA", xlabel="PC 1", ylabel="PC 2")
    ax.legend(fontsize=6, markerscale=2)
    return fig


def ablation_bars(doc: dict):
    """Each arm's mean (seed sd as error bar) on the intent and answer metrics."""
    rows = [r for r in doc["table"] if not r["method"].startswith("chance")]
    fig, axes = plots.figure(width=6.4, height=3.0)
    ax = axes[0][0]
    width = 0.8 / len(rows)
    x = np.arange(len(ABLATION_METRICS))
    for k, row in enumerate(rows):
        means = [row.get(m, np.nan) for m in ABLATION_METRICS]
        errs = [row.get(f"{m}_sd", 0) for m in ABLATION_METRICS]
        ax.bar(x + k * width, means, width, yerr=errs, capsize=2, label=row["method"])
    ax.set_xticks(x + width * (len(rows) - 1) / 2, ABLATION_METRICS)
    ax.set(ylabel="points (0-100)", title="MedAide and its ablations (test split, held-out family)")
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def noise_sweep(sweep: dict):
    """Intent F1 against the per-token noise level (same queries at every level)."""
    fig, axes = plots.figure(width=4.2, height=3.0)
    ax = axes[0][0]
    for arm, values in sweep["intent_f1"].items():
        ax.plot(sweep["noise"], values, marker="o", ms=3, lw=1, label=arm)
    ax.set(
        xlabel="noise (corruption probability per token)", ylabel="intent F1 (per query)", title="intent F1 vs noise"
    )
    ax.legend(fontsize=7)
    return fig


def trace_figure(trace: dict, arms: tuple[str, ...] = ("medaide", "single_agent")):
    """One query end to end: sub-queries, intents and agents, answer, against the reference."""
    lines = [f"query: {trace['query']}", f"gold intents: {', '.join(trace['gold'])}", ""]
    for arm in arms:
        t = trace["arms"][arm]
        lines.append(f"[{arm}]  key element: {t['key_disease']}")
        for sub, intent, agent in t["tasks"]:
            lines.append(f"   '{sub}'  ->  {intent or '-'}  ({agent} agent)")
        lines.append(f"   answer: {t['answer'] or '(empty)'}")
        lines.append("")
    lines.append(f"reference: {trace['reference']}")
    wrapped = [w for line in lines for w in (textwrap.wrap(line, 120, subsequent_indent="      ") or [""])]
    fig, axes = plots.figure(width=9.0, height=0.13 * len(wrapped) + 0.2)
    ax = axes[0][0]
    ax.axis("off")
    ax.text(0, 1, "\n".join(wrapped), va="top", ha="left", family="monospace", fontsize=6.5, transform=ax.transAxes)
    return fig


def pick_trace(traces: list[dict]) -> dict:
    """The first composite query (or the first query)."""
    return next((t for t in traces if len(t["gold"]) > 1), traces[0])


def all_figures(seed: int, upstream: dict[str, Path], out: Path) -> list[Path]:
    """Every figure of the figures step, from the step outputs of ``seed`` (the first seed)."""
    test = files.load_split(upstream["data"], seed, "test")
    predictions = read_json(upstream["evaluate"] / files.PREDICTIONS)
    sample = files.load_sample(upstream["train"], seed)
    made = {
        "intent_confusion": intent_confusion([q["intents"] for q in test], predictions["medaide"]),
        "prototype_map": prototype_map(sample["prototypes"], sample["embeddings"], sample["labels"]),
        "ablation_bars": ablation_bars(load_claims(upstream["evaluate"] / files.CLAIMS)),
        "noise_sweep": noise_sweep(read_json(upstream["evaluate"] / files.SWEEP)),
        "trace": trace_figure(pick_trace(files.load_traces(upstream["evaluate"]))),
    }
    return [path for name, fig in made.items() for path in plots.save(fig, out, name)]
