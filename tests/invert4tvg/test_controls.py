"""The control can fail: sabotage the mechanism it names and its effect moves past its margin.

K1 compares two arms on R1@0.7 and expects them equivalent within +-5 points. What makes the control
mean anything is that both arms read the query; a policy that never sees it grounds no better than a
guess between the candidate segments. The sabotage removes the query from one arm's TVG prompt and
checks that K1's comparison then leaves its band. The fixture's policy is trained on the verb-contrast
set, where a small warm-up learns to read the query within seconds (the object takes thousands of
steps: the gate ``warmup_object_probe`` says whether the ``cpu`` run's warm-up reads it).
"""

import dataclasses

import pytest
import torch

from repro.core.claims import decide
from repro.core.runtime import make_accelerator
from repro.invert4tvg import config
from repro.invert4tvg.arms import TASKS
from repro.invert4tvg.baselines import supervised_warmup
from repro.invert4tvg.claims import CLAIMS
from repro.invert4tvg.config import PolicySpec, TaskSpec
from repro.invert4tvg.data import Vocab, make_videos
from repro.invert4tvg.evaluate import evaluate_policy
from repro.invert4tvg.models import build_policy
from repro.invert4tvg.tasks import TaskBank, build_bank

FRAMES, DIM = 16, 16
VIDEO = dict(
    frames=FRAMES, feature_dim=DIM, min_len=3, max_len=6, distractors=1, noise=0.3, verb_strength=1.0, background=0.2
)
K1 = dataclasses.replace(next(c for c in CLAIMS if c.id == "K1"), trivial=())


def blind(bank: TaskBank, vocab: Vocab) -> TaskBank:
    """The same examples with the query removed from the TVG prompt: only ``[tvg]`` is left, so the
    policy never sees the query (its frames and answer format unchanged)."""
    prompts = bank.prompts.clone()
    tvg = TASKS.index("tvg")
    prompts[:, tvg] = vocab.index["<pad>"]
    prompts[:, tvg, -1] = vocab.index["[tvg]"]
    return dataclasses.replace(bank, prompts=prompts)


@pytest.fixture(scope="module")
def reader():
    """A small warm-up that reads the query (verb probe well above chance), and a test set."""
    cfg = config("smoke")
    vocab = Vocab.build(FRAMES)
    # the kit's earlier task forms: with them a small warm-up reads the query within 1500 steps
    forms = TaskSpec(vc_input="video", vc_answer="verb", think=False)
    train = build_bank(make_videos(512, 0, **VIDEO), vocab, 10, 8, seed=0, forms=forms)
    test = build_bank(make_videos(256, 1, **VIDEO), vocab, 10, 8, seed=1, forms=forms)
    torch.manual_seed(0)
    policy = build_policy(PolicySpec(), vocab, FRAMES, DIM)
    index = vocab.index
    supervised_warmup(
        policy,
        train,
        steps=1500,
        batch_size=32,
        lr=3e-3,
        sep=index["<sep>"],
        pad=index["<pad>"],
        seed=0,
        accelerator=make_accelerator(cfg),
        task_weights=(1.0, 1.0, 1.0, 1.0),
    )
    return policy.eval(), test, vocab


def test_k1_sabotage_a_policy_that_never_sees_the_query_moves_the_control(reader):
    policy, test, vocab = reader
    sighted = evaluate_policy(policy, test, vocab)
    sabotaged = evaluate_policy(policy, blind(test, vocab), vocab)
    assert sighted["verb_probe"].mean() >= 70, "the fixture's policy must read the query for the test to mean anything"
    moved = decide(K1, {K1.a: sabotaged[K1.metric][None], K1.b[0]: sighted[K1.metric][None]})
    assert moved.effect < -K1.margin and moved.verdict != "reproduced", (moved.effect, moved.verdict)
    kept = decide(K1, {K1.a: sighted[K1.metric][None], K1.b[0]: sighted[K1.metric][None]})
    assert kept.effect == 0.0  # unsabotaged, the same policy on both sides is K1's equivalence
