"""finrisk_nlp: LoRA fine-tuning of BERT-style encoders for financial-risk text, on Hugging Face Accelerate.

    accelerate launch recipes/credit_text.py          # fine-tune on the shipped loan narratives
    finrisk predict runs/credit_text "Applicant lost her job in March ..."

The public API is re-exported here. ``Predictor``, ``train``, ``build_model``, ``load_model`` and
``score_documents`` load lazily, so ``import finrisk_nlp`` (and the CLI's help) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from finrisk_nlp.config import RecipeConfig, load_config, parse_cli
from finrisk_nlp.errors import ConfigError, DataError, FinriskError, ModelLoadError
from finrisk_nlp.tasks import Task, get_task, list_tasks, register_task
from finrisk_nlp.version import __version__

_LAZY = {
    "Predictor": "finrisk_nlp.inference.predictor",
    "train": "finrisk_nlp.training.engine",
    "build_model": "finrisk_nlp.modeling",
    "load_model": "finrisk_nlp.modeling",
    "score_documents": "finrisk_nlp.scoring.engine",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'finrisk_nlp' has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "DataError",
    "FinriskError",
    "ModelLoadError",
    "Predictor",
    "RecipeConfig",
    "Task",
    "__version__",
    "build_model",
    "get_task",
    "list_tasks",
    "load_config",
    "parse_cli",
    "register_task",
    "score_documents",
    "train",
]
