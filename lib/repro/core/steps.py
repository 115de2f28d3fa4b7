"""Cached, atomic pipeline steps and the run layout.

A paper's ``pipeline.py`` declares its five steps on a :class:`Pipeline`::

    pipe = Pipeline("mmard")

    @pipe.step(uses=("eps", "image_size"), upstream=())
    def data(cfg, ctx):            # writes its artifacts under ctx.dir, returns a small summary
        ...

Calling ``data(cfg)`` always computes the step (that is what its notebook is for); the steps it
depends on are reused when fresh and recomputed, with a message, when missing or stale. Fresh
means: ``step.json`` is there, was made from the same config slice (and the same upstream keys),
by the same code (a hash of the paper's and the core's sources), and every artifact it lists still
has its recorded sha256 (so a truncated or edited artifact is never trusted).

Layout: ``<runs>/<run_name>/<paper>/<step>/`` where ``<runs>`` is ``$REPRO_RUNS_DIR`` or the
repository's ``runs/`` (never the kernel's working directory) and ``run_name`` is the profile, or
``<profile>+<hash>`` for a run with overrides. A step is built in a temporary folder and renamed
into place with its ``step.json`` already inside: an interrupted step leaves nothing a later step
trusts. Processes that share a runs folder (two runs, a notebook beside ``./run_all.sh``) take a
per-step lock: one writes, the others wait and then reuse what it wrote. Introduced in
``01_data.ipynb``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import livelog
from .config import RunConfig, stable_hash

try:
    import fcntl
except ImportError:  # not POSIX: no locks, each process computes on its own
    fcntl = None

REPO_ROOT = Path(__file__).resolve().parents[3]
LIB_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_VERSION = 1
PACKAGES = (
    "torch",
    "numpy",
    "scikit-learn",
    "accelerate",
    "transformers",
    "diffusers",
    "datasets",
    "safetensors",
    "torchattacks",
    "torch-pruning",
    "faiss-cpu",
    "bm25s",
    "papermill",
)


PATH_VARIABLES = ("REPRO_RUNS_DIR", "REPRO_DATA_DIR")


def runs_root() -> Path:
    """``$REPRO_RUNS_DIR`` when set, else ``<repo>/runs``."""
    return Path(os.environ.get("REPRO_RUNS_DIR") or REPO_ROOT / "runs").expanduser().resolve()


def absolute_env_paths() -> None:
    """Rewrite ``$REPRO_RUNS_DIR`` and ``$REPRO_DATA_DIR`` as absolute paths in this process's
    environment. Kernels started from here (papermill, JupyterLab) run in the notebook's folder and
    would otherwise resolve a relative path against that folder: one run split in two places."""
    for name in PATH_VARIABLES:
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())


def run_dir(cfg: RunConfig) -> Path:
    """``<runs>/<run_name>/<paper>``: where every step of this config writes."""
    return runs_root() / cfg.run_name / cfg.paper


# ----------------------------------------------------------------------------------------------
# atomic files


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{unique_token()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: Path) -> Any:
    """Read JSON, naming the file in the error if it is not valid JSON (e.g. truncated)."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it or rerun the step that writes it") from err


def read_meta(path: Path) -> dict[str, Any] | None:
    """A ``step.json`` as a dict, or ``None`` when it is missing or unreadable: not JSON, truncated,
    or JSON that is not an object (``[]``, ``null``)."""
    try:
        meta = read_json(path)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def unique_token() -> str:
    """``<pid>-<random>``: a temporary name no other process or call can share."""
    return f"{os.getpid()}-{secrets.token_hex(4)}"


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algorithm).hexdigest()


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


# ----------------------------------------------------------------------------------------------
# provenance


def code_hash(paper: str) -> str:
    """Hash of the sources a paper's results depend on: ``repro/core`` and ``repro/<paper>``."""
    digest = hashlib.sha256()
    for folder in (LIB_ROOT / "core", LIB_ROOT / paper):
        for source in sorted(folder.rglob("*")):
            if source.suffix in (".py", ".json") and "__pycache__" not in source.parts:
                digest.update(str(source.relative_to(LIB_ROOT)).encode())
                digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


@functools.cache
def git_state() -> dict[str, Any]:
    """Commit and dirty flag of the checkout (informative; staleness uses :func:`code_hash`)."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {
        "commit": commit or None,
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")) if commit else None,
    }


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


class PeakMemory:
    """Peak resident memory of this process during a block, sampled every ``interval`` seconds
    (the kernel's own high-water mark, ru_maxrss, never goes down between steps)."""

    def __init__(self, interval: float = 0.02):
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakMemory:
        self.peak_bytes = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._proc.memory_info().rss)


@dataclass(frozen=True)
class Spent:
    """What a step cost: wall and CPU seconds (:func:`repro.core.runtime.cpu_seconds`) and peak resident bytes."""

    wall_s: float
    cpu_s: float
    peak_bytes: int


# ----------------------------------------------------------------------------------------------
# steps


@dataclass
class StepContext:
    """What a step function gets: its output folder and its upstream steps' folders."""

    step: str
    dir: Path
    upstream: dict[str, Path]
    cfg: RunConfig

    def log(self, message: str) -> None:
        """A line in the notebook, and a live line in the runner's log (``repro.core.livelog``)."""
        line = f"[{self.cfg.paper}:{self.step}] {message}"
        print(line, flush=True)
        livelog.emit(line)


@dataclass
class StepResult:
    """A finished step: its folder, the summary it returned, and its ``step.json``."""

    name: str
    dir: Path
    summary: dict[str, Any]
    meta: dict[str, Any]
    cached: bool = False

    def path(self, name: str) -> Path:
        return self.dir / name


@dataclass
class Step:
    name: str
    fn: Callable[[RunConfig, StepContext], dict[str, Any] | None]
    uses: tuple[str, ...]
    upstream: tuple[str, ...]
    pipeline: Pipeline = field(repr=False)

    def __call__(self, cfg: RunConfig, *, force: bool = True) -> StepResult:
        return self.pipeline.run(self.name, cfg, force=force)


class UnknownStepError(KeyError):
    """A step name the pipeline does not have (the message lists those it has)."""

    def __str__(self) -> str:
        return str(self.args[0])


class Pipeline:
    """The ordered steps of one paper, with caching by config slice and code version."""

    def __init__(self, paper: str):
        self.paper = paper
        self.steps: dict[str, Step] = {}

    def step(self, uses: tuple[str, ...] = (), upstream: tuple[str, ...] = ()) -> Callable[..., Step]:
        """Register a step; ``uses`` names the config fields it reads, ``upstream`` the steps it reads."""

        def register(fn: Callable[[RunConfig, StepContext], dict[str, Any] | None]) -> Step:
            missing = [u for u in upstream if u not in self.steps]
            if missing:
                raise ValueError(f"step {fn.__name__!r} depends on undeclared steps {missing}")
            step = Step(fn.__name__, fn, tuple(uses), tuple(upstream), self)
            functools.update_wrapper(step, fn)
            self.steps[step.name] = step
            return step

        return register

    # -- keys and freshness -----------------------------------------------------------------

    def key(self, name: str, cfg: RunConfig) -> str:
        """Cache key of a step: its config slice and the keys of its upstream steps."""
        step = self.steps[name]
        upstream = {u: self.key(u, cfg) for u in step.upstream}
        return stable_hash({"slice": cfg.slice(step.uses), "upstream": upstream})[:16]

    def step_dir(self, name: str, cfg: RunConfig) -> Path:
        return run_dir(cfg) / name

    def staleness(self, name: str, cfg: RunConfig) -> str | None:
        """Why a step must be recomputed, or ``None`` when its stored result can be trusted."""
        meta_path = self.step_dir(name, cfg) / "step.json"
        if not meta_path.exists():
            return "not computed yet"
        meta = read_meta(meta_path)
        if meta is None or not isinstance(meta.get("artifacts", {}), dict):
            return "step.json unreadable"
        if meta.get("key") != self.key(name, cfg):
            return "made from another config"
        if meta.get("code_hash") != code_hash(self.paper):
            return "made by another code version"
        for rel, digest in meta.get("artifacts", {}).items():
            path = meta_path.parent / rel
            if Path(rel).is_absolute() or ".." in Path(rel).parts:
                return "step.json unreadable"
            if not path.exists():
                return f"artifact {rel} missing"
            if sha256_file(path) != digest:
                return f"artifact {rel} corrupted (sha256 mismatch)"
        return None

    def ensure(self, name: str, cfg: RunConfig) -> StepResult:
        """The step's result, recomputed only when missing or stale (used for upstream steps)."""
        return self.run(name, cfg, force=False)

    # -- running -------------------------------------------------------------------------------

    def run(self, name: str, cfg: RunConfig, *, force: bool = True) -> StepResult:
        """Compute step ``name`` (``force``) or reuse it when fresh, under the step's lock: when
        another process holds it, wait, and reuse its result if it is fresh for ``cfg``."""
        if type(cfg).paper != self.paper:
            raise TypeError(f"{self.paper} step {name!r} got a config for {type(cfg).paper!r}")
        if name not in self.steps:
            raise UnknownStepError(f"unknown step {name!r}; steps of {self.paper}: {', '.join(self.steps)}")
        final = self.step_dir(name, cfg)
        if not force and isinstance(stored := self._stored(name, cfg), StepResult):
            return stored
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1  # every rank must take the same path
        with step_lock(final.parent, name, enabled=_is_main_process()) as waited:
            if (waited or not force) and not distributed:  # another process may have computed it meanwhile
                stored = self._stored(name, cfg)
                if isinstance(stored, StepResult):
                    if waited:
                        print(
                            f"[{self.paper}] step {name!r} was just computed by another process: reusing it", flush=True
                        )
                    return stored
            if not force:
                print(f"[{self.paper}] upstream step {name!r} {stored}: computing it now", flush=True)
                livelog.emit(f"[{self.paper}] upstream step {name!r} {stored}: computing it now")
            step = self.steps[name]
            upstream = {u: self.ensure(u, cfg).dir for u in step.upstream}
            with contextlib.ExitStack() as reading:  # no process replaces an upstream step while it is read
                for u in step.upstream:
                    reading.enter_context(step_lock(final.parent, u, shared=True, enabled=_is_main_process()))
                return self._execute(step, cfg, final, upstream)

    def _stored(self, name: str, cfg: RunConfig) -> StepResult | str:
        """The stored result of a step when it is fresh, else why it is not."""
        final = self.step_dir(name, cfg)
        why = self.staleness(name, cfg)
        meta = read_meta(final / "step.json") if why is None else None
        if meta is None:
            return why or "step.json unreadable"
        return StepResult(name, final, meta.get("summary", {}), meta, cached=True)

    def _execute(self, step: Step, cfg: RunConfig, final: Path, upstream: dict[str, Path]) -> StepResult:
        main = _is_main_process()
        _remove_orphans(final.parent, step.name, old_folders=main)
        tmp = final.parent / f".{step.name}.tmp-{unique_token()}"
        tmp.mkdir(parents=True)
        from .runtime import cpu_seconds

        try:
            started, cpu = time.perf_counter(), cpu_seconds()
            with PeakMemory() as mem:
                summary = step.fn(cfg, StepContext(step.name, tmp, upstream, cfg)) or {}
            spent = Spent(time.perf_counter() - started, cpu_seconds() - cpu, mem.peak_bytes)
            meta = self._meta(step, cfg, tmp, summary, spent)
            if main:
                write_json(tmp / "step.json", meta)
                _replace_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _wait_for_everyone()
        return StepResult(step.name, final, summary, meta)

    def _meta(self, step: Step, cfg: RunConfig, folder: Path, summary: dict, spent: Spent) -> dict:

        from .runtime import device_summary, peak_gpu_mb

        artifacts = {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}
        return {
            "schema_version": SCHEMA_VERSION,
            "paper": self.paper,
            "step": step.name,
            "run_name": cfg.run_name,
            "profile": cfg.profile,
            "overrides": dict(cfg.overrides),
            "config_slice": cfg.slice(step.uses),
            "key": self.key(step.name, cfg),
            "upstream": {u: self.key(u, cfg) for u in step.upstream},
            "code_hash": code_hash(self.paper),
            "git": git_state(),
            "packages": package_versions(),
            "device": device_summary(),
            "wall_s": round(spent.wall_s, 3),
            "cpu_s": round(spent.cpu_s, 3),
            "peak_rss_mb": round(spent.peak_bytes / 2**20, 1),
            "peak_cuda_mb": peak_gpu_mb(),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "artifacts": artifacts,
            "summary": summary,
        }


_HELD = threading.local()  # .paths: the lock files this thread holds (a nested request is a no-op)


@contextmanager
def step_lock(folder: Path, name: str, *, shared: bool = False, enabled: bool = True) -> Iterator[bool]:
    """Hold ``<folder>/.<name>.lock`` (exclusive to write the step, shared to read it) and yield
    whether another process held it first, so that this one waited. The OS releases it when the
    process dies: a killed run never leaves a lock behind."""
    path = Path(folder) / f".{name}.lock"
    held = _HELD.__dict__.setdefault("paths", set())
    if not enabled or fcntl is None or path in held:
        yield False
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, mode | fcntl.LOCK_NB)
            waited = False
        except BlockingIOError:
            print(f"step {name!r} in {folder} is in use by another process: waiting for it", flush=True)
            fcntl.flock(fh, mode)
            waited = True
        held.add(path)
        try:
            yield waited
        finally:
            held.discard(path)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_orphans(folder: Path, name: str, old_folders: bool = True) -> None:
    """Delete what interrupted runs left of this step: temporary folders of processes that died (those
    of live processes, the other ranks of a distributed run, stay) and, for the writer, every ``.old``
    folder (only a writer holding the step's lock makes one, and removes it before letting go)."""
    for tmp in folder.glob(f".{name}.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
    for old in folder.glob(f".{name}.old-*") if old_folders else ():
        shutil.rmtree(old, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _replace_dir(new: Path, final: Path) -> None:
    """Swap ``new`` into ``final``; the old folder is removed only after the new one is in place,
    and put back if the new one cannot be (so ``final`` is never lost)."""
    old = final.with_name(f".{final.name}.old-{unique_token()}")
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(new, final)
    except OSError:
        if old.exists() and not final.exists():
            os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _is_main_process() -> bool:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return True
    from accelerate import PartialState

    return PartialState().is_main_process


def _wait_for_everyone() -> None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()
