"""LingoLoop's profiles. ``config("cpu")`` is what ``./run_all.sh`` runs; see the README for timings.

    >>> from repro import lingoloop
    >>> cfg = lingoloop.config("smoke", seeds=[0, 1])
    >>> cfg.run_name.startswith("smoke+")
    True

Budget (honest trims, the same for every attack): the paper runs 300 PGD steps per image with up to
1024 new tokens on Qwen2.5-VL-3B. On 2 CPU cores the ``cpu`` profile attacks 20 scenes per victim
with the paper's 300 steps (target regenerated every 10 steps, as in the paper; earlier runs used
100 steps, sized while five jobs shared the 2 cores) and a 128-token cap (7x the
clean captions' ~17 tokens, near the card's 10x headroom); three victims (seeds) trained from
scratch. Every attack gets the same eps, step, steps and regenerations; the ledger in claims.json
shows it.

eps: the card's 8/255 (on 448x448 images) is raised to 32/255 (step 2/255) for the 32x32 victim.
A pilot at 8/255 (step 1/255, 50 steps, two victims) left every attack's captions at exactly the
clean length (17.6 tokens); at 32/255 every gradient attack lengthens them (to ~22 tokens). An
L_inf ball of the same eps holds ~14x less L2 energy on 32x32x3 pixels than on 448x448x3, so a
toy-sized image needs a larger eps for the same leverage. Margins and claims were not changed. The
run matrix is trimmed to what the claims compare: the attention variant (no claim) runs at
``smoke`` and ``gpu`` only, and the lambda_rep sweep keeps 10 and 100 (0 is ``lps_only``,
1 is ``lingoloop``). ``gpu`` runs the paper's 300 steps and the full matrix. ``paper`` names the
real assets (COCO val2017 and a
local Qwen2.5-VL-3B folder, see data_manifests/) for users who have them and a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from repro.core.config import ConfigError, RunConfig, make_config
from repro.lingoloop.method import METHODS, AttackHP
from repro.lingoloop.models import VictimSpec

ALL_METHODS = tuple(METHODS)


@dataclass(frozen=True)
class LingoloopConfig(RunConfig):
    paper: ClassVar[str] = "lingoloop"

    # data: procedural scenes (or COCO val2017 for the paper profile)
    data_source: str = "scenes"  # scenes | coco
    n_train: int = 2400
    n_eval: int = 20  # images attacked per victim (the same images for every attack)
    noise: float = 0.03  # pixel noise of the scenes (the generator's difficulty knob)
    # victim (trained in place, one per seed) or a local HF VLM folder (victim_path)
    victim: VictimSpec = field(default_factory=VictimSpec)
    victim_path: str = ""  # a folder under $REPRO_DATA_DIR written by save_pretrained (skips training)
    victim_manifest: str = ""  # its manifest in data_manifests/ (files checked before loading)
    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-3
    # attacks
    hp: AttackHP = field(default_factory=lambda: AttackHP(eps=32 / 255, step_size=2 / 255, steps=300))
    methods: tuple[str, ...] = tuple(m for m in ALL_METHODS if m != "lingoloop_attention")
    lambda_sweep: tuple[float, ...] = (10.0, 100.0)  # lambda_rep besides 0 (lps_only) and 1 (lingoloop)
    probe_step: int = 20  # tokens after this many steps: the comparison below saturation
    # evaluation
    latency_arms: tuple[str, ...] = ("clean", "verbose_images", "lingoloop")
    latency_subset: int = 8  # images timed one at a time (batch 1) per latency arm and seed


PROFILES = {
    "smoke": lambda: LingoloopConfig(
        profile="smoke",
        seeds=(0,),
        n_train=320,
        n_eval=4,
        epochs=2,
        lr=3e-3,
        hp=AttackHP(eps=32 / 255, step_size=2 / 255, steps=2, regen_every=1, max_new_tokens=16),
        methods=ALL_METHODS,
        lambda_sweep=(100.0,),
        probe_step=1,
        latency_subset=1,
    ),
    "cpu": lambda: LingoloopConfig(profile="cpu", seeds=(0, 1, 2)),
    "gpu": lambda: LingoloopConfig(
        profile="gpu",
        seeds=(0, 1, 2, 3, 4),
        device="auto",
        n_train=20000,
        n_eval=64,
        victim=VictimSpec(width=128, layers=4, vision_width=128),
        epochs=10,
        batch_size=128,
        hp=AttackHP(eps=32 / 255, step_size=2 / 255, steps=300),
        methods=ALL_METHODS,
        lambda_sweep=(0.1, 10.0, 100.0),
        probe_step=50,
        latency_subset=16,
    ),
    # The paper's setting: COCO val2017 images against a local Qwen2.5-VL-3B-Instruct folder
    # (data_manifests/coco_val2017.yaml, qwen2_5_vl_3b.yaml), 300 steps, 1024 new tokens.
    "paper": lambda: LingoloopConfig(
        profile="paper",
        seeds=(0,),
        device="auto",
        data_source="coco",
        n_eval=100,
        victim_path="Qwen2.5-VL-3B-Instruct",
        victim_manifest="qwen2_5_vl_3b",
        hp=AttackHP(steps=300, max_new_tokens=1024),
        probe_step=50,
        latency_subset=20,
    ),
}


def config(profile: str = "smoke", **overrides) -> LingoloopConfig:
    """The named profile with ``overrides`` applied strictly (unknown keys raise, listing valid ones)."""
    cfg = make_config(PROFILES, profile, **overrides)
    unknown = sorted(set(cfg.methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"methods: unknown attacks {unknown}; valid: {', '.join(METHODS)}")
    bad = sorted(set(cfg.latency_arms) - {"clean", *cfg.methods})
    if bad:
        raise ConfigError(f"latency_arms {bad} are not among clean and the methods")
    if cfg.data_source not in ("scenes", "coco"):
        raise ConfigError(f"data_source must be 'scenes' or 'coco', not {cfg.data_source!r}")
    if cfg.probe_step % cfg.hp.regen_every or cfg.probe_step > cfg.hp.steps:
        raise ConfigError("probe_step must be a multiple of hp.regen_every and at most hp.steps")
    return cfg
