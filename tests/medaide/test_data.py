"""The KB and query generator, and the benchmark loader on a fixture in its exact format (with bad input)."""

import hashlib
import json
from dataclasses import replace

import pytest

from repro.core.data import DataUnavailableError, ManifestFile, load_manifest, verified_path
from repro.medaide.data import FormatError, features, load_benchmark, query_rows, read_queries, rows, to_dataset
from repro.medaide.kb import AGENTS, INTENTS, build_kb
from repro.medaide.queries import LEXICON, TEMPLATES, make_split


@pytest.fixture(scope="module")
def kb():
    return build_kb(10, 3, seed=0)


def test_taxonomy_has_17_intents_under_4_agents():
    assert len(INTENTS) == 17 == len(set(INTENTS)) and len(AGENTS) == 4


def test_kb_has_one_fact_per_disease_and_intent(kb):
    assert len(kb.facts) == 10 * 17 and len(set(kb.facts)) == len(kb.facts)
    assert kb.fact(3, "dosage") == kb.facts[kb.fact_index(3, "dosage")]
    assert kb.diseases[3].drug in kb.fact(3, "dosage")
    assert len({d.acronym for d in kb.diseases}) == 10, "acronyms must be decidable from the KB"
    assert len(kb.cases) == 30 and (kb.case_disease == sorted(kb.case_disease)).all()


def test_queries_carry_gold_intents_and_kb_references(kb):
    queries = make_split(kb, 20, "B", 0.2, seed=1)
    assert len(queries) == 80 and {q.benchmark for q in queries} == set(AGENTS)
    for q in queries:
        assert 1 <= len(q.intents) <= 3 and set(q.intents) == set(q.clause_intents)
        assert q.reference == " ".join(kb.facts[f] for f in q.gold_facts)
        assert [kb.fact_intent[f] for f in q.gold_facts] == [INTENTS.index(i) for i in q.clause_intents]
        assert not any(name in q.text for name in INTENTS), "the generator never writes an intent's name"


def test_noise_sweep_is_paired_and_clean_level_has_no_corruption(kb):
    clean, noisy = make_split(kb, 10, "B", 0.0, seed=3), make_split(kb, 10, "B", 0.5, seed=3)
    assert [(q.disease, q.clause_intents) for q in clean] == [(q.disease, q.clause_intents) for q in noisy]
    assert sum(a.text != b.text for a, b in zip(clean, noisy)) > 30


def test_held_out_family_and_lexicon_share_nothing_with_the_rules():
    a = {t for ts in TEMPLATES["A"].values() for t in ts}
    b = {t for ts in TEMPLATES["B"].values() for t in ts}
    assert not a & b
    assert not set(LEXICON["A"].values()) & set(LEXICON["B"].values())
    assert not set(LEXICON["A"]) & set(LEXICON["B"])


def write_fixture(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


ROWS = [
    {
        "query": "wat dose for crv and when is my follow up",
        "intents": ["follow_up", "dosage"],
        "reference": "a. b.",
        "benchmark": "medicament",
    },
    {"query": "which clinic handles it", "intents": ["department"], "reference": "c.", "benchmark": "pre_diagnosis"},
]


def pinned(tmp_path, rel, digest):
    manifest = load_manifest("medaide_benchmarks")
    return replace(manifest, files=(ManifestFile(path=rel, sha256=digest),))


def test_loader_reads_the_format_through_the_manifest(tmp_path):
    rel = "medaide/medicament.jsonl"
    digest = write_fixture(tmp_path / rel, ROWS)
    dataset = load_benchmark(pinned(tmp_path, rel, digest), rel, root=tmp_path)
    assert dataset.features == features()  # the procedural splits' features: one code path
    got = rows(dataset)
    assert got[0]["intents"] == ["dosage", "follow_up"]  # ordered by the taxonomy
    assert [r["benchmark"] for r in got] == ["medicament", "pre_diagnosis"]
    assert got[1]["clauses"] == [] and got[1]["disease"] == -1  # the generator's fields, absent here


def test_loader_round_trips_the_kits_own_splits(tmp_path, kb):
    queries = make_split(kb, 2, "A", 0.1, seed=0)
    (tmp_path / "q.jsonl").write_text("".join(json.dumps(row) + "\n" for row in query_rows(queries)))
    from_file = read_queries(tmp_path / "q.jsonl")
    assert [r["query"] for r in from_file] == [q.text for q in queries]
    assert [tuple(r["intents"]) for r in from_file] == [q.intents for q in queries]
    assert rows(to_dataset(query_rows(queries))) == from_file  # the saved splits hold exactly these rows


def test_unpublished_hash_and_mismatch_are_refused(tmp_path):
    rel = "medaide/medicament.jsonl"
    write_fixture(tmp_path / rel, ROWS)
    with pytest.raises(DataUnavailableError, match="no published checksum"):
        verified_path(load_manifest("medaide_benchmarks"), rel, tmp_path)
    with pytest.raises(DataUnavailableError, match="mismatch"):
        load_benchmark(pinned(tmp_path, rel, "0" * 64), rel, root=tmp_path)
    with pytest.raises(DataUnavailableError, match="not found"):
        load_benchmark(pinned(tmp_path, rel, "0" * 64), "medaide/medicament.jsonl", root=tmp_path / "empty")


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected an object"),
        ('{"query": "q", "intents": ["dosage"], "benchmark": "medicament"}', "missing field"),
        ('{"query": "q", "intents": ["astrology"], "reference": "r", "benchmark": "medicament"}', "unknown intent"),
        ('{"query": "q", "intents": [], "reference": "r", "benchmark": "medicament"}', "non-empty"),
        ('{"query": "q", "intents": ["dosage"], "reference": "r", "benchmark": "triage"}', "unknown benchmark"),
        ('{"query": 3, "intents": ["dosage"], "reference": "r", "benchmark": "medicament"}', "must be strings"),
        # issue 32: what the reader used to accept
        ('{"query": "  ", "intents": ["dosage"], "reference": "r", "benchmark": "medicament"}', "'query' is empty"),
        (
            '{"query": "q", "intents": ["dosage"], "reference": "r", "benchmark": "medicament", '
            '"clauses": ["a", "b"], "clause_intents": ["dosage"]}',
            "equal lengths",
        ),
        (
            '{"query": "q", "intents": ["dosage"], "reference": "r", "benchmark": "medicament", '
            '"clauses": ["a"], "clause_intents": ["astrology"]}',
            "unknown clause_intents",
        ),
        (
            '{"query": "q", "intents": ["dosage"], "reference": "r", "benchmark": "medicament", "gold_facts": "12"}',
            "list of non-negative integers",
        ),
        (
            '{"query": "q", "intents": ["dosage"], "reference": "r", "benchmark": "medicament", "gold_facts": [1.5]}',
            "list of non-negative integers",
        ),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[1]) + "\n" + line + "\n")
    with pytest.raises(FormatError, match=message) as err:
        read_queries(path)
    assert "bad.jsonl:2" in str(err.value)


def test_empty_file_is_an_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(FormatError, match="no queries"):
        read_queries(tmp_path / "empty.jsonl")


# ----------------------------------------------------------------------------------------------
# the paper profile: the four benchmark files through their manifest


def write_benchmarks(root, kb, n: int, keep_clauses: bool = False) -> "Manifest":  # noqa: F821
    """The four files in the released format (generated queries, the generator's extra fields dropped
    unless ``keep_clauses``), and the manifest pinning their hashes."""
    from repro.medaide.kb import BENCHMARKS

    manifest = load_manifest("medaide_benchmarks")
    queries = query_rows(make_split(kb, n, "B", 0.0, seed=3))
    keep = ("query", "intents", "reference", "benchmark") + (("clauses", "clause_intents") if keep_clauses else ())
    entries = []
    for benchmark in BENCHMARKS:
        rel = f"medaide/{benchmark}.jsonl"
        rows_ = [{k: q[k] for k in keep} for q in queries if q["benchmark"] == benchmark]
        entries.append(ManifestFile(path=rel, sha256=write_fixture(root / rel, rows_)))
    return replace(manifest, files=tuple(entries))


def test_paper_profile_without_the_files_says_what_to_do(tmp_path, monkeypatch):
    from repro.medaide import config
    from repro.medaide.data import read_benchmarks

    monkeypatch.setenv("REPRO_DATA_DIR", str(tmp_path))
    assert config("paper").data_source == "benchmarks"
    with pytest.raises(DataUnavailableError, match="what to do: The benchmarks are not public") as err:
        read_benchmarks()
    assert "pre_diagnosis.jsonl" in str(err.value)


def test_benchmark_splits_draw_disjoint_splits_per_benchmark(tmp_path, kb):
    """Per benchmark, the profile's counts without overlap; the control holds the test split's
    single-intent queries; a training query without clauses is its own clause if it asks one intent,
    and contributes none otherwise; too few queries is an error naming the benchmark."""
    from repro.medaide.data import benchmark_splits, read_benchmarks
    from repro.medaide.kb import BENCHMARKS

    queries = read_benchmarks(write_benchmarks(tmp_path, kb, 12), root=tmp_path)
    assert len(queries) == 48 and not any("clauses" in q for q in queries)
    splits = benchmark_splits(queries, 6, 2, 4, seed=0)
    for b in BENCHMARKS:
        assert [sum(q["benchmark"] == b for q in splits[s]) for s in ("train", "val", "test")] == [6, 2, 4]
    texts = [[q["query"] for q in splits[s]] for s in ("train", "val", "test")]
    assert len(set().union(*texts)) == sum(map(len, texts))  # generated texts are distinct: no query twice
    assert splits["control"] == [q for q in splits["test"] if len(q["intents"]) == 1] and splits["control"]
    for q in splits["train"]:
        assert q.get("clauses", []) == ([q["query"]] if len(q["intents"]) == 1 else [])
        assert q.get("clause_intents", []) == (q["intents"] if len(q["intents"]) == 1 else [])
    assert benchmark_splits(queries, 6, 2, 4, seed=1)["test"] != splits["test"]
    with pytest.raises(FormatError, match="benchmark 'pre_diagnosis' holds 12 queries; the profile draws 13"):
        benchmark_splits(queries, 7, 2, 4, seed=0)
