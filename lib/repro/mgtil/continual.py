"""The continual stream: one method trained through a task order, every task evaluated after each
step (the MTIL protocol's accuracy matrix). Introduced in ``notebooks/mgtil/03_train.ipynb``.

Every method gets the same schedule: per task ``steps`` Adam steps on batches of ``batch_size`` task
images drawn with replacement by one seeded sampler (so all methods see the same task batches for a
seed), a fresh optimiser per task, and, for the distilling methods, one reference batch of
``ref_batch`` pairs per step drawn from that task's reference set of ``budget`` pairs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch.utils.data import DataLoader, RandomSampler, TensorDataset
from transformers import CLIPModel

from repro.core.arms import Arm
from repro.core.train import Budget, fit
from repro.mgtil import retrieval as rag
from repro.mgtil import world
from repro.mgtil.baselines import WeightEnsemble, kl_to_teacher, zscl_loss
from repro.mgtil.config import LossSpec, RetrievalSpec
from repro.mgtil.method import ABLATIONS, anchored_penalty, distillation_terms
from repro.mgtil.models import encode_images, encode_texts, predict, similarity, tokenize

CONTROL_STREAM = world.CONTROL_STREAM


@dataclass
class TaskData:
    images: torch.Tensor  # (n, 3, S, S) in [0, 1]
    labels: torch.Tensor  # (n,)


@dataclass
class Stream:
    """What a run reads: task splits, prompt tokens, the database (images, caption tokens, domains),
    the corpus built by the pretrained encoder, and the tokenizer."""

    train: dict[str, TaskData]
    test: dict[str, TaskData]
    prompts: dict[str, tuple[torch.Tensor, torch.Tensor]]
    db_images: torch.Tensor
    db_tokens: tuple[torch.Tensor, torch.Tensor]
    db_domains: np.ndarray
    corpus: rag.Corpus
    tokenizer: Tokenizer
    val: dict[str, TaskData] = field(default_factory=dict)  # drawn like test; weights and gates are chosen here
    db_caption_ids: np.ndarray | None = None  # equal ids = identical captions (CMC's extra positives)

    @property
    def domains_known(self) -> bool:
        """Whether every database pair names its domain (the generator's do; real captions do not)."""
        return bool(len(self.db_domains)) and bool((self.db_domains != "").all())

    def __post_init__(self) -> None:
        if self.db_caption_ids is None:
            self.db_caption_ids = np.unique(np.asarray(self.corpus.captions), return_inverse=True)[1]


@dataclass
class StreamResult:
    correct: np.ndarray  # (T steps, T tasks, n_test) bool
    val_correct: np.ndarray  # (T steps, T tasks, n_val) bool: what tuning and the gates read
    losses: list[list[float]]  # per task, per step
    budget: Budget
    references: list[dict[str, Any]] = field(default_factory=list)  # per task: levels, granularity, domains
    in_domain: list[np.ndarray] = field(default_factory=list)  # per task: is each reference pair from its domain


def reference_mode(method: str, configured: str) -> str | None:
    """The reference distribution a method distils on (None: it uses no reference data)."""
    if method in ("zscl", "ours_uniform"):
        return "uniform"
    return configured if method in ABLATIONS else None


@torch.no_grad()
def accuracy_row(model: CLIPModel, stream: Stream, tasks: tuple[str, ...], split: str = "test") -> np.ndarray:
    """(T, n) correctness of every task's ``split`` ("test" or "val") images under its own prompts."""
    data = getattr(stream, split)
    return np.stack([(predict(model, data[t].images, *stream.prompts[t]) == data[t].labels).numpy() for t in tasks])


@torch.no_grad()
def reference_ids(
    mode: str,
    seen: tuple[str, ...],
    stream: Stream,
    base: CLIPModel,
    teacher: CLIPModel,
    spec: RetrievalSpec,
    mid_layer: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict[str, Any]]:
    """One task's reference set (``uniform``: a random sample of the database; otherwise the RAG
    pipeline with the siphon budgets of ``mode``), and what it holds."""
    task = world.TASKS[seen[-1]]
    n_db = len(stream.db_images)
    if mode == "uniform":
        ids, info = rng.choice(n_db, spec.budget, replace=False), {"uniform": spec.budget}
    else:
        data = stream.train[task.name]
        acc = (predict(teacher, data.images[:128], *stream.prompts[task.name]) == data.labels[:128]).float().mean()
        grain = rag.granularity(float(acc), len(task.classes))
        budgets = rag.siphon_budgets(spec.budget, mode, grain)
        texts = rag.question_pool(seen)
        queries = {}
        for level, level_texts in texts.items():
            emb = encode_texts(base, *tokenize(stream.tokenizer, level_texts), mid_layer=mid_layer)
            queries[level] = [rag.Query(t, f, m) for t, f, m in zip(level_texts, emb.final.numpy(), emb.mid.numpy())]
        picks = rng.choice(len(data.images), spec.exemplars, replace=False)
        ex = encode_images(base, data.images[picks], mid_layer=mid_layer)
        exemplars = rag.exemplar_candidates(stream.corpus, ex.final.numpy(), ex.mid.numpy(), spec.k_prime)

        def vlm(ids: np.ndarray, query_texts: list[str]) -> np.ndarray:
            img = encode_images(teacher, stream.db_images[torch.as_tensor(ids)]).final
            return (img @ encode_texts(teacher, *tokenize(stream.tokenizer, query_texts)).final.T).numpy()

        ids, info = rag.reference_set(
            stream.corpus, queries, exemplars, budgets, vlm, k_prime=spec.k_prime, rerank_keep=spec.rerank_keep, rng=rng
        )
        info["granularity"] = round(grain, 4)
    if stream.domains_known:
        info["same_domain"] = float(np.mean(stream.db_domains[ids] == task.domain))
    return np.asarray(ids), info


def frozen(model: CLIPModel) -> CLIPModel:
    copy_ = copy.deepcopy(model).eval()
    copy_.requires_grad_(False)
    return copy_


def run_stream(
    method: str,
    tasks: tuple[str, ...],
    stream: Stream,
    base: CLIPModel,
    *,
    loss: LossSpec,
    retrieval: RetrievalSpec,
    mid_layer: int,
    steps: int,
    batch_size: int,
    ref_batch: int,
    lr: float,
    seed: int,
    accelerator: Any,
) -> StreamResult:
    """Train ``method`` through ``tasks`` from the pretrained ``base``; returns the accuracy matrix."""
    if method == "zeroshot":
        rows = [accuracy_row(base, stream, tasks, split) for split in ("test", "val")]
        return StreamResult(*(np.stack([row] * len(tasks)) for row in rows), [[] for _ in tasks], Budget())
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 7])
    model = copy.deepcopy(base).train()
    initial = frozen(base)
    mode = reference_mode(method, retrieval.mode)
    shape = (len(tasks), len(tasks))
    result = StreamResult(
        np.zeros((*shape, len(stream.test[tasks[0]].labels)), bool),
        np.zeros((*shape, len(stream.val[tasks[0]].labels)), bool),
        [],
        Budget(),
    )
    for t, name in enumerate(tasks):
        teacher = frozen(model)
        ref_ids, info = (
            (None, {})
            if mode is None
            else reference_ids(mode, tasks[: t + 1], stream, base, teacher, retrieval, mid_layer, rng)
        )
        result.references.append(info)
        if ref_ids is not None and stream.domains_known:
            result.in_domain.append(stream.db_domains[ref_ids] == world.TASKS[name].domain)
        data = stream.train[name]
        sampler = RandomSampler(
            range(len(data.labels)),
            replacement=True,
            num_samples=steps * batch_size,
            generator=torch.Generator().manual_seed(seed * 1000 + t),
        )
        loader = DataLoader(TensorDataset(data.images, data.labels), batch_size=batch_size, sampler=sampler)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
        params = [p for p in model.parameters() if p.requires_grad]
        step = TaskLoss(
            method,
            params,
            teacher,
            initial,
            stream,
            name,
            ref_ids,
            loss,
            ref_batch,
            torch.Generator().manual_seed(seed * 1000 + 500 + t),
        )
        counted = {"student": accelerator.unwrap_model(model).vision_model, "teacher": teacher.vision_model}
        if method == "zscl":
            counted["initial"] = initial.vision_model
        fitted = fit(
            model, step, loader, optimizer, epochs=1, accelerator=accelerator, counted=counted, desc=f"{method} {name}"
        )
        if step.ensemble is not None:
            step.ensemble.finish(len(step.log))
        result.budget = result.budget.merge(fitted.budget)
        result.losses.append(step.log)
        trained = accelerator.unwrap_model(model)
        result.correct[t] = accuracy_row(trained, stream, tasks)
        result.val_correct[t] = accuracy_row(trained, stream, tasks, "val")
    return result


class TaskLoss:
    """The loss of one method on one task: ``CE`` plus the method's own terms (a callable for
    :func:`repro.core.train.fit`; it also keeps the per-step loss and ZSCL's weight average)."""

    def __init__(self, method, params, teacher, initial, stream, task, ref_ids, spec: LossSpec, ref_batch, generator):
        self.method, self.params, self.teacher, self.initial = method, params, teacher, initial
        self.prompts = stream.prompts[task]
        self.stream, self.ref_ids, self.spec, self.ref_batch, self.generator = (
            stream,
            ref_ids,
            spec,
            ref_batch,
            generator,
        )
        self.anchors = [p.detach().clone() for p in params]
        self.ensemble = WeightEnsemble(params, spec.we_every) if method == "zscl" else None
        self.same_caption: torch.Tensor | None = None
        self.log: list[float] = []

    def __call__(self, model: CLIPModel, batch) -> torch.Tensor:
        images, labels = batch
        logits = similarity(model, encode_images(model, images).final, encode_texts(model, *self.prompts).final)
        total = F.cross_entropy(logits, labels)
        s, tau = self.spec, self.spec.temperature
        if self.method == "l2":
            total = total + s.l2 * anchored_penalty(self.params, self.anchors)
        elif self.method == "zscl" and s.zscl_l2:
            # ZSCL's official scripts pass --l2 1: the same penalty to the weights the task began with
            total = total + s.zscl_l2 * anchored_penalty(self.params, self.anchors)
        elif self.method == "lwf":
            with torch.no_grad():
                old = similarity(
                    self.teacher,
                    encode_images(self.teacher, images).final,
                    encode_texts(self.teacher, *self.prompts).final,
                )
            total = total + s.lwf * kl_to_teacher(logits, old, tau)
        if self.ref_ids is not None:
            student, teacher = self.reference_logits(model)
            if self.method == "zscl":
                total = total + s.zscl * zscl_loss(student, teacher, tau)
            else:
                extra = distillation_terms(
                    student,
                    teacher,
                    self.params,
                    self.anchors,
                    ABLATIONS[self.method],
                    self.same_caption,
                    alpha=s.alpha,
                    beta=s.beta,
                    gamma=s.gamma,
                    tau=tau,
                )
                total = total + extra
        if self.ensemble is not None:
            self.ensemble.after_update(len(self.log))  # the weights here are those after update len(log)
        self.log.append(float(total.detach()))
        return total

    def reference_logits(self, model: CLIPModel) -> tuple[torch.Tensor, torch.Tensor]:
        """Student and teacher B x B logits on one reference batch (ZSCL's teacher: the initial model);
        ``self.same_caption`` keeps which pairs of the batch share a caption (CMC's positives)."""
        pick = torch.randint(len(self.ref_ids), (self.ref_batch,), generator=self.generator)
        ids = torch.as_tensor(self.ref_ids)[pick]
        caption = torch.as_tensor(self.stream.db_caption_ids[ids.numpy()])
        self.same_caption = caption[:, None] == caption[None, :]
        images, tokens = self.stream.db_images[ids], (self.stream.db_tokens[0][ids], self.stream.db_tokens[1][ids])
        student = similarity(model, encode_images(model, images).final, encode_texts(model, *tokens).final)
        teacher_model = self.initial if self.method == "zscl" else self.teacher
        with torch.no_grad():
            teacher = similarity(
                teacher_model, encode_images(teacher_model, images).final, encode_texts(teacher_model, *tokens).final
            )
        return student, teacher


def stream_arms(
    methods: tuple[str, ...],
    orders: tuple[str, ...],
    second_order_methods: tuple[str, ...],
    control_methods: tuple[str, ...],
) -> list[Arm]:
    """Every (method, stream) the profile runs: all methods on the main order, ``second_order_methods``
    on the other orders, ``control_methods`` on the no-shift control stream (order I, shift 0)."""
    arms = [Arm(m, orders[0]) for m in methods]
    arms += [Arm(m, o) for o in orders[1:] for m in methods if m in second_order_methods]
    arms += [Arm(m, CONTROL_STREAM) for m in control_methods]
    return arms


def stream_tasks(stream: str) -> tuple[str, ...]:
    """The task order of a stream name (the control runs order I)."""
    return world.ORDERS["order1" if stream == CONTROL_STREAM else stream]
