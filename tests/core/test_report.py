import pytest

from repro.core import report
from repro.core.steps import write_json

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
