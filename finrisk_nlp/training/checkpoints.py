"""Checkpoints a run can resume from, and only its own: ``train.resume=latest``.

    accelerate launch recipes/credit_text.py train.resume=latest       # continue after a crash

Each checkpoint is ``RUN_DIR/checkpoints/step-N``: Accelerate's ``save_state`` (model and optimizer; its RNG
files are pickles) plus ``trainer_state.json`` written last, so a torn checkpoint is ignored. The scheduler is
rebuilt from the step count rather than unpickled. Because Accelerate's RNG and optimizer files are loaded with
pickle, a checkpoint is resumed only when the sha256 of every file matches the manifest this run recorded in
``RUN_DIR/checkpoints/index.json`` when it saved it: a folder copied in from elsewhere is refused.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.logging import get_logger

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.provenance import sha256_file, write_json_atomic

logger = get_logger(__name__)
STATE_FILE = "trainer_state.json"
INDEX_FILE = "index.json"


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


def save_checkpoint(accelerator: Accelerator, output_dir: Path, state: TrainingState, keep: int) -> None:
    """``save_state`` into a fresh directory, then the state file, then this run's manifest of the files."""
    path = output_dir / "checkpoints" / f"step-{state.global_step:07d}"
    accelerator.wait_for_everyone()
    accelerator.save_state(str(path), safe_serialization=True)
    accelerator.wait_for_everyone()  # every rank's RNG file is in place before the manifest is taken
    if accelerator.is_main_process:
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
            since): its files would be unpickled.
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
    return path


def load_checkpoint(accelerator: Accelerator, path: Path) -> TrainingState:
    accelerator.load_state(str(path))
    state = TrainingState(**json.loads((path / STATE_FILE).read_text()))
    logger.info(f"resumed from {path} (epoch {state.epoch}, step {state.global_step})")
    return state
