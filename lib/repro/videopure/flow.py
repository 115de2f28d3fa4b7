"""Flow for the temporal-consistency term and the warping error: a global integer shift per frame
pair on a torus (the miniature's motion), estimated by exhaustive search. Introduced in
``notebooks/videopure/02_model.ipynb``.

VideoPure's code estimates dense optical flow with RAFT on the (adversarial) input and warps
neighbouring frames with it. Here the motion is a translation, so the estimator searches every
shift ``(dy, dx)`` in ``[-max_shift, max_shift]^2`` for the one that best maps frame ``t`` onto frame
``t + 1`` (least squares). It runs on the clip being purified, never on the generator's labels.

    >>> import torch
    >>> video = torch.rand(1, 3, 1, 8, 8)
    >>> video[:, 1], video[:, 2] = video[:, 0].roll(1, -1), video[:, 0].roll(2, -1)
    >>> estimate_shifts(video, 2)[0].tolist()
    [[0, 1], [0, 1]]
"""

from __future__ import annotations

import torch


def candidate_shifts(max_shift: int) -> torch.Tensor:
    r = torch.arange(-max_shift, max_shift + 1)
    return torch.cartesian_prod(r, r)  # (S, 2): (dy, dx)


def shift_frames(frames: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Roll every frame by its own integer ``(dy, dx)`` on the torus: ``frames`` (..., C, H, W),
    ``shifts`` (..., 2) long. Differentiable in ``frames`` (a gather)."""
    *lead, c, h, w = frames.shape
    rows = (torch.arange(h, device=frames.device) - shifts[..., :1]) % h  # (..., H)
    cols = (torch.arange(w, device=frames.device) - shifts[..., 1:]) % w  # (..., W)
    index = (rows[..., :, None] * w + cols[..., None, :]).flatten(-2)  # (..., H*W)
    flat = frames.reshape(*lead, c, h * w)
    out = flat.gather(-1, index[..., None, :].expand(*lead, c, h * w))
    return out.reshape(frames.shape)


@torch.no_grad()
def estimate_shifts(video: torch.Tensor, max_shift: int) -> torch.Tensor:
    """The best global shift from each frame to the next: ``video`` (B, T, C, H, W) -> (B, T-1, 2) long."""
    cands = candidate_shifts(max_shift).to(video.device)  # (S, 2)
    prev, nxt = video[:, :-1], video[:, 1:]  # (B, T-1, C, H, W)
    b, t1 = prev.shape[:2]
    moved = shift_frames(
        prev[:, :, None].expand(b, t1, len(cands), *prev.shape[2:]), cands.expand(b, t1, len(cands), 2)
    )
    errors = (moved - nxt[:, :, None]).pow(2).flatten(3).mean(-1)  # (B, T-1, S)
    return cands[errors.argmin(-1)]


def warping_residual(video: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """``x_{t+1} - warp(x_t)`` for every frame pair: (B, T-1, C, H, W)."""
    return video[:, 1:] - shift_frames(video[:, :-1], shifts)


def warping_error(video: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Temporal inconsistency per clip: the mean squared warping residual, (B,)."""
    return warping_residual(video, shifts).pow(2).flatten(1).mean(1)


def true_shifts(dx: torch.Tensor, frames: int) -> torch.Tensor:
    """The generator's flow as (B, T-1, 2) shifts: ``(0, dx)`` for every frame pair."""
    zeros = torch.zeros_like(dx)
    return torch.stack([zeros, dx], -1)[:, None].expand(len(dx), frames - 1, 2).long()
