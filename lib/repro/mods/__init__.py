"""MODS: multimodal sentiment analysis with a dynamic primary modality (the third seed abstract),
in miniature.

Notebooks: ``notebooks/mods/01_data`` ... ``05_figures``; steps: :mod:`repro.mods.pipeline`.
"""

from repro.mods.config import PROFILES, ModsConfig, config

__all__ = ["PROFILES", "ModsConfig", "config"]
