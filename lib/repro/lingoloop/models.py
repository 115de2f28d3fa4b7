"""The victim: a tiny captioning VLM, built from transformers configs and trained in place.
Introduced in ``notebooks/lingoloop/02_model.ipynb``.

The paper attacks Qwen2.5-VL-3B, InstructBLIP and others. The miniature's victim has the same
anatomy at a size that trains in seconds: a ViT image encoder (CLIP vision config: 32x32 images,
8x8 patches, 16 visual tokens), a two-layer projector, and a Llama decoder (2 layers, d 64) over
the caption grammar's word vocabulary, joined as a real ``LlavaForConditionalGeneration`` with a
real ``LlavaProcessor``. So the victim is saved with ``save_pretrained`` and attacked through the
same path-based loader (:func:`repro.lingoloop.vlm.load_vlm`) that would load a local LLaVA or
Qwen2.5-VL checkpoint: nothing in the attack knows it is a toy.

    >>> from repro.lingoloop.data import Vocab
    >>> model = build_victim(VictimSpec(), Vocab.build())
    >>> sum(p.numel() for p in model.parameters()) > 100_000
    True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from repro.lingoloop.config import VictimSpec
from repro.lingoloop.data import BOS, EOS, IMAGE, PAD, Vocab

PROMPT = "<image><bos>"  # the victim captions with no instruction: image tokens, then BOS


def build_victim(spec: VictimSpec, vocab: Vocab):
    """A ``LlavaForConditionalGeneration`` from configs (random weights)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    vision = CLIPVisionConfig(
        hidden_size=spec.vision_width,
        intermediate_size=2 * spec.vision_width,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_width,
    )
    text = LlamaConfig(
        vocab_size=len(vocab.words),
        hidden_size=spec.width,
        intermediate_size=2 * spec.width,
        num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads,
        num_key_value_heads=spec.heads,
        max_position_embeddings=spec.max_positions,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=IMAGE,
        vision_feature_select_strategy="default",  # drop CLS: (32/8)^2 = 16 visual tokens
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(config)
    model.generation_config.update(bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD, do_sample=False)
    return model


def build_processor(spec: VictimSpec, vocab: Vocab):
    """A ``LlavaProcessor``: a word-level tokenizer (the grammar's vocabulary) and a CLIP image
    processor that maps [0, 1] pixels to [-1, 1] at 32x32."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPImageProcessorPil, LlavaProcessor, PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel(vocab.index, unk_token=None))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        extra_special_tokens={"image_token": "<image>"},
    )
    size = spec.image_size
    images = CLIPImageProcessorPil(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    return LlavaProcessor(
        image_processor=images,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    )


def save_victim(model, processor, path) -> None:
    """``save_pretrained`` of model and processor into one folder (safetensors, JSON configs)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a notebook would show the writing bar as a stderr box
    model.save_pretrained(path)
    processor.save_pretrained(path)


def caption_loss(model, pixel_values: torch.Tensor, prompt_ids: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Teacher-forced cross-entropy of the caption tokens (EOS included, PAD ignored)."""
    ids = torch.cat([prompt_ids.expand(len(tokens), -1), tokens], dim=1)
    logits = model(input_ids=ids, pixel_values=pixel_values).logits
    start = prompt_ids.shape[1] - 1  # the logit at the last prompt position predicts the first word
    predicted = logits[:, start : start + tokens.shape[1]]
    return F.cross_entropy(predicted.flatten(0, 1), tokens.flatten(), ignore_index=PAD)


def normalise(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]: the victim processor's mean 0.5 / std 0.5."""
    return images * 2 - 1


def exact_match(generated: list[str], references: tuple[str, ...] | list[str]) -> float:
    """Share of generated captions equal to the reference caption."""
    return float(np.mean([g == r for g, r in zip(generated, references)]))


def ending_match(generated: list[str], references: tuple[str, ...] | list[str]) -> float:
    """Share of generated captions that end on the reference's part of speech (the template the
    background texture asks for): what decides where the clean victim puts its EOS."""
    from repro.lingoloop.data import LEXICON

    def last_pos(text: str) -> str | None:
        return LEXICON.get(text.split()[-1]) if text.split() else None

    return float(np.mean([last_pos(g) == last_pos(r) for g, r in zip(generated, references)]))


class CaptionLogits(torch.nn.Module):
    """The victim as a module of the images alone (for the config-rot test): prompt logits."""

    def __init__(self, model, prompt_ids: torch.Tensor):
        super().__init__()
        self.model, self.prompt_ids = model, prompt_ids

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        ids = self.prompt_ids.expand(len(images), -1)
        return self.model(input_ids=ids, pixel_values=normalise(images)).logits


def check_models(cfg) -> dict[str, tuple[torch.nn.Module, torch.Tensor]]:
    """Every network a profile builds, with a tiny batch (the victim spec of the profile; the paper
    profile attacks an external checkpoint, so this builds the miniature's victim as its stand-in)."""
    vocab = Vocab.build()
    processor = build_processor(cfg.victim, vocab)
    prompt = processor(text=PROMPT, images=np.zeros((cfg.victim.image_size,) * 2 + (3,), np.uint8), return_tensors="pt")
    victim = CaptionLogits(build_victim(cfg.victim, vocab), prompt["input_ids"])
    return {"victim": (victim, torch.rand(2, 3, cfg.victim.image_size, cfg.victim.image_size))}
