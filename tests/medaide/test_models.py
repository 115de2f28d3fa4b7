"""Encoders and backends: the bundled MiniLM loads offline, verified, and equals sentence-transformers;
the Hugging Face backend runs a tiny causal LM from a local folder (never a download)."""

import numpy as np
import pytest
import torch

from repro.core.config import ConfigError
from repro.core.data import DataUnavailableError, load_manifest, verified_path
from repro.medaide import config
from repro.medaide.agents import ExtractiveBackend, HFCausalLM, make_backend
from repro.medaide.models import Embedder, MiniLMEncoder, minilm_dir

SENTENCES = ["what dose should i take for crv", "which clinic handles chronic renal varostrosis"]


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEncoder()


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm_dir()), device="cpu").encode(SENTENCES, normalize_embeddings=True)
    ours = Embedder(minilm)(SENTENCES)
    assert ours.shape == (2, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_embedder_caches_and_counts(minilm, tmp_path):
    embed = Embedder(minilm, batch_size=1)
    first = embed(SENTENCES + SENTENCES[:1])
    assert embed.requests == 3 and len(embed.cache) == 2 and np.allclose(first[0], first[2])
    embed.save(tmp_path / "cache.npz")
    other = Embedder(minilm)
    other.load(tmp_path / "cache.npz")
    assert set(other.cache) == set(SENTENCES) and np.allclose(other(SENTENCES[:1]), first[:1])


def test_minilm_files_are_hash_checked(tmp_path):
    manifest = load_manifest("all_minilm_l6_v2")
    (tmp_path / "vocab.txt").write_text("not the vocabulary\n")
    with pytest.raises(DataUnavailableError, match="mismatch"):
        verified_path(manifest, "vocab.txt", tmp_path)


def tiny_causal_lm(folder):
    """A 2-layer GPT-2 with a word-level tokenizer, built from configs and saved locally."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["[UNK]", "[EOS]", "facts", ":", "-", "question", "answer", "the", "dose", "is", "10", "mg", "?"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[EOS]", pad_token="[EOS]")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(words), n_positions=96, n_embd=16, n_layer=2, n_head=2, bos_token_id=1, eos_token_id=1
        )
    )
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def test_hf_backend_generates_from_a_local_folder(tmp_path):
    backend = make_backend(f"hf:{tiny_causal_lm(tmp_path / 'lm')}")
    assert isinstance(backend, HFCausalLM) and backend.name == "hf:lm"
    text = backend.answer("the dose ?", ["the dose is 10 mg"])
    assert isinstance(text, str) and backend.calls == 1
    assert "the dose is 10 mg" in backend.prompt("q", ["the dose is 10 mg", "the dose is 10 mg"])


def test_backend_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        make_backend(f"hf:{tmp_path}")
    with pytest.raises(ValueError, match="unknown backend"):
        make_backend("gpt-4o")
    extractive = ExtractiveBackend()
    assert extractive.answer("q", ["a.", "b.", "a."]) == "a. b." and extractive.name == "extractive"


def test_config_is_strict():
    with pytest.raises(ConfigError, match="valid keys"):
        config("smoke", nosie=0.1)
    with pytest.raises(ConfigError, match="encoder.kind=.biobert.: must be one of minilm, small"):
        config("smoke", encoder={"kind": "biobert"})
    with pytest.raises(ConfigError, match="backend"):
        config("smoke", backend="gpt-4o")
    with pytest.raises(ConfigError, match="probabilities"):
        config("smoke", noise=1.5)
    assert config("cpu").run_name == "cpu" and config("smoke", encoder={"kind": "small"}).run_name.startswith("smoke+")
