"""Reading a recipe config: a YAML file + ``key.sub=value`` overrides into :class:`RecipeConfig`.

    accelerate launch recipes/credit_text.py --config recipes/configs/credit_text.yaml train.lr=1e-4 lora.r=4

Unknown keys, wrong types and out-of-range values are collected and reported together in one
:class:`~finrisk_nlp.errors.ConfigError`, so a user fixes a config in one pass. A key renamed since an earlier
release (:data:`RENAMED_KEYS`) is still read under its new name, with a ``FutureWarning``, so older configs and run
folders keep working.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
import warnings
from pathlib import Path
from typing import Any, Literal

import yaml

from finrisk_nlp.config.sections import RecipeConfig
from finrisk_nlp.errors import ConfigError

# Old dotted key -> its new name (same meaning, same values).
RENAMED_KEYS = {"train.lr_schedule": "train.scheduler"}


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a 100,000-digit value makes a readable message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str, problems: list[str]) -> Any:
    """Return ``value`` checked against type ``tp``; append a problem (and return None) if it does not fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            trial: list[str] = []
            result = _coerce(value, option, key, trial)
            if not trial:
                return result
        problems.append(f"{key}: expected {_type_name(tp)}, got {_shown(value)}")
        return None
    if origin is Literal:
        if value is False and "no" in typing.get_args(tp):  # YAML reads a bare `no` as false
            value = "no"
        if value not in typing.get_args(tp):
            problems.append(f"{key}: expected one of {list(typing.get_args(tp))}, got {_shown(value)}")
        return value
    if origin is list:
        if isinstance(value, str):  # `lora.target_modules=query` on the command line
            value = [value]
        if not isinstance(value, list | tuple):
            problems.append(f"{key}: expected a list, got {_shown(value)}")
            return None
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{key}: expected a mapping, got {_shown(value)}")
            return None
        _, val_tp = typing.get_args(tp)
        return {str(k): _coerce(v, val_tp, f"{key}.{k}", problems) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key, problems)
    if tp is bool:
        if not isinstance(value, bool):
            problems.append(f"{key}: expected true or false, got {_shown(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{key}: expected an integer, got {_shown(value)}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "5e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{key}: expected a number, got {_shown(value)}")
            return value
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            problems.append(f"{key}: expected a string, got {_shown(value)}")
        return value
    return value


def _build(cls: type, raw: Any, prefix: str, problems: list[str]) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"{prefix or 'config'}: expected a mapping of keys, got {_shown(raw)}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1) or [
                n for n in names if str(key).startswith(n) or n.startswith(str(key))
            ][:1]
            hint = f"; did you mean {(prefix + '.' if prefix else '') + close[0]!r}?" if close else ""
            problems.append(f"{dotted}: unknown key{hint} (valid keys here: {', '.join(names)})")
            continue
        before = len(problems)
        coerced = _coerce(value, hints[key], dotted, problems)
        # A mistyped value keeps its default so that range checks can still run; sections are always kept.
        if len(problems) == before or dataclasses.is_dataclass(hints[key]):
            kwargs[key] = coerced
    return cls(**kwargs)


def _validate_tree(obj: Any, problems: list[str]) -> None:
    if hasattr(obj, "validate"):
        problems.extend(obj.validate())
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            _validate_tree(value, problems)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key.sub=value`` strings to a nested dict; values are parsed as YAML (``1e-4``, ``[a, b]``, ``null``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"override {item!r}: expected key.sub=value, e.g. train.lr=1e-4"])
        key, _, text = item.partition("=")
        try:
            value = yaml.safe_load(text) if text else ""
        except (yaml.YAMLError, ValueError, RecursionError):  # not YAML, a 100,000-digit int, 5,000 nested lists
            value = text
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return raw


def _renamed(raw: dict[str, Any], problems: list[str], *, warn: bool = True) -> dict[str, Any]:
    """``raw`` with every key of :data:`RENAMED_KEYS` under its new name (``raw`` itself is not changed)."""
    for old, new in RENAMED_KEYS.items():
        section, _, old_name = old.rpartition(".")
        node = raw.get(section)
        if not isinstance(node, dict) or old_name not in node:
            continue
        new_name = new.rpartition(".")[2]
        node = dict(node)
        value = node.pop(old_name)
        raw = {**raw, section: node}
        if new_name in node and node[new_name] != value:
            problems.append(f"{old}={_shown(value)} and {new}={_shown(node[new_name])} disagree: {old} is the old "
                            f"name of {new}; keep {new} only")
            continue
        if warn:
            warnings.warn(f"{old} is deprecated and will be removed in a future release; it was read as "
                          f"{new}={_shown(value)}: write {new} instead", FutureWarning, stacklevel=4)
        node[new_name] = value
    return raw


def config_from_dict(raw: dict[str, Any]) -> RecipeConfig:
    """Build and validate a :class:`RecipeConfig`; raise one ConfigError listing every problem."""
    problems: list[str] = []
    cfg = _build(RecipeConfig, _renamed(raw, problems), "", problems)
    _validate_tree(cfg, problems)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> RecipeConfig:
    """Read a YAML recipe config (or the defaults when ``path`` is None) and apply command-line overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError([f"config file {str(path)!r} not found; pass --config with an existing YAML file"])
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError([f"{path}: not valid YAML ({exc})"]) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"]) \
                from None
        except (ValueError, RecursionError) as exc:  # an int past Python's 4,300 digits, thousands of nested levels
            raise ConfigError([f"{path}: a value is too large or too deeply nested to read "
                               f"({type(exc).__name__}); write numbers and lists as a person would"]) from None
        if not isinstance(raw, dict):
            raise ConfigError([f"{path}: expected a mapping of keys at the top level, found {type(raw).__name__}"])
    return config_from_dict(apply_overrides(raw, list(overrides or [])))


def save_config(cfg: RecipeConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (what a run actually used)."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def parse_cli(argv: list[str] | None, default_config: str | Path | None = None) -> RecipeConfig:
    """Parse ``[--config FILE] key=value ...`` as used by every recipe.

    Args:
        argv: the arguments after the script name (``sys.argv[1:]`` when None).
        default_config: the YAML read when ``--config`` is not given.

    Raises:
        ConfigError: for an unknown ``--flag``, a missing file or any invalid value.
    """
    return load_config(*split_cli(argv, default_config))


def given_keys(argv: list[str] | None, default_config: str | Path | None = None) -> set[str]:
    """Dotted keys (``train.lr``) that the YAML config or the ``key=value`` overrides of ``argv`` set."""
    config_path, overrides = split_cli(argv, default_config)
    raw = yaml.safe_load(Path(config_path).read_text()) if config_path and Path(config_path).is_file() else None
    raw = _renamed(apply_overrides(raw if isinstance(raw, dict) else {}, overrides), [], warn=False)

    def walk(node: dict[str, Any], prefix: str) -> set[str]:
        keys = set()
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            keys |= {dotted} | (walk(value, dotted + ".") if isinstance(value, dict) else set())
        return keys

    return walk(raw, "")


def split_cli(argv: list[str] | None, default_config: str | Path | None = None,
              ) -> tuple[str | Path | None, list[str]]:
    """``(config file, key=value overrides)`` of ``[--config FILE] key=value ...``."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    config_path: str | Path | None = default_config
    overrides: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--config" and i + 1 < len(args):
            config_path, i = args[i + 1], i + 2
            continue
        if arg.startswith("--config="):
            config_path = arg.split("=", 1)[1]
        elif arg.startswith("-"):
            raise ConfigError(
                [f"unknown option {arg!r}: recipes take --config FILE and key=value overrides, "
                 f"e.g. `train.epochs=1` (not `--train.epochs 1`)"]
            )
        else:
            overrides.append(arg)
        i += 1
    return config_path, overrides
