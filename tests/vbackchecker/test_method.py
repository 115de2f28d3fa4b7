"""The pieces that make the checker VBackChecker's: the answer format, the weighted objective, the
decision by [SEG] vs [REJ] at one slot, the mask query from that slot, and the arms' recipes."""

import numpy as np
import pytest
import torch

from repro.core.config import ConfigError
from repro.vbackchecker import config
from repro.vbackchecker.config import CheckerSpec, JudgeSpec, LossWeights, OptimSpec
from repro.vbackchecker.method import (
    PairSampler,
    TrainRows,
    bce_loss,
    check,
    checker_loss,
    class_weights,
    dice_loss,
    paired_loader,
    partners,
    trim_padding,
)
from repro.vbackchecker.models import Checker, SimilarityJudge, check_models
from repro.vbackchecker.recipes import RECIPES
from repro.vbackchecker.text import IGNORE, REJ, SEG, Vocab, encode

TINY = CheckerSpec(vision_width=16, width=16, heads=2, layers=1, vision_layers=1, mask_dim=8)
SENTENCES = ["the big red circle left of the blue square", "the small green triangle above the red circle"]


def test_answers_put_the_decision_at_the_slot():
    vocab = Vocab.build()
    enc = encode(vocab, SENTENCES, [False, True], ["none", "attribute"], 28)
    for i, token in enumerate([SEG, REJ]):
        slot = enc.slot[i]
        assert enc.targets[i, slot] == vocab.index[token]
        assert (enc.targets[i, :slot] == IGNORE).all()
        assert vocab.words[enc.inputs[i, slot]] == "?"
    reason = vocab.decode(enc.inputs[1, enc.slot[1] + 1 :])
    assert reason == "[REJ] because there is a attribute error"
    prompts = encode(vocab, SENTENCES, [False, True], ["none", "attribute"], 28, with_answer=False)
    assert (prompts.targets == IGNORE).all() and (prompts.inputs[:, enc.slot.max() + 2 :] == 0).all()
    with pytest.raises(ValueError, match="max_len"):
        encode(vocab, SENTENCES, [False, True], ["none", "attribute"], 8)


def test_a_rejection_gives_its_reason_after_the_decision():
    vocab = Vocab.build()
    why = ["", "the circle is red , not blue"]
    enc = encode(vocab, SENTENCES, [False, True], ["none", "attribute"], 40, reasons=why)
    answer = vocab.decode([t for t in enc.targets[1] if t != IGNORE])
    assert answer == "[REJ] because there is a attribute error the circle is red , not blue [EOS]"
    assert "[UNK]" not in answer and vocab.decode([t for t in enc.targets[0] if t != IGNORE]) == "[SEG] [EOS]"
    prompts = encode(vocab, SENTENCES, [False, True], ["none", "attribute"], 40, with_answer=False, reasons=why)
    assert (prompts.inputs == encode(vocab, SENTENCES, [False, True], ["none", "attribute"], 40, False).inputs).all()


def test_head_phrases_keep_every_label_exact():
    from datasets import Dataset

    from repro.vbackchecker.training import head_phrases

    objects = [["big red circle", "small blue square", "big red circle"]]
    table = Dataset.from_dict({
        "image_id": [0] * 4,
        "sentence": ["the big red circle left of the blue square", "the small blue square right of the red circle",
                     "the big red circle above the green triangle", "the small green triangle below the red circle"],
        "no_target": [False, False, True, True],
    })  # fmt: skip
    keep, phrases = head_phrases(table, objects)
    # row 0 names two objects once cut (ambiguous: dropped); row 2's cut names an object (no longer no-target)
    assert keep.tolist() == [1, 3] and phrases == ["the small blue square", "the small green triangle"]


def test_special_tokens_weigh_ten_times():
    vocab = Vocab.build()
    w = class_weights(vocab, 10.0)
    assert w[vocab.seg] == w[vocab.rej] == 10.0 and w.sum() == len(vocab.words) - 2 + 20


def test_dice_and_bce_are_lisas():
    target = torch.zeros(1, 8, 8)
    target[0, 2:5, 2:5] = 1
    perfect = (target * 2 - 1) * 50
    assert dice_loss(perfect, target).item() < 1e-3 and bce_loss(perfect, target).item() < 1e-6
    assert dice_loss(-perfect, target).item() > 0.99


def test_rejections_carry_no_mask_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 30)
    masks_logits = torch.randn(2, 8, 8, requires_grad=True)
    targets = torch.full((2, 5), IGNORE)
    targets[:, 2] = 3
    masks = torch.ones(2, 8, 8)
    w = torch.ones(30)
    loss = checker_loss(logits, masks_logits, targets, masks, torch.tensor([True, False]), LossWeights(), w)
    loss.backward()
    assert masks_logits.grad[0].abs().sum() > 0 and masks_logits.grad[1].abs().sum() == 0
    off = checker_loss(logits, masks_logits, targets, masks, torch.tensor([True, True]), LossWeights(), w, False)
    assert off.item() == pytest.approx(torch.nn.functional.cross_entropy(logits[:, 2], targets[:, 2]).item())


def test_mask_loss_averages_over_every_answer_row():
    """The official normalisation: a rejection row is a zero placeholder in the mean, so adding one
    halves the mask terms of a batch with one grounded row."""
    torch.manual_seed(0)
    logits, targets = torch.zeros(2, 5, 30), torch.full((2, 5), IGNORE)
    targets[:, 2] = 3
    mask_logits, masks = torch.randn(2, 8, 8), torch.ones(2, 8, 8)
    w = torch.ones(30)
    ce = torch.nn.functional.cross_entropy(logits[:, 2], targets[:, 2]).item()
    one = checker_loss(logits[:1], mask_logits[:1], targets[:1], masks[:1], torch.tensor([True]), LossWeights(), w)
    two = checker_loss(logits, mask_logits, targets, masks, torch.tensor([True, False]), LossWeights(), w)
    assert two.item() - ce == pytest.approx((one.item() - ce) / 2, rel=1e-5)


def test_batches_pair_each_positive_with_its_negative():
    image_ids = np.array([0, 0, 0, 1, 1, 2, 3, 3])
    grounded = np.array([True, False, True, True, False, True, True, False])
    partner = partners(image_ids, grounded)
    assert partner.tolist() == [1, -1, -1, 4, -1, -1, 7, -1]  # row 2's next row is another scene's
    order = list(PairSampler(partner, 4, 5, seed=0))
    assert len(order) == 20
    pairs = np.array(order).reshape(-1, 2)
    assert set(pairs[:, 0]) <= {0, 3, 6} and (pairs[:, 1] == partner[pairs[:, 0]]).all()
    tensors = (torch.arange(8),)
    batches = list(paired_loader(tensors, partner, 4, 5, seed=0))
    assert len(batches) == 5 and all(len(b[0]) == 4 for b in batches)
    assert len(list(paired_loader(tensors, None, 4, 5, seed=0))) == 5  # no negatives: uniform rows
    with pytest.raises(ValueError, match="even"):
        PairSampler(partner, 3, 5, seed=0)


def test_decision_does_not_see_the_answer():
    """Causal: the logits at the slot are the same with or without the teacher-forced answer."""
    torch.manual_seed(0)
    vocab = Vocab.build()
    model = Checker(TINY, len(vocab.words), 32).eval()
    forced = encode(vocab, SENTENCES, [False, True], ["none", "object"], 28)
    prompts = encode(vocab, SENTENCES, [False, True], ["none", "object"], 28, with_answer=False)
    images = torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8)
    slot = torch.from_numpy(forced.slot)
    a, ma = model(images, torch.from_numpy(forced.inputs), slot)
    b, mb = model(images, torch.from_numpy(prompts.inputs), slot)
    idx = torch.arange(2)
    torch.testing.assert_close(a[idx, slot], b[idx, slot])
    torch.testing.assert_close(ma, mb)  # the mask query is the slot's state, like LISA's [SEG] embedding
    assert ma.shape == (2, 32, 32)


def test_trimming_the_padding_changes_no_output():
    """The batch's columns after its longest row are padding no real position reads: cutting them
    leaves every real position's logits and the mask as they were."""
    torch.manual_seed(0)
    vocab = Vocab.build()
    model = Checker(TINY, len(vocab.words), 32).eval()
    forced = encode(vocab, SENTENCES, [False, True], ["none", "object"], 40, reasons=["", "the red object is a circle"])
    inputs, targets = torch.from_numpy(forced.inputs), torch.from_numpy(forced.targets)
    cut, cut_targets = trim_padding(inputs, targets)
    used = int((inputs != 0).sum(1).max())
    assert cut.shape[1] == cut_targets.shape[1] == used < 40 and (targets[:, used:] == IGNORE).all()
    images = torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8)
    slot = torch.from_numpy(forced.slot)
    a, ma = model(images, inputs, slot)
    b, mb = model(images, cut, slot)
    torch.testing.assert_close(a[:, :used], b)
    torch.testing.assert_close(ma, mb)


def test_check_rejects_with_an_empty_mask():
    torch.manual_seed(0)
    vocab = Vocab.build()
    model = Checker(TINY, len(vocab.words), 32).eval()
    with torch.no_grad():  # force [REJ] for every input: every hidden state is all ones, [REJ] reads +1s
        model.norm.weight.zero_()
        model.norm.bias.fill_(1.0)
        model.head.weight[vocab.rej] = 1.0
        model.head.weight[vocab.seg] = -1.0
    prompts = encode(vocab, SENTENCES, [False, False], ["none", "none"], 28, with_answer=False)
    images = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    out = check(model, images, np.array([0, 2]), prompts, batch_size=1)
    assert not out.accept.any() and not out.masks.any() and (out.margin < 0).all()


def test_recipes_switch_one_thing_each():
    base = RECIPES["checker"]
    assert base.kinds == ("positive", "hard") and base.mask_loss and not base.blank_image
    assert RECIPES["grounder"].kinds == ("positive",)
    assert RECIPES["gsva"].kinds == ("positive", "easy")
    assert RECIPES["text_only"].blank_image and RECIPES["text_only"].kinds == base.kinds
    assert not RECIPES["no_mask_loss"].mask_loss and RECIPES["token_w1"].special_weight == 1.0


def test_similarity_judge_scores_pairs():
    judge = SimilarityJudge(JudgeSpec(width=16, heads=2, layers=1, embed_dim=8), len(Vocab.build().words), 32)
    images = torch.randint(0, 255, (3, 32, 32, 3), dtype=torch.uint8)
    tokens = torch.randint(1, 10, (3, 12))
    pairs = judge(images, tokens, all_pairs=True)
    torch.testing.assert_close(torch.diagonal(pairs), judge(images, tokens))


def test_train_rows_subset_keeps_rows_aligned():
    enc = encode(Vocab.build(), SENTENCES, [False, True], ["none", "object"], 28)
    rows = TrainRows(np.array([4, 7]), enc, np.zeros((2, 32, 32), bool), np.array([True, False]))
    sub = rows.subset(np.array([False, True]))
    assert sub.image_ids.tolist() == [7] and not sub.grounded[0] and sub.encoded.inputs.shape == (1, 28)


@pytest.mark.parametrize(
    "override,message",
    [
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"optim": {"epochs": 0}}, "optim.epochs"),
        ({"optim": {"lr": 0.0}}, "optim.lr"),
        ({"arms": ["checker", "gpt4o"]}, "arms"),
        ({"train_operators": ["swap_everything"]}, "train_operators"),
        ({"checker": {"heads": 3}}, "heads"),
        ({"image_size": 30}, "multiple"),
        ({"not_a_field": 1}, "unknown override"),
        ({"pretrain": {"steps": -1}}, "pretrain.steps"),
        ({"data_source": "released", "pretrain": {"steps": 4, "phrase_steps": 4}}, "phrase_steps"),
        ({"optim": {"batch_size": 15}}, "even"),
    ],
)
def test_bad_config_names_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        config("smoke", **override)


def test_profiles_build_their_models():
    for profile in ("smoke", "cpu", "gpu"):
        for name, (module, batch) in check_models(config(profile)).items():
            with torch.no_grad():
                assert torch.isfinite(module.eval()(batch)).all(), (profile, name)
    assert set(config("cpu").arms) == {"checker", "grounder", "gsva", "similarity", "text_only"}  # what claims compare
    assert isinstance(config("gpu").optim, OptimSpec) and config("gpu").arms == config("smoke").arms
