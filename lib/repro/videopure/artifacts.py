"""The file names of VideoPure's step outputs and their loaders (what the steps, the figures and the
notebooks read back). Each step writes under ``runs/<profile>/videopure/<step>/``:

* data: ``clips/`` (a ``datasets.DatasetDict`` saved with ``save_to_disk``)
* model: ``recogniser`` / ``surrogate`` (``.safetensors`` + ``.json``: the spec), ``unet/`` (diffusers
  ``save_pretrained``, safetensors), ``scheduler.json``, ``samples.npz`` (DDIM samples, inversion check)
* train: ``predictions.npz`` (``<rung>@<condition>`` -> (n_seeds, n_eval) classes), ``warping.npz``,
  ``timing.npz`` (same keys), ``examples.npz`` (clips for the figures), ``budget.json``
* evaluate: ``scores.npz`` (``repro.core.scores``), ``claims.json``
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict

from repro.core import tables
from repro.core.steps import read_json
from repro.core.weights import load_config, load_weights
from repro.videopure.config import RecogniserSpec
from repro.videopure.method import Purifier
from repro.videopure.models import Recogniser

CLIPS = "clips"
RECOGNISER = "recogniser"
SURROGATE = "surrogate"
UNET = "unet"
SCHEDULER = "scheduler.json"
SAMPLES = "samples.npz"
PREDICTIONS = "predictions.npz"
WARPING = "warping.npz"
PASSES = "unet_passes.npz"
TIMING = "timing.npz"
GATES = "gates.json"
EXAMPLES = "examples.npz"
BUDGET = "budget.json"
SCORES = "scores.npz"
CLAIMS = "claims.json"


def load_clips(data_dir: Path) -> DatasetDict:
    return tables.load(Path(data_dir) / CLIPS).with_format("torch")


def tensors(clips: DatasetDict, part: str) -> dict[str, torch.Tensor]:
    """``video`` float32 (N, T, 1, H, W), ``label`` and ``dx`` int64 of one split."""
    rows = clips[part][:]
    return {"video": rows["video"].float(), "label": rows["label"].long(), "dx": rows["dx"].long()}


def load_recogniser(model_dir: Path, name: str) -> Recogniser:
    record = load_config(Path(model_dir) / name)
    net = Recogniser(RecogniserSpec(**record["spec"]), record["n_classes"])
    return load_weights(net, Path(model_dir) / name).eval()


def load_purifier(model_dir: Path, **knobs) -> Purifier:
    """The trained DDPM as a :class:`Purifier`; ``knobs`` are the purification fields of the config."""
    from diffusers import UNet2DModel

    unet = UNet2DModel.from_pretrained(Path(model_dir) / UNET, use_safetensors=True).eval()
    return Purifier(unet, read_json(Path(model_dir) / SCHEDULER), **knobs)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}
