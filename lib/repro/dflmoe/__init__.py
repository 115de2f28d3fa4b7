"""dFLMoE: decentralized federated learning with client-specific mixtures of experts
(CVPR 2025, arXiv 2503.10412), in miniature.

Notebooks: ``notebooks/dflmoe/01_data`` ... ``05_figures``; steps: :mod:`repro.dflmoe.pipeline`;
the federated engine: :mod:`repro.dflmoe.federation`; one rank per client: :mod:`repro.dflmoe.distributed`.
"""

from repro.dflmoe.config import PROFILES, DflmoeConfig, config

__all__ = ["PROFILES", "DflmoeConfig", "config"]
