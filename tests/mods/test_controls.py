"""The control K1 can fail for the reason it names: on the language-always set MODS matches the
language-primary model because its selector picks language. Force another primary modality (the
choice sabotaged) and the MAE difference leaves K1's band (an equivalence fails in either direction:
in the first run of this test the audio-primary model was the *better* one, 0.223 against 0.278)."""

import numpy as np
import pytest

from repro import mods
from repro.core.runtime import make_accelerator
from repro.mods.claims import CLAIMS
from repro.mods.data import SynthSpec, synthetic_dataset, to_dataset
from repro.mods.method import arm_spec, uses_nce
from repro.mods.training import dims_of, predict, train_arm

K1 = next(c for c in CLAIMS if c.id == "K1")


@pytest.fixture(scope="module")
def control_set():
    cfg = mods.config("smoke", n_train=320, n_test=160, av_len=32, text_len=10)
    raw = synthetic_dataset(SynthSpec.from_config(cfg), {"train": 320, "test": 160}, 0, language_always=True)
    sets = to_dataset(raw, "control")
    return cfg, {split: dict(sets[split].with_format("torch")[:]) for split in ("train", "test")}


def mae_of(cfg, data, arm, **spec_changes):
    spec = arm_spec(cfg.model_for(dims_of(data["train"])), arm)
    spec = spec.__class__(**{**spec.__dict__, **spec_changes})
    net, _ = train_arm(
        spec, data["train"], alpha=cfg.alpha if uses_nce(arm) else 0.0, epochs=8, batch_size=32, lr=cfg.lr,
        weight_decay=cfg.weight_decay, seed=0, accelerator=make_accelerator(cfg),
    )  # fmt: skip
    return float(np.abs(predict(net, data["test"]).pred.numpy() - data["test"]["label"].numpy()).mean())


def test_k1_sabotage_forced_primary_leaves_the_band(control_set):
    cfg, data = control_set
    language = mae_of(cfg, data, "fixed_l")
    sabotaged = mae_of(cfg, data, "mods", selector="audio")  # MODS with its choice forced away from language
    assert abs(sabotaged - language) > K1.margin, f"forced audio primary: {sabotaged:.3f} vs language {language:.3f}"
