"""LingoLoop's losses and the victim's POS -> p(EOS) table; the attack loop every gradient attack
shares is in :mod:`repro.lingoloop.attack`, the attacks as data in :mod:`repro.lingoloop.config`.
Introduced in ``notebooks/lingoloop/03_train.ipynb``.

Notation: the target ``y_1..y_T`` is the victim's own greedy output on the current adversarial
image (regenerated every ``regen_every`` steps), ``p_EOS,i`` the probability of EOS as token ``i``
under teacher forcing, ``h^l_i`` the decoder's hidden state at layer ``l`` that predicts token ``i``,
and ``m_i`` masks the positions up to and including the target's EOS.

* POS-weighted EOS loss (paper, re-implementation's form):
  ``L_LPS = sum_i w(POS(y_{i-1})) p_EOS,i m_i / sum_i w(POS(y_{i-1})) m_i``, with
  ``w(POS) = pbar_EOS(POS) / sum_POS pbar_EOS(POS)``, where ``pbar_EOS(POS)`` is the *victim's own*
  p(EOS) averaged over the positions whose previous token has that POS, on clean reference captions
  under teacher forcing (:func:`victim_eos_table`, as the method prescribes; the data step's table of
  EOS frequencies in the references is shown for comparison only). The first token's predecessor is
  the prompt's last token (BOS for the miniature's victim); its weight is the table's value for that
  POS, measured like every other (the victim never ends an empty caption, so it is ~0; earlier
  versions of the kit set it to 0 by hand). ``weighting="uniform"`` sets every w to 1 (the paper's
  "uniform EOS" ablation).
* The abstract's "adjusting attention weights guided by POS" has no public formula. Our option
  ``lps_mode="attention"`` (reconstruction) keeps the uniform EOS loss and adds
  ``sum_i w(POS(y_{i-1})) a_{i,i-1} m_i / sum_i w m_i``, where ``a_{i,i-1}`` is the last layer's
  attention (mean over heads) from position i to the EOS-prone token before it: the image is pushed
  to make the decoder look away from the tokens after which it tends to stop. The numbers in the
  claims use ``lps_mode="loss"``.
* Generative path pruning: ``L_Rep = mean over layers and valid positions of ||h^l_i||_2``, with
  ``h^l`` the output of decoder layer ``l`` itself (before the final norm; see
  :class:`repro.lingoloop.vlm.TeacherForced` for why).
* Total: ``s * L_LPS + lambda_rep * lambda_t * L_Rep`` with ``s = 1e5`` and
  ``lambda_t = EMA_0.9 |s' * L_LPS / L_Rep / (10 ln(t+1) - 20)|`` (t counts steps from 1, per image).
  The published formula takes ``s' = 1`` (the re-implementation) while the loss uses ``s = 1e5``, which
  leaves the Rep term at ~1e-5 of the LPS term. ``lambda_scaling="consistent"`` (our default) takes
  ``s' = s``, so the Rep term is ``|L_LPS| / |10 ln(t+1) - 20|`` of the LPS term's size, the balance
  the formula is meant to give; ``"reimpl"`` keeps ``s' = 1``. Only the ratio matters: the step uses
  the normalised gradient's sign.
* Optimiser (paper): PGD on the image in the L_inf ball, momentum 0.9 on L1-normalised gradients
  (MI-FGSM: ``g <- mu g + grad / mean|grad|``, ``x <- x - alpha sign(g)``). Verbose Images and the
  NICGSlowDown-style EOS baseline use plain sign steps, as in their papers.

Every attack is run on a batch of images with one forward/backward per step for the whole batch;
each image's loss, ``lambda_t`` and momentum are its own, so the batch equals attacking the images
one by one.
"""

from __future__ import annotations

import math

import torch

from repro.lingoloop.config import AttackHP, AttackSpec

# ----------------------------------------------------------------------------------------------
# losses (per image: shape (B,))


def target_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    """(B, T) float mask of the positions up to and including each target's EOS (or the cap)."""
    return (torch.arange(T, device=lengths.device)[None] < lengths[:, None]).float()


def previous_tokens(targets: torch.Tensor, first_prev: int) -> torch.Tensor:
    """y_{i-1} per position (B, T); the first position's predecessor is ``first_prev`` (the
    prompt's last token)."""
    return torch.cat([torch.full_like(targets[:, :1], first_prev), targets[:, :-1]], dim=1)


def previous_weights(targets: torch.Tensor, token_weight: torch.Tensor, first_prev: int) -> torch.Tensor:
    """w(POS(y_{i-1})) per position (B, T), ``token_weight`` indexed by token id."""
    return token_weight.to(targets.device)[previous_tokens(targets, first_prev)]


@torch.no_grad()
def victim_eos_table(vlm, images: torch.Tensor, tokens: torch.Tensor, pos_of_id, n_tags: int, batch_size: int = 64):
    """``pbar_EOS(POS)``: the victim's own p(EOS) at each position of the reference captions (teacher
    forced, up to and including the EOS), averaged per POS of the previous token; (n_tags,) numpy,
    0 for tags never seen. ``tokens`` (N, L) are the references padded after their EOS (or after
    their last word, for a caption cut before its end)."""
    import numpy as np

    pos_of_id = torch.as_tensor(pos_of_id)
    first_prev = int(vlm.prompt["input_ids"][0, -1])
    sums, counts = torch.zeros(n_tags, dtype=torch.float64), torch.zeros(n_tags, dtype=torch.float64)
    for i in range(0, len(images), batch_size):
        y = tokens[i : i + batch_size].to(vlm.device)
        lengths = vlm.lengths(y)
        y = y[:, : int(lengths.max())]
        p_eos = vlm.eos_probability(vlm.teacher_forced(images[i : i + batch_size].to(vlm.device), y).logits)
        mask = target_mask(lengths, y.shape[1]).bool() & (y != vlm.pad_id)  # a cut reference has no EOS
        tags = pos_of_id[previous_tokens(y, first_prev).cpu()][mask.cpu()]
        sums += torch.bincount(tags, weights=p_eos[mask].double().cpu(), minlength=n_tags)[:n_tags]
        counts += torch.bincount(tags, minlength=n_tags)[:n_tags].double()
    return np.divide(sums.numpy(), counts.numpy(), out=np.zeros(n_tags), where=counts.numpy() > 0)


def weighted_eos_loss(p_eos: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum w p m / sum w m`` per image (a uniform weight gives the mean p_EOS)."""
    wm = weights * mask
    return (wm * p_eos).sum(1) / wm.sum(1).clamp_min(1e-12)


def attention_reweight_loss(attn: torch.Tensor, weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``sum_i w(POS(y_{i-1})) a_{i,i-1} m_i / sum w m``: attention to the EOS-prone predecessor."""
    to_previous = torch.diagonal(attn.mean(1), offset=-1, dim1=-2, dim2=-1)  # (B, T-1): a_{i,i-1}, i >= 1
    w, m = weights[:, 1:], mask[:, 1:]
    return (w * m * to_previous).sum(1) / (w * m).sum(1).clamp_min(1e-12)


def hidden_norm_loss(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``L_Rep``: mean over layers and valid positions of ||h||_2 (hidden: (layers, B, T, d))."""
    norms = hidden.float().norm(dim=-1).mean(0)  # (B, T)
    return (norms * mask).sum(1) / mask.sum(1).clamp_min(1)


def lambda_schedule(t: int) -> float:
    """The denominator 10 ln(t+1) - 20 of lambda_t (the paper; Verbose Images' tau_1)."""
    return 10 * math.log(t + 1) - 20


def lambda_t(l_lps: torch.Tensor, l_rep: torch.Tensor, t: int, scale: float, scaling: str) -> torch.Tensor:
    """``|s' L_LPS / L_Rep / (10 ln(t+1) - 20)|`` per image, detached (a weight, not a loss term)."""
    if scaling not in ("consistent", "reimpl"):
        raise ValueError(f"lambda_scaling must be 'consistent' or 'reimpl', not {scaling!r}")
    s = scale if scaling == "consistent" else 1.0
    return (s * l_lps / l_rep / lambda_schedule(t)).abs().detach()


class Ema:
    """Exponential moving average of per-image weights (first value taken as is)."""

    def __init__(self, decay: float):
        self.decay, self.value = decay, None

    def __call__(self, new: torch.Tensor) -> torch.Tensor:
        self.value = new if self.value is None else self.decay * self.value + (1 - self.decay) * new
        return self.value


def lingoloop_loss(vlm, x, targets, target_len, spec: AttackSpec, hp: AttackHP, t, state, token_weight):
    """``s L_LPS + lambda_rep lambda_t L_Rep`` per image, and its parts (see the module docstring)."""
    T = targets.shape[1]
    mask = target_mask(target_len, T)
    out = vlm.teacher_forced(x, targets, attentions=spec.lps_mode == "attention")
    p_eos = vlm.eos_probability(out.logits)
    if spec.weighting == "pos":
        if token_weight is None:
            raise ValueError("POS weighting needs token_weight (the POS -> P(EOS) table per token id)")
        weights = previous_weights(targets, token_weight, int(vlm.prompt["input_ids"][0, -1]))
    elif spec.weighting == "uniform":
        weights = torch.ones_like(p_eos)
    else:
        raise ValueError(f"weighting must be 'pos' or 'uniform', not {spec.weighting!r}")
    if spec.lps_mode == "attention":
        l_lps = weighted_eos_loss(p_eos, torch.ones_like(p_eos), mask) + attention_reweight_loss(
            out.attentions, weights, mask
        )
    else:
        l_lps = weighted_eos_loss(p_eos, weights, mask)
    l_rep = hidden_norm_loss(out.hidden, mask)
    terms = {"lps": l_lps.detach(), "rep": l_rep.detach()}
    total = hp.lps_scale * l_lps
    if spec.lambda_rep > 0:
        ema = state.setdefault("lambda", Ema(hp.ema))
        lam = ema(lambda_t(l_lps, l_rep, t, hp.lps_scale, spec.lambda_scaling))
        total = total + spec.lambda_rep * lam * l_rep
        terms["lambda_t"] = lam
        terms["rep_share"] = (spec.lambda_rep * lam * l_rep / total).detach()
    return total, terms
