"""Checkpoints a run can resume from, and only its own: ``train.resume=latest``.

    accelerate launch recipes/credit_text.py train.resume=latest       # continue after a crash

Each checkpoint is ``RUN_DIR/checkpoints/step-N``: Accelerate's ``save_state`` (model and optimizer; its RNG
files are pickles) plus ``trainer_state.json`` written last, so a torn checkpoint is ignored. The scheduler is
rebuilt from the step count rather than unpickled. Because Accelerate's RNG and optimizer files are loaded with
pickle, a checkpoint is resumed only when the sha256 of every file matches the manifest this run recorded in
``RUN_DIR/checkpoints/index.json`` when it saved it: a folder copied in from elsewhere is refused. Each checkpoint
also records the config it was trained with (``run_config.json``, covered by the manifest); it is resumed only by a
run of the same config (up to where the run writes and publishes), so an earlier run's checkpoint never continues a
different one.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.logging import get_logger

from finrisk_nlp.config import RecipeConfig, config_from_dict
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.provenance import sha256_file, write_json_atomic

logger = get_logger(__name__)
STATE_FILE = "trainer_state.json"
INDEX_FILE = "index.json"
CONFIG_FILE = "run_config.json"
# Settings that do not change what is trained: where it is written, published, logged, and how the run started.
RESUME_IGNORES = ("output_dir", "log_with", "registry", "train.resume", "train.overwrite")


@dataclass
class TrainingState:
    """Loop position and model-selection state; saved as JSON inside each checkpoint."""

    epoch: int = 0
    micro_batches_in_epoch: int = 0
    global_step: int = 0
    micro_batches: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    epochs_without_improvement: int = 0
    best_validation: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, Any] = field(default_factory=dict)
    curve: list[dict[str, Any]] = field(default_factory=list)  # {"epoch", "score"}: the selection score per epoch
    stopped_by: str | None = None  # finrisk_nlp.training.epochs.STOP_*: why the loop ended
    train_seconds: float = 0.0  # training time of the sessions before this checkpoint's (time budget on resume)


def checkpoint_dirs(output_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first (a checkpoint is complete once its state file exists)."""
    root = output_dir / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.glob("step-*") if (p / STATE_FILE).is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def _manifest(path: Path) -> dict[str, str]:
    return {str(f.relative_to(path)): sha256_file(f) for f in sorted(path.rglob("*")) if f.is_file()}


def _read_index(output_dir: Path) -> dict[str, Any]:
    index = output_dir / "checkpoints" / INDEX_FILE
    return json.loads(index.read_text()) if index.is_file() else {}


def _trained_config(cfg: RecipeConfig) -> dict[str, Any]:
    """The config as JSON, less :data:`RESUME_IGNORES`."""
    tree = json.loads(json.dumps(cfg.to_dict()))
    for key in RESUME_IGNORES:
        section, _, name = key.rpartition(".")
        (tree.get(section, {}) if section else tree).pop(name, None)
    return tree


def _recorded_config(path: Path) -> dict[str, Any]:
    """The config a checkpoint recorded, read as this release reads configs: keys renamed since under their new
    names, keys added since at their defaults (what the older release used)."""
    recorded = json.loads((path / CONFIG_FILE).read_text())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return _trained_config(config_from_dict(recorded))
    except ConfigError:  # no longer a valid config: compared as it was written, so the difference is named
        return recorded


def _differences(before: dict[str, Any], now: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key in sorted(before.keys() | now.keys()):
        a, b = before.get(key), now.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} then, {b!r} now")
    return out


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainingState, cfg: RecipeConfig) -> None:
    """``save_state`` into a fresh directory, then the config and state files, then this run's manifest of the
    files; only the newest ``train.keep_checkpoints`` are kept."""
    path = output_dir / "checkpoints" / f"step-{state.global_step:07d}"
    keep = cfg.train.keep_checkpoints
    accelerator.wait_for_everyone()
    accelerator.save_state(str(path), safe_serialization=True)
    accelerator.wait_for_everyone()  # every rank's RNG file is in place before the manifest is taken
    if accelerator.is_main_process:
        write_json_atomic(path / CONFIG_FILE, _trained_config(cfg))
        write_json_atomic(path / STATE_FILE, asdict(state))
        index = _read_index(output_dir)
        index[path.name] = _manifest(path)
        for old in checkpoint_dirs(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
            index.pop(old.name, None)
        write_json_atomic(output_dir / "checkpoints" / INDEX_FILE, index)
    accelerator.wait_for_everyone()


def resolve_resume(cfg: RecipeConfig, output_dir: Path) -> Path | None:
    """The checkpoint ``train.resume`` names, verified against this run's manifest; None to start fresh.

    Raises:
        ConfigError: for a path that is not a complete checkpoint, or one this run did not write (or that changed
            since): its files would be unpickled; or one trained with another config (the differences are named).
    """
    if cfg.train.resume is None:
        return None
    if cfg.train.resume == "latest":
        found = checkpoint_dirs(output_dir)
        if not found:
            logger.warning(f"train.resume=latest but {output_dir / 'checkpoints'} has no checkpoint; starting fresh")
            return None
        path = found[-1]
    else:
        path = Path(cfg.train.resume)
        if not (path / STATE_FILE).is_file():
            raise ConfigError([
                f"train.resume={cfg.train.resume!r} is not a complete checkpoint (no {STATE_FILE}); use "
                f"train.resume=latest or one of {[str(p) for p in checkpoint_dirs(output_dir)]}"])
    recorded = _read_index(output_dir).get(path.name)
    if path.resolve().parent != (output_dir / "checkpoints").resolve() or recorded != _manifest(path):
        raise ConfigError([
            f"train.resume: {path} is not a checkpoint this run wrote, or its files changed since (their sha256 "
            f"do not match {output_dir / 'checkpoints' / INDEX_FILE}). Checkpoints hold pickled state, so only a "
            "run's own are resumed; start fresh with train.resume=null"])
    if not (path / CONFIG_FILE).is_file():
        raise ConfigError([f"train.resume: {path} records no config (an older finrisk wrote it), so whether it was "
                           "trained with this one cannot be told; start fresh with train.resume=null"])
    changed = _differences(_recorded_config(path), _trained_config(cfg))
    if changed:
        shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ConfigError([
            f"train.resume: {path} was trained with another config ({shown}); resuming it would mix two runs. "
            "Resume with the config it was trained with, or start this config fresh in another output_dir (or "
            "here with train.resume=null, which replaces the earlier run)"])
    return path


def load_checkpoint(accelerator: Accelerator, path: Path) -> TrainingState:
    accelerator.load_state(str(path))
    state = TrainingState(**json.loads((path / STATE_FILE).read_text()))
    logger.info(f"resumed from {path} (epoch {state.epoch}, step {state.global_step})")
    return state
