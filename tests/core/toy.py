"""A tiny paper-like pipeline for testing the core without any real paper."""

from dataclasses import dataclass
from typing import ClassVar

from repro.core.config import RunConfig, make_config
from repro.core.steps import Pipeline, write_json


@dataclass(frozen=True)
class ToyConfig(RunConfig):
    paper: ClassVar[str] = "toy"
    n: int = 3
    scale: float = 1.0
    names: tuple[str, ...] = ("a", "b")
    fail_in_train: bool = False


PROFILES = {"smoke": lambda: ToyConfig(profile="smoke"), "cpu": lambda: ToyConfig(profile="cpu", n=5, seeds=(0, 1))}


def config(profile="smoke", **overrides):
    return make_config(PROFILES, profile, **overrides)


CALLS: list[str] = []
pipe = Pipeline("toy")


@pipe.step(uses=("n",))
def data(cfg, ctx):
    CALLS.append("data")
    write_json(ctx.dir / "values.json", list(range(cfg.n)))
    return {"n": cfg.n}


@pipe.step(uses=("scale", "fail_in_train"), upstream=("data",))
def train(cfg, ctx):
    CALLS.append("train")
    from repro.core.steps import read_json

    values = read_json(ctx.upstream["data"] / "values.json")
    write_json(ctx.dir / "scaled.json", [v * cfg.scale for v in values])
    if cfg.fail_in_train:
        raise RuntimeError("interrupted on purpose")
    return {"total": sum(v * cfg.scale for v in values)}
