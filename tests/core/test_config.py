import re

import pytest

from repro.core.config import ConfigError, stable_hash

from .toy import ToyConfig, config


def test_named_profile_is_canonical():
    cfg = config("cpu")
    assert cfg.run_name == "cpu" and cfg.n == 5 and cfg.seeds == (0, 1)


def test_overrides_go_to_a_hashed_run_and_lists_become_tuples():
    cfg = config("cpu", seeds=[3], scale=2)
    assert cfg.seeds == (3,) and cfg.scale == 2.0 and isinstance(cfg.scale, float)
    assert cfg.run_name.startswith("cpu+") and cfg.run_name != config("cpu", seeds=[4]).run_name


def test_override_equal_to_the_default_stays_canonical():
    assert config("cpu", n=5).run_name == "cpu"


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="valid profiles: smoke, cpu"):
        config("large")


def test_unknown_override_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown override\(s\) \['epochz'\].*valid keys: .*n, names"):
        config("smoke", epochz=3)


@pytest.mark.parametrize("key,value", [("n", "3"), ("n", 2.5), ("names", "a"), ("fail_in_train", 1), ("n", True)])
def test_wrongly_typed_override_is_refused(key, value):
    with pytest.raises(ConfigError, match=key):
        config("smoke", **{key: value})


def test_overrides_keyword_is_the_notebooks_whole_parameter():
    # issue 34: notebooks call config(profile, overrides=overrides), so papermill's text reaches make_config
    assert config("smoke", overrides={"n": 1}).n == 1 == config("smoke", overrides='{"n": 1}').n
    assert config("smoke", overrides={"n": 1}).run_name == config("smoke", n=1).run_name
    with pytest.raises(ConfigError, match="unknown override"):
        config("smoke", overrides={"overrides": {}})


def test_slice_and_hash_are_stable():
    cfg = config("smoke")
    assert cfg.slice(("n", "names")) == {"n": 3, "names": ["a", "b"]}
    assert stable_hash({"b": 1, "a": (1, 2)}) == stable_hash({"a": [1, 2], "b": 1})
    with pytest.raises(ConfigError, match="unknown config fields"):
        cfg.slice(("nope",))


def test_to_dict_is_json_ready():
    assert ToyConfig().to_dict()["names"] == ["a", "b"]


def test_nested_dataclass_override_updates_the_profile_value_strictly():
    from repro import mmard

    paper = mmard.config("paper", hp={"mmard_gamma": 0.5})
    assert paper.hp.mmard_gamma == 0.5 and paper.hp.eps == pytest.approx(8 / 255)  # the profile's eps kept
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['gama'\] in override hp; valid keys: .*mmard_gamma"):
        mmard.config("cpu", hp={"gama": 0.5})
    with pytest.raises(ConfigError, match="hp.steps"):
        mmard.config("cpu", hp={"steps": "ten"})


# -- values, not only types (issue 14): each of these once crashed deep inside a step or passed silently


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("seeds", [], r"seeds=\[\]: give at least one seed"),
        ("seeds", [0, 0], r"seeds=\[0, 0\]: seeds must be distinct"),
        ("n", 0, "n=0: must be >= 1"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_field(key, value, message):
    with pytest.raises(ConfigError, match=message):
        config("smoke", **{key: value})


def test_a_direct_construction_is_checked_too():
    with pytest.raises(ConfigError, match="seeds"):
        ToyConfig(seeds=())


def test_bounded_fields_state_their_own_range():
    from dataclasses import dataclass

    from repro.core.config import RunConfig, bounded, make_config

    @dataclass(frozen=True)
    class Bounded(RunConfig):
        warmup_steps: int = bounded(0, ge=0)  # the name rule would ask for >= 1
        sweep: tuple[float, ...] = bounded((0.0, 0.5), ge=0, lt=1)

    profiles = {"smoke": Bounded}
    assert make_config(profiles, "smoke").warmup_steps == 0
    with pytest.raises(ConfigError, match="warmup_steps=-1: must be >= 0"):
        make_config(profiles, "smoke", warmup_steps=-1)
    with pytest.raises(ConfigError, match=r"sweep=\[0.5, 1.0\]: must be < 1"):
        make_config(profiles, "smoke", sweep=[0.5, 1.0])


def test_one_of_fields_list_the_valid_names():
    from dataclasses import dataclass

    from repro.core.config import RunConfig, make_config, one_of

    @dataclass(frozen=True)
    class Named(RunConfig):
        source: str = one_of(("digits", "cifar10"), "digits")
        arms: tuple[str, ...] = one_of(("ours", "random", "magnitude"), ("ours", "random"))

    profiles = {"smoke": Named}
    assert make_config(profiles, "smoke", arms=["magnitude"]).arms == ("magnitude",)
    with pytest.raises(ConfigError, match="source='mnist': must be one of digits, cifar10"):
        make_config(profiles, "smoke", source="mnist")
    unknown = r"arms=\['ours', 'rand'\]: unknown \['rand'\]; valid: ours, random, magnitude"
    with pytest.raises(ConfigError, match=unknown):
        make_config(profiles, "smoke", arms=["ours", "rand"])
    with pytest.raises(ConfigError, match="device='gpu': must be one of cpu, cuda, auto"):
        make_config(profiles, "smoke", device="gpu")


def _papers():
    from repro.core import papers

    return papers.available()


def _count_fields(cfg, prefix=""):
    """Every int field the name rule treats as a count or size, and every float learning rate (a field
    declared with ``bounded`` states its own range: ``pretrain.steps = 0`` may mean no pretraining)."""
    import dataclasses

    from repro.core.config import AT_LEAST_ONE, POSITIVE

    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            yield from _count_fields(value, f"{prefix}{f.name}.")
        elif "bounds" in f.metadata:
            continue
        elif (
            type(value) is int and AT_LEAST_ONE.fullmatch(f.name) or type(value) is float and POSITIVE.fullmatch(f.name)
        ):
            yield prefix + f.name


def _override(path, value):
    head, _, rest = path.partition(".")
    return {head: _override(rest, value) if rest else value}


@pytest.mark.parametrize("paper", _papers())
def test_every_profile_of_every_paper_passes_the_value_checks(paper):
    from repro.core import papers

    pkg = papers.package(paper)
    for profile in pkg.PROFILES:
        pkg.config(profile)


@pytest.mark.parametrize("paper", _papers())
def test_every_paper_refuses_empty_or_repeated_seeds_and_zero_counts(paper):
    from repro.core import papers

    pkg = papers.package(paper)
    for seeds in ([], [0, 0]):
        with pytest.raises(ConfigError, match=r"\bseeds\b"):  # the paper's own check may word it
            pkg.config("smoke", seeds=seeds)
    fields = list(_count_fields(pkg.config("smoke")))
    assert fields, f"{paper}: no count, size or learning-rate field found"
    for path in fields:
        with pytest.raises(ConfigError, match=r"(^|\W)" + re.escape(path) + r"\b"):
            pkg.config("smoke", **_override(path, 0))


@pytest.mark.parametrize(
    "paper,key,value,field",
    [
        ("mods", "heads", 0, "heads"),  # was a ZeroDivisionError
        ("mods", "epochs", 0, "epochs"),  # was an IndexError
        ("mods", "n_test", 0, "n_test"),  # was "zero-size array to reduction operation minimum"
        ("mods", "lr", 0, "lr"),
        ("medaide", "n_test", 0, "n_test"),
        ("lingoloop", "victim", {"heads": 0}, "victim.heads"),
        ("mmard", "hp", {"steps": 0}, "hp.steps"),
        ("gfprune", "eval_every", 0, "eval_every"),  # was a ZeroDivisionError in the config itself
    ],
)
def test_the_issue_examples_name_the_field(paper, key, value, field):
    from repro.core import papers

    with pytest.raises(ConfigError, match=r"(^|\W)" + re.escape(field) + r"\b"):
        papers.package(paper).config("smoke", **{key: value})
