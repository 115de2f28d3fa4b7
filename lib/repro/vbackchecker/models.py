"""The checker (a LISA-style grounding MLLM in miniature) and the global similarity judge.

:class:`Checker`: a ViT encodes 8x8 patches; an MLP projector maps them into the language model's
width; a causal decoder reads ``[image tokens] can you segment <description> ?`` and predicts the
answer. The mask head is LISA's in small: the last hidden state at the slot that predicts ``[SEG]``
goes through an MLP to a query vector, and the mask logits are its dot product with per-pixel features
(the ViT's first convolutional feature map plus the upsampled patch tokens, at half resolution, in
place of SAM's decoder; the mask logits are upsampled bilinearly to the image size).

:class:`SimilarityJudge`: a dual encoder (ViT image tower, transformer text tower, mean-pooled and
normalised) scoring image-text pairs by a scaled cosine, SigLIP-style; no pixel-level grounding.

Introduced in ``notebooks/vbackchecker/02_model.ipynb``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repro.vbackchecker.config import CheckerSpec, JudgeSpec, VbackcheckerConfig


def encoder(width: int, layers: int, heads: int) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> float ``(B, 3, H, W)`` in [-0.5, 0.5]."""
    return images.permute(0, 3, 1, 2).float() / 255.0 - 0.5


class ViT(nn.Module):
    """A tiny ViT with a convolutional patch stem (stride-2 convolutions down to one token per
    ``patch x patch`` cell; "early convolutions help transformers see better", Xiao et al. 2021): trained
    from scratch on a few thousand images it learns far faster than a linear patch embedding.
    ``forward`` returns the patch tokens and the stem's half-resolution feature map (the pixel
    features of the mask head)."""

    def __init__(self, image_size: int, patch: int, width: int, layers: int, heads: int):
        super().__init__()
        self.grid = image_size // patch
        n_down = int(np.log2(patch))
        if 2**n_down != patch or n_down < 1:
            raise ValueError(f"patch must be a power of two >= 2, got {patch}")
        channels = [3] + [max(8, width // 2 ** (n_down - 1 - k)) for k in range(n_down)]
        self.stem = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GELU())
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.stem_channels = channels[1]
        self.pos = nn.Parameter(torch.randn(1, self.grid**2, width) * 0.02)
        self.blocks = encoder(width, layers, heads)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = []
        for conv in self.stem:
            x = conv(x)
            features.append(x)
        tokens = x.flatten(2).transpose(1, 2) + self.pos
        return self.norm(self.blocks(tokens)), features[0]


class Checker(nn.Module):
    def __init__(self, spec: CheckerSpec, vocab_size: int, image_size: int):
        super().__init__()
        self.spec = spec
        self.vit = ViT(image_size, spec.patch, spec.vision_width, spec.vision_layers, spec.heads)
        self.n_image = self.vit.grid**2
        self.projector = nn.Sequential(
            nn.Linear(spec.vision_width, spec.width), nn.GELU(), nn.Linear(spec.width, spec.width)
        )
        self.embed = nn.Embedding(vocab_size, spec.width)
        self.pos = nn.Parameter(torch.randn(1, self.n_image + spec.max_len, spec.width) * 0.02)
        self.lm = encoder(spec.width, spec.layers, spec.heads)
        self.norm = nn.LayerNorm(spec.width)
        self.head = nn.Linear(spec.width, vocab_size, bias=False)
        # mask decoder: query MLP (LISA's text_hidden_fcs) and per-pixel features
        self.query = nn.Sequential(nn.Linear(spec.width, spec.width), nn.GELU(), nn.Linear(spec.width, spec.mask_dim))
        # pixel features at half resolution (the ViT stem's first map plus the upsampled patch tokens)
        self.stem_proj = nn.Conv2d(self.vit.stem_channels, spec.mask_dim, 1)
        self.pixel_proj = nn.Linear(spec.vision_width, spec.mask_dim)

    def forward(
        self, images: torch.Tensor, tokens: torch.Tensor, slot: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``images`` uint8 ``(B, H, W, 3)``, ``tokens`` ``(B, T)``, ``slot`` ``(B,)`` -> text logits
        ``(B, T, V)`` and the mask logits ``(B, H, W)`` queried by the hidden state at ``slot``."""
        x = normalise(images)
        patches, early = self.vit(x)
        seq = torch.cat([self.projector(patches), self.embed(tokens)], dim=1)
        seq = seq + self.pos[:, : seq.shape[1]]
        hidden = self.norm(self.lm(seq, mask=self.attention_mask(slot + self.n_image, seq.shape[1])))
        hidden = hidden[:, self.n_image :]
        grid = self.pixel_proj(patches).transpose(1, 2).reshape(len(x), -1, self.vit.grid, self.vit.grid)
        stem = self.stem_proj(early)
        pixels = stem + F.interpolate(grid, size=stem.shape[-2:], mode="bilinear", align_corners=False)
        query = self.query(hidden[torch.arange(len(x), device=x.device), slot])
        masks = torch.einsum("bc,bchw->bhw", query, pixels) / self.spec.mask_dim**0.5
        masks = F.interpolate(masks.unsqueeze(1), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(hidden), masks.squeeze(1)

    def attention_mask(self, prefix_end: torch.Tensor, length: int) -> torch.Tensor:
        """Additive mask ``(B * heads, L, L)``: causal everywhere, and with ``spec.prefix_lm`` the prefix
        (image tokens and prompt, up to and including the slot) attends to itself in both directions,
        as in PaliGemma's prefix-LM; answer tokens stay causal, so the slot never sees the answer."""
        pos = torch.arange(length, device=prefix_end.device)
        allowed = (pos[None, :, None] >= pos[None, None, :]).expand(len(prefix_end), -1, -1)
        if self.spec.prefix_lm:
            in_prefix = pos[None, :] <= prefix_end[:, None]
            allowed = allowed | (in_prefix[:, :, None] & in_prefix[:, None, :])
        mask = torch.zeros(allowed.shape, device=prefix_end.device).masked_fill(~allowed, float("-inf"))
        return mask.repeat_interleave(self.spec.heads, dim=0)


class SimilarityJudge(nn.Module):
    def __init__(self, spec: JudgeSpec, vocab_size: int, image_size: int):
        super().__init__()
        self.vit = ViT(image_size, spec.patch, spec.width, spec.layers, spec.heads)
        self.embed = nn.Embedding(vocab_size, spec.width, padding_idx=0)
        self.pos = nn.Parameter(torch.randn(1, spec.max_len, spec.width) * 0.02)
        self.text = encoder(spec.width, spec.layers, spec.heads)
        self.image_out = nn.Linear(spec.width, spec.embed_dim)
        self.text_out = nn.Linear(spec.width, spec.embed_dim)
        self.scale = nn.Parameter(torch.tensor(2.3))  # log 10, SigLIP's initial temperature
        self.bias = nn.Parameter(torch.tensor(-2.0))

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_out(self.vit(normalise(images))[0].mean(1)), dim=-1)

    def embed_texts(self, tokens: torch.Tensor) -> torch.Tensor:
        pad = tokens == 0
        h = self.text(self.embed(tokens) + self.pos[:, : tokens.shape[1]], src_key_padding_mask=pad)
        keep = (~pad).unsqueeze(-1).float()
        return F.normalize(self.text_out((h * keep).sum(1) / keep.sum(1).clamp(min=1)), dim=-1)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor, all_pairs: bool = False) -> torch.Tensor:
        """The logit of each (image_i, text_i) pair ``(B,)``, or of every image x text pair ``(B, B)``."""
        u, v = self.embed_images(images), self.embed_texts(tokens)
        cosine = u @ v.T if all_pairs else (u * v).sum(-1)
        return self.scale.exp() * cosine + self.bias


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class SlotLogits(nn.Module):
    """The checker as a module of the images alone (for the config-rot test): decision logits at a
    fixed prompt's slot."""

    def __init__(self, checker: Checker, prompt: torch.Tensor):
        super().__init__()
        self.checker, self.prompt = checker, prompt

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        slot = torch.full((len(images),), self.prompt.shape[1] - 1)
        logits, masks = self.checker(images, self.prompt.expand(len(images), -1), slot)
        return torch.cat([logits[:, -1], masks.flatten(1)], dim=1)


class PairLogits(nn.Module):
    def __init__(self, judge: SimilarityJudge, prompt: torch.Tensor):
        super().__init__()
        self.judge, self.prompt = judge, prompt

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.judge(images, self.prompt.expand(len(images), -1))


def check_models(cfg: VbackcheckerConfig) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny batch of uint8 images."""
    from repro.vbackchecker.text import Vocab, encode

    vocab = Vocab.build()
    enc = encode(vocab, ["the big red circle left of the blue square"], [False], ["none"], cfg.checker.max_len, False)
    prompt = torch.from_numpy(enc.inputs[:, : int(enc.slot[0]) + 1])
    side = cfg.image_size
    images = torch.randint(0, 256, (2, side, side, 3), dtype=torch.uint8)
    checker = Checker(cfg.checker, len(vocab.words), side)
    judge = SimilarityJudge(cfg.judge, len(vocab.words), side)
    return {
        "checker": (SlotLogits(checker, prompt), images),
        "similarity": (PairLogits(judge, torch.from_numpy(enc.text)), images),
    }
