"""The metrics of temporal video grounding, and the verb probe.

Introduced in ``notebooks/invert4tvg/04_evaluate.ipynb``.

* ``R1@m`` (m in 0.3, 0.5, 0.7): 100 when the greedy answer's IoU with the target is >= m, else 0
  (per example; the mean is the field's "Recall at 1"). An unparseable answer scores IoU 0.
* ``mIoU``: 100 x IoU per example, averaged.
* ``verb_probe`` (action understanding inside grounding): 100 when the policy's teacher-forced
  log-likelihood of the target segment's answer exceeds that of every opposite-verb distractor's
  answer for the query, else 0. It needs no generation and no format, so it measures whether the
  policy grounds the verb, not whether it can still write an answer; chance is 100 / (1 + distractors).
* ``ar_acc``: greedy Action Recognition accuracy (does the policy still name the action).
"""

from __future__ import annotations

import numpy as np
import torch

from repro.invert4tvg.arms import TASKS
from repro.invert4tvg.data import Vocab
from repro.invert4tvg.models import Policy, generate, token_logprobs
from repro.invert4tvg.rewards import THOUGHT, iou, parse, parse_span
from repro.invert4tvg.tasks import TaskBank

THRESHOLDS = (0.3, 0.5, 0.7)
METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "verb_probe", "ar_acc", "format")


def greedy_answers(policy: Policy, bank: TaskBank, task: str, vocab: Vocab, batch: int = 256) -> list[list[int]]:
    """Greedy completions of every example of ``bank`` on ``task``."""
    index = vocab.index
    t = TASKS.index(task)
    out = []
    device = next(policy.parameters()).device
    for lo in range(0, len(bank), batch):
        rows = torch.arange(lo, min(lo + batch, len(bank)))
        tokens, _ = generate(
            policy,
            bank.prompts[rows, t].to(device),
            bank.video(rows, torch.full_like(rows, t)).to(device),
            sep=index["<sep>"],
            eos=index["<eos>"],
            pad=index["<pad>"],
            length=policy.spec.answer_len,
            greedy=True,
        )
        out.extend(tokens.cpu().tolist())
    return out


def grounding_scores(answers: list[list[int]], bank: TaskBank, vocab: Vocab) -> dict[str, np.ndarray]:
    """Per-example R1@m, mIoU and format (0/100) of greedy TVG answers."""
    return span_scores([parse_span(parse(a, vocab)) for a in answers], bank)


def span_scores(spans: list[tuple[int, int] | None], bank: TaskBank) -> dict[str, np.ndarray]:
    """Per-example R1@m, mIoU and format (0/100) of answered segments in frames (None: unparseable),
    scored in seconds against the annotation as released (an end beyond the video included), as
    TimeZero's evaluation does, not against the frame grid the policy was trained on."""
    to_seconds = (bank.durations / bank.duration).tolist()
    answered = [None if p is None else (p[0] * k, p[1] * k) for p, k in zip(spans, to_seconds)]
    ious = np.array([iou(p, gt) for p, gt in zip(answered, bank.seconds.tolist())])
    out = {f"R1@{m}": 100.0 * (ious >= m) for m in THRESHOLDS}
    out["mIoU"] = 100.0 * ious
    out["format"] = 100.0 * np.array([p is not None for p in spans])
    return out


def span_answer(vocab: Vocab, span: tuple[int, int], length: int, think: bool = False) -> list[int]:
    """The TVG answer naming ``span``, as the bank's references write it (``think``: after ``<think> </think>``)."""
    words = [*(THOUGHT if think else ()), "<answer>", f"t{span[0]}", "to", f"t{span[1]}", "</answer>", "<eos>"]
    return vocab.encode(words) + [vocab.index["<pad>"]] * (length - len(words))


@torch.no_grad()
def verb_probe(policy: Policy, bank: TaskBank, vocab: Vocab) -> np.ndarray:
    """Per-example 0/100: the target's answer is likelier than every distractor's (see module doc).
    NaN where an example has no distractor (real data)."""
    if not any(bank.distractors):
        return np.full(len(bank), np.nan)
    device = next(policy.parameters()).device
    length, sep = policy.spec.answer_len, vocab.index["<sep>"]
    k = max(len(d) for d in bank.distractors)
    candidates = [
        [tuple(s), *map(tuple, d)] + [tuple(s)] * (k - len(d)) for s, d in zip(bank.spans.tolist(), bank.distractors)
    ]
    think = bool(bank.answers[0, TASKS.index("tvg"), 0] == vocab.index[THOUGHT[0]])
    answers = torch.tensor([[span_answer(vocab, c, length, think) for c in row] for row in candidates])  # (n, 1+k, A)
    mask = (answers != vocab.index["<pad>"]).float()
    prompt = bank.prompts[:, TASKS.index("tvg")]
    loglik = []
    for j in range(1 + k):
        lp = token_logprobs(policy, prompt.to(device), bank.frames.to(device), answers[:, j].to(device), sep)
        loglik.append((lp.cpu() * mask[:, j]).sum(-1))
    loglik = torch.stack(loglik, 1)
    return 100.0 * (loglik[:, :1] > loglik[:, 1:]).all(1).numpy()


def recognition_scores(answers: list[list[int]], bank: TaskBank, vocab: Vocab) -> np.ndarray:
    """Per-example 0/100: the greedy Action Recognition answer is the query's verb."""
    return 100.0 * np.array([parse(a, vocab) == [v] for a, v in zip(answers, bank.verbs)])


@torch.no_grad()
def evaluate_policy(policy: Policy, bank: TaskBank, vocab: Vocab) -> dict[str, np.ndarray]:
    """Every per-example metric of :data:`METRICS` for one trained policy."""
    policy.eval()
    scores = grounding_scores(greedy_answers(policy, bank, "tvg", vocab), bank, vocab)
    scores["verb_probe"] = verb_probe(policy, bank, vocab)
    scores["ar_acc"] = recognition_scores(greedy_answers(policy, bank, "ar", vocab), bank, vocab)
    return scores


def oracle_scores(bank: TaskBank) -> dict[str, np.ndarray]:
    """The verb-blind oracle's expected R1@m / mIoU: one of the query object's segments uniformly."""
    per_candidate = [
        [iou(c, s) for c in [tuple(s), *map(tuple, d)]] for s, d in zip(bank.spans.tolist(), bank.distractors)
    ]
    out = {f"R1@{m}": np.array([100.0 * np.mean([v >= m for v in row]) for row in per_candidate]) for m in THRESHOLDS}
    out["mIoU"] = np.array([100.0 * np.mean(row) for row in per_candidate])
    return out


def constant_scores(span: tuple[int, int], bank: TaskBank) -> dict[str, np.ndarray]:
    """R1@m and mIoU of one answer given to every query (a trivial reference: the whole video, the
    training set's mean target)."""
    scores = span_scores([span] * len(bank), bank)
    return {m: v for m, v in scores.items() if m != "format"}


def noise_scores(policy: Policy, banks: dict[float, TaskBank], vocab: Vocab) -> dict[str, np.ndarray]:
    """R1@0.7 on the extra eval sets at other noise levels (the difficulty sweep)."""
    out = {}
    for noise, bank in banks.items():
        scores = grounding_scores(greedy_answers(policy, bank, "tvg", vocab), bank, vocab)
        out[f"R1@0.7 noise={noise:g}"] = scores["R1@0.7"]
    return out


def example_predictions(policy: Policy, bank: TaskBank, vocab: Vocab, n: int = 8) -> list[dict]:
    """Greedy TVG answers on the first ``n`` videos, beside the target and the distractors."""
    small = bank.subset(n)
    answers = greedy_answers(policy, small, "tvg", vocab)
    return [
        {
            "target": small.spans[i].tolist(),
            "distractors": [list(d) for d in small.distractors[i]],
            "predicted": parse_span(parse(a, vocab)),
            "query": f"person {small.verbs[i]} the {small.objects[i]}",
        }
        for i, a in enumerate(answers)
    ]


def results_table(scores: dict[str, dict[str, np.ndarray]], bank: TaskBank) -> list[dict]:
    """One row per arm: the mean of every metric over seeds and examples, with the verb-blind oracle
    and the chance level of the verb probe as reference rows."""
    arms = list(scores["R1@0.7"])
    rows = [
        {"method": arm} | {m: round(float(scores[m][arm].mean()), 2) for m in METRICS if arm in scores.get(m, {})}
        for arm in arms
    ]
    if any(bank.distractors):
        oracle = oracle_scores(bank)
        rows.append(
            {"method": "verb-blind oracle (reference)"} | {m: round(float(v.mean()), 2) for m, v in oracle.items()}
        )
        chance = 100.0 / (1 + max(len(d) for d in bank.distractors))
        rows.append({"method": "chance (reference)", "verb_probe": round(chance, 2), "ar_acc": 25.0})
    return rows
