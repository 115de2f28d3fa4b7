"""The tiny CLIP: a ``transformers`` CLIPModel built from a :class:`~repro.mgtil.config.ClipSpec`, a
word-level tokenizer made with ``tokenizers``, the encoders at two depths, and zero-shot
classification by prompts. Introduced in ``notebooks/mgtil/02_model.ipynb``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from tokenizers.processors import TemplateProcessing
from torch import nn
from transformers import CLIPConfig, CLIPModel

from repro.mgtil.config import ClipSpec

SPECIALS = ("[PAD]", "[BOS]", "[UNK]", "[EOS]")  # ids 0..3; CLIP pools the text at the first [EOS]
PAD, BOS, UNK, EOS = range(4)


def build_tokenizer(texts: Iterable[str], max_words: int) -> Tokenizer:
    """A word-level tokenizer over the words of ``texts``: ``[BOS] words [EOS]``, padded with
    ``[PAD]`` and truncated to ``max_words`` tokens; unseen words become ``[UNK]``."""
    words = sorted({w for t in texts for w in t.lower().split()})
    vocab = {tok: i for i, tok in enumerate(SPECIALS)} | {w: i + len(SPECIALS) for i, w in enumerate(words)}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.post_processor = TemplateProcessing(single="[BOS] $A [EOS]", special_tokens=[("[BOS]", BOS), ("[EOS]", EOS)])
    tok.enable_truncation(max_words)
    tok.enable_padding(pad_id=PAD, pad_token="[PAD]", length=max_words)
    return tok


def tokenize(tok: Tokenizer, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), each (n, max_words); truncation keeps the final [EOS]."""
    enc = tok.encode_batch([t.lower() for t in texts])
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    last = mask.sum(1) - 1
    ids[torch.arange(len(ids)), last] = EOS  # a truncated caption still ends in [EOS]
    return ids, mask


def build_clip(spec: ClipSpec, vocab_size: int) -> CLIPModel:
    shared = dict(
        hidden_size=spec.width,
        intermediate_size=4 * spec.width,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
    )
    config = CLIPConfig(
        text_config=dict(
            shared,
            vocab_size=vocab_size,
            max_position_embeddings=spec.max_words,
            pad_token_id=PAD,
            bos_token_id=BOS,
            eos_token_id=EOS,
        ),
        vision_config=dict(shared, image_size=spec.image_size, patch_size=spec.patch_size, num_channels=3),
        projection_dim=spec.embed_dim,
    )
    return CLIPModel(config)


def pixels(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] to the encoder's input range."""
    return (images - 0.5) / 0.25


@dataclass
class Embeddings:
    """Unit-norm embeddings at the final (projected, shared) depth and at the middle depth
    (mean-pooled hidden states, modality-specific)."""

    final: torch.Tensor
    mid: torch.Tensor | None = None


def encode_images(model: CLIPModel, images: torch.Tensor, mid_layer: int | None = None) -> Embeddings:
    out = model.vision_model(pixels(images), output_hidden_states=mid_layer is not None)
    final = F.normalize(model.visual_projection(out.pooler_output), dim=-1)
    mid = F.normalize(out.hidden_states[mid_layer].mean(1), dim=-1) if mid_layer is not None else None
    return Embeddings(final, mid)


def encode_texts(model: CLIPModel, ids: torch.Tensor, mask: torch.Tensor, mid_layer: int | None = None) -> Embeddings:
    out = model.text_model(ids, mask, output_hidden_states=mid_layer is not None)
    final = F.normalize(model.text_projection(out.pooler_output), dim=-1)
    mid = None
    if mid_layer is not None:
        m = mask.unsqueeze(-1).to(out.hidden_states[mid_layer].dtype)
        mid = F.normalize((out.hidden_states[mid_layer] * m).sum(1) / m.sum(1), dim=-1)
    return Embeddings(final, mid)


def similarity(model: CLIPModel, image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """CLIP logits: the learned scale times cosine similarity (rows: images, columns: texts)."""
    return model.logit_scale.exp().clamp(max=100) * image_emb @ text_emb.T


def contrastive_loss(model: CLIPModel, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE over a batch of pairs (pretraining)."""
    logits = similarity(model, encode_images(model, images).final, encode_texts(model, ids, mask).final)
    target = torch.arange(len(images), device=images.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


class ZeroShotClassifier(nn.Module):
    """Image -> class logits against fixed prompt tokens (text re-encoded each call, so it follows
    the model's current weights)."""

    def __init__(self, model: CLIPModel, ids: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.model = model
        self.register_buffer("ids", ids, persistent=False)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        text = encode_texts(self.model, self.ids, self.mask).final
        return similarity(self.model, encode_images(self.model, images).final, text)


@torch.no_grad()
def predict(
    model: CLIPModel, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, batch: int = 256
) -> torch.Tensor:
    """Zero-shot predictions (class indices) for ``images`` against the prompts ``ids``."""
    model.eval()
    text = encode_texts(model, ids, mask).final
    return torch.cat(
        [(encode_images(model, images[i : i + batch]).final @ text.T).argmax(1) for i in range(0, len(images), batch)]
    )


def check_models(cfg) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """The profile's CLIP as a zero-shot classifier over one task's prompts, with a tiny image batch
    (the config-rot test runs a forward for every profile on CPU)."""
    from repro.mgtil import world

    task = world.TASKS[world.ORDERS[cfg.orders[0]][0]]
    tok = build_tokenizer(task.prompts(), cfg.clip.max_words)
    clip = build_clip(cfg.clip, tok.get_vocab_size())
    batch = torch.rand(2, 3, cfg.clip.image_size, cfg.clip.image_size)
    return {"clip": (ZeroShotClassifier(clip, *tokenize(tok, task.prompts())), batch)}
