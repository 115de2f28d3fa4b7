"""The accelerate-aware training loop, with a budget ledger and progress.

Every paper trains through :func:`fit`, so that one process, one GPU and several processes
(``accelerate launch``) run the same code, and so that every method's cost is counted the same way:
optimizer steps, samples through each counted module's forward (student, teacher, attack steps
included) and wall time. Progress: a tqdm bar per call (:func:`progress`) and, under the runner, a
line per epoch in its live log (:mod:`repro.core.livelog`). Introduced in ``03_train.ipynb``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from . import livelog


def progress_enabled() -> bool:
    """Progress bars on, unless ``REPRO_PROGRESS=0`` (the runner and the tests set it: papermill logs
    and stored notebook outputs stay quiet)."""
    return os.environ.get("REPRO_PROGRESS", "1") != "0"


def progress(iterable: Iterable, **kwargs: Any) -> Iterable:
    """``tqdm.auto`` (a widget in JupyterLab, text elsewhere) unless progress is disabled."""
    if not progress_enabled():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, **kwargs)


@dataclass
class Budget:
    """What a method spent. ``forward_samples`` counts examples through each counted module, so an
    inner attack of k steps on a batch of b costs k*b student forwards, just like the outer loss."""

    optimizer_steps: int = 0
    forward_samples: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    def merge(self, other: Budget) -> Budget:
        names = set(self.forward_samples) | set(other.forward_samples)
        forwards = {n: self.forward_samples.get(n, 0) + other.forward_samples.get(n, 0) for n in sorted(names)}
        return Budget(self.optimizer_steps + other.optimizer_steps, forwards, self.wall_s + other.wall_s)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"wall_s": round(self.wall_s, 3)}


@contextmanager
def count_forwards(modules: Mapping[str, nn.Module], budget: Budget) -> Iterator[Budget]:
    """Count samples through each module's forward while the block runs (the first argument's
    batch size; for a dict batch, that of its first tensor)."""

    def hook(name: str) -> Callable:
        def count(_module: nn.Module, args: tuple, _out: Any) -> None:
            first = args[0] if args else None
            if isinstance(first, Mapping):  # a batch dict (multimodal models): its first tensor's rows
                first = next((v for v in first.values() if torch.is_tensor(v)), None)
            if torch.is_tensor(first):
                budget.forward_samples[name] = budget.forward_samples.get(name, 0) + int(first.shape[0])

        return count

    handles = [m.register_forward_hook(hook(name)) for name, m in modules.items()]
    try:
        yield budget
    finally:
        for h in handles:
            h.remove()


def _steppable(optimizer: Any, accelerator: Any) -> Any:
    """The optimizer to step. On one process with no loss scaler and no gradient accumulation,
    ``AcceleratedOptimizer.step`` only adds bookkeeping around the wrapped optimizer's step, and on
    the kit's tiny models that bookkeeping made a training loop 1.15-1.22x slower than plain PyTorch
    (``./run_all.sh bench``, kernel ``fit``): step the wrapped optimizer directly there. Anywhere
    else (several processes, fp16 scaling, accumulation) the prepared optimizer is kept."""
    inner = getattr(optimizer, "optimizer", None)
    single = accelerator.num_processes == 1 and getattr(accelerator, "scaler", None) is None
    if inner is not None and single and accelerator.gradient_accumulation_steps == 1:
        return inner
    return optimizer


@dataclass
class FitResult:
    losses: list[float]  # mean training loss per epoch
    budget: Budget


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    accelerator: Any,
    scheduler: Any | None = None,
    counted: Mapping[str, nn.Module] | None = None,
    desc: str = "fit",
) -> FitResult:
    """Train ``model`` for ``epochs`` with ``loss_fn(model, batch)``.

    ``model``, ``loader``, ``optimizer`` (and ``scheduler``) must come from ``accelerator.prepare``.
    ``counted`` names the modules whose forwards go into the budget (default: the model).
    The returned losses are averaged over all processes, so they match a one-process run.
    """
    budget = Budget()
    counted = counted or {"model": accelerator.unwrap_model(model)}
    optimizer = _steppable(optimizer, accelerator)
    losses = []
    started = time.perf_counter()
    with count_forwards(counted, budget):
        for _ in progress(range(epochs), desc=desc, disable=not accelerator.is_local_main_process):
            model.train()
            total, batches = torch.zeros((), device=accelerator.device), 0
            for batch in loader:
                loss = loss_fn(model, batch)
                optimizer.zero_grad(set_to_none=True)
                accelerator.backward(loss)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                budget.optimizer_steps += 1
                total += loss.detach().float()
                batches += 1
            losses.append(accelerator.reduce(total / max(batches, 1), reduction="mean").item())
            if accelerator.is_main_process:
                livelog.emit(f"{desc}: epoch {len(losses)}/{epochs}, loss {losses[-1]:.4g}", kind="tick")
    budget.wall_s = time.perf_counter() - started
    # each process saw its share of every batch: the ledger counts the whole run
    budget.forward_samples = {
        name: int(accelerator.reduce(torch.tensor(n, device=accelerator.device), reduction="sum").item())
        for name, n in budget.forward_samples.items()
    }
    return FitResult(losses, budget)
