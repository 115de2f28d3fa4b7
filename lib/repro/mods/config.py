"""MODS's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see the README for timings.

    >>> from repro import mods
    >>> cfg = mods.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Miniature choices (the paper leaves them open; each is a field, so it can be switched; docs/papers/mods.md):
a synthetic set in the MMSA pickle schema (``repro.mods.data``) whose dominant modality varies per
sample, and its control where language always dominates; MODS-mini with d = 32, 3 routing
iterations, 2 GCN layers, 2 PCCA layers (the paper); Adam at lr 1e-3 (the paper's 3e-5 is for a BERT
backbone; our encoders are trained from scratch), the same for every arm; a fixed number of epochs
and no model selection on the validation split, for every arm alike.

This module imports no torch code: models are built from the specs by :mod:`repro.mods.method`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from repro.core.config import ConfigError, RunConfig, bounded, make_config, one_of

# arm -> (changes to the profile's ModelSpec, whether the loss adds InfoNCE): the method, its
# ablations and the baselines (repro.mods.method builds and trains them)
ARMS: dict[str, tuple[dict[str, Any], bool]] = {
    "mods": ({}, True),
    "mods_nogdc": ({"compressor": "pool"}, True),  # plain pooling to the same length
    "mods_nopcca": ({"fusion": "concat"}, True),
    "mods_nonce": ({}, False),
    "fixed_l": ({"selector": "text"}, True),  # fixed primary, language (ALMT-style); also the no-MSelector ablation
    "fixed_a": ({"selector": "audio"}, True),
    "fixed_v": ({"selector": "vision"}, True),
    "late": ({"arch": "late"}, False),
    "late_gate": ({"arch": "late_gate"}, False),
    "early": ({"arch": "early"}, False),
    "mult": ({"arch": "mult"}, False),
}
CONTROL = "language"  # the condition of the arms trained and tested on the language-always set


@dataclass(frozen=True)
class ModelSpec:
    """Everything that rebuilds a model (saved as JSON beside its weights). A profile's spec leaves
    ``dims`` and ``nodes`` to the data: :meth:`ModsConfig.model_for` fills them in."""

    arch: str = "mods"  # mods | late | late_gate | early | mult
    dims: tuple[int, ...] = ()  # input feature dims (text, audio, vision), from the data
    d_model: int = 32
    heads: int = 4
    nodes: int = bounded(0, ge=0)  # GDC's T_l nodes; 0 = the text length (the paper compresses to T_l)
    routing_iters: int = bounded(3, ge=1)
    gcn_layers: int = bounded(2, ge=0)
    layers: int = bounded(2, ge=1)  # PCCA layers (mods), encoder layers (early)
    dropout: float = bounded(0.1, ge=0, lt=1)
    compressor: str = "gdc"  # gdc | pool (the no-GDC ablation: plain pooling to the same length)
    selector: str = "learned"  # learned | text | audio | vision (a fixed primary modality)
    fusion: str = "pcca"  # pcca | concat (the no-PCCA ablation)
    temperature: float = bounded(0.1, gt=0)  # InfoNCE temperature (reconstruction: our choice)


@dataclass(frozen=True)
class ModsConfig(RunConfig):
    paper: ClassVar[str] = "mods"

    # one intra-op thread: these models are tiny, and on the shared 2-core machine two threads made a
    # GDC forward+backward 7x slower (5.7 vs 41 ms, measured under load); a GPU profile ignores it
    threads: int = 1

    # data: "synthetic" (the generator) or a real MMSA pickle named in data_manifests/<source>.yaml
    data_source: str = one_of(("synthetic", "mosi", "mosei"), "synthetic")
    mmsa_file: str = "unaligned_50.pkl"  # under <SOURCE>/Processed/ (aligned_50.pkl works too)
    n_train: int = 640
    n_valid: int = 128
    n_test: int = 480
    text_len: int = 16  # padded text length T_l (real lengths: half of it to all of it)
    av_len: int = 96  # padded acoustic/visual length (at most ~96 at cpu, docs/papers/mods.md); real: 60%..100%
    text_dim: int = 32  # stand-ins for MOSI's (768, 5, 20)
    audio_dim: int = 16
    vision_dim: int = 20
    noise: float = 1.0  # difficulty knob: frame-noise norm relative to a unit event (text gets 0.3x)
    redundancy: int = 4  # mean repeats of an acoustic/visual frame
    signal_fraction: float = 0.25  # share of acoustic/visual events that carry the modality's sentiment
    distractor_corr: float = 0.3  # correlation of a non-dominant modality's sentiment with the label
    noise_sweep: tuple[float, ...] = (0.5, 1.0, 2.0)  # test-time noise multipliers (claim C2)
    # model: MODS-mini (docs/papers/mods.md): d = 32, 3 routing iterations, 2 GCN layers, 2 PCCA layers
    model: ModelSpec = field(default_factory=ModelSpec)
    alpha: float = 0.1  # InfoNCE weight (paper)
    # training, the same for every arm
    arms: tuple[str, ...] = one_of(ARMS, tuple(ARMS))
    control_arms: tuple[str, ...] = one_of(ARMS, ("mods", "fixed_l"))  # trained on the language-always control set
    epochs: int = 12
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4

    @property
    def nodes(self) -> int:
        return self.model.nodes or self.text_len

    def model_for(self, dims: tuple[int, ...]) -> ModelSpec:
        """The profile's spec for data of these feature dims (text, audio, vision)."""
        return replace(self.model, dims=tuple(int(d) for d in dims), nodes=self.nodes)


PROFILES = {
    # smoke: every code path once, in seconds
    "smoke": lambda: ModsConfig(
        profile="smoke",
        seeds=(0,),
        n_train=160,
        n_valid=32,
        n_test=96,
        text_len=12,
        av_len=40,
        epochs=2,
        noise_sweep=(1.0, 2.0),
    ),
    # 4 seeds: 13 arms x 5 seeds took 662 s on quiet cores (training 599 s, ~9 s per arm and seed; a
    # second thread does not help these models), over the 10-minute budget; each seed's models are the
    # same whatever the seed count, so 4 seeds keep every run of the 5-seed design but the last.
    "cpu": lambda: ModsConfig(profile="cpu", seeds=(0, 1, 2, 3)),
    # gpu: the paper's 150-200-step sequences and more data. Measured on one H100 (bf16): 37-78 ms
    # per step at batch 128 (launch-bound small kernels), so this matrix (39 runs x 375 steps at batch
    # 256) takes roughly 15-20 minutes, not the kit's 2: batching seeds (vmap) or a compiled step is
    # what it would take (see the integration note).
    "gpu": lambda: ModsConfig(
        profile="gpu",
        seeds=(0, 1, 2),
        device="auto",
        mixed_precision="bf16",
        n_train=8000,
        n_valid=1000,
        n_test=2000,
        av_len=192,
        epochs=12,
        batch_size=256,
        lr=2e-3,
    ),
    # The paper's own setting on CMU-MOSI (data_manifests/mosi.yaml): hidden 128, 3 PCCA layers,
    # alpha 0.1, Adam, lr 3e-5 (the paper fine-tunes BERT; our text encoder is a projection of the
    # pickle's BERT features, so this lr may be low for it), batch 32. Lengths and dims from the data.
    "paper": lambda: ModsConfig(
        profile="paper",
        seeds=(0, 1, 2),
        device="auto",
        mixed_precision="bf16",
        data_source="mosi",
        text_len=50,
        av_len=500,
        text_dim=768,
        audio_dim=5,
        vision_dim=20,
        model=ModelSpec(d_model=128, heads=8, layers=3),
        epochs=40,
        batch_size=32,
        lr=3e-5,
        arms=("mods", "fixed_l", "fixed_a", "fixed_v", "mods_nogdc", "mods_nopcca", "mods_nonce"),
        control_arms=(),
        noise_sweep=(1.0,),
    ),
}


def config(profile: str = "smoke", **overrides) -> ModsConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    cfg = make_config(PROFILES, profile, **overrides)
    if cfg.model.d_model % cfg.model.heads:
        raise ConfigError(f"model.d_model {cfg.model.d_model} must be divisible by model.heads {cfg.model.heads}")
    return cfg
