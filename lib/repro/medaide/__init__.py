"""MedAide: intent-routed medical multi-agent collaboration (arXiv 2410.12532), in miniature.

Notebooks: ``notebooks/medaide/01_data`` ... ``05_figures``; steps: :mod:`repro.medaide.pipeline`.
"""

from repro.medaide.config import PROFILES, MedaideConfig, config

__all__ = ["PROFILES", "MedaideConfig", "config"]
