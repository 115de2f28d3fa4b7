"""Independent pieces of work as jobs: a step's (arm, seed) runs, the papers of a batch run.

A step lists its jobs and hands them over; where they run is one setting, read from the environment
so that a notebook's kernel inherits it from the runner (``./run_all.sh --jobs N`` sets ``REPRO_JOBS``):

    done = jobs.run([Job(f"{arm} s{seed}", train_one, (cfg, arm, seed), seed=seed) for ...], threads=cfg.threads)

* ``REPRO_DASK_SCHEDULER=tcp://host:8786``: on that Dask cluster (``distributed`` futures). Its
  workers must run one task at a time (``--nthreads 1``; start as many worker processes as a machine
  has cores per job thread), import this kit, and see the runs folder at the same path.
* otherwise on this machine: joblib's loky worker processes, at most ``REPRO_JOBS`` at once (default:
  the cores divided by the threads each job uses), and never more than the cores allow: two 1-thread
  jobs on 2 cores, one 2-thread job alone. ``REPRO_CORES`` narrows the cores (the runner gives each
  paper it runs beside others its share).
* on GPUs (a profile whose device is ``cuda``) with more than one visible: one worker process per
  GPU, each pinned to its own device (``CUDA_VISIBLE_DEVICES``), so a job sees one GPU as ``cuda:0``.
* in this process, one after the other, when only one job fits (``REPRO_JOBS=1`` is the kit's
  behaviour before jobs), on one GPU, and under ``accelerate launch``, where every rank runs the same
  code (data parallel: the ranks share each job).

Each job sets its own torch thread count and seeds python, numpy and torch from its own seed before it
starts, so its result depends on what the job is, never on how many jobs run at once or in which order.
A job's function must be importable by name (a module-level function): loky and Dask send it by
reference. Used by the runner (papers) and the train steps of MODS and dFLMoE (each (arm, seed)) and
VideoPure (each seed's block of test clips).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

JOBS_ENV, CORES_ENV, SCHEDULER_ENV = "REPRO_JOBS", "REPRO_CORES", "REPRO_DASK_SCHEDULER"


@dataclass(frozen=True)
class Job:
    """``fn(*args, **kwargs)`` under ``seed`` (``None``: the job seeds nothing, e.g. a whole paper)."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int | None = None


@dataclass(frozen=True)
class Done:
    """A finished job: its value, its own wall and CPU time (not the batch's) and where it ran."""

    name: str
    value: Any
    wall_s: float
    worker: str
    cpu_s: float = 0.0


@dataclass(frozen=True)
class Plan:
    """How a list of jobs runs: ``backend`` is ``in-process``, ``loky``, ``gpus`` or ``dask``."""

    backend: str
    at_once: int
    threads: int
    scheduler: str | None = None


def _positive_int(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw!r}: must be a whole number >= 1")
    return int(raw)


def cores() -> int:
    """The cores this process may use: ``$REPRO_CORES``, else those the OS lets it run on."""
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return _positive_int(CORES_ENV) or available


def at_once(n_jobs: int, threads: int) -> int:
    """How many of ``n_jobs`` jobs of ``threads`` threads run together here: ``$REPRO_JOBS`` or as
    many as fit, capped so that jobs x threads never exceeds the cores (at least one)."""
    fit = max(1, cores() // max(1, threads))
    return max(1, min(n_jobs, fit, _positive_int(JOBS_ENV) or fit))


def plan(n_jobs: int, threads: int, device: str = "cpu", local: bool = False) -> Plan:
    """Where ``n_jobs`` jobs run (``local``: never on a cluster, e.g. notebooks that need this machine)."""
    scheduler = os.environ.get(SCHEDULER_ENV, "").strip()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # under accelerate launch every rank runs every job
        return Plan("in-process", 1, threads)
    if device != "cpu":  # a job per device: on one GPU, the process that owns it runs them in turn
        width = min(n_jobs, len(visible_gpus()), _positive_int(JOBS_ENV) or n_jobs)
        return Plan("gpus", width, threads) if width > 1 else Plan("in-process", 1, threads)
    if scheduler and not local:
        return Plan("dask", n_jobs, threads, scheduler)
    width = at_once(n_jobs, threads)
    return Plan("loky" if width > 1 else "in-process", width, threads)


def _call(job: Job, threads: int) -> Done:
    """Run one job under its own thread count and seed (in a worker, or here)."""
    import torch

    from .runtime import seed_everything

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        if job.seed is not None:
            seed_everything(job.seed)
        started, cpu = time.perf_counter(), time.process_time()
        value = job.fn(*job.args, **job.kwargs)
        wall, cpu = round(time.perf_counter() - started, 3), round(time.process_time() - cpu, 3)
        return Done(job.name, value, wall, f"{socket.gethostname()}:{os.getpid()}", cpu)
    finally:
        torch.set_num_threads(previous)


def run(
    jobs: Sequence[Job], *, threads: int, device: str = "cpu", local: bool = False, record: Path | None = None
) -> list[Done]:
    """Run every job and return their results in the order given (see the module's docstring for
    where). An exception in a job is raised here, after the running jobs stop. ``record``: a
    ``jobs.json`` to write, with how the jobs ran and each one's own wall time and worker."""
    how = plan(len(jobs), threads, device, local)
    if how.backend == "in-process":
        done = [_call(job, threads) for job in jobs]
    elif how.backend == "gpus":
        done = _on_gpus(jobs, threads, visible_gpus()[: how.at_once])
    elif how.backend == "dask":
        done, workers = _on_dask(jobs, threads, how.scheduler)
        how = replace(how, at_once=min(len(jobs), workers))
    else:
        from joblib import Parallel, delayed, parallel_config

        # inner_max_num_threads: the workers' OpenMP/BLAS pools start at the job's share, not at all cores
        with parallel_config(backend="loky", inner_max_num_threads=threads):
            done = Parallel(n_jobs=how.at_once)(delayed(_call)(job, threads) for job in jobs)
    if how.backend != "in-process":  # so that step.json's cpu_s holds all the work, wherever it ran
        from .runtime import add_worker_cpu

        add_worker_cpu(sum(d.cpu_s for d in done))
    if record is not None:
        _record(record, done, how)
    return done


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as ``CUDA_VISIBLE_DEVICES`` names them ([] without CUDA)."""
    from .runtime import device_summary  # the kit's one door to CUDA

    gpus = device_summary().get("gpus") or []
    named = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return named[: len(gpus)] or [str(i) for i in range(len(gpus))]


def _pin_device(devices) -> None:
    """A GPU worker's initializer: take one device from the queue before torch initialises CUDA."""
    os.environ["CUDA_VISIBLE_DEVICES"] = devices.get()


def _on_gpus(jobs: Sequence[Job], threads: int, devices: Sequence[str]) -> list[Done]:
    """The jobs on one spawned worker process per device, each worker pinned to its own GPU."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # a forked child would inherit the parent's CUDA state
    with context.Manager() as manager:
        queue = manager.Queue()
        for device in devices:
            queue.put(device)
        with ProcessPoolExecutor(len(devices), mp_context=context, initializer=_pin_device, initargs=(queue,)) as pool:
            return list(pool.map(_call, jobs, [threads] * len(jobs)))


def _on_dask(jobs: Sequence[Job], threads: int, address: str) -> tuple[list[Done], int]:
    """The jobs as Dask futures on the cluster at ``address``; also how many workers it has."""
    from distributed import Client

    with Client(address, timeout="30s", set_as_default=False) as client:
        slots = client.nthreads()
        crowded = {w: n for w, n in slots.items() if n > 1}
        if crowded:  # torch's thread count and random state are per process: one task at a time per worker
            raise ValueError(
                f"Dask workers {sorted(crowded)} run {max(crowded.values())} tasks at once; start them with "
                "--nthreads 1 (and --nworkers <cores per machine / threads per job>)"
            )
        if not slots:
            raise ValueError(f"the Dask scheduler at {address} has no workers")
        futures = [client.submit(_call, job, threads, pure=False) for job in jobs]
        return client.gather(futures), len(slots)


def _record(path: Path, done: Sequence[Done], how: Plan) -> None:
    from .steps import write_json

    write_json(
        path,
        {
            "backend": how.backend,
            "at_once": how.at_once,
            "threads_per_job": how.threads,
            "scheduler": how.scheduler,
            "jobs": [{"name": d.name, "wall_s": d.wall_s, "cpu_s": d.cpu_s, "worker": d.worker} for d in done],
        },
    )
