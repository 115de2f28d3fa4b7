"""dFLMoE's data: the partitions, and the real-format loaders on fixtures in their exact formats
(BreaKHis class-per-folder PNGs inside its tar.gz; UCI's header-less wdbc.data), with bad input."""

import hashlib
import tarfile
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from repro.core.data import DataUnavailableError, load_manifest
from repro.dflmoe.data import (
    breakhis_task,
    breast_cancer_task,
    digits_task,
    dirichlet_partition,
    load_task,
    read_feature_csv,
    read_image_folder,
    save_task,
    to_dataset,
    wdbc_task,
)


def pinned(manifest, root):
    """The manifest with the fixture's sha256 pinned (as a user pins their own copy)."""
    files = tuple(replace(f, sha256=hashlib.sha256((root / f.path).read_bytes()).hexdigest()) for f in manifest.files)
    return replace(manifest, files=files)


def test_dirichlet_partition_covers_every_sample_once_and_skews_with_alpha():
    y = np.repeat(np.arange(10), 100)
    rng = np.random.default_rng(0)
    skewed = dirichlet_partition(y, 8, 0.1, rng, min_size=25)
    flat = np.concatenate(skewed)
    assert len(flat) == len(y) and len(np.unique(flat)) == len(y)
    assert min(len(p) for p in skewed) >= 25
    iid = dirichlet_partition(y, 8, 100.0, np.random.default_rng(0))
    classes = lambda parts: np.mean([len(np.unique(y[p])) for p in parts])  # noqa: E731
    assert classes(skewed) < 6 < classes(iid) == 10


def test_digits_task_splits_each_client_and_round_trips(tmp_path):
    task = digits_task(0.5, 8, 0.2, seed=0)
    assert len(task.clients) == 8 and task.in_dim == 64 and task.image_shape == (1, 8, 8)
    assert task.sizes("train").sum() + task.sizes("val").sum() + task.sizes("test").sum() == 1797
    assert (task.sizes("test") >= 1).all() and (task.sizes("val") >= 1).all()
    save_task(task, tmp_path / task.name)
    back = load_task(tmp_path / task.name)
    assert back.name == task.name and back.n_classes == 10 and back.image_shape == (1, 8, 8)
    for mine, theirs in zip(back.clients, task.clients, strict=True):  # every array, bit for bit
        for key in mine:
            assert mine[key].dtype == theirs[key].dtype and np.array_equal(mine[key], theirs[key]), key


def test_real_formats_become_the_same_typed_dataset_as_the_miniature():
    """A feature table (WDBC's shape) and an image task share one on-disk form: a vector or an image."""
    table = breast_cancer_task(4, 0.2, 0.5, seed=0)
    features = to_dataset(table)["train"].features
    assert features["x"].length == 30 and features["label"].num_classes == 2
    assert to_dataset(digits_task(0.5, 4, 0.2, seed=0))["test"].features["x"].shape == (1, 8, 8)


def test_breast_cancer_feature_skew_moves_each_site_but_not_its_labels():
    flat = breast_cancer_task(8, 0.2, 0.0, seed=0)
    skewed = breast_cancer_task(8, 0.2, 0.5, seed=0)
    assert skewed.n_classes == 2 and skewed.in_dim == 30
    means = np.stack([c["x_train"].mean(0) for c in skewed.clients])
    flat_means = np.stack([c["x_train"].mean(0) for c in flat.clients])
    assert means.std(0).mean() > 2 * flat_means.std(0).mean()  # sites differ in their features
    np.testing.assert_array_equal(skewed.clients[0]["y_train"], flat.clients[0]["y_train"])


def write_breakhis(root, patients=("14-22549AB", "22-23060CD", "13-412"), per_patient=2):
    """BreaKHis' layout: histology_slides/breast/<class>/SOB/<type>/<patient>/<mag>X/SOB_..png, tarred."""
    folder = root / "BreaKHis_v1" / "histology_slides" / "breast"
    rng = np.random.default_rng(0)
    for cls, code, kind in (("benign", "B", "A"), ("malignant", "M", "DC")):
        for patient in patients:
            mag = folder / cls / "SOB" / kind / f"SOB_{code}_{kind}_{patient}" / "40X"
            mag.mkdir(parents=True)
            for i in range(per_patient):
                pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(mag / f"SOB_{code}_{kind}-{patient}-40-{i + 1:03d}.png")
    with tarfile.open(root / "BreaKHis_v1.tar.gz", "w:gz") as tar:
        tar.add(root / "BreaKHis_v1", arcname="BreaKHis_v1")
    return folder


def test_image_folder_reader_reads_breakhis_names_and_patients(tmp_path):
    folder = write_breakhis(tmp_path)
    x, y, classes, groups = read_image_folder(folder, 16)
    assert classes == ["benign", "malignant"] and x.shape == (12, 256) and 0 <= x.min() and x.max() <= 1
    assert np.bincount(y).tolist() == [6, 6]
    assert sorted(set(groups)) == ["13-412", "14-22549AB", "22-23060CD"]


def test_breakhis_task_from_the_verified_archive(tmp_path):
    write_breakhis(tmp_path / "src")
    data = tmp_path / "data"
    data.mkdir()
    (data / "BreaKHis_v1.tar.gz").write_bytes((tmp_path / "src" / "BreaKHis_v1.tar.gz").read_bytes())
    manifest = load_manifest("breakhis")
    with pytest.raises(DataUnavailableError, match="BreaKHis_v1.tar.gz"):
        breakhis_task(3, 0.25, 16, 0, root=data, manifest=manifest)  # no published hash: refused until pinned
    task = breakhis_task(3, 0.25, 16, 0, root=data, manifest=pinned(manifest, data))
    assert task.image_shape == (1, 16, 16) and len(task.clients) == 3 and task.n_classes == 2
    assert sum(len(c["y_train"]) + len(c["y_val"]) + len(c["y_test"]) for c in task.clients) == 12


def test_wdbc_csv_through_the_manifest_and_bad_csvs(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"{842302 + i},{'MB'[i % 2]}," + ",".join(f"{v:.4f}" for v in rng.normal(size=30)) for i in range(40)]
    (tmp_path / "wdbc.data").write_text("\n".join(rows) + "\n")
    manifest = pinned(load_manifest("wdbc"), tmp_path)
    task = wdbc_task(4, 0.25, 0.5, 0, root=tmp_path, manifest=manifest)
    assert (
        task.in_dim == 30
        and task.n_classes == 2
        and sum(sum(task.sizes(part)) for part in ("train", "val", "test")) == 40
    )
    (tmp_path / "wdbc.data").write_text("\n".join(rows[:-1]) + "\n")  # edited after pinning
    with pytest.raises(DataUnavailableError, match="sha256 mismatch"):
        wdbc_task(4, 0.25, 0.5, 0, root=tmp_path, manifest=manifest)
    rows[5] = rows[5].replace(",B,", ",m,")  # a typo in the diagnosis: refused at its line, through the task
    (tmp_path / "wdbc.data").write_text("\n".join(rows) + "\n")
    with pytest.raises(ValueError, match="wdbc.data, line 6: label 'm'"):
        wdbc_task(4, 0.25, 0.5, 0, root=tmp_path, manifest=pinned(load_manifest("wdbc"), tmp_path))


@pytest.mark.parametrize(
    "text,match",
    [
        ("a,b,label\n1,2,0\n3,4,1\n", None),
        ("a,b,target\n1,2,0\n3,4,1\n", "no label column 'label'"),
        ("a,b,label\n1,x,0\n3,4,1\n", "must be numeric"),
        ("a,b,label\n1,,0\n3,4,1\n", "missing values"),
        ("a,b,label\n1,2,0\n3,4,0\n", "one class only"),
        ("", "not a readable CSV"),
    ],
)
def test_feature_csv_errors_are_clear(tmp_path, text, match):
    path = tmp_path / "f.csv"
    path.write_text(text)
    if match is None:
        x, y, classes = read_feature_csv(path)
        assert x.shape == (2, 2) and y.tolist() == [0, 1] and classes == ["0", "1"]
    else:
        with pytest.raises(ValueError, match=match):
            read_feature_csv(path)


def test_feature_csv_refuses_a_label_outside_the_format_at_its_line(tmp_path):
    """WDBC's diagnosis is B or M: a typo ('m') is refused where it is, not taken as a third class."""
    path = tmp_path / "wdbc.data"
    path.write_text("1,B,0.1,0.2\n2,M,0.3,0.4\n3,m,0.5,0.6\n")
    names = ["id", "diagnosis", "f0", "f1"]
    with pytest.raises(
        ValueError, match=r"wdbc.data, line 3: label 'm' in column 'diagnosis' is not one of \['B', 'M'\]"
    ):
        read_feature_csv(path, "diagnosis", ("id",), names, ("B", "M"))
    path.write_text("1,B,0.1,0.2\n2,M,0.3,0.4\n")
    _, y, classes = read_feature_csv(path, "diagnosis", ("id",), names, ("B", "M"))
    assert y.tolist() == [0, 1] and classes == ["B", "M"]


def test_image_folder_errors_are_clear(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_image_folder(tmp_path / "nope", 8)
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="one sub-folder per class"):
        read_image_folder(tmp_path, 8)
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        read_image_folder(tmp_path, 8)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "only" / "a.png")
    (tmp_path / "other" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not a readable image"):
        read_image_folder(tmp_path, 8)
