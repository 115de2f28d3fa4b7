"""The metrics: the Frechet distance (against scipy's formula), its jackknife pseudo-values, SSIM."""

import numpy as np
import pytest
import torch
from scipy import linalg

from repro.gfprune.evaluate import feature_stats, frechet_distance, frechet_pseudovalues, ssim_per_image


def reference_fd(f, r):
    mu1, mu2 = f.mean(0), r.mean(0)
    s1, s2 = np.cov(f.T), np.cov(r.T)
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2)).real


def test_frechet_distance_matches_the_fid_formula_and_is_zero_on_itself():
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(400, 6, generator=g), torch.randn(120, 6, generator=g) * 1.3 + 0.2
    mu, cov = feature_stats(real)
    assert frechet_distance(fake, mu, cov) == pytest.approx(
        reference_fd(fake.double().numpy(), real.double().numpy()), rel=1e-6
    )
    assert frechet_distance(real, mu, cov) == pytest.approx(0.0, abs=1e-8)


def test_pseudovalues_are_the_jackknife_of_the_frechet_distance():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, 5, generator=g), torch.randn(40, 5, generator=g) + 0.5
    mu, cov = feature_stats(real)
    pseudo = frechet_pseudovalues(fake, mu, cov)
    full = frechet_distance(fake, mu, cov)
    for i in (0, 17, 39):
        loo = frechet_distance(torch.cat([fake[:i], fake[i + 1 :]]), mu, cov)
        assert pseudo[i] == pytest.approx(40 * full - 39 * loo, rel=1e-8)
    assert pseudo.shape == (40,)


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    assert np.allclose(ssim_per_image(x, x), 1.0)
    noisy = (x + 0.5 * torch.randn_like(x)).clamp(-1, 1)
    assert (ssim_per_image(noisy, x) < 0.9).all()


def test_ssim_in_both_conventions():
    """The kit's SSIM ([-1, 1], range 2, 7-pixel window) and Diff-Pruning's ([0, 1] clipped, range 1,
    11-pixel window) agree on identical images and differ only by window and clipping."""
    import torch

    from repro.gfprune.evaluate import ssim_diffpruning, ssim_per_image

    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 1, 16, 16, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(4, 1, 16, 16, generator=g)).clamp(-1, 1)
    assert np.allclose(ssim_diffpruning(a, a), 1.0, atol=1e-5) and np.allclose(ssim_per_image(a, a), 1.0, atol=1e-5)
    assert (ssim_diffpruning(a, b) < 1).all() and not np.allclose(ssim_diffpruning(a, b), ssim_per_image(a, b))
