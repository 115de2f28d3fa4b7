"""The data sets a profile trains and evaluates on, procedural or real, and their task banks.

Introduced in ``notebooks/invert4tvg/01_data.ipynb``. ``procedural``: verb-contrast videos (the
main set), object-contrast videos (the control) and extra eval splits at other noise levels (the
difficulty sweep). ``charades``: the TimeZero-style JSON annotations and per-video ``.npy`` features
named in ``data_manifests/charades_sta.yaml`` (no distractors there: the verb probe and the control
are skipped and the claims that need them are not decided).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from repro.invert4tvg import artifacts as art
from repro.invert4tvg.config import Invert4tvgConfig, VideoSpec
from repro.invert4tvg.data import Vocab, load_real, make_videos, read_timezero_json
from repro.invert4tvg.tasks import TaskBank, build_bank

# "val" is drawn like "eval" from its own seed (the noise splits take 2, 3, ...): the gates are
# measured on it, never on the test split
SPLIT_SEED = {"train": 0, "eval": 1, "val": 9}
MANIFEST = "charades_sta"


def videos(spec: VideoSpec, n: int, seed: int, contrast: str):
    return make_videos(
        n,
        seed,
        frames=spec.frames,
        feature_dim=spec.feature_dim,
        min_len=spec.min_len,
        max_len=spec.max_len,
        distractors=spec.distractors,
        noise=spec.noise,
        verb_strength=spec.verb_strength,
        background=spec.background,
        contrast=contrast,
    )


def quiet_progress_bars() -> None:
    """datasets' and transformers' own bars follow the kit's switch (REPRO_PROGRESS=0: none)."""
    from repro.core.train import progress_enabled

    if not progress_enabled():
        import datasets
        from transformers.utils import logging

        datasets.disable_progress_bars()
        logging.disable_progress_bar()


def build_sets(cfg: Invert4tvgConfig):
    """``({contrast: DatasetDict}, vocab)`` for the profile's data source."""
    from datasets import DatasetDict

    quiet_progress_bars()

    if cfg.data_source == "charades":
        return real_sets(cfg)
    base = 1000 * cfg.data_seed
    sets = {}
    for contrast in ("verb", "object"):
        sizes = {"train": cfg.n_train, "eval": cfg.n_eval, "val": cfg.n_eval}
        splits = {s: videos(cfg.video, n, base + SPLIT_SEED[s], contrast) for s, n in sizes.items()}
        if contrast == "verb":
            for k, noise in enumerate(cfg.eval_noise):
                splits[art.noise_split(noise)] = videos(
                    replace(cfg.video, noise=noise), cfg.n_eval, base + 2 + k, contrast
                )
        sets[contrast] = DatasetDict(splits)
    return sets, Vocab.build(cfg.video.frames)


def real_sets(cfg: Invert4tvgConfig):
    """Charades-STA in the TimeZero JSON with per-video features, through the manifest's checks."""
    from datasets import DatasetDict

    from repro.core.data import load_manifest, verified_path

    manifest = load_manifest(MANIFEST)

    def feature_path(vid: str) -> Path:
        return verified_path(manifest, f"Charades_STA/features/{vid}.npy")

    train = read_timezero_json(verified_path(manifest, "Charades_STA/train.json"))
    test = read_timezero_json(verified_path(manifest, "Charades_STA/test.json"))
    # Charades-STA has no validation split: it is the n_eval queries after the training ones
    chosen = {
        "train": train[: cfg.n_train],
        "val": train[cfg.n_train : cfg.n_train + cfg.n_eval],
        "eval": test[: cfg.n_eval],
    }
    splits = {
        split: load_real(notes, feature_path, frames=cfg.video.frames, feature_dim=cfg.video.feature_dim)
        for split, notes in chosen.items()
    }
    words = {w for table in splits.values() for s in table["sentence"] for w in s.split()}
    table = DatasetDict(splits)
    return {"verb": table, "object": table}, Vocab.build(cfg.video.frames, words)


def task_bank(data_dir: Path, contrast: str, split: str, vocab: Vocab, cfg: Invert4tvgConfig) -> TaskBank:
    """The four tasks of one saved split (AR candidate lists drawn with a per-split seed)."""
    table = art.load_split(data_dir, contrast, split)
    seed = 1000 * cfg.data_seed + SPLIT_SEED.get(split, 7)
    return build_bank(table, vocab, cfg.policy.prompt_len, cfg.policy.answer_len, seed, cfg.tasks)


def videos_summary(sets, vocab: Vocab) -> dict:
    """Counts per split, segment lengths and the vocabulary size (the data step's summary)."""
    out = {"vocab": len(vocab)}
    for contrast, splits in sets.items():
        for split, table in splits.items():
            lengths = [e - s for s, e in zip(table["start"], table["end"])]
            out[f"{contrast}/{split}"] = {
                "videos": len(table),
                "mean_target_frames": round(sum(lengths) / max(len(lengths), 1), 2),
            }
    return out
