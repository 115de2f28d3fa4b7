"""The policy: a tiny decoder-only language model with the video's frame features as a prefix.

Introduced in ``notebooks/invert4tvg/02_model.ipynb``. The sequence is

    prompt tokens (left-padded)  |  frames  |  <sep>  |  answer tokens

with learned absolute positions and causal attention throughout (the frames see the prompt, the
answer sees both); sampling keeps a key/value cache. Frame ``k`` enters as ``W f_k + E[t_k]``:
its features projected to the model width plus the embedding of its own timestamp token, so the
tokens the policy writes to name a time are the ones it read beside that frame (Video-LLMs such as
TimeChat and Qwen2.5-VL likewise tie frames to absolute time). The output head is tied to the token
embedding. Pre-norm blocks, no dropout (RL ratios need a deterministic forward).

    >>> spec = PolicySpec(layers=1, width=32, heads=2)
    >>> net = Policy(spec, vocab_size=60, frames=32, feature_dim=16, stamp_ids=torch.arange(20, 53))
    >>> net(example_batch(spec, 60, 32, 16)).shape
    torch.Size([2, 8, 60])
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from repro.invert4tvg.config import PolicySpec


class Block(nn.Module):
    """A pre-norm decoder block (causal self-attention, then a GELU MLP) with an optional key/value
    cache, so sampling feeds one new token per step instead of the whole sequence."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, cache: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        b, n, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if cache is not None:  # the new positions attend to everything before them and to themselves
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None and n > 1)
        x = x + self.out(attn.transpose(1, 2).reshape(b, n, d))
        return x + self.mlp(self.norm2(x)), (k, v)


class Policy(nn.Module):
    def __init__(self, spec: PolicySpec, vocab_size: int, frames: int, feature_dim: int, stamp_ids: torch.Tensor):
        super().__init__()
        if len(stamp_ids) < frames:
            raise ValueError(f"need a timestamp token per frame: {len(stamp_ids)} for {frames} frames")
        self.spec, self.frames = spec, frames
        self.embed = nn.Embedding(vocab_size, spec.width)
        self.project = nn.Linear(feature_dim, spec.width)
        self.position = nn.Parameter(torch.randn(spec.prompt_len + frames + 1 + spec.answer_len, spec.width) * 0.02)
        self.register_buffer("stamps", stamp_ids[:frames].clone(), persistent=False)
        self.blocks = nn.ModuleList(Block(spec.width, spec.heads) for _ in range(spec.layers))
        self.norm = nn.LayerNorm(spec.width)
        # 0.3, not GPT-2's 0.02: the word and timestamp embeddings must not start far below the
        # projected frame features they are added to, or the warm-up does not learn to read the query
        nn.init.normal_(self.embed.weight, std=spec.embed_std)

    def prefix(self, prompt: torch.Tensor, frames: torch.Tensor, sep: int) -> torch.Tensor:
        """Input embeddings of ``prompt | frames | <sep>`` (without positions)."""
        video = self.project(frames) + self.embed(self.stamps)
        sep_tok = self.embed(torch.full((prompt.shape[0], 1), sep, dtype=torch.long, device=prompt.device))
        return torch.cat([self.embed(prompt), video, sep_tok], dim=1)

    def run(self, x: torch.Tensor, offset: int = 0, caches: list | None = None) -> tuple[torch.Tensor, list]:
        """Positions, the blocks (extending ``caches`` when given) and the final norm."""
        x = x + self.position[offset : offset + x.shape[1]]
        new = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if caches is None else caches[i])
            new.append(kv)
        return self.norm(x), new

    def logits(self, prompt: torch.Tensor, frames: torch.Tensor, answer: torch.Tensor, sep: int) -> torch.Tensor:
        """Next-token logits from ``<sep>`` on: (B, answer_in + 1, vocab). Position ``j`` predicts
        answer token ``j`` given ``answer[:j]``; feed ``answer[:, :-1]`` to score a whole answer."""
        start = prompt.shape[1] + frames.shape[1]
        h, _ = self.run(torch.cat([self.prefix(prompt, frames, sep), self.embed(answer)], dim=1))
        return h[:, start:] @ self.embed.weight.T

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits of a batch ``{"prompt", "frames", "answer", "sep"}`` (B, A, vocab)."""
        return self.logits(batch["prompt"], batch["frames"], batch["answer"][:, :-1], int(batch["sep"]))


def build_policy(spec: PolicySpec, vocab, frames: int, feature_dim: int) -> Policy:
    """The policy for a vocabulary (:class:`repro.invert4tvg.data.Vocab`) and a video shape."""
    stamps = torch.tensor([vocab.stamp(k) for k in range(frames + 1)])
    return Policy(spec, len(vocab), frames, feature_dim, stamps)


def check_models(cfg) -> dict:
    """Every model a profile uses, with a batch of the right shapes (the config tests run a forward)."""
    from repro.invert4tvg.data import Vocab

    vocab = Vocab.build(cfg.video.frames)
    policy = build_policy(cfg.policy, vocab, cfg.video.frames, cfg.video.feature_dim)
    return {"policy": (policy, example_batch(cfg.policy, len(vocab), cfg.video.frames, cfg.video.feature_dim))}


def example_batch(spec: PolicySpec, vocab_size: int, frames: int, feature_dim: int, n: int = 2) -> dict:
    """A random batch of the right shapes (the model checks of every profile)."""
    g = torch.Generator().manual_seed(0)
    return {
        "prompt": torch.randint(vocab_size, (n, spec.prompt_len), generator=g),
        "frames": torch.randn(n, frames, feature_dim, generator=g),
        "answer": torch.randint(vocab_size, (n, spec.answer_len), generator=g),
        "sep": torch.tensor(2),
    }


def token_logprobs(policy: Policy, prompt, frames, answer, sep: int, temperature: float = 1.0) -> torch.Tensor:
    """Per-token log-probabilities of ``answer`` (B, A) under ``policy`` (teacher forcing)."""
    logits = policy.logits(prompt, frames, answer[:, :-1], sep) / temperature
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, answer.unsqueeze(-1)).squeeze(-1)


@torch.no_grad()
def generate(
    policy: Policy,
    prompt: torch.Tensor,
    frames: torch.Tensor,
    *,
    sep: int,
    eos: int,
    pad: int,
    length: int,
    temperature: float = 1.0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample (or greedily decode) ``length`` answer tokens; after ``<eos>`` the row is padded.

    Returns ``(tokens, mask)``: mask is 1 up to and including the first ``<eos>`` (the tokens that
    count in the loss, as TRL's completion mask)."""
    b = prompt.shape[0]
    out = torch.full((b, 0), pad, dtype=torch.long, device=prompt.device)
    done = torch.zeros(b, dtype=torch.bool, device=prompt.device)
    h, caches = policy.run(policy.prefix(prompt, frames, sep))
    offset = h.shape[1]
    for _ in range(length):
        logits = (h[:, -1] @ policy.embed.weight.T).float()
        if greedy:
            nxt = logits.argmax(-1)
        else:
            probs = torch.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        nxt = torch.where(done, torch.full_like(nxt, pad), nxt)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == eos
        if done.all():
            break
        h, caches = policy.run(policy.embed(nxt[:, None]), offset, caches)
        offset += 1
    if out.shape[1] < length:
        out = torch.cat([out, torch.full((b, length - out.shape[1]), pad, dtype=torch.long, device=out.device)], 1)
    is_eos = (out == eos).long()
    first = torch.where(is_eos.any(1), is_eos.argmax(1), torch.full((b,), length - 1, device=out.device))
    mask = (torch.arange(length, device=out.device)[None] <= first[:, None]).float()
    return out, mask
