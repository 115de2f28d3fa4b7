"""gfprune's data: images in [-1, 1] (the DDPM convention) with labels for the feature classifier,
and the loader of a local diffusers DDPM pipeline (the paper's pretrained google/ddpm-cifar10-32).
Introduced in ``notebooks/gfprune/01_data.ipynb``.

The data step's table is a ``datasets.DatasetDict`` (``train``, ``test``) with typed features:
``image`` float32 (C, S, S) in [-1, 1] and ``label`` a 10-class ``ClassLabel``; the digits and
CIFAR-10 give the same features, so the miniature and the ``paper`` profile feed one code path.

The digits (scikit-learn's, real, bundled; upsampled to 16x16) and CIFAR-10's python batches come
from the kit's shared loaders (:mod:`repro.core.images`: restricted unpickler, hash-checked).
A pipeline folder is read as safetensors and JSON only: nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict

from repro.core.data import DataUnavailableError, Manifest, data_root, load_manifest, verified_path
from repro.core.images import CIFAR_CLASSES, DIGIT_CLASSES, Split, cifar10_split, digits_split, to_dataset

UNET_FILES = ("unet/config.json", "unet/diffusion_pytorch_model.safetensors")
SCHEDULER_FILE = "scheduler/scheduler_config.json"


def load_arrays(
    source: str, image_size: int, test_fraction: float, seed: int, root: Path | None = None, manifest=None
) -> Split:
    """Train/test images scaled to [-1, 1], shape (N, C, S, S), and int64 labels. CIFAR-10's batches
    are hash-checked and read by the kit's restricted unpickler (``root``/``manifest``: a test's)."""
    if source == "digits":
        split = digits_split(image_size, test_fraction, seed)
    elif source == "cifar10":
        split = cifar10_split(root, manifest)
    else:
        raise ValueError(f"unknown data_source {source!r}; valid: digits, cifar10")
    for key in ("x_train", "x_test"):
        split[key] = (split[key] * 2 - 1).astype(np.float32)
    return split


def load_split(
    source: str,
    image_size: int,
    test_fraction: float,
    seed: int,
    train_limit: int = 0,
    root: Path | None = None,
    manifest=None,
) -> DatasetDict:
    """The data step's dataset; ``train_limit`` > 0 keeps the first n training images (smoke)."""
    split = load_arrays(source, image_size, test_fraction, seed, root, manifest)
    if train_limit:
        split["x_train"], split["y_train"] = split["x_train"][:train_limit], split["y_train"][:train_limit]
    return to_dataset(split, CIFAR_CLASSES if source == "cifar10" else DIGIT_CLASSES)


# ----------------------------------------------------------------------------------------------
# a local diffusers DDPM pipeline


def pipeline_folder(name_or_path: str, manifest: Manifest | None = None, root: Path | None = None) -> Path:
    """The folder of a DDPM pipeline: a manifest name (every file listed there is checked against its
    hash under ``$REPRO_DATA_DIR``) or a path to a folder of your own (checked for format only)."""
    path = Path(name_or_path).expanduser()
    if manifest is None and not path.is_dir():
        manifest = load_manifest(name_or_path)
    if manifest is None:
        return path.resolve()
    root = (root or data_root()).resolve()
    for entry in manifest.files:
        verified_path(manifest, entry.path, root)
    return root / Path(manifest.files[0].path).parts[0]


def load_pipeline(folder: Path) -> tuple[torch.nn.Module, dict]:
    """``(UNet2DModel, scheduler config)`` from a folder written by ``DDPMPipeline.save_pretrained``.

    Only ``diffusion_pytorch_model.safetensors`` is read: a folder with only the pickled ``.bin``
    weights is refused (convert it to safetensors first), as is a folder without the UNet or
    scheduler config. The scheduler must be a DDPM-family one with ``num_train_timesteps``.
    """
    from diffusers import UNet2DModel

    folder = Path(folder)
    for rel in (*UNET_FILES, SCHEDULER_FILE):
        if not (folder / rel).exists():
            hint = (
                "only safetensors weights are loaded; convert the .bin with diffusers "
                "(load it once where you trust it, then save_pretrained(..., safe_serialization=True))"
                if rel.endswith(".safetensors") and (folder / "unet" / "diffusion_pytorch_model.bin").exists()
                else "save the pipeline with DDPMPipeline.save_pretrained(folder)"
            )
            raise DataUnavailableError("diffusers DDPM pipeline", folder / rel, "file not found", hint)
    scheduler = _read_json(folder / SCHEDULER_FILE)
    if "num_train_timesteps" not in scheduler or "beta_schedule" not in scheduler:
        raise ValueError(
            f"{folder / SCHEDULER_FILE}: not a DDPM scheduler config (needs num_train_timesteps, beta_schedule)"
        )
    unet_config = _read_json(folder / UNET_FILES[0])
    if unet_config.get("_class_name") not in (None, "UNet2DModel"):
        raise ValueError(f"{folder / UNET_FILES[0]}: expected a UNet2DModel, found {unet_config.get('_class_name')!r}")
    try:
        unet = UNet2DModel.from_pretrained(folder, subfolder="unet", use_safetensors=True)
    except Exception as err:  # a truncated file, or shapes that do not match the config
        raise ValueError(f"{folder / UNET_FILES[1]} could not be loaded as a UNet2DModel: {err}") from err
    return unet.eval(), scheduler


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err})") from err
