import json

import pytest

from repro.core import steps

from . import toy


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path))
    toy.CALLS.clear()
    return tmp_path


def test_layout_and_step_json(runs):
    cfg = toy.config("smoke")
    result = toy.train(cfg)
    assert result.dir == runs / "smoke" / "toy" / "train"
    meta = json.loads((result.dir / "step.json").read_text())
    assert meta["config_slice"] == {"scale": 1.0, "fail_in_train": False}
    assert set(meta["artifacts"]) == {"scaled.json"}
    assert meta["wall_s"] >= 0 and meta["peak_rss_mb"] > 10
    assert 0 <= meta["cpu_s"] <= 2 * 2 * meta["wall_s"] + 0.1  # two cores, and the memory sampler's share
    assert {"torch", "numpy"} <= set(meta["packages"]) and "commit" in meta["git"]
    assert toy.CALLS == ["data", "train"]


def test_override_run_does_not_touch_the_canonical_one(runs):
    toy.train(toy.config("smoke"))
    other = toy.train(toy.config("smoke", scale=2.0))
    assert other.dir.parent.parent.name.startswith("smoke+")
    assert json.loads((runs / "smoke/toy/train/scaled.json").read_text()) == [0, 1, 2]


def test_fresh_upstream_is_reused_and_stale_upstream_recomputed(capsys):
    cfg = toy.config("smoke")
    toy.train(cfg)
    toy.train(cfg)
    assert toy.CALLS == ["data", "train", "train"]
    toy.train(toy.config("smoke", n=4))
    assert toy.CALLS[-2:] == ["data", "train"]
    assert "not computed yet" in capsys.readouterr().out


def test_config_change_of_upstream_changes_downstream_key():
    pipe = toy.pipe
    assert pipe.key("train", toy.config("smoke")) != pipe.key("train", toy.config("smoke", n=4))


def test_corrupted_upstream_artifact_is_recomputed(capsys):
    cfg = toy.config("smoke")
    first = toy.train(cfg)
    values = first.dir.parent / "data" / "values.json"
    values.write_text(values.read_text()[:3])  # truncated
    assert "corrupted" in toy.pipe.staleness("data", cfg)
    toy.train(cfg)
    assert toy.CALLS[-2:] == ["data", "train"] and "sha256 mismatch" in capsys.readouterr().out
    assert json.loads(values.read_text()) == [0, 1, 2]


def test_code_change_makes_a_step_stale(monkeypatch):
    cfg = toy.config("smoke")
    toy.train(cfg)
    monkeypatch.setattr(steps, "code_hash", lambda paper: "another")
    assert toy.pipe.staleness("data", cfg) == "made by another code version"


def test_failing_step_leaves_the_previous_result_intact(runs):
    toy.train(toy.config("smoke"))
    before = (runs / "smoke/toy/train/step.json").read_text()
    failing = toy.config("smoke", fail_in_train=True)
    with pytest.raises(RuntimeError, match="on purpose"):
        toy.train(failing)
    assert (runs / "smoke/toy/train/step.json").read_text() == before  # canonical run untouched
    assert not (runs / failing.run_name / "toy" / "train").exists()  # nothing half-written
    assert not list((runs / failing.run_name / "toy").glob(".train.tmp-*"))


def test_wrong_paper_config_and_unknown_step_are_refused():
    from repro import mmard

    with pytest.raises(TypeError, match="config for 'mmard'"):
        toy.train(mmard.config("smoke"))
    with pytest.raises(KeyError, match="steps of toy: data, train"):
        toy.pipe.run("evaluate", toy.config("smoke"))


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "a.json"
    steps.write_json(path, {"ok": 1})
    with pytest.raises(TypeError):
        steps.write_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_truncated_json_gives_a_clear_error(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text('{"paper": "mm')
    with pytest.raises(ValueError, match="not valid JSON.*rerun the step"):
        steps.read_json(path)


def test_runs_root_is_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("REPRO_RUNS_DIR")
    monkeypatch.chdir(tmp_path)
    assert steps.runs_root() == steps.REPO_ROOT / "runs"


def test_an_interrupted_step_leaves_only_a_temporary_folder_that_the_next_run_removes(runs):
    cfg = toy.config("smoke")
    folder = runs / "smoke" / "toy"
    orphan = folder / ".train.tmp-999999999"  # no such process
    orphan.mkdir(parents=True)
    (orphan / "scaled.json").write_text("[0, 1")  # half-written
    toy.train(cfg)
    assert not orphan.exists()
    assert toy.pipe.staleness("train", cfg) is None
