"""Metrics of a pruned diffusion model, as per-example scores for the claims.
Introduced in ``notebooks/gfprune/04_evaluate.ipynb``.

* **Frechet distance in the digit classifier's features**: the FID formula
  ``|mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^(1/2))`` on the 64 penultimate features of a
  classifier trained in place, against the real training images. Not Inception FID and not
  comparable with the paper's numbers. The table's ``frechet_plugin`` is the plug-in value on all
  samples. A set statistic has no per-image value, so the claims use ``frechet_jackknife``: the
  pseudo-values ``n FD - (n - 1) FD_(-i)`` (their mean is the jackknife estimate of FD, which
  corrects the plug-in value's bias, and their spread gives its standard error), paired across
  models by the shared noise. The two numbers differ; both are named.
* **SSIM** (``ssim``) of each sample to the pretrained model's sample from the same noise (DDIM,
  eta = 0), torchmetrics with a 7-pixel Gaussian window (the images are 16x16), data range 2.
* **Convergence per gradient evaluation** (``val_loss_at_budget``): each validation example's DDPM
  loss when every method has spent the same total gradient evaluations, pruning phase included
  (methods whose pruning cost less fine-tune longer; the train step equalises the totals to within
  one checkpoint interval).
* **Speed-up** (``speedup``): dense over pruned DDIM sampling time, measured in alternation so
  that load drifts hit both; beside it the MACs ratio (claim C3 asks whether the first tracks it).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from repro.core.runtime import synchronize
from repro.gfprune.models import ddim_sample


def feature_stats(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = feats.double()
    return f.mean(0), torch.cov(f.T)


def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(a)
    return (vecs * vals.clamp_min(0).sqrt().unsqueeze(-2)) @ vecs.transpose(-1, -2)


def _frechet(
    mu: torch.Tensor, cov: torch.Tensor, mu_r: torch.Tensor, cov_r_sqrt: torch.Tensor, tr_r: torch.Tensor
) -> torch.Tensor:
    """Batched over leading dims of ``mu`` (..., d) and ``cov`` (..., d, d); ``tr sqrt(S_g S_r)`` as
    the trace of the root of the symmetric ``S_r^(1/2) S_g S_r^(1/2)`` (same eigenvalues)."""
    inner = cov_r_sqrt @ cov @ cov_r_sqrt
    tr_sqrt = torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum(-1)
    return (mu - mu_r).pow(2).sum(-1) + cov.diagonal(dim1=-2, dim2=-1).sum(-1) + tr_r - 2 * tr_sqrt


def frechet_distance(feats: torch.Tensor, mu_r: torch.Tensor, cov_r: torch.Tensor) -> float:
    mu, cov = feature_stats(feats)
    return float(_frechet(mu, cov, mu_r, _sqrtm_psd(cov_r), cov_r.trace()))


def frechet_pseudovalues(feats: torch.Tensor, mu_r: torch.Tensor, cov_r: torch.Tensor) -> np.ndarray:
    """Jackknife pseudo-values of the Frechet distance, one per generated sample, vectorised: the
    leave-one-out means and covariances are rank-one downdates of the full ones."""
    f = feats.double()
    n = len(f)
    mu, cov = feature_stats(f)
    d = f - mu
    scatter = cov * (n - 1)
    mu_loo = (n * mu - f) / (n - 1)
    cov_loo = (scatter - (n / (n - 1)) * d.unsqueeze(2) * d.unsqueeze(1)) / (n - 2)
    root, tr_r = _sqrtm_psd(cov_r), cov_r.trace()
    full = _frechet(mu, cov, mu_r, root, tr_r)
    loo = _frechet(mu_loo, cov_loo, mu_r, root, tr_r)
    return (n * full - (n - 1) * loo).numpy()


def ssim_per_image(samples: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """The kit's SSIM (the claims' metric): images in [-1, 1], data range 2, a 7-pixel Gaussian window
    (the 16x16 digits are small for the usual 11)."""
    from torchmetrics.functional.image.ssim import structural_similarity_index_measure as ssim

    return ssim(samples.cpu(), reference.cpu(), data_range=2.0, kernel_size=7, reduction="none").numpy()


def ssim_diffpruning(samples: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """SSIM in Diff-Pruning's convention (a table column beside :func:`ssim_per_image`): images mapped
    to [0, 1] and clipped, data range 1, the 11-pixel Gaussian window (sigma 1.5) of pytorch_msssim's
    default. The affine map alone changes nothing; the clipping and the window do."""
    from torchmetrics.functional.image.ssim import structural_similarity_index_measure as ssim

    def unit(x: torch.Tensor) -> torch.Tensor:
        return ((x.cpu() + 1) / 2).clamp(0, 1)

    return ssim(unit(samples), unit(reference), data_range=1.0, kernel_size=11, reduction="none").numpy()


@torch.no_grad()
def latency_pairs(
    dense: nn.Module, pruned: nn.Module, sched_config: dict, noise: torch.Tensor, steps: int, repeats: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds per DDIM sampling of ``noise`` for the dense and the pruned model, timed in
    alternation after one warm-up each."""
    times = {"dense": [], "pruned": []}
    for model in (dense, pruned):
        ddim_sample(model, sched_config, noise, steps, batch_size=len(noise))
    for _ in range(repeats):
        for name, model in (("dense", dense), ("pruned", pruned)):
            synchronize(noise.device)
            started = time.perf_counter()
            ddim_sample(model, sched_config, noise, steps, batch_size=len(noise))
            synchronize(noise.device)
            times[name].append(time.perf_counter() - started)
    return np.array(times["dense"]), np.array(times["pruned"])


def results_table(per_arm: Mapping[str, Mapping[str, list[float]]], reference_rows: list[dict]) -> list[dict]:
    """Reference rows (dense model = oracle, real test digits = the metric's floor), then each arm's
    mean and seed sd per column."""
    rows = list(reference_rows)
    for arm, columns in per_arm.items():
        row: dict = {"method": arm}
        for column, values in columns.items():
            values = np.asarray(values, dtype=float)
            row[column] = round(float(values.mean()), 4)
            if len(values) > 1 and values.std() > 0:
                row[f"{column}_sd"] = round(float(values.std(ddof=1)), 4)
        rows.append(row)
    return rows
