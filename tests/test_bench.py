"""The benchmark's kernels measure what they say, on sizes that take a second."""

import json

from repro import bench


def test_kernels_agree_with_their_plain_alternatives():
    pgd = bench.bench_pgd(n=16, steps=3, repeats=1)
    assert pgd["agree"] == 1.0  # MMARD's PGD and torchattacks' PGD give the same images
    clients = bench.bench_clients(clients=3, batch=8, repeats=1)
    assert clients["max_grad_diff"] < 1e-5  # vmapped gradients equal the loop's
    retrieval = bench.bench_retrieval(corpus=3000, queries=50, repeats=1)
    assert retrieval["recall_at_10"] > 0.9
    fit = bench.bench_fit(steps=8, repeats=1)
    assert all(r["kit_s"] > 0 and r["plain_s"] > 0 and r["ratio"] > 0 for r in (pgd, clients, retrieval, fit))


def test_main_writes_json_and_a_table(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRO_RUNS_DIR", str(tmp_path))
    monkeypatch.setattr(bench, "KERNELS", {"pgd": lambda: bench.bench_pgd(n=8, steps=2, repeats=1)})
    assert bench.main(["--profiles", "smoke", "--kernels", "pgd"]) == 0
    doc = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert set(doc["kernels"]) == {"pgd"} and doc["machine"]["cores"] >= 1
    table = (tmp_path / "bench" / "bench.md").read_text()
    assert "| pgd |" in table and "| smoke | mmard |" in table
