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


def test_overrides_field_cannot_be_overridden():
    with pytest.raises(ConfigError, match="overrides"):
        config("smoke", overrides={"n": 1})


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
