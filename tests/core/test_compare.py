"""``python -m repro compare`` and the golden comparison (issue 34): a rerun beside a tiny golden."""

import json
import time

import numpy as np
import pytest

from repro.core import cli, compare, machine, report
from repro.core.claims import Claim, claims_document
from repro.core.steps import sha256_file, write_json

RNG = np.random.default_rng(34)
BASE = RNG.random((3, 400))
AVX512 = {"cpu_model": "AMD EPYC", "cpu_capability": "AVX512", "torch": "2.13.0+cpu", "torch_threads": 1}


def arms(extra: float) -> dict[str, np.ndarray]:
    """A right on ``extra`` more of the shared examples than B (paired, 3 seeds)."""
    return {"A": (BASE < 0.8) * 100.0, "B": (BASE < 0.8 - extra) * 100.0, "C": (BASE < 0.5) * 100.0}


def document(extra: float, machine_facts=AVX512, table_acc: float = 80.0) -> dict:
    """Two claims: ``c`` (A beats B by > 2 points: decided by ``extra``) and ``d`` (A beats C: always)."""
    claims = [
        Claim(id="c", text="A beats B", type="better", metric="acc", a="A", b=("B",), margin=2.0),
        Claim(id="d", text="A beats C", type="better", metric="acc", a="A", b=("C",), margin=2.0),
    ]
    return claims_document(
        paper="mmard",
        run={"profile": "cpu", "run_name": "cpu", "seeds": [0, 1, 2], "machine": machine_facts},
        claims=claims,
        scores={"acc": arms(extra)},
        table=[{"method": "A", "acc": table_acc}, {"method": "B", "acc": 70.0}],
        budget={},
        cannot_show=[],
    )


def write_run(runs, doc) -> None:
    """``<runs>/cpu/mmard/evaluate/claims.json`` as its evaluate step writes it (hash in step.json)."""
    folder = runs / "cpu" / "mmard" / "evaluate"
    write_json(folder / "claims.json", doc)
    write_json(folder / "step.json", {"artifacts": {"claims.json": sha256_file(folder / "claims.json")}})


@pytest.fixture
def golden(tmp_path, monkeypatch):
    """A golden folder ``<tmp>/results/cpu/mmard/claims.json`` where claim c is reproduced, and an
    empty runs folder."""
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(compare, "GOLDEN_ROOT", tmp_path / "results")
    doc = document(extra=0.10)
    assert [c["result"]["verdict"] for c in doc["claims"]] == ["reproduced", "reproduced"]
    write_json(tmp_path / "results" / "cpu" / "mmard" / "claims.json", doc)
    return tmp_path


def test_a_changed_verdict_exits_1_and_says_which(golden, capsys):
    rerun = document(extra=0.02)  # the same claim on a rerun that moved: c now inconclusive
    assert rerun["claims"][0]["result"]["verdict"] == "inconclusive"
    write_run(golden / "runs", rerun)
    assert cli.main(["compare", "cpu", "--against", str(golden / "results" / "cpu")]) == 1
    out = capsys.readouterr().out
    assert "- mmard: verdicts 1/2 same (c reproduced -> inconclusive); largest effect shift" in out
    assert "| c | changed: **reproduced -> inconclusive** |" in out and "| d | same: reproduced |" in out
    assert "| A | acc |" not in out  # the table did not change: no cell row


def test_an_unchanged_rerun_exits_0_and_any_difference_sees_a_moved_cell(golden, capsys):
    write_run(golden / "runs", document(extra=0.10, table_acc=80.5))
    assert cli.main(["compare"]) == 0  # defaults: runs/cpu against results/cpu
    out = capsys.readouterr().out
    assert "- mmard: verdicts 2/2 same; effects identical; 1 table cell(s) differ" in out
    assert "| A | acc | 80 | 80.5 | 0.5 |" in out
    assert cli.main(["compare", "--any-difference"]) == 1


def test_an_identical_rerun_is_identical_even_for_any_difference(golden, capsys):
    write_run(golden / "runs", document(extra=0.10))
    assert cli.main(["compare", "--any-difference"]) == 0
    assert "identical to the golden" in capsys.readouterr().out


def test_the_shift_is_in_units_of_the_golden_se():
    golden, rerun = document(0.10), document(0.08)
    row = compare.compare_documents(golden, rerun).claims[0]
    g, r = golden["claims"][0]["result"], rerun["claims"][0]["result"]
    assert row["shift (se)"] == pytest.approx((r["effect"] - g["effect"]) / g["se"])
    assert row["shift (se)"] < -1  # two points fewer on a se of ~1.5 points


def test_both_machines_are_shown_when_they_differ(golden, capsys):
    write_run(golden / "runs", document(0.10, machine_facts={**AVX512, "cpu_capability": "AVX2"}))
    cli.main(["compare"])
    out = capsys.readouterr().out
    assert "Machines: golden: AMD EPYC (AVX512)" in out and "rerun: AMD EPYC (AVX2)" in out
    assert "(differ in cpu_capability)" in out


def test_an_edited_rerun_is_not_compared(golden, capsys):
    write_run(golden / "runs", document(0.10))
    path = golden / "runs" / "cpu" / "mmard" / "evaluate" / "claims.json"
    path.write_text(path.read_text().replace('"reproduced"', '"inconclusive"', 1))
    assert cli.main(["compare"]) == 0 and cli.main(["compare", "--any-difference"]) == 1
    assert "mmard: not compared: claims.json differs from the file its evaluate step wrote" in capsys.readouterr().out


def test_a_missing_run_or_golden_is_one_message(golden, capsys):
    assert cli.main(["compare", "cpu"]) == 2
    assert "no run 'cpu'" in capsys.readouterr().err
    write_run(golden / "runs", document(0.10))
    assert cli.main(["compare", "--against", str(golden / "nowhere")]) == 2
    assert "no golden folder" in capsys.readouterr().err


def test_a_sweep_compares_every_matching_run(golden, capsys):
    for name, extra in (("cpu+00000001", 0.10), ("cpu+00000002", 0.02)):
        folder = golden / "runs" / name / "mmard" / "evaluate"
        write_json(folder / "claims.json", document(extra))
        write_json(folder / "step.json", {"artifacts": {"claims.json": sha256_file(folder / "claims.json")}})
    assert cli.main(["compare", "cpu+*"]) == 1
    out = capsys.readouterr().out
    assert out.count("against") == 2 and "verdicts 2/2 same" in out and "verdicts 1/2 same" in out


def test_gates_trivial_references_and_not_testable_are_compared():
    golden, rerun = document(0.10), document(0.10)
    gate = {"name": "above chance", "text": "t", "covers": ["c"], "threshold": 50.0, "higher_is_better": True}
    golden["gates"] = [{**gate, "value": [60.0, 61.0, 62.0], "pass": True}]
    rerun["gates"] = [{**gate, "value": [60.0, 40.0, 62.0], "pass": False}]
    rerun["claims"][0]["result"].update(verdict="not testable", not_testable="gate 'above chance' failed")
    golden["claims"][1]["result"]["trivial"] = {"constant": "not reproduced"}
    rerun["claims"][1]["result"]["trivial"] = {"constant": "inconclusive"}
    found = compare.compare_documents(golden, rerun)
    assert [g["gate"] for g in found.gates] == ["above chance"] and found.gates[0]["rerun pass"] is False
    assert found.claims[0]["status"] == "changed" and "gate 'above chance' failed" in found.claims[0]["notes"]
    assert "constant not reproduced -> inconclusive" in found.claims[1]["notes"]
    assert "1 gate(s) differ" in found.summary()


def test_the_notebook_table_and_its_note(golden):
    frame = compare.golden_comparison(document(0.02), "cpu")
    assert list(frame.index) == ["c", "d"] and list(frame["status"]) == ["changed", "same"]
    assert frame.attrs["note"].startswith("mmard: verdicts 1/2 same")
    empty = compare.golden_comparison(document(0.02), "smoke")
    assert empty.empty and empty.attrs["note"] == "no golden for profile smoke (the committed ones: results/cpu)"


def test_the_report_ends_with_the_comparison(golden):
    write_run(golden / "runs", document(0.02))
    text = report.build("cpu").read_text()
    assert "**Compared with the golden (`results/cpu`, last section): 1/2 verdicts the same, 1 changed.**" in text
    assert text.index("## Compared with the golden") > text.index("## mmard")
    assert "| c | changed: **reproduced -> inconclusive** |" in text


def test_machine_facts_are_json_fast_and_cached():
    import torch  # noqa: F401  (claims_document calls facts() in a process that has torch)

    started = time.perf_counter()
    facts = machine.facts()
    assert time.perf_counter() - started < 0.5  # the first call reads /proc and torch's build once
    started = time.perf_counter()
    assert machine.facts() == facts and time.perf_counter() - started < 0.05
    json.dumps(facts)
    assert facts["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "NO AVX", "VSX", "ZVECTOR", "SVE256")
    assert facts["torch"].startswith("2.") and facts["torch_threads"] >= 1
    assert "AMD" in machine.describe({**AVX512}) and machine.describe({}) == "not recorded"


def test_git_commit_reads_a_checkout_without_git_and_tolerates_none(tmp_path):
    assert machine.git_commit(tmp_path) is None  # an unpacked archive: no .git
    git = tmp_path / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "packed-refs").write_text("# pack-refs\n" + "a" * 40 + " refs/heads/main\n")
    assert machine.git_commit(tmp_path) == "a" * 40
    (git / "refs" / "heads" / "main").write_text("b" * 40 + "\n")
    assert machine.git_commit(tmp_path) == "b" * 40


def test_step_times_reads_each_finished_step(tmp_path):
    write_json(tmp_path / "mmard" / "data" / "step.json", {"wall_s": 1.5})
    write_json(tmp_path / "mmard" / "train" / "step.json", {"wall_s": 20, "cpu_s": 38.5})
    (tmp_path / "mmard" / "model").mkdir()
    (tmp_path / "mmard" / "model" / "step.json").write_text("{truncated")
    assert machine.step_times(tmp_path, "mmard") == {"data": 1.5, "train": 20.0}
    assert machine.step_times(tmp_path, "mmard", key="cpu_s") == {"train": 38.5}


def test_the_same_machine_at_another_commit_says_the_code_moved():
    golden = document(0.10, machine_facts={**AVX512, "commit": "a" * 40})
    rerun = document(0.10, machine_facts={**AVX512, "commit": "b" * 40})
    text = compare.machines_text(compare.compare_documents(golden, rerun))
    assert text == "the same machine; code from commit aaaaaaa and bbbbbbb"
    assert compare.machines_text(compare.compare_documents(golden, golden)) is None


# ----------------------------------------------------------------------------------------------
# the golden rerun under other settings: fragile claims


def test_a_recorded_setting_marks_the_claims_it_flipped_as_fragile(golden, capsys):
    avx2 = {**AVX512, "cpu_capability": "AVX2"}
    write_run(golden / "runs", document(extra=0.02, machine_facts=avx2))  # c: reproduced -> inconclusive
    assert cli.main(["compare", "--paper", "mmard", "--record-setting", "avx2", "ATEN_CPU_CAPABILITY=avx2"]) == 1
    assert "recorded" in capsys.readouterr().err
    found = compare.settings(compare.golden_folder("cpu"), "mmard")
    assert [(s.name, s.change) for s in found] == [("avx2", "ATEN_CPU_CAPABILITY=avx2")]
    assert compare.fragile_claims(found) == {"c": ["inconclusive under avx2"]}
    [row] = compare.setting_rows("cpu")
    assert row["verdicts the same"] == "1/2" and row["verdicts that changed"] == "c reproduced -> inconclusive"
    # the report's claims table says which claims a setting flipped, and which held
    write_run(golden / "runs", document(extra=0.10))
    section, _ = report.paper_section(golden / "runs" / "cpu" / "mmard", golden / "runs")
    assert "**fragile**: inconclusive under avx2" in section and "held under avx2" in section


def test_a_setting_recorded_against_another_golden_is_refused(golden):
    write_run(golden / "runs", document(extra=0.02))
    run_claims = golden / "runs" / "cpu" / "mmard" / "evaluate" / "claims.json"
    compare.record_setting(compare.golden_folder("cpu"), "mmard", "threads1", "1 thread", run_claims)
    write_json(golden / "results" / "cpu" / "mmard" / "claims.json", document(extra=0.12))  # the golden made again
    with pytest.raises(ValueError, match="another golden of mmard.*rerun the setting \\(1 thread\\)"):
        compare.settings(compare.golden_folder("cpu"), "mmard")


def test_a_setting_of_another_paper_is_refused(golden):
    doc = document(extra=0.02)
    doc["paper"] = "mods"
    write_json(golden / "other.json", doc)
    with pytest.raises(ValueError, match="holds the claims of 'mods', not 'mmard'"):
        compare.record_setting(compare.golden_folder("cpu"), "mmard", "x", "x", golden / "other.json")
