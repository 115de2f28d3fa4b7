"""Shared image datasets: the digits split, and the CIFAR-10 batch loader on a fixture in that exact format."""

import hashlib
import pickle
from dataclasses import replace

import numpy as np
import pytest

from repro.core.data import DataUnavailableError, ForbiddenPickleError, load_manifest
from repro.core.images import CIFAR_TEST, CIFAR_TRAIN, cifar10_split, digits_split, read_cifar_batch


def write_batch(path, n, seed, label_key=b"labels"):
    """A CIFAR-10 python batch: a pickled dict with bytes keys, uint8 data (n, 3072), a list of labels."""
    rng = np.random.default_rng(seed)
    batch = {
        b"batch_label": f"fixture batch {seed}".encode(),
        label_key: [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return batch


@pytest.fixture
def cifar_fixture(tmp_path):
    """Six tiny batches laid out as the real archive extracts, and a manifest with their hashes."""
    batches = {rel: write_batch(tmp_path / rel, 4, i) for i, rel in enumerate((*CIFAR_TRAIN, CIFAR_TEST))}
    manifest = load_manifest("cifar10")
    files = tuple(
        replace(f, md5=hashlib.md5((tmp_path / f.path).read_bytes()).hexdigest())
        for f in manifest.files
        if f.path in batches
    )
    return tmp_path, replace(manifest, files=files), batches


def test_digits_split_is_stratified_scaled_and_resizable():
    split = digits_split(8, 0.2, seed=0)
    assert split["x_train"].shape == (1437, 1, 8, 8) and split["x_test"].shape == (360, 1, 8, 8)
    assert split["x_train"].min() == 0.0 and split["x_train"].max() == 1.0
    assert np.bincount(split["y_test"]).min() >= 35  # every class present in proportion
    big = digits_split(16, 0.2, seed=0)
    assert big["x_train"].shape == (1437, 1, 16, 16) and 0 <= big["x_train"].min() and big["x_train"].max() <= 1
    assert np.array_equal(big["y_test"], split["y_test"])


def test_cifar_loader_reads_the_python_batches(cifar_fixture):
    root, manifest, batches = cifar_fixture
    split = cifar10_split(root, manifest)
    assert split["x_train"].shape == (20, 3, 32, 32) and split["x_test"].shape == (4, 3, 32, 32)
    first = batches[CIFAR_TRAIN[0]]
    # row-major 1024 red, then green, then blue values
    assert split["x_train"][0, 1, 0, 0] == pytest.approx(first[b"data"][0, 1024] / 255)
    assert split["y_test"].tolist() == batches[CIFAR_TEST][b"labels"]


def test_cifar_loader_refuses_missing_and_corrupted_files(cifar_fixture):
    root, manifest, _ = cifar_fixture
    with pytest.raises(DataUnavailableError, match="md5 mismatch"):
        cifar10_split(root)  # the real manifest's hashes do not match the fixture
    (root / CIFAR_TEST).unlink()
    with pytest.raises(DataUnavailableError, match="file not found"):
        cifar10_split(root, manifest)


def test_malformed_batches_give_clear_errors(tmp_path):
    write_batch(tmp_path / "nolabels", 3, 0, label_key=b"fine_labels")
    with pytest.raises(ValueError, match="needs b'data' and b'labels'"):
        read_cifar_batch(tmp_path / "nolabels")
    (tmp_path / "shape").write_bytes(
        pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2)
    )
    with pytest.raises(ValueError, match=r"uint8 data \(N, 3072\)"):
        read_cifar_batch(tmp_path / "shape")


def test_a_batch_with_a_code_global_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (eval, ("1 + 1",))

    (tmp_path / "evil").write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}, protocol=2))
    with pytest.raises(ForbiddenPickleError):
        read_cifar_batch(tmp_path / "evil")


def test_mmard_and_gfprune_read_the_shared_loader():
    """One implementation: the papers' data modules hand out the core's digits split."""
    from repro.gfprune.data import load_arrays as gfprune_split
    from repro.mmard.data import load_arrays as mmard_split

    a, b = mmard_split("digits", 16, 0.2, 0), gfprune_split("digits", 16, 0.2, 0)
    np.testing.assert_allclose(b["x_train"], a["x_train"] * 2 - 1)
    np.testing.assert_array_equal(a["y_test"], b["y_test"])
