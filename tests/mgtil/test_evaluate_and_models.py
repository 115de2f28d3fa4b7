"""MTIL metrics as ZSCL defines them, per-example scores that average to them, the tiny CLIP and
its tokenizer, and the config's validation."""

import numpy as np
import pytest
import torch

from repro import mgtil
from repro.core.config import ConfigError
from repro.mgtil.config import ClipSpec
from repro.mgtil.evaluate import example_scores, mtil_metrics
from repro.mgtil.models import EOS, PAD, UNK, build_clip, build_tokenizer, encode_texts, tokenize


def test_mtil_metrics_follow_the_protocol():
    a = np.array([[50.0, 20, 30], [40, 80, 35], [30, 60, 90]])
    m = mtil_metrics(a)
    assert m["transfer"] == pytest.approx(np.mean([20, np.mean([30, 35])]))
    assert m["avg"] == pytest.approx(a.mean())
    assert m["last"] == pytest.approx(60.0)
    assert m["bwt"] == pytest.approx(np.mean([30 - 50, 60 - 80]))


def test_example_scores_average_to_the_metrics():
    rng = np.random.default_rng(0)
    correct = rng.random((2, 4, 4, 10)) < 0.6
    scores = example_scores(correct, [False, True, False, True])
    for seed in range(2):
        m = mtil_metrics(100 * correct[seed].mean(-1))
        for metric in ("transfer", "avg", "last", "bwt"):
            assert scores[metric][seed].mean() == pytest.approx(m[metric])
    fine = 100 * correct[:, :, [1, 3]].mean(axis=(1, 3))
    assert scores["avg_fine"].mean(1) == pytest.approx(fine.mean(1))


def test_tokenizer_pads_truncates_and_keeps_the_final_eos():
    tok = build_tokenizer(["a chest x-ray showing nodule"], max_words=5)
    ids, mask = tokenize(tok, ["a chest", "a chest x-ray showing small nodule", "unknown words"])
    assert ids.shape == (3, 5)
    assert ids[0, 3].item() == EOS and ids[0, 4].item() == PAD and mask[0].tolist() == [1, 1, 1, 1, 0]
    assert ids[1, -1].item() == EOS, "a truncated caption still ends in [EOS]"
    assert ids[2, 1].item() == UNK


def test_text_embedding_pools_at_eos_and_ignores_padding():
    spec = ClipSpec(max_words=8)
    tok = build_tokenizer(["a chest x-ray showing nodule"], spec.max_words)
    clip = build_clip(spec, tok.get_vocab_size()).eval()
    ids, mask = tokenize(tok, ["a chest x-ray"])
    other = ids.clone()
    other[0, -1] = 5  # garbage after [EOS], masked out
    with torch.no_grad():
        a = encode_texts(clip, ids, mask, mid_layer=1)
        b = encode_texts(clip, other, mask, mid_layer=1)
    assert torch.allclose(a.final, b.final, atol=1e-5) and torch.allclose(a.mid, b.mid, atol=1e-5)
    assert a.final.shape == (1, spec.embed_dim) and torch.allclose(a.final.norm(dim=-1), torch.ones(1))


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"steps_per_task": 0}, "steps_per_task"),
        ({"seeds": []}, "seeds"),
        ({"lr": 0.0}, "lr"),
        ({"clip": {"heads": 0}}, "clip.heads"),
        ({"retrieval": {"mode": "random"}}, "retrieval.mode"),
        ({"methods": ["ours", "magic"]}, "methods"),
        ({"orders": ["order9"]}, "orders"),
    ],
)
def test_bad_config_values_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        mgtil.config("smoke", **overrides)


# every count the config checked by hand before repro.core.config.check_values took over
CHECKED_COUNTS = (
    *("steps_per_task", "batch_size", "ref_batch", "pretrain_epochs"),
    *(f"clip.{f}" for f in ("image_size", "patch_size", "width", "layers", "heads", "embed_dim", "max_words")),
    *(f"world.{f}" for f in ("database_size", "n_train", "n_test")),
    *(f"retrieval.{f}" for f in ("budget", "k_prime", "rerank_keep", "exemplars")),
)


@pytest.mark.parametrize("field", CHECKED_COUNTS)
def test_a_zero_count_names_its_field(field):
    spec, _, name = field.rpartition(".")
    overrides = {spec: {name: 0}} if spec else {name: 0}
    with pytest.raises(ConfigError, match=rf"^{field.replace('.', '[.]')}=0: must be >= 1"):
        mgtil.config("smoke", **overrides)


@pytest.mark.parametrize("field", ["lr", "pretrain_lr"])
def test_a_learning_rate_must_be_positive(field):
    with pytest.raises(ConfigError, match=rf"^{field}=0.0: must be > 0"):
        mgtil.config("smoke", **{field: 0.0})
    with pytest.raises(ConfigError, match="seeds"):
        mgtil.MgtilConfig(seeds=(1, 1))  # built directly, not only through config()


def test_unknown_override_lists_the_valid_keys():
    with pytest.raises(ConfigError, match="valid keys"):
        mgtil.config("cpu", epochs=3)


def test_golden_table_recomputes_from_the_shipped_accuracy_matrices():
    """Issue 30: the golden ships every arm's per-seed accuracy matrices (results/cpu/mgtil/matrices.npz,
    ``arm -> (seeds, T, T, n_test)`` correctness); Transfer / Avg / Last / BWT recompute to its table."""
    import json
    from pathlib import Path

    import numpy as np

    from repro.mgtil.evaluate import mtil_metrics

    golden = Path(__file__).resolve().parents[2] / "results" / "cpu" / "mgtil"
    table = {row["method"]: row for row in json.loads((golden / "claims.json").read_text())["table"]}
    with np.load(golden / "matrices.npz", allow_pickle=False) as data:
        assert set(data.files) <= set(table) and len(data.files) >= 5, data.files
        for arm in data.files:
            correct = data[arm]
            per_seed = [mtil_metrics(100 * m.mean(axis=-1)) for m in correct]
            for metric in ("transfer", "avg", "last", "bwt"):
                value = np.mean([p[metric] for p in per_seed])
                assert abs(value - table[arm][metric]) < 0.006, (arm, metric, value, table[arm][metric])


def test_claims_read_the_main_stream_of_the_run():
    """The paper profile's main order is ``medmnist``: its claims read ``<method>@medmnist`` arms (and
    trivial references), everything else as stated; on order I the stated claims are returned as is."""
    from repro.mgtil.claims import CLAIMS, on_stream

    assert on_stream(CLAIMS, "order1") is CLAIMS
    moved = {c.id: c for c in on_stream(CLAIMS, "medmnist")}
    c1a = moved["C1a"]
    assert (c1a.a, c1a.b) == ("ours@medmnist", ("zscl@medmnist", "l2@medmnist"))
    assert c1a.trivial == ("prior", "zeroshot@medmnist")
    stated = {c.id: c for c in CLAIMS}
    assert all(
        (m.metric, m.margin, m.text) == (stated[i].metric, stated[i].margin, stated[i].text) for i, m in moved.items()
    )
