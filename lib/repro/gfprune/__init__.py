"""gfprune: gradient-flow iterative pruning of diffusion models (ICASSP 2025, arXiv 2501.09464), in miniature.

Notebooks: ``notebooks/gfprune/01_data`` ... ``05_figures``; steps: :mod:`repro.gfprune.pipeline`.
"""

from repro.gfprune.config import PROFILES, GfpruneConfig, config

__all__ = ["PROFILES", "GfpruneConfig", "config"]
