"""Splits on disk, and the benchmark format's loader. Introduced in ``notebooks/medaide/01_data.ipynb``.

Every table of queries is a ``datasets.Dataset`` with the typed :func:`features` (intents and
benchmark as ``ClassLabel``): the data step saves the procedural splits as a ``DatasetDict`` per seed
(``save_to_disk``), and :func:`load_benchmark` returns a real file as the same features, so both feed
one code path; :func:`rows` turns a split back into the dicts the pipeline reads.

Format of a real file: JSON Lines, one query per line, with at least ``query`` (text), ``intents`` (a non-empty list
of the 17 intent names), ``reference`` (the reference answer) and ``benchmark`` (one of the four
stages). The kit's procedural queries carry extra fields (the disease, the clauses and their
intents, the mention, the gold fact ids; a real file may omit them: they are left empty) and pass the
same checks (:func:`check_row`) before they become a dataset. The paper's four
benchmarks are not public (no official code or data was found); a user with data in this format
pins each file's sha256 in ``data_manifests/medaide_benchmarks.yaml`` and runs ``--profile paper``:
:func:`read_benchmarks` checks every file's hash first (``repro.core.data.verified_path``), then
:func:`benchmark_splits` draws each seed's splits from them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, Features, Sequence, Value

from repro.core.data import Manifest, load_manifest, verified_path
from repro.medaide.kb import BENCHMARKS, INTENTS
from repro.medaide.queries import Query

REQUIRED = ("query", "intents", "reference", "benchmark")
# the generator's fields, and what a real file that omits them gets
EXTRAS: dict[str, Any] = {"clauses": [], "clause_intents": [], "disease": -1, "mention": "", "gold_facts": []}


def features() -> Features:
    return Features(
        {
            "query": Value("string"),
            "intents": Sequence(ClassLabel(names=list(INTENTS))),
            "reference": Value("string"),
            "benchmark": ClassLabel(names=list(BENCHMARKS)),
            "clauses": Sequence(Value("string")),
            "clause_intents": Sequence(ClassLabel(names=list(INTENTS))),
            "disease": Value("int64"),
            "mention": Value("string"),
            "gold_facts": Sequence(Value("int64")),
        }
    )


def to_dataset(rows: list[dict]) -> Dataset:
    """Checked rows (:func:`check_row`) -> a ``Dataset`` with the typed :func:`features`."""
    feats = features()
    return Dataset.from_list([{k: row[k] if k in row else EXTRAS[k] for k in feats} for row in rows], feats)


def rows(dataset: Dataset) -> list[dict]:
    """A split as the dicts the pipeline reads: intents and benchmark by name."""
    names, stages = list(INTENTS), list(BENCHMARKS)
    out = dataset.to_list()
    for row in out:
        row["intents"] = [names[i] for i in row["intents"]]
        row["clause_intents"] = [names[i] for i in row["clause_intents"]]
        row["benchmark"] = stages[row["benchmark"]]
    return out


def query_rows(queries: list[Query]) -> list[dict]:
    """Generated queries in the benchmark format (``query`` is the text), checked as a real file's rows."""
    out = []
    for n, q in enumerate(queries, start=1):
        row = q.to_dict()
        row["query"] = row.pop("text")
        out.append(check_row(json.loads(json.dumps(row)), f"generated query {n}"))
    return out


class FormatError(ValueError):
    """A benchmark file that does not follow the format (names the file and the line)."""


def read_queries(path: Path) -> list[dict]:
    """Every line of a benchmark file, checked (:func:`check_row`)."""
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise FormatError(f"{path}:{n}: not valid JSON ({err})") from err
        out.append(check_row(row, f"{path}:{n}"))
    if not out:
        raise FormatError(f"{path}: no queries")
    return out


def check_row(row: Any, where: str) -> dict:
    """One query of the format: required fields, a non-empty query, known intents (sorted into
    ``INTENTS`` order, without repeats) and benchmark; the optional fields, when present, typed as the
    generator writes them (``clauses`` and ``clause_intents`` lists of equal length, known clause
    intents, ``gold_facts`` a list of integers, ``disease`` an integer, ``mention`` a string);
    ``where`` names the file and line in the error."""
    if not isinstance(row, dict):
        raise FormatError(f"{where}: expected an object, got {type(row).__name__}")
    missing = [k for k in REQUIRED if k not in row]
    if missing:
        raise FormatError(f"{where}: missing field(s) {missing}; required: {list(REQUIRED)}")
    if not isinstance(row["query"], str) or not isinstance(row["reference"], str):
        raise FormatError(f"{where}: 'query' and 'reference' must be strings")
    if not row["query"].strip():
        raise FormatError(f"{where}: 'query' is empty")
    _check_intents(row["intents"], "intents", where, allow_empty=False)
    if row["benchmark"] not in BENCHMARKS:
        raise FormatError(f"{where}: unknown benchmark {row['benchmark']!r}; valid: {', '.join(BENCHMARKS)}")
    _check_extras(row, where)
    row["intents"] = sorted(set(row["intents"]), key=INTENTS.index)
    return row


def _check_intents(value: Any, field: str, where: str, allow_empty: bool) -> None:
    if not isinstance(value, list) or not (value or allow_empty):
        raise FormatError(f"{where}: {field!r} must be a {'' if allow_empty else 'non-empty '}list of intent names")
    unknown = [i for i in value if i not in INTENTS]
    if unknown:
        raise FormatError(f"{where}: unknown {field} {unknown}; valid: {', '.join(INTENTS)}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_extras(row: dict, where: str) -> None:
    """The generator's optional fields: a wrong type would be coerced silently by ``datasets``
    ("12" -> [1, 2]) and unequal clause lists would shift every later clause's label."""
    clauses = row.get("clauses", [])
    if not isinstance(clauses, list) or not all(isinstance(c, str) for c in clauses):
        raise FormatError(f"{where}: 'clauses' must be a list of strings")
    _check_intents(row.get("clause_intents", []), "clause_intents", where, allow_empty=True)
    if len(row.get("clause_intents", [])) != len(clauses):
        raise FormatError(
            f"{where}: 'clauses' ({len(clauses)}) and 'clause_intents' ({len(row['clause_intents'])}) "
            "must have equal lengths"
        )
    facts = row.get("gold_facts", [])
    if not isinstance(facts, list) or not all(_is_int(f) and f >= 0 for f in facts):
        raise FormatError(f"{where}: 'gold_facts' must be a list of non-negative integers, got {facts!r}")
    if not _is_int(row.get("disease", -1)):
        raise FormatError(f"{where}: 'disease' must be an integer, got {row['disease']!r}")
    if not isinstance(row.get("mention", ""), str):
        raise FormatError(f"{where}: 'mention' must be a string")


def load_benchmark(manifest: Manifest, rel: str, root: Path | None = None) -> Dataset:
    """A benchmark file named in a manifest, hash-checked, then read (:func:`read_queries`) into the
    same typed features as the procedural splits."""
    return to_dataset(read_queries(verified_path(manifest, rel, root)))


def read_benchmarks(manifest: Manifest | None = None, root: Path | None = None) -> list[dict]:
    """Every query of the manifest's files (``medaide_benchmarks`` by default): each file's hash is
    checked before any is read, so a missing or unpinned file stops with the manifest's instructions."""
    manifest = manifest or load_manifest("medaide_benchmarks")
    paths = [verified_path(manifest, entry.path, root) for entry in manifest.files]
    return [row for path in paths for row in read_queries(path)]


def benchmark_splits(queries: list[dict], n_train: int, n_val: int, n_test: int, seed: int) -> dict[str, list[dict]]:
    """One seed's splits of real queries: per benchmark, ``n_train`` / ``n_val`` / ``n_test`` drawn at
    random without overlap; ``control`` is the test split's single-intent queries. The prototypes are
    fitted on clauses: a training query without them that asks one intent is its own clause; one that
    asks several contributes none (``unclaused`` in the data step's summary counts them)."""
    rng = np.random.default_rng([seed, 41])
    out: dict[str, list[dict]] = {"train": [], "val": [], "test": []}
    for benchmark in BENCHMARKS:
        pool = [q for q in queries if q["benchmark"] == benchmark]
        need = n_train + n_val + n_test
        if len(pool) < need:
            raise FormatError(f"benchmark {benchmark!r} holds {len(pool)} queries; the profile draws {need}")
        order = rng.permutation(len(pool))
        for name, (lo, hi) in {
            "train": (0, n_train),
            "val": (n_train, n_train + n_val),
            "test": (n_train + n_val, need),
        }.items():
            out[name] += [dict(pool[i]) for i in order[lo:hi]]
    for q in out["train"]:
        if not q.get("clauses") and len(q["intents"]) == 1:
            q["clauses"], q["clause_intents"] = [q["query"]], list(q["intents"])
    out["control"] = [q for q in out["test"] if len(q["intents"]) == 1]
    return out
