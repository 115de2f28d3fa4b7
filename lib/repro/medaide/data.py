"""Splits on disk, and the benchmark format's loader. Introduced in ``notebooks/medaide/01_data.ipynb``.

Format: JSON Lines, one query per line, with at least ``query`` (text), ``intents`` (a non-empty list
of the 17 intent names), ``reference`` (the reference answer) and ``benchmark`` (one of the four
stages). The kit writes its procedural splits in this format (with extra fields: the disease, the
clauses, the gold fact ids) and reads them back through :func:`read_queries`. The paper's four
benchmarks are not public (no official code or data was found); a user with data in this format
names it in a manifest and reads it with :func:`load_benchmark`, which checks the file's sha256
first (``repro.core.data.verified_path``).
"""

from __future__ import annotations

import json
from pathlib import Path

from repro.core.data import Manifest, verified_path
from repro.core.steps import atomic_path
from repro.medaide.kb import BENCHMARKS, INTENTS
from repro.medaide.queries import Query

REQUIRED = ("query", "intents", "reference", "benchmark")


class FormatError(ValueError):
    """A benchmark file that does not follow the format (names the file and the line)."""


def write_queries(queries: list[Query], path: Path) -> None:
    """Atomically write ``queries`` as JSON Lines (``query`` is the text)."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "w") as fh:
            for q in queries:
                row = q.to_dict()
                row["query"] = row.pop("text")
                fh.write(json.dumps(row) + "\n")


def read_queries(path: Path) -> list[dict]:
    """Every line of a benchmark file, validated: required fields, known intents and benchmark."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise FormatError(f"{path}:{n}: not valid JSON ({err})") from err
        if not isinstance(row, dict):
            raise FormatError(f"{path}:{n}: expected an object, got {type(row).__name__}")
        missing = [k for k in REQUIRED if k not in row]
        if missing:
            raise FormatError(f"{path}:{n}: missing field(s) {missing}; required: {list(REQUIRED)}")
        if not isinstance(row["query"], str) or not isinstance(row["reference"], str):
            raise FormatError(f"{path}:{n}: 'query' and 'reference' must be strings")
        if not isinstance(row["intents"], list) or not row["intents"]:
            raise FormatError(f"{path}:{n}: 'intents' must be a non-empty list")
        unknown = [i for i in row["intents"] if i not in INTENTS]
        if unknown:
            raise FormatError(f"{path}:{n}: unknown intent(s) {unknown}; valid: {', '.join(INTENTS)}")
        if row["benchmark"] not in BENCHMARKS:
            raise FormatError(f"{path}:{n}: unknown benchmark {row['benchmark']!r}; valid: {', '.join(BENCHMARKS)}")
        row["intents"] = sorted(set(row["intents"]), key=INTENTS.index)
        rows.append(row)
    if not rows:
        raise FormatError(f"{path}: no queries")
    return rows


def load_benchmark(manifest: Manifest, rel: str, root: Path | None = None) -> list[dict]:
    """A benchmark file named in a manifest, hash-checked, then read with :func:`read_queries`."""
    return read_queries(verified_path(manifest, rel, root))
