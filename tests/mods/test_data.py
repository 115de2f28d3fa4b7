"""MODS's data: the generator's phenomenon, and the MMSA pickle reader on fixtures written in that
exact schema (unaligned and aligned), with the bad inputs a user can hit."""

import hashlib
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch

from repro import mods
from repro.core.data import DataUnavailableError, ForbiddenPickleError, load_manifest
from repro.mods.data import (
    SynthSpec,
    dataset_tensors,
    features,
    generate_split,
    load_mmsa,
    noise_sweep,
    read_pickle,
    synthetic_dataset,
    tensors,
    to_dataset,
)

SPEC = SynthSpec(text_len=10, av_len=40, text_dim=8, audio_dim=5, vision_dim=6)


def mmsa_split(n, rng, aligned=False, lengths=(50, 375, 500), dims=(12, 5, 20)):
    """One split exactly as MMSA's MOSI pickles hold it (numpy arrays throughout)."""
    lt, la, lv = (lengths[0],) * 3 if aligned else lengths
    text_len = rng.integers(3, lt + 1, n)
    split = {
        "raw_text": np.array([f"utterance {i}" for i in range(n)]),
        "audio": rng.standard_normal((n, la, dims[1])).astype(np.float32),
        "vision": rng.standard_normal((n, lv, dims[2])).astype(np.float32),
        "id": np.array([f"vid{i}$_${i % 3}" for i in range(n)]),
        "text": rng.standard_normal((n, lt, dims[0])).astype(np.float32),
        "text_bert": np.stack(
            [rng.integers(100, 900, (n, lt)), np.arange(lt)[None] < text_len[:, None], np.zeros((n, lt))], 1
        ).astype(np.float32),
        "annotations": np.array(["Positive", "Negative"] * (n // 2)),
        "classification_labels": rng.integers(0, 3, n).astype(np.float32),
        "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
    }
    if not aligned:
        split["audio_lengths"] = rng.integers(1, la + 1, n)
        split["vision_lengths"] = rng.integers(1, lv + 1, n)
    split["audio"][0, 0, 0] = -np.inf  # COVAREP has -inf values; MMSA zeroes them
    return split


@pytest.fixture
def mosi(tmp_path):
    """Both MOSI files under tmp_path as the manifest lays them out, and a manifest with their hashes."""
    rng = np.random.default_rng(0)
    files = {}
    for name, aligned in (("unaligned_50.pkl", False), ("aligned_50.pkl", True)):
        data = {s: mmsa_split(n, rng, aligned) for s, n in (("train", 6), ("valid", 2), ("test", 4))}
        path = tmp_path / "MOSI" / "Processed" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
        files[name] = data
    manifest = load_manifest("mosi")
    pinned = tuple(
        replace(f, sha256=hashlib.sha256((tmp_path / f.path).read_bytes()).hexdigest()) for f in manifest.files
    )
    return tmp_path, replace(manifest, files=pinned), files


def test_generator_writes_the_mmsa_schema():
    split = generate_split(SPEC, 30, seed=0, language_always=False)
    for key in ("raw_text", "audio", "vision", "id", "text", "text_bert", "audio_lengths", "vision_lengths",
                "annotations", "classification_labels", "regression_labels"):  # fmt: skip
        assert key in split
    assert (
        split["text"].shape == (30, 10, 8)
        and split["audio"].shape == (30, 40, 5)
        and split["vision"].dtype == np.float32
    )
    assert split["text_bert"].shape == (30, 3, 10)
    y = split["regression_labels"]
    assert y.min() >= -3 and y.max() <= 3 and np.allclose(y * 3, np.round(y * 3), atol=1e-5)
    # zero padding after each length
    for i, length in enumerate(split["audio_lengths"]):
        assert not split["audio"][i, length:].any() and split["audio"][i, :length].any()


def test_dominance_varies_per_sample_and_is_language_in_the_control():
    assert set(np.unique(generate_split(SPEC, 300, 0, language_always=False)["dominant"])) == {0, 1, 2}
    assert (generate_split(SPEC, 50, 0, language_always=True)["dominant"] == 0).all()


def test_dominant_modality_expresses_the_label_and_is_not_louder():
    """The phenomenon: the dominant modality carries y along its sentiment direction; the others do
    not; and the dominant one's frames are not larger (energy gives nothing away)."""
    from repro.mods.data import world

    split = generate_split(SPEC, 900, 1, language_always=False)
    t = tensors(split)
    y, dom = split["regression_labels"], split["dominant"]
    for m, name in enumerate(("text", "audio", "vision")):
        direction = torch.tensor(world(SPEC, 0)[m][0], dtype=torch.float32)
        reading = ((t[name] @ direction) * t[f"{name}_mask"]).sum(1) / t[f"{name}_mask"].sum(1)
        on, off = dom == m, dom != m
        assert np.corrcoef(reading[on], y[on])[0, 1] > 0.5
        assert np.corrcoef(reading[off], y[off])[0, 1] < 0.5
        norms = t[name].norm(dim=-1).sum(1) / t[f"{name}_mask"].sum(1)
        assert abs(norms[on].mean() - norms[off].mean()) < 0.1 * norms.mean()


def test_redundancy_repeats_frames():
    split = generate_split(replace(SPEC, noise=0.0, redundancy=4), 5, 0, language_always=False)
    audio = split["audio"][0, : split["audio_lengths"][0]]
    repeats = (np.abs(np.diff(audio, axis=0)).sum(1) < 1e-6).mean()
    assert repeats > 0.5  # most consecutive frames are copies when noise is off


def test_noise_sweep_keeps_labels_and_dominants():
    cfg = mods.config("smoke", noise_sweep=[0.5, 2.0])
    spec, sizes = SynthSpec.from_config(cfg), {"train": cfg.n_train, "valid": cfg.n_valid, "test": cfg.n_test}
    sweep = noise_sweep(spec, cfg.n_test, cfg.noise_sweep, cfg.data_seed)
    a, b = sweep["noise0.5"], sweep["noise2"]
    assert np.array_equal(a["regression_labels"], b["regression_labels"]) and np.array_equal(
        a["dominant"], b["dominant"]
    )
    assert np.abs(b["audio"]).mean() > np.abs(a["audio"]).mean()
    ds = synthetic_dataset(spec, sizes, cfg.data_seed, language_always=False)
    assert [len(ds[s]["regression_labels"]) for s in ("train", "valid", "test")] == [
        cfg.n_train,
        cfg.n_valid,
        cfg.n_test,
    ]


def test_the_generators_set_and_a_real_file_share_one_typed_format():
    """The miniature's sets go through the same conversion as a real file: the DatasetDict holds
    exactly the model inputs ``tensors`` makes (float32 sequences stored exactly, boolean masks)."""
    split = generate_split(SPEC, 12, seed=0, language_always=False)
    dataset = to_dataset({"train": split})
    assert dataset["train"].features == features(
        {"text": 10, "audio": 40, "vision": 40}, {"text": 8, "audio": 5, "vision": 6}
    )
    back, direct = dataset_tensors(dataset["train"]), tensors(split)
    assert set(back) == set(direct)
    for key, value in direct.items():
        assert back[key].dtype == value.dtype and torch.equal(back[key], value), key


def test_real_unaligned_and_aligned_pickles_load_after_the_hash(mosi):
    root, manifest, files = mosi
    data = load_mmsa("mosi", "MOSI/Processed/unaligned_50.pkl", root, manifest)
    assert data["train"].features == features(
        {"text": 50, "audio": 375, "vision": 500}, {"text": 12, "audio": 5, "vision": 20}
    )
    t = dataset_tensors(data["train"])
    src = files["unaligned_50.pkl"]["train"]
    assert t["text"].shape == (6, 50, 12) and t["audio"].shape == (6, 375, 5) and t["vision"].shape == (6, 500, 20)
    assert t["audio_mask"].sum(1).tolist() == src["audio_lengths"].tolist()
    assert t["text_mask"].sum(1).tolist() == src["text_bert"][:, 1].sum(1).astype(int).tolist()
    assert t["audio"][0, 0, 0] == 0  # -inf zeroed
    assert (t["dominant"] == -1).all()  # unknown on real data
    aligned = dataset_tensors(load_mmsa("mosi", "MOSI/Processed/aligned_50.pkl", root, manifest)["test"])
    assert aligned["audio"].shape[1] == 50 and torch.equal(aligned["audio_mask"], aligned["text_mask"])


def test_hash_mismatch_and_missing_file_are_refused_before_unpickling(mosi):
    root, manifest, _ = mosi
    with pytest.raises(DataUnavailableError, match="sha256 mismatch"):
        load_mmsa("mosi", "MOSI/Processed/unaligned_50.pkl", root)  # the published hash is not the fixture's
    (root / "MOSI/Processed/aligned_50.pkl").unlink()
    with pytest.raises(DataUnavailableError, match="file not found"):
        load_mmsa("mosi", "MOSI/Processed/aligned_50.pkl", root, manifest)


def write_and_pin(root, manifest, data, raw=None):
    path = root / "MOSI/Processed/unaligned_50.pkl"
    path.write_bytes(raw if raw is not None else pickle.dumps(data))
    entry = replace(manifest.files[0], sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    return replace(manifest, files=(entry, *manifest.files[1:]))


def test_malformed_files_give_clear_errors(mosi):
    root, manifest, files = mosi
    good = files["unaligned_50.pkl"]
    with pytest.raises(ValueError, match=r"splits \['test'\] missing"):
        load_mmsa(
            "mosi",
            "MOSI/Processed/unaligned_50.pkl",
            root,
            write_and_pin(root, manifest, {k: good[k] for k in ("train", "valid")}),
        )
    with pytest.raises(pickle.UnpicklingError, match="not a readable pickle"):
        load_mmsa(
            "mosi",
            "MOSI/Processed/unaligned_50.pkl",
            root,
            write_and_pin(root, manifest, None, raw=b"\x80\x04truncated"),
        )

    class Payload:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    evil = write_and_pin(root, manifest, {"train": {"audio": Payload()}, "valid": {}, "test": {}})
    with pytest.raises(ForbiddenPickleError):
        load_mmsa("mosi", "MOSI/Processed/unaligned_50.pkl", root, evil)


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda s: s.pop("vision"), r"fields \['vision'\] missing"),
        (lambda s: s.update(audio=s["audio"][:, :, 0]), r"'audio' must be a numeric \(N, T, D\)"),
        (lambda s: s.update(regression_labels=s["regression_labels"][:-1]), "disagree on the number"),
        (lambda s: s.update(audio_lengths=s["audio_lengths"] + 1000), r"audio_lengths must be N=6 values"),
        (lambda s: s.pop("vision_lengths"), "unaligned file without vision_lengths"),
        (lambda s: s.update(text_bert=s["text_bert"][:, :2]), r"text_bert must be \(N, 3, T_l\)"),
        (lambda s: s["text"].__setitem__((0, 0, 0), np.nan), r"'text' has 1 non-finite values"),
        (lambda s: s["audio"].__setitem__((1, 0, 0), np.inf), r"'audio' has 1 non-finite values"),
        (lambda s: s["vision"].__setitem__((0, 0, 0), -np.inf), r"'vision' has 1 non-finite values"),
        (lambda s: s.update(regression_labels=s["regression_labels"] * 10), r"in \[-3.0, 3.0\]"),
        (lambda s: s["regression_labels"].__setitem__(0, np.nan), "must be finite"),
        (lambda s: s.update(audio_lengths=s["audio_lengths"] + 0.5), "audio_lengths must be whole numbers"),
    ],
)
def test_wrong_shapes_and_missing_fields_are_named(mosi, breakage, message):
    split = {k: v.copy() for k, v in mosi[2]["unaligned_50.pkl"]["train"].items()}
    breakage(split)
    with pytest.raises(ValueError, match=message):
        tensors(split, "train")


def test_only_minus_inf_in_audio_is_zeroed_as_mmsa_does(mosi):
    split = mosi[2]["unaligned_50.pkl"]["train"]
    out = tensors(split, "train")
    assert out["audio"][0, 0, 0] == 0 and np.isneginf(split["audio"][0, 0, 0])  # the caller's array untouched
    assert torch.equal(out["audio"][1:], torch.from_numpy(split["audio"][1:]))


def test_read_pickle_refuses_a_non_dict(tmp_path):
    (tmp_path / "x.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(ValueError, match="dict of splits"):
        read_pickle(tmp_path / "x.pkl")


def test_pipeline_runs_on_a_real_format_pickle(tmp_path, monkeypatch):
    """The paper path end to end on a tiny MOSI-format file: data -> train -> evaluate; the claims that
    need the known dominant modality, the control set or the noise sweep are left out, the rest decided."""
    import repro.mods.data as mdata
    from repro.mods import pipeline

    rng = np.random.default_rng(0)
    data = {s: mmsa_split(8, rng, lengths=(10, 30, 40)) for s in ("train", "valid", "test")}
    path = tmp_path / "MOSI" / "Processed" / "unaligned_50.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(data))
    manifest = load_manifest("mosi")
    pinned = replace(
        manifest, files=(replace(manifest.files[0], sha256=hashlib.sha256(path.read_bytes()).hexdigest()),)
    )
    monkeypatch.setattr(mdata, "load_manifest", lambda name: pinned)
    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path / "runs"))  # its own runs: no step cached by another test
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # an earlier test's TRL trainer set its own precision
    cfg = mods.config(
        "smoke", data_source="mosi", arms=["mods", "fixed_l", "fixed_a", "fixed_v"], control_arms=[], batch_size=4,
        epochs=1, noise_sweep=[1.0],
    )  # fmt: skip
    verdicts = pipeline.evaluate(cfg).summary
    assert set(verdicts) == {"C1a", "C1b"}
