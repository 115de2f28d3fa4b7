"""LingoLoop: an energy-latency attack on vision-language models (POS-aware EOS suppression and
generative path pruning), in miniature.

Notebooks: ``notebooks/lingoloop/01_data`` ... ``05_figures``; steps: :mod:`repro.lingoloop.pipeline`.
"""

from repro.lingoloop.config import PROFILES, LingoloopConfig, config

__all__ = ["PROFILES", "LingoloopConfig", "config"]
