"""LingoLoop's pieces: the POS-weighted EOS loss, path pruning, lambda_t and its scaling switch, and
the attack loop's contract (eps-ball, image box, batch = one image at a time)."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from repro import lingoloop
from repro.core.arms import Arm
from repro.core.config import ConfigError
from repro.lingoloop.attack import attack
from repro.lingoloop.baselines import diversity_loss, random_noise, uncertainty_loss
from repro.lingoloop.config import METHODS, AttackHP, spec_of
from repro.lingoloop.data import BOS, END_COLOURS, LONG_COLOUR, POS_TAGS, STRIP_ROWS, Vocab, make_scenes
from repro.lingoloop.method import (
    Ema,
    attention_reweight_loss,
    hidden_norm_loss,
    lambda_t,
    previous_weights,
    target_mask,
    victim_eos_table,
    weighted_eos_loss,
)

HP = AttackHP(steps=4, regen_every=2, max_new_tokens=12)


def test_uniform_weights_give_the_mean_eos_probability_and_pos_weights_shift_it():
    p = torch.tensor([[0.1, 0.2, 0.9, 0.5]])
    mask = target_mask(torch.tensor([3]), 4)
    assert weighted_eos_loss(p, torch.ones_like(p), mask).item() == pytest.approx(0.4)
    w = torch.tensor([[0.0, 0.0, 1.0, 1.0]])  # only where the previous token's POS ends sentences
    assert weighted_eos_loss(p, w, mask).item() == pytest.approx(0.9)


def test_weights_are_looked_up_by_the_previous_token():
    token_weight = torch.tensor([0.0, 0.125, 0.0, 0.0, 0.5, 0.25])
    targets = torch.tensor([[4, 5, 4, 2]])
    # the first position's predecessor is the prompt's last token (BOS here), weighted like any other
    assert previous_weights(targets, token_weight, first_prev=1).tolist() == [[0.125, 0.5, 0.25, 0.5]]


def test_the_victims_eos_table_averages_its_own_eos_probability_per_previous_pos(vlm):
    scenes = make_scenes(6, seed=3)
    pos_of_id = Vocab.build().pos_of_ids()
    images, tokens = torch.from_numpy(scenes.images), torch.from_numpy(scenes.tokens)
    table = victim_eos_table(vlm, images, tokens, pos_of_id, len(POS_TAGS), batch_size=4)
    # by hand: every position up to the EOS, grouped by the previous token's POS
    p = vlm.eos_probability(vlm.teacher_forced(images, tokens).logits)
    sums, counts = torch.zeros(len(POS_TAGS), dtype=torch.float64), torch.zeros(len(POS_TAGS))
    for i, row in enumerate(tokens.tolist()):
        prev = BOS
        for j, token in enumerate(row[: row.index(2) + 1]):
            sums[pos_of_id[prev]] += p[i, j].item()
            counts[pos_of_id[prev]] += 1
            prev = token
    expected = torch.where(counts > 0, sums / counts.clamp_min(1), 0)
    assert torch.allclose(torch.from_numpy(table), expected, atol=1e-5)
    assert table[POS_TAGS.index("DET")] > 0  # measured, not the references' zero


def test_hidden_norm_loss_is_the_masked_mean_norm_over_layers():
    hidden = torch.zeros(2, 1, 3, 4)
    hidden[0, 0, :, 0], hidden[1, 0, :, 0] = 3.0, 5.0
    hidden[:, 0, 2] = 100.0  # masked out
    assert hidden_norm_loss(hidden, target_mask(torch.tensor([2]), 3)).item() == pytest.approx(4.0)


def test_lambda_scaling_switch():
    """consistent: lambda_t sees the same 1e5-scaled L_LPS as the loss; reimpl: the unscaled one."""
    lps, rep = torch.tensor([0.02]), torch.tensor([8.0])
    consistent = lambda_t(lps, rep, 100, 1e5, "consistent")
    reimpl = lambda_t(lps, rep, 100, 1e5, "reimpl")
    assert consistent.item() == pytest.approx(1e5 * reimpl.item())
    assert reimpl.item() == pytest.approx(0.02 / 8 / abs(10 * math.log(101) - 20))
    # the Rep term's size relative to the LPS term: 1/|tau(t)| when consistent, 1e-5 of that otherwise
    assert (consistent * rep / (1e5 * lps)).item() == pytest.approx(1 / abs(10 * math.log(101) - 20))
    with pytest.raises(ValueError, match="lambda_scaling"):
        lambda_t(lps, rep, 1, 1e5, "other")


def test_ema_starts_at_the_first_value():
    ema = Ema(0.9)
    assert ema(torch.tensor(2.0)).item() == 2.0
    assert ema(torch.tensor(12.0)).item() == pytest.approx(3.0)


def test_attention_reweighting_reads_the_subdiagonal():
    attn = torch.zeros(1, 2, 3, 3)
    attn[0, :, 1, 0], attn[0, :, 2, 1] = 0.5, 1.0
    w = torch.tensor([[0.0, 1.0, 3.0]])
    loss = attention_reweight_loss(attn, w, torch.ones(1, 3))
    assert loss.item() == pytest.approx((0.5 * 1 + 1.0 * 3) / 4)


def test_verbose_losses():
    mask = torch.ones(1, 3)
    assert uncertainty_loss(torch.zeros(1, 3, 10), mask).item() == pytest.approx(0.0, abs=1e-6)
    peaked = torch.tensor([[[10.0] + [0.0] * 9] * 3])
    mean = uncertainty_loss(peaked, mask).item()
    assert mean > 1 and uncertainty_loss(peaked, mask, reduction="sum").item() == pytest.approx(3 * mean)
    h = torch.randn(2, 1, 3, 4)  # two layers: their states stacked along the token axis, one matrix
    stacked = torch.cat([h[0, 0], h[1, 0]])
    # the official code takes the absolute states; the sign-keeping variant is a different matrix
    assert diversity_loss(h, mask).item() == pytest.approx(-torch.linalg.svdvals(stacked.abs()).sum().item(), rel=1e-5)
    signed = diversity_loss(h, mask, absolute=False).item()
    assert signed == pytest.approx(-torch.linalg.svdvals(stacked).sum().item(), rel=1e-5)


def test_verbose_images_takes_hf_hidden_states_at_every_position(vlm):
    """HF's hidden_states: the embeddings and every layer (the last after the final norm), over the
    prompt and the target; the logits likewise."""
    x, targets = torch.rand(2, 3, 32, 32), torch.tensor([[5, 6, 2], [7, 2, 0]])
    out = vlm.teacher_forced(x, targets, every_position=True)
    layers = len(vlm.model.get_decoder().layers)
    assert out.hf_hidden.shape[:3] == (layers + 1, 2, vlm.prompt_len + 3)
    assert out.all_logits.shape[:2] == (2, vlm.prompt_len + 3)
    assert torch.equal(out.all_logits[:, vlm.prompt_len - 1 :][:, :3], out.logits)


def test_the_optimiser_switch_puts_every_gradient_attack_on_the_same_steps():
    assert spec_of(Arm("verbose_images")).optimizer == "sign" and spec_of(Arm("lingoloop")).optimizer == "momentum"
    assert {spec_of(Arm(m), "sign").optimizer for m in ("lingoloop", "verbose_images", "eos_only")} == {"sign"}
    assert spec_of(Arm("random_noise"), "momentum").optimizer == "none"  # no gradient: nothing to switch
    with pytest.raises(ValueError, match="optimizer"):
        spec_of(Arm("lingoloop"), "adam")
    with pytest.raises(ConfigError, match="optimizer"):
        lingoloop.config("smoke", optimizer="adam")


def test_verbose_images_keeps_its_best_iterate_from_a_random_start(vlm):
    """The returned image is, per image, the iterate whose greedy caption was longest at a
    regeneration, and the last recorded length is that image's."""
    from repro.lingoloop.attack import initial_delta

    x = torch.rand(3, 3, 32, 32)
    start = initial_delta(x, "randn", 0.1, seed=0)
    assert start.abs().max() <= 0.1 + 1e-6 and (start != 0).float().mean() > 0.9
    result = attack(vlm, x, spec_of(Arm("verbose_images")), HP, seed=0)
    assert torch.equal(result.lengths[-1], result.lengths.max(0).values)
    assert torch.equal(
        vlm.lengths(vlm.generate(result.images, HP.max_new_tokens, HP.repetition_penalty)), result.lengths[-1]
    )


def test_random_noise_stays_in_the_ball_and_the_box():
    x = torch.rand(2, 3, 8, 8)
    adv = random_noise(x, 8 / 255, seed=0)
    assert (adv - x).abs().max() <= 8 / 255 + 1e-6 and 0 <= adv.min() and adv.max() <= 1


def test_noise_rows_keep_or_hit_the_strip():
    x = torch.rand(2, 3, 8, 8) * 0.5 + 0.25
    everywhere = random_noise(x, 0.1, seed=0)
    outside, strip = random_noise(x, 0.1, seed=0, rows="outside_strip"), random_noise(x, 0.1, seed=0, rows="strip")
    assert torch.equal(outside[..., :STRIP_ROWS, :], x[..., :STRIP_ROWS, :])  # the length code untouched
    assert torch.equal(outside[..., STRIP_ROWS:, :], everywhere[..., STRIP_ROWS:, :])  # the same draw elsewhere
    assert torch.equal(strip[..., STRIP_ROWS:, :], x[..., STRIP_ROWS:, :])
    with pytest.raises(ValueError, match="noise rows"):
        random_noise(x, 0.1, seed=0, rows="left")


def strip_reader_tokens(images: torch.Tensor) -> np.ndarray:
    """A stand-in victim that reads its caption's length from the top strip alone, as the golden
    victims are trained to: 8 tokens per code (in the order of END_COLOURS, then LONG_COLOUR) where
    the strip is one clean colour (every channel within 0.1 of the code), else its prior (one
    clause, 8 tokens)."""
    codes = torch.tensor([*END_COLOURS, LONG_COLOUR])  # (6, 3)
    strip = images[:, :, :STRIP_ROWS].flatten(2)  # (B, 3, pixels)
    distance = (strip[:, None] - codes[None, :, :, None]).abs().amax(dim=(2, 3))  # (B, 6): worst pixel
    level = distance.argmin(-1)
    readable = distance.min(-1).values < 0.1
    return torch.where(readable, 8 * (1 + level), torch.full_like(level, 8)).numpy().astype(float)


def test_k1_sabotage_noise_on_the_strip_moves_lengths_past_the_band():
    """K1 (noise outside the strip rows leaves lengths within 3 tokens of clean) against a victim that
    reads the strip: as built it holds exactly; with the noise moved onto the strip rows (the
    sabotage: the length code erased, as the old all-rows K1 did) the lengths fall far past the band."""
    from repro.core.claims import decide
    from repro.lingoloop.claims import CLAIMS

    k1 = next(c for c in CLAIMS if c.id == "K1")
    eps = lingoloop.config("cpu").hp.eps  # the golden's eps (32/255)
    runs = {"clean": [], "outside_noise": [], "strip_noise": []}
    for seed in range(3):
        x = torch.from_numpy(make_scenes(24, seed).images)
        runs["clean"].append(strip_reader_tokens(x))
        runs["outside_noise"].append(strip_reader_tokens(random_noise(x, eps, seed, "outside_strip")))
        runs["strip_noise"].append(strip_reader_tokens(random_noise(x, eps, seed, "strip")))
    scores = {arm: np.stack(v) for arm, v in runs.items()}
    assert np.array_equal(scores["outside_noise"], scores["clean"])  # the premise, for this victim
    sabotaged = decide(k1.with_a("strip_noise"), scores)
    assert sabotaged.ci_high < -k1.margin and sabotaged.verdict == "not reproduced"


def test_unknown_attack_is_named():
    with pytest.raises(KeyError, match="unknown attack"):
        spec_of(Arm("slowdown"))
    assert spec_of(Arm("lingoloop", "lam10")).lambda_rep == 10.0


@pytest.mark.parametrize("arm", ["lingoloop", "verbose_images", "eos_only", "lingoloop_attention", "random_noise"])
def test_attacks_stay_in_the_eps_ball_and_count_their_budget(vlm, arm):
    x = torch.rand(2, 3, 32, 32)
    token_weight = torch.rand(len(vlm.processor.tokenizer))
    result = attack(vlm, x, spec_of(Arm(arm)), HP, token_weight)
    assert (result.images - x).abs().max() <= HP.eps + 1e-6
    assert 0 <= result.images.min() and result.images.max() <= 1
    assert result.checkpoints == [0, 2, 4] and result.lengths.shape == (3, 2)
    if arm != "random_noise":
        assert result.budget.optimizer_steps == HP.steps
        sampled = 3 if spec_of(Arm(arm)).target == "longest_sampled" else 0  # Verbose Images' 3 samples
        assert result.budget.forward_samples == {"teacher_forced": 2 * HP.steps, "generate": 2 * 3 + 2 * 2 * sampled}
        assert all(math.isfinite(v) for v in result.losses)


def test_a_batched_attack_equals_attacking_each_image_alone(vlm):
    """Each image's loss, lambda_t and momentum are its own: batching changes nothing."""
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 32)
    hp = replace(HP, steps=3)
    token_weight = torch.rand(len(vlm.processor.tokenizer))
    both = attack(vlm, x, METHODS["lingoloop"], hp, token_weight).images
    alone = torch.cat([attack(vlm, x[i : i + 1], METHODS["lingoloop"], hp, token_weight).images for i in range(2)])
    assert torch.allclose(both, alone, atol=1e-5)


def test_lingoloop_moves_the_image_and_lowers_its_loss(vlm):
    x = torch.rand(2, 3, 32, 32)
    hp = replace(HP, steps=6, regen_every=6)
    token_weight = torch.ones(len(vlm.processor.tokenizer))
    result = attack(vlm, x, METHODS["lps_only"], hp, token_weight)
    assert (result.images - x).abs().max() > 0
    assert result.losses[-1] < result.losses[0]  # same target all along: the loss must go down


@pytest.mark.parametrize(
    "images,message",
    [
        (torch.rand(3, 32, 32), r"\(B, 3, H, W\)"),
        (torch.rand(1, 1, 32, 32), r"\(B, 3, H, W\)"),
        (torch.rand(1, 3, 32, 32) * 255, r"\[0, 1\]"),
    ],
)
def test_attack_refuses_wrong_images(vlm, images, message):
    with pytest.raises(ValueError, match=message):
        attack(vlm, images, METHODS["lingoloop"], HP, torch.ones(len(vlm.processor.tokenizer)))


def test_lps_weighting_needs_the_table(vlm):
    with pytest.raises(ValueError, match="token_weight"):
        attack(vlm, torch.rand(1, 3, 32, 32), METHODS["lps_only"], HP, None)
