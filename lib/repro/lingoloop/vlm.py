"""Any local Hugging Face vision-language model as an attack target: images in [0, 1] in, tokens,
logits and hidden states out, with gradients to the pixels. Introduced in ``02_model.ipynb``.

:func:`load_vlm` takes a folder written by ``save_pretrained`` (model and processor), loads it with
``AutoModelForImageTextToText`` and ``AutoProcessor`` (``local_files_only``: nothing is downloaded)
and builds the prompt once with the processor. The processor's own image pipeline is not
differentiable, so :class:`VLM` re-implements its two shapes in torch:

* LLaVA-style (CLIP image processor): resize to the crop size, normalise; ``pixel_values`` (B, 3, H, W).
* Qwen2-VL / Qwen2.5-VL-style (``merge_size``, ``temporal_patch_size``): normalise, repeat the frame
  over the temporal patch, cut into patches in the processor's order; ``pixel_values``
  (B * n_patches, 3 * t * p * p) and ``image_grid_thw``. Images must be a multiple of
  ``patch_size * merge_size`` on each side (28 for Qwen2.5-VL); the tests compare this with the
  processor's own output.

The miniature's victim goes through exactly this path, and the tests run the attack on a tiny model
saved into a temporary folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

TOKEN_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


@dataclass
class TeacherForced:
    """A forward pass over prompt + target tokens, sliced to the target positions: ``logits[:, i]``
    predicts target token ``i``; ``hidden`` is (layers, B, T, d): each decoder layer's own output
    (the residual stream after that layer, before the final norm) at the positions that predict
    them; ``attentions`` (B, heads, T, T) of the last layer when asked for.

    Why the layers' own outputs: ``hidden_states`` of HF decoders ends with the output of the final
    RMSNorm, whose norm the normalisation largely fixes (~sqrt(d) times its weight), so a norm
    averaged over ``hidden_states[1:]`` would partly measure a constant."""

    logits: torch.Tensor
    hidden: torch.Tensor
    attentions: torch.Tensor | None = None
    all_logits: torch.Tensor | None = None
    hf_hidden: torch.Tensor | None = None


class VLM:
    """A captioning/instruction VLM under attack. ``images`` are always float (B, 3, H, W) in [0, 1]."""

    def __init__(self, model, processor, prompt: str, image_size: int):
        from PIL import Image

        self.model = model.eval().requires_grad_(False)
        self.processor = processor
        self.image_size = image_size
        dummy = Image.fromarray(np.zeros((image_size, image_size, 3), np.uint8))
        encoded = processor(text=prompt, images=dummy, return_tensors="pt")
        self.prompt = {k: v for k, v in encoded.items() if k != "pixel_values"}
        self.prompt_len = int(self.prompt["input_ids"].shape[1])
        ip = processor.image_processor
        self.mean = torch.tensor(ip.image_mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(ip.image_std, dtype=torch.float32).view(1, 3, 1, 1)
        self.patchify = getattr(ip, "merge_size", None) is not None and getattr(ip, "temporal_patch_size", None)
        eos = model.generation_config.eos_token_id
        eos = eos if eos is not None else processor.tokenizer.eos_token_id
        self.eos_ids = torch.tensor(eos if isinstance(eos, (list, tuple)) else [eos])
        pad = model.generation_config.pad_token_id
        self.pad_id = int(pad if pad is not None else self.eos_ids[0])

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # -- inputs --------------------------------------------------------------------------------

    def pixel_inputs(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The model's pixel inputs from [0, 1] images, differentiably."""
        ip = self.processor.image_processor
        x = (images - self.mean.to(images)) / self.std.to(images)
        if not self.patchify:
            crop = getattr(ip, "crop_size", None) or {"height": self.image_size, "width": self.image_size}
            if x.shape[-2:] != (crop["height"], crop["width"]):
                x = F.interpolate(x, size=(crop["height"], crop["width"]), mode="bilinear", align_corners=False)
            return {"pixel_values": x}
        return qwen_patches(x, ip.patch_size, ip.merge_size, ip.temporal_patch_size)

    def inputs(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Prompt (repeated per image) + ``targets`` (B, T), and the pixel inputs."""
        n, device = len(images), images.device
        out = {}
        for key, value in self.prompt.items():
            value = value.to(device)
            if key in TOKEN_KEYS:
                value = value.expand(n, -1)
                if targets is not None:
                    extra = targets if key == "input_ids" else torch.full_like(targets, int(key == "attention_mask"))
                    value = torch.cat([value, extra], dim=1)
            else:
                value = value.repeat(n, *([1] * (value.dim() - 1)))
            out[key] = value
        pixels = self.pixel_inputs(images)
        out.update({k: v for k, v in pixels.items() if k != "image_grid_thw"})
        if "image_grid_thw" in pixels:
            out["image_grid_thw"] = pixels["image_grid_thw"].to(device)
        return out

    # -- generation and teacher forcing --------------------------------------------------------

    @torch.no_grad()
    def generate(self, images: torch.Tensor, max_new_tokens: int, repetition_penalty: float = 1.0) -> torch.Tensor:
        """Greedy captions with the KV cache: new tokens (B, T), PAD after the first EOS."""
        out = self.model.generate(
            **self.inputs(images),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            repetition_penalty=repetition_penalty,
            eos_token_id=self.eos_ids.tolist(),
            pad_token_id=self.pad_id,
        )
        new = out[:, self.prompt_len :]
        ended = torch.cumsum(torch.isin(new, self.eos_ids.to(new.device)).long(), dim=1)
        after = (ended - torch.isin(new, self.eos_ids.to(new.device)).long()) > 0
        return new.masked_fill(after, self.pad_id)

    @torch.no_grad()
    def longest_sampled(self, images: torch.Tensor, samples: int, max_new_tokens: int, top_p: float = 0.9):
        """Per image the longest of ``samples`` captions drawn with top-p sampling at temperature 1 and
        no repetition penalty (Verbose Images' target): new tokens (B, T), PAD after the first EOS. The
        model's image/video placeholder tokens are never drawn (fed back as a target, one would ask
        for image features that are not there)."""
        placeholders = [getattr(self.model.config, k, None) for k in ("image_token_id", "video_token_id")]
        out = self.model.generate(  # each image repeated (num_return_sequences does not expand Qwen's patches)
            **self.inputs(images.repeat_interleave(samples, dim=0)),
            max_new_tokens=max_new_tokens,
            do_sample=True,
            top_p=top_p,
            temperature=1.0,
            suppress_tokens=[int(t) for t in placeholders if t is not None] or None,
            eos_token_id=self.eos_ids.tolist(),
            pad_token_id=self.pad_id,
        )
        new = out[:, self.prompt_len :]
        is_eos = torch.isin(new, self.eos_ids.to(new.device)).long()
        new = new.masked_fill(torch.cumsum(is_eos, 1) - is_eos > 0, self.pad_id)
        longest = self.lengths(new).view(len(images), samples).argmax(1)
        return new.view(len(images), samples, -1)[torch.arange(len(images)), longest]

    def lengths(self, tokens: torch.Tensor) -> torch.Tensor:
        """Generated tokens per row, the EOS included (a row without EOS ran to the cap)."""
        is_eos = torch.isin(tokens, self.eos_ids.to(tokens.device))
        cap = torch.full_like(is_eos[:, 0], tokens.shape[1], dtype=torch.long)
        return torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, cap)

    def teacher_forced(
        self, images: torch.Tensor, targets: torch.Tensor, attentions: bool = False, every_position: bool = False
    ) -> TeacherForced:
        """Logits, hidden states (and last-layer attentions) at the target positions; with
        ``every_position`` also the logits and HF ``hidden_states`` at every position. Attention
        weights need the eager kernel: the model runs that call with it."""
        kernel = self.model.config._attn_implementation
        if attentions and kernel != "eager":
            self.model.set_attn_implementation("eager")
        captured: list[torch.Tensor] = []

        def keep(module, args, output):
            captured.append(output[0] if isinstance(output, tuple) else output)

        hooks = [layer.register_forward_hook(keep) for layer in decoder_layers(self.model)]
        try:
            out = self.model(
                **self.inputs(images, targets),
                output_attentions=attentions,
                output_hidden_states=every_position,
                use_cache=False,
            )
        finally:
            for hook in hooks:
                hook.remove()
            if attentions and kernel != "eager":
                self.model.set_attn_implementation(kernel)
        start, T = self.prompt_len - 1, targets.shape[1]
        hidden = torch.stack(captured)[:, :, start : start + T]
        attn = out.attentions[-1][:, :, start : start + T, start : start + T] if attentions else None
        every = torch.stack(out.hidden_states) if every_position else None
        return TeacherForced(
            out.logits[:, start : start + T], hidden, attn, out.logits if every_position else None, every
        )

    def eos_probability(self, logits: torch.Tensor) -> torch.Tensor:
        """p(EOS) per position (B, T); several EOS ids (Qwen) add up."""
        return logits.float().softmax(-1)[..., self.eos_ids.to(logits.device)].sum(-1)

    def parameters_count(self) -> dict[str, int]:
        lm = self.model.get_decoder() if hasattr(self.model, "get_decoder") else self.model
        total = sum(p.numel() for p in self.model.parameters())
        return {"total": total, "decoder": sum(p.numel() for p in lm.parameters())}


def decoder_layers(model) -> list[torch.nn.Module]:
    """The language model's decoder layers (LLaVA, Qwen2-VL and other HF VLMs expose them as
    ``get_decoder().layers``)."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    layers = getattr(decoder, "layers", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__}: cannot find the decoder layers (get_decoder().layers)")
    return list(layers)


def qwen_patches(x: torch.Tensor, patch: int, merge: int, temporal: int) -> dict[str, torch.Tensor]:
    """Normalised images (B, 3, H, W) -> Qwen2-VL ``pixel_values`` (B*gh*gw, 3*temporal*patch*patch)
    in the image processor's patch order, and ``image_grid_thw`` (B, 3)."""
    b, c, h, w = x.shape
    if h % (patch * merge) or w % (patch * merge):
        raise ValueError(f"Qwen2-VL images must be multiples of {patch * merge} pixels per side, got {h}x{w}")
    gh, gw = h // patch, w // patch
    frames = x[:, None].expand(b, temporal, c, h, w)  # one still frame, repeated over the temporal patch
    frames = frames.reshape(b, 1, temporal, c, gh // merge, merge, patch, gw // merge, merge, patch)
    frames = frames.permute(0, 1, 4, 7, 5, 8, 3, 2, 6, 9)
    pixels = frames.reshape(b * gh * gw, c * temporal * patch * patch)
    grid = torch.tensor([[1, gh, gw]] * b, dtype=torch.long)
    return {"pixel_values": pixels, "image_grid_thw": grid}


def load_vlm(path: str | Path, prompt: str | None = None, image_size: int | None = None, dtype=None) -> VLM:
    """Load a local HF VLM (model + processor saved with ``save_pretrained``) as an attack target.

    ``prompt`` defaults to the victim's caption prompt when the folder is the kit's victim, and
    otherwise to the processor's chat template around "Describe this image." (the paper's prompt
    style). ``image_size`` defaults to the processor's crop size (LLaVA) or 448 (Qwen2.5-VL).
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a notebook would show the loading bar as a stderr box
    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path}: no config.json; expected a folder written by save_pretrained")
    model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, dtype=dtype)
    processor = AutoProcessor.from_pretrained(path, local_files_only=True)
    ip = processor.image_processor
    if image_size is None:
        crop = getattr(ip, "crop_size", None)
        image_size = crop["height"] if crop else 448
    if prompt is None:
        prompt = _default_prompt(processor)
    return VLM(model, processor, prompt, image_size)


def _default_prompt(processor) -> str:
    from repro.lingoloop.models import PROMPT

    if getattr(processor, "chat_template", None):
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe this image."}]}]
        return processor.apply_chat_template(messages, add_generation_prompt=True)
    return PROMPT


def checked_model_folder(manifest, root: Path | None = None) -> tuple[Path, list[str]]:
    """The folder of a checkpoint manifest after checking its files: a missing file raises
    :class:`~repro.core.data.DataUnavailableError`, a pinned sha256 must match, and files whose hash
    is not published (``sha256: null``) are returned as unverified (safetensors and JSON only: no
    pickle is opened)."""
    from repro.core.data import DataUnavailableError, data_root, verified_path

    root = (root or data_root()).resolve()
    unverified = []
    for entry in manifest.files:
        if Path(entry.path).suffix in (".bin", ".pt", ".pth", ".pkl"):
            raise DataUnavailableError(manifest.name, entry.path, "pickled weights are not loaded", "use safetensors")
        if entry.digest[1] is None:
            if not (root / entry.path).exists():
                todo = manifest.instructions.strip()
                raise DataUnavailableError(manifest.name, root / entry.path, "file not found", todo)
            unverified.append(entry.path)
        else:
            verified_path(manifest, entry.path, root)
    return root / Path(manifest.files[0].path).parent, unverified
