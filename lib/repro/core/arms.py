"""Arms as data: a method, optionally under a condition.

An arm is what a claim compares and what a score array is measured for: ``Arm("mmard", "large")`` is
MMARD with the large teacher, ``Arm("fedavg", "drop")`` FedAvg under a dropped-client fault. Its
``name`` is the key of score tables and claims (``"mmard@large"``); its ``file`` a stem that is safe in
any file system. Code reads ``arm.method`` and ``arm.condition`` instead of parsing names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, order=True)
class Arm:
    method: str
    condition: str | None = None

    def __post_init__(self) -> None:
        for part in (self.method, self.condition):
            if part is not None and (not part or "@" in part):
                raise ValueError(f"arm parts must be non-empty and free of '@': {self.method!r}, {self.condition!r}")

    @property
    def name(self) -> str:
        return self.method if self.condition is None else f"{self.method}@{self.condition}"

    @property
    def file(self) -> str:
        """A file-system-safe stem, distinct for distinct names (``/`` and other symbols become ``-``)."""
        return file_stem(self.name)

    def under(self, condition: str) -> Arm:
        return Arm(self.method, condition)

    def __str__(self) -> str:
        return self.name


def file_stem(name: str) -> str:
    """A file name stem for any arm or run name: unsafe characters become ``-``, and a short hash of
    the original name is appended whenever that changed it, so two names can never share a file."""
    safe = _UNSAFE.sub("-", name)
    if safe == name:
        return name
    import hashlib

    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:6]}"
