"""Invert4TVG's training: GRPO over TVG mixed with the inversion tasks.

Introduced in ``notebooks/invert4tvg/03_train.ipynb``. One update (:func:`grpo_train`):

1. draw ``prompts`` examples and, per example, a task by the schedule (TVG with probability
   ``1 - p``, else one inversion task uniformly: :func:`repro.invert4tvg.tasks.sample_tasks`);
2. sample ``G`` completions per prompt from the current policy;
3. reward each (:mod:`repro.invert4tvg.rewards`: accuracy + format) and normalise within its group,
   ``A_i = (r_i - mean(r)) / (std(r) + 1e-4)`` (:func:`group_advantages`);
4. take ``iterations`` optimizer steps on the clipped surrogate with a k3 KL penalty to the
   warm-up policy (:func:`grpo_loss`), per token and averaged per sequence, then over sequences
   (TRL's ``loss_type="grpo"``, the DeepSeekMath form).

The loss and the advantages are tested against TRL's ``GRPOTrainer`` on a text-only model
(``tests/invert4tvg/test_trl_reference.py``). TRL itself cannot drive this policy: its trainer
generates from token prompts (and images through a processor), not from a feature prefix, so the
loop here is our own and TRL is the reference for its arithmetic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from repro.core.train import Budget, count_forwards, progress
from repro.invert4tvg.arms import TASKS, Plan
from repro.invert4tvg.config import OFFICIAL_TASKS, GRPOSpec, TaskSpec
from repro.invert4tvg.data import Vocab
from repro.invert4tvg.models import Policy, generate, token_logprobs
from repro.invert4tvg.rewards import read, task_reward
from repro.invert4tvg.tasks import TaskBank, sample_tasks


def group_advantages(rewards: torch.Tensor, group: int) -> torch.Tensor:
    """GRPO's advantage ``(r - mean_group) / (std_group + 1e-4)`` over consecutive groups of
    ``group`` samples of one prompt; the std is the unbiased one, as TRL computes it."""
    grouped = rewards.view(-1, group)
    mean = grouped.mean(1, keepdim=True)
    std = grouped.std(1, keepdim=True)
    return ((grouped - mean) / (std + 1e-4)).view(-1)


def k3_kl(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimator of KL(policy || reference): ``exp(ref - logp) - (ref - logp) - 1`` (>= 0)."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip: float = 0.2,
    beta: float = 0.04,
) -> torch.Tensor:
    """The clipped GRPO surrogate with a k3 KL penalty (all tensors (B, A) but ``advantages`` (B,)):

    ``L = mean_i 1/|o_i| sum_t [ -min(rho A_i, clip(rho, 1-eps, 1+eps) A_i) + beta KL3_t ]``,
    ``rho = exp(logp - old_logp)``. ``beta = 0`` (or ``ref_logp`` None) switches the KL off."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip, 1 + clip) * adv)
    if beta != 0.0 and ref_logp is not None:
        per_token = per_token + beta * k3_kl(logp, ref_logp)
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


@dataclass
class Rollout:
    task: torch.Tensor  # (B*G,) index into TASKS
    reward: torch.Tensor  # (B*G,) accuracy + format
    accuracy: torch.Tensor  # (B*G,)
    tokens: torch.Tensor
    mask: torch.Tensor


def score(
    bank: TaskBank,
    rows: torch.Tensor,
    tasks: torch.Tensor,
    tokens: torch.Tensor,
    plan: Plan,
    vocab: Vocab,
    vectors: np.ndarray | None,
    forms: TaskSpec = OFFICIAL_TASKS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(accuracy, format) rewards of completions ``tokens`` for examples ``rows`` on ``tasks``."""
    acc, fmt = [], []
    for row, task, tok in zip(rows.tolist(), tasks.tolist(), tokens.tolist()):
        content, thought = read(tok, vocab)
        a, f = task_reward(
            TASKS[task],
            content,
            span=bank.spans[row].tolist(),
            verb=bank.verbs[row],
            obj=bank.objects[row],
            duration=bank.duration,
            tvg_reward=plan.tvg_reward,
            inversion_reward=plan.inversion_reward,
            vectors=vectors,
            vocab=vocab,
            vc_answer=forms.vc_answer,
            thought=thought,
            think=forms.think,
        )
        acc.append(a)
        fmt.append(f)
    return torch.tensor(acc), torch.tensor(fmt)


@dataclass
class GRPOResult:
    history: dict[str, list[float]] = field(default_factory=dict)  # per update: rewards by task, KL, loss
    budget: Budget = field(default_factory=Budget)
    prompts_by_task: dict[str, int] = field(default_factory=dict)


def grpo_train(
    policy: Policy,
    reference: Policy,
    bank: TaskBank,
    plan: Plan,
    spec: GRPOSpec,
    vocab: Vocab,
    vectors: np.ndarray | None,
    *,
    seed: int,
    accelerator,
    forms: TaskSpec = OFFICIAL_TASKS,
) -> GRPOResult:
    """Train ``policy`` in place by GRPO on ``plan``'s task mix; ``reference`` is the frozen warm-up."""
    specials = {k: vocab.index[k] for k in ("<sep>", "<eos>", "<pad>")}
    sep, eos, pad = specials["<sep>"], specials["<eos>"], specials["<pad>"]
    optimizer = torch.optim.Adam(policy.parameters(), lr=spec.lr)
    policy, optimizer = accelerator.prepare(policy, optimizer)
    net = accelerator.unwrap_model(policy)
    reference = reference.to(accelerator.device).eval().requires_grad_(False)
    device = accelerator.device
    rng = torch.Generator().manual_seed(seed)
    result = GRPOResult(prompts_by_task={t: 0 for t in TASKS})
    started = time.perf_counter()
    with count_forwards({"policy": net, "reference": reference}, result.budget):
        for _ in progress(range(spec.steps), desc=f"grpo {plan.arm.name}"):
            rows = torch.randint(len(bank), (spec.prompts,), generator=rng)
            tasks = sample_tasks(rng, spec.prompts, plan.tasks, plan.p_inversion, spec.task_draw)
            for t in tasks.tolist():
                result.prompts_by_task[TASKS[t]] += 1
            rows, tasks = rows.repeat_interleave(spec.group), tasks.repeat_interleave(spec.group)
            prompt = bank.prompts[rows, tasks].to(device)
            frames = bank.video(rows, tasks).to(device)
            net.eval()
            tokens, mask = generate(
                net,
                prompt,
                frames,
                sep=sep,
                eos=eos,
                pad=pad,
                length=net.spec.answer_len,
                temperature=spec.temperature,
                generator=rng,
            )
            accuracy, fmt = score(bank, rows, tasks, tokens.cpu(), plan, vocab, vectors, forms)
            reward = accuracy + fmt
            advantages = group_advantages(reward, spec.group).to(device)
            with torch.no_grad():
                ref_logp = token_logprobs(reference, prompt, frames, tokens, sep, spec.temperature)
                old_logp = token_logprobs(net, prompt, frames, tokens, sep, spec.temperature)
            net.train()
            for _ in range(spec.iterations):
                logp = token_logprobs(net, prompt, frames, tokens, sep, spec.temperature)
                loss = grpo_loss(logp, old_logp, ref_logp, advantages, mask, clip=spec.clip, beta=spec.beta)
                optimizer.zero_grad(set_to_none=True)
                accelerator.backward(loss)
                optimizer.step()
                result.budget.optimizer_steps += 1
            log_step(result.history, tasks, accuracy, fmt, k3_kl(logp.detach(), ref_logp), mask, loss)
    result.budget.wall_s = time.perf_counter() - started
    return result


def log_step(history: dict, tasks, accuracy, fmt, kl, mask, loss) -> None:
    """Append one update's means: accuracy reward per task (NaN when the task was not drawn), format
    reward, KL to the warm-up policy and the loss."""
    for i, task in enumerate(TASKS):
        chosen = tasks == i
        history.setdefault(f"reward_{task}", []).append(
            round(float(accuracy[chosen].mean()), 4) if chosen.any() else float("nan")
        )
    history.setdefault("format", []).append(round(float(fmt.mean()), 4))
    kl_seq = (kl * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
    history.setdefault("kl", []).append(round(float(kl_seq.mean()), 5))
    history.setdefault("loss", []).append(round(float(loss.detach()), 5))
