"""GRPO's pieces, the rewards and the policy: the invariants that make this Invert4TVG's method."""

import copy

import numpy as np
import pytest
import torch

from repro.core.arms import Arm
from repro.invert4tvg.arms import ARMS, TASKS, plan
from repro.invert4tvg.config import GRPOSpec, PolicySpec, TaskSpec
from repro.invert4tvg.data import Vocab, make_videos, resample
from repro.invert4tvg.method import group_advantages, grpo_loss, grpo_train, k3_kl
from repro.invert4tvg.models import Policy, build_policy, example_batch, generate, token_logprobs
from repro.invert4tvg.rewards import cosine, iou, iou_v2, parse, parse_span, read, task_reward
from repro.invert4tvg.tasks import build_bank, sample_tasks

VOCAB = Vocab.build(16)


def words(*w):
    return VOCAB.encode(list(w))


def test_parse_accepts_only_the_answer_format():
    assert parse(words("<answer>", "t3", "to", "t7", "</answer>", "<eos>", "<pad>"), VOCAB) == ["t3", "to", "t7"]
    assert parse(words("<answer>", "t3", "to", "t7", "</answer>"), VOCAB) is None  # no eos
    assert parse(words("t3", "to", "t7", "</answer>", "<eos>"), VOCAB) is None
    assert parse_span(["t3", "to", "t7"]) == (3, 7) and parse_span(["open"]) is None
    thought = words("<think>", "</think>", "<answer>", "t3", "to", "t7", "</answer>", "<eos>")
    assert read(thought, VOCAB) == (["t3", "to", "t7"], True)
    assert read(words("<answer>", "t3", "to", "t7", "</answer>", "<eos>"), VOCAB) == (["t3", "to", "t7"], False)
    assert read(words("<think>", "<answer>", "t3", "</answer>", "<eos>"), VOCAB)[0] is None  # unclosed thought


def test_format_reward_asks_tvg_for_a_thought_and_the_inversion_tasks_for_none():
    common = dict(span=(2, 6), verb="open", obj="door", duration=16, think=True)
    assert task_reward("tvg", ["t2", "to", "t6"], thought=True, **common) == (1.0, 1.0)
    assert task_reward("tvg", ["t2", "to", "t6"], thought=False, **common) == (1.0, 0.0)  # IoU still read
    assert task_reward("vc", ["person", "open", "the", "door"], thought=True, **common) == (1.0, 0.0)
    assert task_reward("vc", ["person", "open", "the", "door"], thought=False, **common) == (1.0, 1.0)
    assert task_reward("tvg", ["t2", "to", "t6"], **dict(common, think=False)) == (1.0, 1.0)


def test_iou_and_time_r1_iou_v2():
    assert iou((2, 6), (2, 6)) == 1.0 and iou((0, 2), (2, 6)) == 0.0 and iou(None, (2, 6)) == 0.0
    assert iou((2, 6), (4, 8)) == pytest.approx(2 / 6)
    assert iou_v2((2, 6), (2, 6), 16) == 1.0
    assert iou_v2((2, 6), (4, 8), 16) == pytest.approx(2 / 6 * (1 - 2 / 16) ** 2)
    assert iou_v2((0, 16), (4, 8), 16) < iou((0, 16), (4, 8))  # a hedge that covers everything pays less


def test_binary_rewards_and_format_reward():
    common = dict(span=(2, 6), verb="open", obj="door", duration=16, vc_answer="verb")
    assert task_reward("vc", ["open"], **common) == (1.0, 1.0)
    assert task_reward("vc", ["close"], **common) == (0.0, 1.0)
    assert task_reward("ar", None, **common) == (0.0, 0.0)
    assert task_reward("vd", ["person", "open", "the", "door"], **common) == (1.0, 1.0)
    assert task_reward("vd", ["person", "close", "the", "door"], **common) == (0.0, 1.0)
    assert task_reward("tvg", ["t2", "to", "t6"], **common) == (1.0, 1.0)


def test_verb_completion_sentences_are_paid_by_the_verb_lemma():
    common = dict(span=(2, 6), verb="open", obj="door", duration=16)  # vc_answer="sentence": the official task
    assert task_reward("vc", ["person", "open", "the", "door"], **common) == (1.0, 1.0)
    assert task_reward("vc", ["person", "opens", "the", "door"], **common) == (1.0, 1.0)
    assert task_reward("vc", ["person", "close", "the", "door"], **common) == (0.0, 1.0)
    assert task_reward("vc", ["close"], **common) == (0.0, 1.0)
    assert task_reward("vc", ["person", "open", "the", "door"], **dict(common, vc_answer="verb")) == (0.0, 1.0)
    sitting = dict(common, verb="sitting")  # real queries keep the verb as written
    assert task_reward("vc", ["person", "sat", "on", "a", "chair"], **sitting)[0] == 1.0


def test_cosine_reward_pays_partial_credit_for_the_opposite_verb():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(VOCAB), 8)).astype(np.float32)
    vectors[VOCAB.index["close"]] = vectors[VOCAB.index["open"]] + 0.5 * rng.normal(size=8)
    common = dict(
        span=(2, 6), verb="open", obj="door", duration=16, inversion_reward="cosine", vectors=vectors, vocab=VOCAB
    )
    right, _ = task_reward("ar", ["open"], **common)
    near, _ = task_reward("ar", ["close"], **common)
    assert right == pytest.approx(1.0) and 0.5 < near < 1.0
    right, _ = task_reward("vc", ["person", "open", "the", "door"], **common)  # the sentence against the sentence
    near, _ = task_reward("vc", ["person", "close", "the", "door"], **common)
    assert right == pytest.approx(1.0) and 0.5 < near < 1.0
    assert cosine([], ["open"], vectors, VOCAB) == 0.0


def test_group_advantages_are_normalised_per_group():
    r = torch.tensor([1.0, 0.0, 1.0, 0.0, 5.0, 5.0, 5.0, 5.0])
    a = group_advantages(r, 4)
    assert torch.allclose(a[:4].mean(), torch.tensor(0.0)) and torch.allclose(a[4:], torch.zeros(4))
    assert a[0] > 0 > a[1]


def test_k3_is_nonnegative_and_zero_at_the_reference():
    logp = torch.randn(5, 4)
    assert (k3_kl(logp, logp + torch.randn(5, 4)) >= 0).all()
    assert torch.allclose(k3_kl(logp, logp), torch.zeros(5, 4))


def test_clip_stops_the_gradient_beyond_the_trust_region():
    logp = torch.zeros(2, 3, requires_grad=True)
    old = torch.full((2, 3), -0.5)  # ratio e^0.5 = 1.65 > 1.2
    mask = torch.ones(2, 3)
    loss = grpo_loss(logp, old, None, torch.tensor([1.0, -1.0]), mask, clip=0.2, beta=0.0)
    loss.backward()
    assert torch.all(logp.grad[0] == 0), "positive advantage beyond 1 + eps is clipped: no gradient"
    assert torch.all(logp.grad[1] != 0), "negative advantage with a large ratio is not clipped"
    assert grpo_loss(logp, logp.detach(), None, torch.zeros(2), mask).item() == 0.0


def test_masked_tokens_do_not_count():
    logp, adv = torch.randn(2, 4), torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1.0, 1, 0, 0], [1, 0, 0, 0]])
    changed = logp.clone()
    changed[mask == 0] += 5
    assert torch.allclose(grpo_loss(logp, logp, logp, adv, mask), grpo_loss(changed, changed, changed, adv, mask))


@pytest.fixture(scope="module")
def policy():
    torch.manual_seed(0)
    return build_policy(PolicySpec(layers=1, width=32, heads=2), VOCAB, 16, 8).eval()


def test_cached_sampling_matches_the_full_forward(policy):
    b = example_batch(policy.spec, len(VOCAB), 16, 8, n=3)
    g = torch.Generator().manual_seed(0)
    tokens, mask = generate(policy, b["prompt"], b["frames"], sep=2, eos=1, pad=0, length=8, generator=g)
    assert tokens.shape == mask.shape == (3, 8)
    with torch.no_grad():
        step_by_step = [policy.logits(b["prompt"], b["frames"], tokens[:, :k], 2)[:, -1] for k in range(8)]
        full = policy.logits(b["prompt"], b["frames"], tokens[:, :-1], 2)
    torch.testing.assert_close(torch.stack(step_by_step, 1), full, rtol=1e-4, atol=1e-4)
    logp = token_logprobs(policy, b["prompt"], b["frames"], tokens, 2)
    assert logp.shape == (3, 8) and (logp <= 0).all()


def test_frames_carry_their_timestamp_embedding(policy):
    assert isinstance(policy, Policy)
    assert policy.stamps.tolist() == [VOCAB.stamp(k) for k in range(16)]


def test_every_arm_gets_the_same_updates_and_samples():
    table = make_videos(
        24, 0, frames=16, feature_dim=8, min_len=3, max_len=6, distractors=1, noise=0.3, verb_strength=1.0
    )
    bank = build_bank(table, VOCAB, 10, 8, seed=0)
    torch.manual_seed(0)
    warm = build_policy(PolicySpec(layers=1, width=16, heads=2), VOCAB, 16, 8)
    spec = GRPOSpec(steps=2, prompts=4, group=2)
    vectors = np.ones((len(VOCAB), 4), np.float32)
    from accelerate import Accelerator

    ledgers = {}
    for name in ("tvg_iou", "invert4tvg", "invert4tvg@cosine"):
        result = grpo_train(
            copy.deepcopy(warm),
            copy.deepcopy(warm),
            bank,
            plan(ARMS[name], 0.5),
            spec,
            VOCAB,
            vectors,
            seed=0,
            accelerator=Accelerator(cpu=True),
        )
        ledgers[name] = (result.budget.optimizer_steps, sum(result.prompts_by_task.values()))
        assert len(result.history["loss"]) == 2
    assert len(set(ledgers.values())) == 1, ledgers


def test_plans_isolate_one_component():
    main, tvg = plan(Arm("invert4tvg"), 0.2), plan(Arm("tvg_iou"), 0.2)
    assert main.tvg_reward == tvg.tvg_reward == "iou" and tvg.p_inversion == 0 and main.p_inversion == 0.2
    assert plan(Arm("tvg_iouv2"), 0.2).tvg_reward == "iou_v2"
    assert plan(Arm("invert4tvg", "p0.8"), 0.2).p_inversion == 0.8
    assert plan(Arm("invert4tvg", "cosine"), 0.2).inversion_reward == "cosine"
    assert plan(Arm("invert4tvg", "objects"), 0.2).contrast == "object"


def test_verb_completion_sees_the_clip_cropped_to_the_segment_and_answers_a_sentence():
    table = make_videos(
        6, 0, frames=16, feature_dim=8, min_len=3, max_len=6, distractors=1, noise=0.3, verb_strength=1.0
    )
    bank = build_bank(table, VOCAB, 10, 8, seed=0)  # the official forms (TaskSpec's defaults)
    vc, tvg = TASKS.index("vc"), TASKS.index("tvg")
    for i, (s, e) in enumerate(bank.spans.tolist()):
        expected = resample(bank.frames[i, s:e].numpy(), 16)
        np.testing.assert_allclose(bank.clips[i].numpy(), expected)
        prompt, answer = (VOCAB.decode(t) for t in (bank.prompts[i, vc], bank.answers[i, vc]))
        assert not any(w.startswith("t") and w[1:].isdigit() for w in prompt)  # a cropped clip needs no times
        assert answer[: answer.index("<eos>")] == [
            "<answer>",
            "person",
            bank.verbs[i],
            "the",
            bank.objects[i],
            "</answer>",
        ]
        assert VOCAB.decode(bank.answers[i, tvg])[:3] == ["<think>", "</think>", "<answer>"]
    rows = torch.tensor([0, 1])
    torch.testing.assert_close(bank.video(rows, torch.tensor([vc, tvg])), torch.stack([bank.clips[0], bank.frames[1]]))
    kit = build_bank(table, VOCAB, 10, 8, seed=0, forms=TaskSpec(vc_input="video", vc_answer="verb", think=False))
    assert torch.equal(kit.clips, kit.frames) and VOCAB.decode(kit.answers[0, vc])[:3] == [
        "<answer>",
        kit.verbs[0],
        "</answer>",
    ]


def test_the_official_schedule_draws_one_task_per_batch():
    rng = torch.Generator().manual_seed(0)
    draws = [sample_tasks(rng, 8, ("tvg", "vc", "ar", "vd"), 0.5, GRPOSpec().task_draw) for _ in range(50)]
    assert all(len(set(d.tolist())) == 1 for d in draws) and len({int(d[0]) for d in draws}) > 1


def test_the_cosine_warm_up_ends_at_its_final_learning_rate():
    from accelerate import Accelerator
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    from repro.invert4tvg.baselines import supervised_warmup

    table = make_videos(
        16, 0, frames=16, feature_dim=8, min_len=3, max_len=6, distractors=1, noise=0.3, verb_strength=1.0
    )
    bank = build_bank(table, VOCAB, 10, 8, seed=0)
    rates = {"constant": [], "cosine": []}
    for schedule, seen in rates.items():
        policy = build_policy(PolicySpec(layers=1, width=16, heads=2), VOCAB, 16, 8)
        hook = register_optimizer_step_pre_hook(lambda opt, *_, seen=seen: seen.append(opt.param_groups[0]["lr"]))
        try:
            supervised_warmup(policy, bank, steps=10, batch_size=4, lr=1e-2, sep=VOCAB.index["<sep>"],
                              pad=VOCAB.index["<pad>"], seed=0, accelerator=Accelerator(cpu=True),
                              schedule=schedule, final_lr=0.1)  # fmt: skip
        finally:
            hook.remove()
    assert rates["constant"] == [1e-2] * 10, rates
    # update k takes 1e-3 + 9e-3 * (1 + cos(pi k / 10)) / 2: from lr down towards lr * final_lr
    expected = [1e-3 + 9e-3 * (1 + np.cos(np.pi * k / 10)) / 2 for k in range(10)]
    np.testing.assert_allclose(rates["cosine"], expected, rtol=1e-6)
