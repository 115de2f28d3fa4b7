"""The attack's real-use path: any local HF VLM folder (here a tiny one saved with save_pretrained)."""

import numpy as np
import pytest
import torch

from repro.core.data import DataUnavailableError, ManifestFile, load_manifest
from repro.lingoloop.vlm import checked_model_folder, load_vlm, qwen_patches


def test_generate_and_teacher_forcing_agree(vlm):
    """Greedy generation must be the argmax of the teacher-forced logits at the target positions."""
    x = torch.rand(3, 3, 32, 32)
    tokens = vlm.generate(x, max_new_tokens=10, repetition_penalty=1.0)
    assert tokens.shape[0] == 3 and tokens.shape[1] <= 10
    out = vlm.teacher_forced(x, tokens)
    lengths = vlm.lengths(tokens)
    for i in range(3):
        n = int(lengths[i])
        assert torch.equal(out.logits[i, :n].argmax(-1), tokens[i, :n])
    assert out.hidden.shape[:3] == (1, 3, tokens.shape[1])  # 1 decoder layer: its own output
    assert not torch.allclose(out.hidden[-1].norm(dim=-1), out.hidden[-1].norm(dim=-1).mean())  # not RMS-normed
    p = vlm.eos_probability(out.logits)
    assert p.shape == tokens.shape and ((0 <= p) & (p <= 1)).all()


def test_pixels_are_differentiable(vlm):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    tokens = vlm.generate(x.detach(), 5)
    vlm.eos_probability(vlm.teacher_forced(x, tokens).logits).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_pretrained"):
        load_vlm(tmp_path)


def test_qwen_patches_match_the_qwen2_vl_image_processor():
    from transformers import Qwen2VLImageProcessorPil

    rng = np.random.default_rng(0)
    image = rng.random((56, 84, 3)).astype(np.float32)
    ip = Qwen2VLImageProcessorPil(do_resize=False, do_rescale=False)
    ref = ip(images=[image], return_tensors="pt")
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    mean, std = torch.tensor(ip.image_mean).view(1, 3, 1, 1), torch.tensor(ip.image_std).view(1, 3, 1, 1)
    ours = qwen_patches((x - mean) / std, ip.patch_size, ip.merge_size, ip.temporal_patch_size)
    assert ours["image_grid_thw"].tolist() == ref["image_grid_thw"].tolist()
    assert torch.allclose(ours["pixel_values"], ref["pixel_values"].float(), atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 28"):
        qwen_patches(torch.zeros(1, 3, 30, 28), 14, 2, 2)


def test_checkpoint_manifest_files_are_checked(tmp_path):
    manifest = load_manifest("qwen2_5_vl_3b")
    with pytest.raises(DataUnavailableError, match="file not found"):
        checked_model_folder(manifest, tmp_path)
    for f in manifest.files:
        (tmp_path / f.path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f.path).write_text("{}")
    folder, unverified = checked_model_folder(manifest, tmp_path)
    assert folder == tmp_path / "Qwen2.5-VL-3B-Instruct" and len(unverified) == len(manifest.files)
    pinned = manifest.files[0].__class__(path=manifest.files[0].path, sha256="0" * 64)
    from dataclasses import replace

    with pytest.raises(DataUnavailableError, match="sha256 mismatch"):
        checked_model_folder(replace(manifest, files=(pinned,)), tmp_path)
    assert ManifestFile
