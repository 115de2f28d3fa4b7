"""VideoPure: diffusion-based adversarial purification for video recognition, in miniature.

Notebooks: ``notebooks/videopure/01_data`` ... ``05_figures``; steps: :mod:`repro.videopure.pipeline`;
the method and its equations: ``docs/papers/videopure.md``.
"""

from repro.videopure.config import PROFILES, VideopureConfig, config

__all__ = ["PROFILES", "VideopureConfig", "config"]
