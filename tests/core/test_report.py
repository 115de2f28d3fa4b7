import pytest

from repro.core import report
from repro.core.steps import sha256_file, write_json

from .test_claims import document


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path))
    paper = tmp_path / "cpu" / "mmard"
    write_json(paper / "evaluate" / "claims.json", document())
    meta = {
        "wall_s": 1.5,
        "peak_rss_mb": 300.0,
        "code_hash": "abc",
        "git": {"commit": "1234567890ab"},
        "device": {"python": "3.11"},
        "packages": {"torch": "2.13.0"},
        "artifacts": {"claims.json": sha256_file(paper / "evaluate" / "claims.json")},
    }
    write_json(paper / "evaluate" / "step.json", meta)
    (paper / "figures").mkdir()
    (paper / "figures" / "curve.png").write_bytes(b"png")
    return tmp_path / "cpu"


def test_report_gathers_claims_figures_timings_and_limits(run):
    text = report.build("cpu").read_text()
    assert "## mmard" in text and "| c | better | acc | A vs B |" in text
    assert "| k (control) |" in text and "(expected reproduced: NOT as expected)" in text
    assert "![curve](mmard/figures/curve.png)" in text
    assert "| evaluate | 1.5 | 300 | abc | 1234567890 |" in text
    assert "- scale" in text and "torch 2.13.0" in text
    assert "Claims (controls excluded): 1 reproduced" in text


def test_report_says_when_a_paper_has_no_claims(run):
    (run / "mmard" / "evaluate" / "claims.json").unlink()
    assert "the evaluate step did not complete" in report.build("cpu").read_text()


def test_markdown_table_escapes_pipes():
    assert "a \\| b" in report.markdown_table([{"x": "a | b"}])


# -- issue 14: what the report refuses


def test_an_edited_claims_json_is_not_published(run):
    import json

    path = run / "mmard" / "evaluate" / "claims.json"
    doc = json.loads(path.read_text())
    doc["claims"][0]["result"]["verdict"] = "not reproduced"  # valid JSON, valid schema, not what was measured
    path.write_text(json.dumps(doc))
    text = report.build("cpu").read_text()
    assert "Claims not published: claims.json differs from the file its evaluate step wrote" in text
    assert "| c | better |" not in text and "no claims decided" in text
    assert "python -m repro step mmard evaluate --profile cpu" in text
    assert set(report.refused("cpu")) == {"mmard"}


def test_a_claims_json_without_a_recorded_hash_is_not_published(run):
    (run / "mmard" / "evaluate" / "step.json").write_text("[]")  # valid JSON, not an object
    text = report.build("cpu").read_text()
    assert "Claims not published: claims.json has no hash recorded" in text
    assert "| evaluate | step.json unreadable |" in text


def test_the_untouched_run_is_not_refused(run):
    assert report.refused("cpu") == {}


@pytest.mark.parametrize("name", ["smoke/../../../x", "../cpu", "/tmp/x", "cpu+zz", ""])
def test_a_run_name_that_is_a_path_is_refused(run, name):
    with pytest.raises(ValueError, match="is not a run name.*runs there: cpu"):
        report.build(name)
    assert not (run.parent.parent / "x").exists()


def test_a_run_that_does_not_exist_is_refused(run):
    with pytest.raises(ValueError, match="run 'bogus' has no results under .*; runs there: cpu"):
        report.build("bogus")
    assert not (run.parent / "bogus").exists()
