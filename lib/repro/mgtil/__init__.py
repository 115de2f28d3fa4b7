"""MGTIL / PRIMED: RAG-guided dynamic knowledge distillation for continual learning of medical
vision-language models (arXiv 2512.13072), in miniature.

Notebooks: ``notebooks/mgtil/01_data`` ... ``05_figures``; steps: :mod:`repro.mgtil.pipeline`;
the method as implemented: ``docs/papers/mgtil.md``.
"""

from repro.mgtil.config import PROFILES, MgtilConfig, config

__all__ = ["PROFILES", "MgtilConfig", "config"]
