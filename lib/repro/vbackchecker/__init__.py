"""VBackChecker: reference-free hallucination detection for multimodal LLM outputs by pixel-level
grounding, in miniature.

Notebooks: ``notebooks/vbackchecker/01_data`` ... ``05_figures``; steps: :mod:`repro.vbackchecker.pipeline`.
"""

from repro.vbackchecker.config import PROFILES, VbackcheckerConfig, config

__all__ = ["PROFILES", "VbackcheckerConfig", "config"]
