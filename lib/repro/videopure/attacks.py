"""The three threat models of VideoPure's evaluation, all L_inf PGD on clips in [0, 1]
(VideoPure's code: eps 4/255, step 2/255, 10 iterations). Introduced in ``03_train.ipynb``.

* gray-box (``pgd``): the attacker knows the recogniser, not the purifier: torchattacks' PGD on the
  recogniser alone (uniform random start; VideoPure's code starts from ``x + eps * N(0, 1)``).
* adaptive (``bpda``): BPDA through the purifier (Athalye et al., 2018): the purifier's Jacobian is
  taken as the identity, so the gradient is the recogniser's input gradient at the purified clips,
  averaged over the rung's candidates (VideoPure's code averages over the voting candidates), and,
  as the honesty guard asks, over ``eot`` independent purifications (EOT; for a deterministic rung
  every draw is the same). Start ``x + eps * N(0, 1)`` clipped, as in VideoPure's code.
* black-box (``transfer``): torchattacks' PGD on a surrogate recogniser of another architecture;
  the clips are then purified and classified by the target.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from repro.videopure.method import Purified


def pgd(model: nn.Module, video: torch.Tensor, label: torch.Tensor, eps: float, step: float, steps: int, seed: int):
    """torchattacks' L_inf PGD on ``model`` (the gray-box attack, or the transfer attack's surrogate)."""
    import torchattacks

    torch.manual_seed(seed)  # torchattacks draws its random start from the global generator
    attack = torchattacks.PGD(model, eps=eps, alpha=step, steps=steps, random_start=True)
    return attack(video, label).detach()


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    return (x + (x_adv - x).clamp(-eps, eps)).clamp(0, 1)


def bpda_eot(
    purify: Callable[[torch.Tensor, torch.Generator], Purified],
    recogniser: nn.Module,
    video: torch.Tensor,
    label: torch.Tensor,
    eps: float,
    step: float,
    steps: int,
    eot: int,
    seed: int,
) -> tuple[torch.Tensor, int]:
    """Adaptive PGD through ``purify`` (module docstring); returns the clips and the purifications spent."""
    generator = torch.Generator().manual_seed(seed)
    x = video.detach()
    x_adv = project(x + eps * torch.randn(x.shape, generator=generator), x, eps)
    purifications = 0
    for _ in range(steps):
        grad = torch.zeros_like(x)
        for _ in range(eot):
            candidates = purify(x_adv, generator).candidates  # (K, B, T, 1, H, W), no graph
            purifications += 1
            grad += candidate_gradient(recogniser, candidates, label)
        x_adv = project(x_adv + step * grad.sign(), x, eps)
    return x_adv.detach(), purifications


def candidate_gradient(recogniser: nn.Module, candidates: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The cross-entropy's gradient at each candidate, averaged over the candidates: (B, T, 1, H, W)."""
    k = len(candidates)
    with torch.enable_grad():
        c = candidates.detach().requires_grad_(True)
        loss = F.cross_entropy(recogniser(c.flatten(0, 1)), label.repeat(k), reduction="sum")
        (grad,) = torch.autograd.grad(loss, c)
    return grad.mean(0)
