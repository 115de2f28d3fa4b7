"""MMARD: min-max optimisation adversarial robustness distillation (arXiv 2503.06559), in miniature.

Notebooks: ``notebooks/mmard/01_data`` ... ``05_figures``; steps: :mod:`repro.mmard.pipeline`.
"""

from repro.mmard.config import PROFILES, MmardConfig, config

__all__ = ["PROFILES", "MmardConfig", "config"]
