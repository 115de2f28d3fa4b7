"""Typed run profiles with strict overrides.

Every paper defines one frozen dataclass (a subclass of :class:`RunConfig`) and a table of named
profiles (``smoke``, ``cpu``, ``gpu`` and, where the real assets are named in manifests, ``paper``).
A notebook's parameters cell holds ``profile`` and ``overrides``; :func:`make_config` turns them into
a config or raises a :class:`ConfigError` that lists what is valid (papermill only warns).

Values are checked too, not only types (:func:`check_values`): seeds must be a non-empty list of
distinct seeds, counts and sizes at least 1, learning rates positive. Which fields are counts is
read from their names (:data:`AT_LEAST_ONE`, :data:`POSITIVE`); a field declared with
:func:`bounded` states its own range instead, and one declared with :func:`one_of` its valid names
(a data source, an arm, a method list).

Introduced in every paper's ``01_data.ipynb``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar


class ConfigError(ValueError):
    """An unknown profile, an unknown override key, or a value of the wrong type or out of range."""


# Integer fields named like counts or sizes: 0 is never meaningful in a profile (an empty loop, a
# division by zero, a reduction over nothing), so 0 or less is refused naming the field. A field
# where 0 means "off" (``train_limit``, ``compressed_len``) has another name, or says so with
# ``bounded(0, ge=0)``.
AT_LEAST_ONE = re.compile(
    r"n|n_.+|.*epochs|.*steps|(.*_)?heads|.*size.*|(.*_)?dim|rounds|.*_every|.*batch(es)?|.*repeats"
)
# Float fields that must be strictly positive.
POSITIVE = re.compile(r"(.*_)?lr")


def bounded(
    default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> Any:
    """A dataclass field with a stated range, checked whenever the config is built (for a tuple:
    every element). It replaces the name-based rule for that field::

        warmup_steps: int = bounded(0, ge=0)       # 0 means no warm-up
        dropout: float = bounded(0.1, ge=0, lt=1)
    """
    bounds = {k: v for k, v in {"ge": ge, "gt": gt, "le": le, "lt": lt}.items() if v is not None}
    if isinstance(default, (list, dict, set)):
        raise TypeError("bounded() takes an immutable default (use a tuple)")
    return field(default=default, metadata={"bounds": bounds})


def one_of(valid: Sequence[str], default: Any) -> Any:
    """A dataclass field whose value (for a tuple: every element) must be one of ``valid``, checked
    whenever the config is built; the error lists the valid names::

        data_source: str = one_of(DATA_SOURCES, "digits")
        methods: tuple[str, ...] = one_of(METHODS, ("local", "dflmoe"))
    """
    if isinstance(default, (list, dict, set)):
        raise TypeError("one_of() takes an immutable default (use a tuple)")
    return field(default=default, metadata={"valid": tuple(valid)})


_RELATIONS = {
    "ge": (">=", lambda v, b: v >= b),
    "gt": (">", lambda v, b: v > b),
    "le": ("<=", lambda v, b: v <= b),
    "lt": ("<", lambda v, b: v < b),
}


def _bounds_by_name(name: str, value: Any) -> tuple[dict[str, float], str]:
    if isinstance(value, bool):
        return {}, ""
    if isinstance(value, int) and AT_LEAST_ONE.fullmatch(name):
        return {"ge": 1}, " (a count or a size)"
    if isinstance(value, float) and POSITIVE.fullmatch(name):
        return {"gt": 0}, " (a learning rate)"
    return {}, ""


def check_values(cfg: Any, prefix: str = "") -> None:
    """Raise a :class:`ConfigError` naming the first field whose value is out of range: seeds empty
    or repeated, a count or size below 1, a learning rate not above 0, a :func:`bounded` field out of
    its range. Nested dataclasses are checked too (``victim.heads``)."""
    if isinstance(cfg, RunConfig):
        _check_seeds(cfg.seeds)
    for f in dataclasses.fields(cfg):
        _check_field(f, prefix + f.name, getattr(cfg, f.name))


def _check_seeds(seeds: tuple[int, ...]) -> None:
    if not seeds:
        raise ConfigError("seeds=[]: give at least one seed (each seed is one independent run)")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ConfigError(
            f"seeds={list(seeds)}: seeds must be distinct ({repeated} repeated); a seed used twice "
            "is the same run counted twice"
        )


def _check_field(f: dataclasses.Field, name: str, value: Any) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        check_values(value, f"{name}.")
        return
    if "valid" in f.metadata:
        _check_names(name, value, f.metadata["valid"])
        return
    bounds, why = (f.metadata["bounds"], "") if "bounds" in f.metadata else _bounds_by_name(f.name, value)
    for item in value if isinstance(value, tuple) else (value,):
        for relation, bound in bounds.items():
            symbol, holds = _RELATIONS[relation]
            if isinstance(item, (int, float)) and not isinstance(item, bool) and not holds(item, bound):
                raise ConfigError(f"{name}={jsonable(value)!r}: must be {symbol} {bound:g}{why}")


def _check_names(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if isinstance(value, tuple):
        unknown = [item for item in value if item not in valid]
        if unknown:
            raise ConfigError(f"{name}={list(value)!r}: unknown {unknown}; valid: {', '.join(valid)}")
    elif value not in valid:
        raise ConfigError(f"{name}={value!r}: must be one of {', '.join(valid)}")


@dataclass(frozen=True)
class RunConfig:
    """Fields every profile owns. Papers subclass this with their own fields.

    ``seeds`` are the training/evaluation seeds (claims bootstrap over them); ``data_seed`` fixes
    the generator or the split. ``overrides`` is filled by :func:`make_config` and decides the run
    directory: a named profile without overrides is canonical (``runs/cpu``), otherwise the run
    goes to ``runs/cpu+<hash>`` so an experiment never replaces the canonical results.
    """

    paper: ClassVar[str] = ""

    profile: str = "smoke"
    seeds: tuple[int, ...] = (0,)
    data_seed: int = 0
    threads: int = 2
    device: str = one_of(("cpu", "cuda", "auto"), "cpu")
    mixed_precision: str = one_of(("no", "bf16", "fp16"), "no")
    overrides: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_values(self)

    @property
    def run_name(self) -> str:
        """``<profile>`` for a named profile, ``<profile>+<hash of the overrides>`` otherwise."""
        if not self.overrides:
            return self.profile
        return f"{self.profile}+{stable_hash(dict(self.overrides))[:8]}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values of every field (overrides excluded: they are in the run name)."""
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "overrides"}

    def slice(self, names: tuple[str, ...]) -> dict[str, Any]:
        """The part of the config a step uses, for its cache key and ``step.json``."""
        unknown = [n for n in names if not hasattr(self, n)]
        if unknown:
            raise ConfigError(f"step uses unknown config fields {unknown}")
        return {n: jsonable(getattr(self, n)) for n in names}


C = TypeVar("C", bound=RunConfig)


def make_config(profiles: Mapping[str, Callable[[], C]], profile: str, **overrides: Any) -> C:
    """Build the named profile and apply ``overrides`` strictly.

    The keyword ``overrides=`` carries a notebook's whole ``overrides`` parameter (the notebooks call
    ``config(profile, overrides=overrides)``): a mapping, or the JSON or YAML text that
    ``papermill -p overrides '{"epochs": 2}'`` passes (:func:`parse_overrides`).

    >>> make_config({"smoke": lambda: RunConfig()}, "smoke", seeds=[1, 2]).seeds
    (1, 2)
    >>> make_config({"smoke": lambda: RunConfig()}, "smoke", overrides='{"seeds": [3]}').seeds
    (3,)
    """
    if "overrides" in overrides:
        overrides = {**parse_overrides(overrides.pop("overrides")), **overrides}
    if profile not in profiles:
        raise ConfigError(f"unknown profile {profile!r}; valid profiles: {', '.join(profiles)}")
    base = profiles[profile]()
    fields = {f.name: f for f in dataclasses.fields(base) if f.name not in ("profile", "overrides")}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown override(s) {unknown} for {type(base).__name__}; valid keys: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(type(base))
    coerced = {k: _coerce(k, v, hints[k], getattr(base, k)) for k, v in overrides.items()}
    # The overrides' values first, so the error names the field rather than what a paper's own
    # checks (which assume valid values) make of it; then the whole config, whose __post_init__
    # may not call RunConfig's.
    if "seeds" in coerced:
        _check_seeds(coerced["seeds"])
    for key, value in coerced.items():
        _check_field(fields[key], key, value)
    changed = {k: v for k, v in coerced.items() if v != getattr(base, k)}
    cfg = dataclasses.replace(base, **coerced, overrides={k: jsonable(v) for k, v in changed.items()})
    check_values(cfg)
    return cfg


def parse_overrides(value: Any) -> dict[str, Any]:
    """A notebook's ``overrides`` parameter as a dict: a mapping as it is, a string parsed as a JSON
    or YAML mapping (papermill's ``-p`` passes every value as text), ``None`` or ``""`` as none."""
    if value is None or isinstance(value, Mapping):
        return dict(value or {})
    if isinstance(value, str):
        import yaml  # a superset of JSON here: '{"epochs": 2}' and '{epochs: 2}' both parse

        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            parsed = err
        if parsed is None or isinstance(parsed, Mapping):
            return dict(parsed or {})
    raise ConfigError(
        f"overrides={value!r} is not a mapping of profile fields; give one as JSON or YAML text, "
        """e.g. papermill ... -p overrides '{"epochs": 2}' or papermill ... -y 'overrides: {epochs: 2}'"""
    )


def _coerce(name: str, value: Any, hint: Any, current: Any = None) -> Any:
    """Lists from JSON/papermill become tuples; ints are accepted for floats; a mapping updates a
    nested dataclass field (the profile's ``current`` value, strictly); anything else must match."""
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        for option in typing.get_args(hint):
            try:
                return _coerce(name, value, option)
            except ConfigError:
                pass
        raise ConfigError(f"override {name}={value!r} does not match type {hint}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"override {name} expects a list, got {value!r}")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(name, v, item) for v in value)
    if hint is Any or hint is typing.Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
        return _update_nested(name, current if isinstance(current, hint) else hint(), value)
    if isinstance(hint, type) and not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"override {name}={value!r} should be of type {getattr(hint, '__name__', hint)}")
    return value


def _update_nested(name: str, current: Any, value: Mapping[str, Any]) -> Any:
    fields = {f.name for f in dataclasses.fields(current)}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise ConfigError(f"unknown key(s) {unknown} in override {name}; valid keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(type(current))
    return dataclasses.replace(
        current, **{k: _coerce(f"{name}.{k}", v, hints[k], getattr(current, k)) for k, v in value.items()}
    )


def jsonable(value: Any) -> Any:
    """Tuples to lists, dataclasses to dicts: the form configs take in JSON and hashes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def stable_hash(value: Any) -> str:
    """sha256 of the canonical JSON form of ``value``."""
    text = json.dumps(jsonable(value), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
