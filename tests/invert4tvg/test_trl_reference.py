"""Our GRPO loss and advantages against TRL's GRPOTrainer on a text-only case.

TRL cannot drive the feature-prefix policy (its trainer generates from token prompts), so the kit
keeps its own loop; this test holds the loop's arithmetic to TRL's: the group-normalised advantages
that ``_generate_and_score_completions`` computes from the rewards, and the clipped, k3-penalised
loss of ``_compute_loss`` (``loss_type="grpo"``), on a tiny Llama with a word-level tokenizer.
TRL 1.16 multiplies the KL term by the importance ratio by default (``use_bias_correction_kl``); the
kit follows the DeepSeekMath / open-r1 form, so the loss test turns that correction off. With one
optimizer pass per batch (the kit's default) the ratio is 1, so the two forms give the same loss, but
not the same gradient: the ratio's own gradient multiplies the KL term
(:func:`test_trl_default_kl_correction_changes_the_gradient_not_the_loss` measures the difference).
TRL 1.16's defaults are also ``loss_type="dapo"`` (token-level, normalised over the batch's tokens)
and ``beta=0.0`` (no KL); the kit's settings are ``loss_type="grpo"`` and ``beta=0.04``.
"""

import pytest
import torch

trl = pytest.importorskip("trl")

from repro.invert4tvg.method import group_advantages, grpo_loss  # noqa: E402

WORDS = ["<pad>", "<eos>", "a", "b", "c", "d", "e", "f"]


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    from datasets import Dataset
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    core = Tokenizer(WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<pad>"))
    core.pre_tokenizer = WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>")
    tokenizer.padding_side = "left"
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=1,
    )
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)  # TRL builds the reference model from a path
    seen = []

    def reward(completions, **_):
        values = [float(len(c.split()) % 3) + 0.5 * c.count("a") for c in completions]
        seen.append(values)
        return values

    args = trl.GRPOConfig(
        output_dir=str(tmp_path_factory.mktemp("trl")),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=4,
        beta=0.04,
        epsilon=0.2,
        loss_type="grpo",
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        temperature=1.0,
        seed=0,
        use_bias_correction_kl=False,
    )
    prompts = Dataset.from_dict({"prompt": ["a b", "c d e", "f", "b b c"]})
    grpo = trl.GRPOTrainer(
        model=str(folder), reward_funcs=reward, args=args, train_dataset=prompts, processing_class=tokenizer
    )
    grpo.seen_rewards = seen
    return grpo


def test_advantages_match_trl(trainer):
    batch = [{"prompt": p} for p in ["a b"] * 4 + ["c d e"] * 4]
    trainer.model.train()
    out = trainer._generate_and_score_completions(batch)
    rewards = torch.tensor(trainer.seen_rewards[-1])
    assert rewards.std() > 0, "the reward should vary within the batch for this test to mean something"
    torch.testing.assert_close(group_advantages(rewards, 4), out["advantages"].cpu(), rtol=1e-5, atol=1e-5)


def loss_inputs(trainer, seed, old_noise):
    g = torch.Generator().manual_seed(seed)
    b, p, c = 4, 3, 4
    prompt_ids = torch.randint(2, len(WORDS), (b, p), generator=g)
    completion_ids = torch.randint(2, len(WORDS), (b, c), generator=g)
    completion_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]])
    advantages = torch.randn(b, generator=g)
    model = trainer.model
    input_ids = torch.cat([prompt_ids, completion_ids], 1)
    attention = torch.cat([torch.ones_like(prompt_ids), completion_mask], 1)
    with torch.no_grad():
        logp, _, _ = trainer._get_per_token_logps_and_entropies(model, input_ids, attention, c)
    old = logp + old_noise * torch.randn(logp.shape, generator=g)
    ref = logp + 0.2 * torch.randn(logp.shape, generator=g)
    inputs = {
        "prompt_ids": prompt_ids,
        "prompt_mask": torch.ones_like(prompt_ids),
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "advantages": advantages,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": completion_mask.sum(),
    }
    return inputs, (input_ids, attention, c)


def test_loss_matches_trl(trainer):
    inputs, _ = loss_inputs(trainer, 1, old_noise=0.3)  # ratios beyond 1 +- 0.2: the clip acts
    model = trainer.model
    input_ids = torch.cat([inputs["prompt_ids"], inputs["completion_ids"]], 1)
    attention = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], 1)
    c = inputs["completion_ids"].shape[1]
    with torch.no_grad():
        logp, _, _ = trainer._get_per_token_logps_and_entropies(model, input_ids, attention, c)
    old, ref, advantages = inputs["old_per_token_logps"], inputs["ref_per_token_logps"], inputs["advantages"]
    completion_mask = inputs["completion_mask"]
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    theirs = trainer._compute_loss(model, inputs)
    ours = grpo_loss(logp, old, ref, advantages, completion_mask.float(), clip=0.2, beta=0.04)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-5, atol=1e-6)
    ratio = torch.exp(logp - old)[completion_mask.bool()]
    assert ((ratio < 0.8) | (ratio > 1.2)).any(), "some ratios must fall outside the clip range"


def test_trl_default_kl_correction_changes_the_gradient_not_the_loss(trainer):
    """One optimizer pass per batch (ratio 1): TRL's default ``use_bias_correction_kl=True`` gives the
    kit's loss value, but its gradient carries ``KL * grad(ratio)`` on top of ``grad(KL)``."""
    inputs, (input_ids, attention, c) = loss_inputs(trainer, 2, old_noise=0.0)
    model = trainer.model
    model.train()
    trainer.current_gradient_accumulation_steps = 1

    def grads(loss_fn):
        model.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss.detach(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

    def ours():
        logp, _, _ = trainer._get_per_token_logps_and_entropies(model, input_ids, attention, c)
        mask = inputs["completion_mask"].float()
        return grpo_loss(logp, logp.detach(), inputs["ref_per_token_logps"], inputs["advantages"], mask, beta=0.04)

    inputs["old_per_token_logps"] = None  # TRL's single-pass path: the ratio is exp(logp - logp.detach())
    trainer.args.use_bias_correction_kl = True
    try:
        loss_trl, grad_trl = grads(lambda: trainer._compute_loss(model, inputs))
    finally:
        trainer.args.use_bias_correction_kl = False
    loss_kit, grad_kit = grads(ours)
    torch.testing.assert_close(loss_kit, loss_trl, rtol=1e-5, atol=1e-6)
    difference = (grad_kit - grad_trl).abs().max().item()
    print(f"max |gradient difference| with TRL's bias-corrected KL: {difference:.3g}")
    assert difference > 1e-6, "the KL correction should change the gradient when the KL is not zero"
