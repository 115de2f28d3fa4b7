"""Invert4TVG: inversion tasks for temporal video grounding trained by GRPO (arXiv 2508.07388), in miniature.

Notebooks: ``notebooks/invert4tvg/01_data`` ... ``05_figures``; steps: :mod:`repro.invert4tvg.pipeline`;
the method as implemented: ``docs/papers/invert4tvg.md``.
"""

from repro.invert4tvg.config import PROFILES, Invert4tvgConfig, config

__all__ = ["PROFILES", "Invert4tvgConfig", "config"]
