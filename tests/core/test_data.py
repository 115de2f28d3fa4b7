import hashlib
import os
import pickle

import numpy as np
import pytest
import yaml

from repro.core.data import DataUnavailableError, ForbiddenPickleError, load_manifest, restricted_load, verified_path


def write_manifest(folder, files, **fields):
    raw = {
        "name": "toyset",
        "title": "Toy",
        "homepage": "https://example.org",
        "license": "CC0",
        "citation": "none",
        "access": "public",
        "instructions": "make it yourself",
        "files": files,
        **fields,
    }
    (folder / "toyset.yaml").write_text(yaml.safe_dump(raw))
    return load_manifest("toyset", folder)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("REPRO_DATA_DIR", str(root))
    return root


def test_every_committed_manifest_is_valid():
    from repro.core.data import MANIFEST_DIR

    names = sorted(p.stem for p in MANIFEST_DIR.glob("*.yaml"))
    assert names, "no manifests committed"
    for name in names:
        manifest = load_manifest(name)
        assert manifest.files and manifest.access in ("public", "manual", "gated")


def test_verified_path_accepts_the_right_bytes(data_dir, tmp_path):
    (data_dir / "a.bin").write_bytes(b"hello")
    manifest = write_manifest(tmp_path, [{"path": "a.bin", "sha256": hashlib.sha256(b"hello").hexdigest()}])
    assert verified_path(manifest, "a.bin") == data_dir / "a.bin"


def test_missing_file_says_what_where_and_what_to_do(data_dir, tmp_path):
    manifest = write_manifest(tmp_path, [{"path": "a.bin", "sha256": "0" * 64}])
    with pytest.raises(DataUnavailableError) as err:
        verified_path(manifest, "a.bin")
    text = str(err.value)
    assert "toyset" in text and "file not found" in text and str(data_dir) in text and "make it yourself" in text


def test_corrupted_file_reports_expected_and_actual_hash(data_dir, tmp_path):
    (data_dir / "a.bin").write_bytes(b"hellO")
    good = hashlib.sha256(b"hello").hexdigest()
    manifest = write_manifest(tmp_path, [{"path": "a.bin", "sha256": good}])
    with pytest.raises(DataUnavailableError, match="sha256 mismatch") as err:
        verified_path(manifest, "a.bin")
    assert (
        err.value.expected == f"sha256:{good}" and err.value.actual == f"sha256:{hashlib.sha256(b'hellO').hexdigest()}"
    )
    assert (data_dir / "a.bin").read_bytes() == b"hellO"  # nothing deleted or rewritten


def test_md5_entries_are_checked_too(data_dir, tmp_path):
    (data_dir / "a.bin").write_bytes(b"x")
    manifest = write_manifest(tmp_path, [{"path": "a.bin", "md5": hashlib.md5(b"y").hexdigest()}])
    with pytest.raises(DataUnavailableError, match="md5 mismatch"):
        verified_path(manifest, "a.bin")


@pytest.mark.parametrize("bad", ["../outside.bin", "/etc/passwd", "sub/../../x"])
def test_manifest_paths_may_not_escape_the_data_dir(data_dir, tmp_path, bad):
    with pytest.raises(DataUnavailableError, match="escapes the data folder"):
        write_manifest(tmp_path, [{"path": bad, "sha256": "0" * 64}])


def test_manifest_missing_fields_or_bad_hash_is_refused(tmp_path, data_dir):
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump({"name": "broken", "files": []}))
    with pytest.raises(ValueError, match="lacks required fields"):
        load_manifest("broken", tmp_path)
    with pytest.raises(ValueError, match="64-hex sha256"):
        write_manifest(tmp_path, [{"path": "a.bin", "sha256": "abc"}])
    with pytest.raises(FileNotFoundError, match="known manifests"):
        load_manifest("nope", tmp_path)


def test_unpublished_hash_is_allowed_in_a_manifest_but_the_file_is_refused(data_dir, tmp_path):
    manifest = write_manifest(tmp_path, [{"path": "a.pkl", "sha256": None}])
    (data_dir / "a.pkl").write_bytes(b"hello")
    with pytest.raises(DataUnavailableError, match="no published checksum") as err:
        verified_path(manifest, "a.pkl")
    assert err.value.actual == f"sha256:{hashlib.sha256(b'hello').hexdigest()}" and "sha256sum" in str(err.value)
    with pytest.raises(ValueError, match="64-hex sha256"):
        write_manifest(tmp_path, [{"path": "a.pkl"}])  # no hash field at all: still an error


def test_restricted_unpickler_admits_arrays_and_containers():
    obj = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2], "meta": ("a", 1.5)}
    loaded = restricted_load(pickle.dumps(obj, protocol=2))
    assert np.array_equal(loaded[b"data"], obj[b"data"]) and loaded["meta"] == ("a", 1.5)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/repro-pwned",))


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(ForbiddenPickleError, match="posix.system|os.system"):
        restricted_load(path)
    assert not os.path.exists("/tmp/repro-pwned")


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.pkl"
    path.write_bytes(pickle.dumps({"a": np.zeros(100)})[:50])
    with pytest.raises(pickle.UnpicklingError, match="not a readable pickle"):
        restricted_load(path)


# -- issue 14: messages that blame the right thing


def test_a_symlink_out_of_the_data_folder_is_named_as_such(data_dir, tmp_path):
    elsewhere = tmp_path / "big_disk" / "toyset"
    elsewhere.mkdir(parents=True)
    (elsewhere / "a.bin").write_bytes(b"hello")
    (data_dir / "toyset").symlink_to(elsewhere)
    digest = hashlib.sha256(b"hello").hexdigest()
    with pytest.raises(DataUnavailableError) as err:
        manifest = write_manifest(tmp_path, [{"path": "toyset/a.bin", "sha256": digest}])
        verified_path(manifest, "toyset/a.bin")
    text = str(err.value)
    assert "symlink that leads out of the data folder" in text and str(elsewhere) in text
    assert "REPRO_DATA_DIR" in text and "the manifest is fine" in text
    assert "manifest paths must be relative" not in text


def test_a_symlink_inside_the_data_folder_is_fine(data_dir, tmp_path):
    (data_dir / "real").mkdir()
    (data_dir / "real" / "a.bin").write_bytes(b"hello")
    (data_dir / "toyset").symlink_to(data_dir / "real")
    manifest = write_manifest(tmp_path, [{"path": "toyset/a.bin", "sha256": hashlib.sha256(b"hello").hexdigest()}])
    assert verified_path(manifest, "toyset/a.bin") == data_dir / "real" / "a.bin"


def test_an_unlisted_file_is_a_data_error_naming_the_listed_ones(data_dir, tmp_path):
    manifest = write_manifest(tmp_path, [{"path": "a.bin", "sha256": "0" * 64}])
    with pytest.raises(DataUnavailableError, match=r"not listed in the manifest(.|\n)*\['a.bin'\]"):
        verified_path(manifest, "b.bin")


def test_a_missing_file_without_a_published_checksum_says_so_not_none(data_dir, tmp_path):
    """A manifest entry with ``sha256: null`` prints no 'expected: md5:None': it says there is none."""
    manifest = write_manifest(tmp_path, [{"path": "a.bin", "sha256": None}])
    with pytest.raises(DataUnavailableError) as err:
        verified_path(manifest, "a.bin")
    assert "None" not in str(err.value) and "no published checksum: record yours" in str(err.value)
