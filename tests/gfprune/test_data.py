"""Real formats: a local diffusers DDPM pipeline (written here with save_pretrained), manifests,
the digits at 16x16 and CIFAR-10's batches, both as the same typed DatasetDict."""

import hashlib
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import yaml

from repro.core.config import ConfigError
from repro.core.data import DataUnavailableError, load_manifest
from repro.core.images import CIFAR_CLASSES, DIGIT_CLASSES
from repro.core.images import image_features as features
from repro.gfprune import config
from repro.gfprune.artifacts import load_split as load_saved
from repro.gfprune.artifacts import save_split
from repro.gfprune.data import load_arrays, load_pipeline, load_split, pipeline_folder


@pytest.fixture
def pipeline_dir(tmp_path, unet):
    from diffusers import DDPMPipeline, DDPMScheduler

    folder = tmp_path / "data" / "tiny-ddpm"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(folder)
    return folder


def test_a_saved_pipeline_loads_with_its_weights(pipeline_dir, unet):
    loaded, scheduler = load_pipeline(pipeline_dir)
    x, t = torch.randn(2, 1, 16, 16), torch.tensor([3, 700])
    assert torch.equal(loaded(x, t).sample, unet.eval()(x, t).sample)
    assert scheduler["num_train_timesteps"] == 1000


def test_only_safetensors_are_loaded(pipeline_dir):
    weights = pipeline_dir / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(DataUnavailableError, match="only safetensors"):
        load_pipeline(pipeline_dir)


def test_missing_and_malformed_configs_give_clear_errors(pipeline_dir):
    sched = pipeline_dir / "scheduler" / "scheduler_config.json"
    sched.write_text(json.dumps({"_class_name": "DDPMScheduler"}))
    with pytest.raises(ValueError, match="not a DDPM scheduler config"):
        load_pipeline(pipeline_dir)
    sched.write_text("{truncated")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_pipeline(pipeline_dir)
    sched.unlink()
    with pytest.raises(DataUnavailableError, match="file not found"):
        load_pipeline(pipeline_dir)


def test_truncated_weights_are_refused(pipeline_dir):
    weights = pipeline_dir / "unet" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ValueError, match="could not be loaded"):
        load_pipeline(pipeline_dir)


def manifest_for(folder, root, tmp_path, corrupt=False):
    files = [
        {
            "path": str(p.relative_to(root)),
            "sha256": hashlib.sha256(p.read_bytes() + (b"x" if corrupt else b"")).hexdigest(),
        }
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    base = yaml.safe_load(open(load_manifest.__globals__["MANIFEST_DIR"] / "ddpm_cifar10_32.yaml"))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(base | {"name": "tiny", "files": files}))
    return load_manifest("tiny", tmp_path)


def test_a_manifest_checks_every_file_before_loading(pipeline_dir, tmp_path):
    root = pipeline_dir.parent
    folder = pipeline_folder("tiny", manifest_for(pipeline_dir, root, tmp_path), root)
    assert folder == pipeline_dir and load_pipeline(folder)[0] is not None
    with pytest.raises(DataUnavailableError, match="sha256 mismatch"):
        pipeline_folder("tiny", manifest_for(pipeline_dir, root, tmp_path, corrupt=True), root)


def test_the_committed_checkpoint_manifest_refuses_files_without_a_published_hash(pipeline_dir):
    manifest = load_manifest("ddpm_cifar10_32")
    entry = manifest.files[0]
    target = pipeline_dir.parent / entry.path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("{}")
    unpinned = replace(manifest, files=(replace(entry, sha256=None, md5=None),))
    with pytest.raises(DataUnavailableError, match="no published checksum"):
        pipeline_folder("ddpm_cifar10_32", unpinned, pipeline_dir.parent)


def test_digits_are_a_typed_dataset_at_16x16_in_minus_one_to_one():
    dataset = load_split("digits", 16, 0.2, seed=0)
    assert dataset["train"].num_rows == 1437 and dataset["test"].num_rows == 360
    assert dataset["train"].features == features(1, 16, DIGIT_CLASSES)
    x = dataset["train"].with_format("numpy")[:]["image"]
    assert x.shape == (1437, 1, 16, 16) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert len(load_split("digits", 16, 0.2, seed=0, train_limit=100)["train"]) == 100


def test_the_saved_split_reads_back_the_arrays_exactly(tmp_path):
    """The data step's table round-trips bit for bit (the DatasetDict replaced an npz: same numbers)."""
    arrays = load_arrays("digits", 16, 0.2, seed=0)
    save_split(load_split("digits", 16, 0.2, seed=0), tmp_path)
    back = load_saved(tmp_path)
    for key, value in arrays.items():
        assert np.array_equal(back[key].numpy(), value), key
    with pytest.raises(FileNotFoundError, match="run the data step first"):
        load_saved(tmp_path / "nowhere")


def test_cifar10_batches_give_the_same_typed_features(cifar_fixture):
    """The real-format loader (hash-checked, restricted unpickler) feeds the same schema at 3x32x32."""
    root, manifest, _ = cifar_fixture
    dataset = load_split("cifar10", 32, 0.2, seed=0, root=root, manifest=manifest)
    assert dataset["train"].features == features(3, 32, CIFAR_CLASSES)
    assert dataset["train"].features["label"].num_classes == len(DIGIT_CLASSES)
    x = dataset["test"].with_format("numpy")[:]["image"]
    assert x.shape == (4, 3, 32, 32) and -1.0 <= x.min() and x.max() <= 1.0
    (root / manifest.files[0].path).write_bytes(b"corrupted")
    with pytest.raises(DataUnavailableError):
        load_split("cifar10", 32, 0.2, seed=0, root=root, manifest=manifest)


def test_config_refuses_unknown_methods_and_uneven_checkpoints():
    with pytest.raises(ConfigError, match=r"methods=.*: unknown \['obd'\]; valid: "):
        config("smoke", methods=["magnitude", "obd"])
    with pytest.raises(ConfigError, match="norm_stats='batch': must be one of live, all"):
        config("smoke", norm_stats="batch")
    with pytest.raises(ConfigError, match="multiple of eval_every"):
        config("smoke", finetune_steps=7)
    with pytest.raises(ConfigError, match="unknown override"):
        config("smoke", pruning_ratio=0.3)
    with pytest.raises(ConfigError, match="criterion_micro_batch 64: must lie in"):
        config("cpu", criterion_micro_batch=64)
