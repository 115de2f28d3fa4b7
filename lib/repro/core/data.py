"""Manifests of real datasets and checkpoints, sha256 checks, and a restricted unpickler.

A manifest (``data_manifests/<name>.yaml``) says what a paper profile can use: where it comes from,
its license and citation, how to get it, the layout expected under ``$REPRO_DATA_DIR`` and the
sha256 of each file. :func:`verified_path` is the only way a loader reaches a real file: the path
may not escape the data folder, the file must exist and its hash must match, otherwise a
:class:`DataUnavailableError` says what is missing, where, and what to do.

Pickled formats (CIFAR-10 batches, MMSA) are opened with :func:`restricted_load`, which admits numpy
arrays and plain containers and refuses every other global. Introduced in ``01_data.ipynb``.
"""

from __future__ import annotations

import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .steps import REPO_ROOT, file_digest

MANIFEST_DIR = REPO_ROOT / "data_manifests"
REQUIRED = ("name", "title", "homepage", "license", "citation", "access", "instructions", "files")
ACCESS = ("public", "manual", "gated")


class DataUnavailableError(FileNotFoundError):
    """A dataset file is missing, corrupted, or outside the data folder."""

    def __init__(
        self,
        dataset: str,
        path: Path | str,
        problem: str,
        todo: str,
        expected: str | None = None,
        actual: str | None = None,
    ):
        self.dataset, self.path, self.expected, self.actual = dataset, Path(path), expected, actual
        lines = [f"dataset {dataset!r}: {problem}", f"  path: {path}"]
        if expected:
            lines.append(f"  expected: {expected}")
        if actual:
            lines.append(f"  actual:   {actual}")
        lines.append(f"  what to do: {todo}")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ManifestFile:
    """One file of a manifest. ``sha256`` is the kit's check; where only the publisher's ``md5`` is
    known (CIFAR-10 publishes md5 per file), that is checked instead and the manifest says so. Where
    no checksum is published at all, the manifest says ``sha256: null``: the file is then refused
    until the user pins the hash of a copy they trust (never an invented hash)."""

    path: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None

    @property
    def digest(self) -> tuple[str, str]:
        return ("sha256", self.sha256) if self.sha256 else ("md5", self.md5)


@dataclass(frozen=True)
class Manifest:
    name: str
    title: str
    homepage: str
    license: str
    citation: str
    access: str
    instructions: str
    files: tuple[ManifestFile, ...]
    papers: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def file(self, rel: str) -> ManifestFile:
        for entry in self.files:
            if entry.path == rel:
                return entry
        raise DataUnavailableError(
            self.name,
            rel,
            "file not listed in the manifest (only listed files, with their checksums, are read)",
            f"use one of {[f.path for f in self.files]}, or add this file with its sha256 to "
            f"data_manifests/{self.name}.yaml",
        )


def data_root() -> Path:
    """``$REPRO_DATA_DIR``, or ``<repo>/data`` when unset."""
    return Path(os.environ.get("REPRO_DATA_DIR") or REPO_ROOT / "data").resolve()


def load_manifest(name: str, folder: Path | None = None) -> Manifest:
    """Read and validate ``data_manifests/<name>.yaml``."""
    path = (folder or MANIFEST_DIR) / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (folder or MANIFEST_DIR).glob("*.yaml"))
        raise FileNotFoundError(f"no manifest {path}; known manifests: {', '.join(known)}")
    raw = yaml.safe_load(path.read_text())
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"manifest {path} lacks required fields {missing}")
    if raw["access"] not in ACCESS:
        raise ValueError(f"manifest {path}: access must be one of {ACCESS}, not {raw['access']!r}")
    files = tuple(ManifestFile(**entry) for entry in raw["files"])
    for entry, given in zip(files, raw["files"]):
        _inside(data_root(), entry.path, raw["name"])
        algo, digest = entry.digest
        unpublished = digest is None and "sha256" in given  # an explicit `sha256: null`
        if not unpublished and (not digest or len(digest) != {"sha256": 64, "md5": 32}[algo]):
            raise ValueError(
                f"manifest {path}: {entry.path} needs a 64-hex sha256 (or the publisher's md5), "
                "or an explicit `sha256: null` where no checksum is published"
            )
    raw.pop("files")
    known = {k: raw.pop(k) for k in list(raw) if k in Manifest.__dataclass_fields__}
    known["papers"] = tuple(known.get("papers", ()))
    return Manifest(**known, files=files, extra=raw)


def _inside(root: Path, rel: str, dataset: str) -> Path:
    """``root / rel``, refusing absolute paths and ``..`` that leave ``root`` (the manifest's fault) and
    symlinks that lead out of it (the data folder's: a link into another disk is refused, since the
    kit never reads outside the data folder; point ``REPRO_DATA_DIR`` at the real folder instead)."""
    written = Path(os.path.normpath(root / rel))
    if Path(rel).is_absolute() or not written.is_relative_to(root):
        raise DataUnavailableError(
            dataset,
            rel,
            "path escapes the data folder",
            f"manifest paths must be relative to {root} and stay inside it",
        )
    candidate = written.resolve()
    if not candidate.is_relative_to(root):
        link = next((p for p in [written, *written.parents] if p.is_symlink()), written)
        raise DataUnavailableError(
            dataset,
            written,
            f"reached through a symlink that leads out of the data folder ({link} -> {link.resolve()}); "
            "the manifest is fine, the kit just never reads outside the data folder",
            f"move or copy the data to {link}, or set REPRO_DATA_DIR to a folder that holds the manifest's "
            f"layout ({rel}) without links leading out of it",
        )
    return candidate


def verified_path(manifest: Manifest, rel: str, root: Path | None = None) -> Path:
    """The absolute path of a manifest file after checking it exists and matches its sha256."""
    root = (root or data_root()).resolve()
    entry = manifest.file(rel)
    path = _inside(root, entry.path, manifest.name)
    todo = f"{manifest.instructions.strip()} (expected under {root}; set REPRO_DATA_DIR to change it)"
    algo, expected = entry.digest
    if not path.exists():
        known = f"{algo}:{expected}" if expected else "no published checksum: record yours once you have the file"
        raise DataUnavailableError(manifest.name, path, "file not found", todo, expected=known)
    if expected is None:
        raise DataUnavailableError(
            manifest.name,
            path,
            "no published checksum, so the file cannot be verified (and a pickle is never opened unverified)",
            f"compute `sha256sum {path}`, compare it with a copy you trust, and write it as this file's "
            f"sha256 in data_manifests/{manifest.name}.yaml",
            actual=f"sha256:{file_digest(path, 'sha256')}",
        )
    actual = file_digest(path, algo)
    if actual != expected:
        raise DataUnavailableError(
            manifest.name,
            path,
            f"{algo} mismatch (corrupted or a different version)",
            f"download it again. {todo}",
            expected=f"{algo}:{expected}",
            actual=f"{algo}:{actual}",
        )
    return path


# ----------------------------------------------------------------------------------------------
# restricted unpickling


SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "slice"),
    ("_codecs", "encode"),
}


class ForbiddenPickleError(pickle.UnpicklingError):
    """The pickle names a global outside :data:`SAFE_GLOBALS` (code could run on load)."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise ForbiddenPickleError(
            f"pickle refers to {module}.{name}, which is not an allowed global "
            "(only numpy arrays and plain containers are admitted)"
        )


def restricted_load(source: Path | bytes, encoding: str = "ASCII") -> Any:
    """Unpickle numpy arrays and containers only; ``encoding="bytes"`` for Python 2 pickles (CIFAR)."""
    data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()
    except ForbiddenPickleError:
        raise
    except Exception as err:
        raise pickle.UnpicklingError(
            f"{source if isinstance(source, (str, Path)) else 'pickle'} is not a readable pickle: {err}"
        ) from err
