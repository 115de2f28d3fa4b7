"""What Invert4TVG is compared with, at the same budget.

Introduced in ``notebooks/invert4tvg/02_model.ipynb`` (the warm-up) and ``03_train.ipynb``.

* The supervised format warm-up (:func:`supervised_warmup`), which is also the ``sft`` arm: teacher
  forcing on the reference answers of all four tasks, uniformly mixed. Every GRPO arm of a seed starts
  from the same warm-up weights and is pulled towards them by the KL term, like the released model
  every RL variant of the paper starts from.
* TVG-only GRPO with the IoU reward (``tvg_iou``) and with Time-R1's iou_v2 (``tvg_iouv2``): the
  same loop as Invert4TVG (:func:`repro.invert4tvg.method.grpo_train`) with ``p = 0``, so each keeps
  every learned component and the same number of updates, prompts and samples.
* Reference rows without training: the verb-blind oracle (:func:`verb_blind_oracle`), which knows
  every segment of the query's object exactly but not which one carries the verb, and the prior
  (:func:`prior_segment`), which answers the training set's mean target for every query.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from repro.core.train import FitResult, fit
from repro.invert4tvg.models import Policy
from repro.invert4tvg.rewards import iou
from repro.invert4tvg.tasks import TaskBank


def answer_loss(policy: Policy, prompt, frames, answer, sep: int, pad: int) -> torch.Tensor:
    """Cross-entropy of the reference answer, ``<eos>`` included, padding excluded."""
    logits = policy.logits(prompt, frames, answer[:, :-1], sep)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), answer.flatten(), ignore_index=pad)


def supervised_warmup(
    policy: Policy,
    bank: TaskBank,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    sep: int,
    pad: int,
    seed: int,
    accelerator,
    task_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0),
    schedule: str = "constant",
    final_lr: float = 0.05,
) -> FitResult:
    """``steps`` Adam updates of teacher forcing on (example, task) pairs, each task drawn with its
    weight in ``task_weights`` (order of :data:`~repro.invert4tvg.arms.TASKS`), examples uniformly;
    ``schedule="cosine"`` lowers the learning rate from ``lr`` to ``lr * final_lr`` along a cosine."""
    n, n_tasks = bank.prompts.shape[:2]
    rows = torch.arange(n).repeat_interleave(n_tasks)
    tasks = torch.arange(n_tasks).repeat(n)
    data = TensorDataset(bank.prompts[rows, tasks], rows, tasks, bank.answers[rows, tasks])
    sampler = WeightedRandomSampler(
        torch.tensor(task_weights, dtype=torch.double)[tasks],
        num_samples=steps * batch_size,
        replacement=True,
        generator=torch.Generator().manual_seed(seed),
    )
    loader = DataLoader(data, batch_size=batch_size, sampler=sampler)
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    policy, optimizer, loader = accelerator.prepare(policy, optimizer, loader)
    scheduler = None
    if schedule == "cosine":  # on the prepared optimizer: the scheduler steps once per update taken
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer.optimizer, T_max=steps, eta_min=lr * final_lr)
        scheduler = accelerator.prepare(cosine)

    def loss_fn(model, batch):
        prompt, row, task, answer = batch
        frames = bank.video(row.cpu(), task.cpu()).to(accelerator.device)
        return answer_loss(model, prompt, frames, answer, sep, pad)

    return fit(
        policy, loss_fn, loader, optimizer, epochs=1, accelerator=accelerator, scheduler=scheduler, desc="warm-up"
    )


def verb_blind_oracle(bank: TaskBank) -> torch.Tensor:
    """IoU per example of a policy that knows the exact segments of the query's object but not the
    verb: the expected IoU of picking one of them uniformly (target or opposite-verb distractor)."""
    out = []
    for (
        span,
        others,
    ) in zip(bank.spans.tolist(), bank.distractors):
        candidates = [tuple(span)] + [tuple(o) for o in others]
        out.append(sum(iou(c, span) for c in candidates) / len(candidates))
    return torch.tensor(out)


def prior_segment(train: TaskBank) -> tuple[int, int]:
    """The mean target segment of the training set (a query-blind, video-blind answer)."""
    s, e = train.spans.float().mean(0).round().long().tolist()
    return int(s), int(max(e, s + 1))
