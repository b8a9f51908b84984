"""The search space of ``finrisk tune``: which config keys vary, over which values.

    finrisk tune --config recipes/configs/credit_text.yaml --trials 20 --out runs/tune --space my_space.yaml

A space is a mapping of dotted config keys to one specification each (YAML or a dict)::

    train.lr: {low: 2.0e-4, high: 5.0e-3, log: true}     # a number drawn from [low, high] (log scale)
    train.epochs: {low: 2, high: 5}                       # two integers: an integer in [low, high]
    lora.r: {choices: [4, 8, 16]}                         # one of the listed values (lists and null allowed)
    lora.alpha: {choices: [1, 2, 4], times: lora.r}       # the drawn value multiplied by lora.r: alpha = 1-4 x r

Every tuning run writes the space it used to ``OUT/space.yaml``; edit a copy and pass it with ``--space``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from finrisk_nlp.config import RecipeConfig, apply_overrides, config_from_dict
from finrisk_nlp.errors import ConfigError

EVERY_ENCODER_LINEAR = ["query", "key", "value", "intermediate.dense", "output.dense"]

# Ranges around the shipped recipes (LoRA lr 2e-3, r 8, 3 epochs): wide enough to move, narrow enough for ~20 trials.
DEFAULT_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "train.lr": {"low": 2.0e-4, "high": 5.0e-3, "log": True},
    "lora.r": {"choices": [4, 8, 16]},
    "lora.alpha": {"choices": [1, 2, 4], "times": "lora.r"},
    "lora.target_modules": {"choices": [["query", "value"], EVERY_ENCODER_LINEAR]},
    "train.epochs": {"low": 2, "high": 5},
    "model.max_length": {"choices": [128, 256]},
    "model.max_chunks": {"choices": [1, 4]},
    "loss.class_weights": {"choices": [None, "auto"]},
    "loss.focal_gamma": {"choices": [0.0, 1.0, 2.0]},
}
SPEC_KEYS = {"low", "high", "log", "choices", "times"}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _spec_problems(key: str, spec: Any) -> list[str]:
    """What is wrong with one key's specification (empty when it is usable)."""
    if not isinstance(spec, dict):
        return [f"{key}: expected {{low: .., high: ..}} or {{choices: [..]}}, got {spec!r}"]
    problems = []
    stray = sorted(set(spec) - SPEC_KEYS)
    if stray:
        problems.append(f"{key}: unknown field(s) {stray}; a specification uses {sorted(SPEC_KEYS)}")
    if "choices" in spec:
        if {"low", "high", "log"} & set(spec):
            problems.append(f"{key}: give either choices or low/high, not both")
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            problems.append(f"{key}: choices must be a non-empty list, got {spec['choices']!r}")
    elif not (_is_number(spec.get("low")) and _is_number(spec.get("high")) and spec["low"] < spec["high"]):
        problems.append(f"{key}: expected numbers low < high, got low={spec.get('low')!r} high={spec.get('high')!r}")
    elif spec.get("log") and spec["low"] <= 0:
        problems.append(f"{key}: a log scale needs low > 0, got {spec['low']!r}")
    times = spec.get("times")
    if times is not None and (not isinstance(times, str) or times == key):
        problems.append(f"{key}: times must name another config key, e.g. lora.r, got {times!r}")
    return problems


def check_search_space(space: Any, base: dict[str, Any] | None = None) -> None:
    """Raise one :class:`ConfigError` listing every problem of ``space``.

    Args:
        space: the mapping of dotted config keys to specifications.
        base: the raw config (YAML mapping plus overrides) the trials start from; when given, every key and
            every value the space can produce is checked against the config schema.
    """
    if not isinstance(space, dict) or not space:
        raise ConfigError([f"search space: expected a mapping of config keys to specifications, got {space!r}"])
    problems = [p for key, spec in space.items() for p in _spec_problems(str(key), spec)]
    chained = [k for k, s in space.items() if isinstance(s, dict) and s.get("times") in space
               and isinstance(space[s["times"]], dict) and space[s["times"]].get("times")]
    problems += [f"{k}: times names {space[k]['times']}, which has a times of its own; name a plain key"
                 for k in chained]
    if problems or base is None:
        if problems:
            raise ConfigError(problems)
        return
    for key, spec in space.items():
        # The extremes of a range and every choice must each make a valid config on their own.
        for value in spec["choices"] if "choices" in spec else (spec["low"], spec["high"]):
            if spec.get("times"):
                continue  # a product is checked when a trial is built
            try:
                config_from_dict(apply_overrides(json.loads(json.dumps(base)), [to_override(key, value)]))
            except ConfigError as exc:
                problems += [f"search space {key}={value!r}: {p}" for p in exc.problems]
    if problems:
        raise ConfigError(sorted(set(problems)))


# Added to the default space when the base config reads structured fields (data.feature_columns).
FIELD_SEARCH_SPACE: dict[str, dict[str, Any]] = {
    "model.fusion": {"choices": ["concat", "gated"]},
    "model.field_dropout": {"choices": [0.0, 0.1, 0.3]},
}


def with_field_keys(space: dict[str, dict[str, Any]], base: RecipeConfig) -> dict[str, dict[str, Any]]:
    """``space`` plus :data:`FIELD_SEARCH_SPACE` when ``base`` trains on structured fields (for any task)."""
    if base.data.feature_columns or any(d.feature_columns for d in base.multitask.data.values()):
        return {**space, **json.loads(json.dumps(FIELD_SEARCH_SPACE))}
    return space


def load_search_space(path: str | Path | None) -> dict[str, dict[str, Any]]:
    """The space in the YAML file ``path``, or :data:`DEFAULT_SEARCH_SPACE` when ``path`` is None."""
    if path is None:
        return json.loads(json.dumps(DEFAULT_SEARCH_SPACE))
    path = Path(path)
    if not path.is_file():
        raise ConfigError([f"--space {str(path)!r} not found; give a YAML file like OUT/space.yaml of an earlier run"])
    try:
        space = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({exc})"]) from exc
    check_search_space(space)
    return space


def to_override(key: str, value: Any) -> str:
    """``key=value`` as :func:`finrisk_nlp.config.apply_overrides` reads it (JSON is valid YAML)."""
    return f"{key}={json.dumps(value)}"


def _config_value(cfg: RecipeConfig, key: str) -> Any:
    node: Any = cfg
    for part in key.split("."):
        node = getattr(node, part)
    return node


def suggest_values(trial: Any, space: dict[str, dict[str, Any]], base: RecipeConfig) -> dict[str, Any]:
    """Draw one value per key from an Optuna trial; ``times`` products use the drawn (or base) value of the other key.

    Returns:
        ``{dotted key: config value}`` in the order of ``space``.
    """
    drawn: dict[str, Any] = {}
    for key, spec in space.items():
        if "choices" in spec:
            # Optuna stores categorical choices as scalars; lists travel as their JSON text.
            labels = [json.dumps(c) if isinstance(c, list | dict) else c for c in spec["choices"]]
            label = trial.suggest_categorical(key, labels)
            drawn[key] = spec["choices"][labels.index(label)]
        elif isinstance(spec["low"], int) and isinstance(spec["high"], int) and not spec.get("log"):
            drawn[key] = trial.suggest_int(key, spec["low"], spec["high"])
        else:
            drawn[key] = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log")))
    for key, spec in space.items():
        other = spec.get("times")
        if other:
            factor = drawn[other] if other in drawn else _config_value(base, other)
            product = drawn[key] * factor
            # 1.5 x r = 12.0 must still fit an integer key such as lora.alpha.
            drawn[key] = round(product) if math.isclose(product, round(product)) else product
    return drawn


def base_params(space: dict[str, dict[str, Any]], base: RecipeConfig) -> dict[str, Any] | None:
    """The base config's own values as Optuna parameters of ``space`` (what :func:`suggest_values` would read back
    as the base config), or None when one of them lies outside the space (e.g. an lr below ``low``).

    A study starts with this trial so that its best is never worse on validation than the config it started from.
    """
    params: dict[str, Any] = {}
    for key, spec in space.items():
        value = _config_value(base, key)
        other = spec.get("times")
        if other:
            factor = _config_value(base, other)
            if not factor:
                return None
            value = value / factor
            value = round(value) if math.isclose(value, round(value)) else value
        if "choices" in spec:
            labels = [json.dumps(c) if isinstance(c, list | dict) else c for c in spec["choices"]]
            matches = [label for label, choice in zip(labels, spec["choices"], strict=True) if choice == value]
            if not matches:
                return None
            params[key] = matches[0]
        elif spec["low"] <= value <= spec["high"]:
            params[key] = value
        else:
            return None
    return params
