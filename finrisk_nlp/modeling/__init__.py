"""Encoders and document heads: build a fresh model, save it, load it by local directory.

The heavy names (torch, transformers, peft) load on first use, so the CLI and the registry can read a model
directory's layout (:mod:`finrisk_nlp.modeling.layout`) without importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from finrisk_nlp.modeling.layout import METADATA_FILE

_LAZY = {
    "build_model": "finrisk_nlp.modeling.build",
    "count_parameters": "finrisk_nlp.modeling.build",
    "resolve_model_path": "finrisk_nlp.modeling.build",
    "DocumentClassifier": "finrisk_nlp.modeling.classifier",
    "Decision": "finrisk_nlp.modeling.metadata",
    "Head": "finrisk_nlp.modeling.metadata",
    "ModelMetadata": "finrisk_nlp.modeling.metadata",
    "TaskMetadata": "finrisk_nlp.modeling.metadata",
    "Windows": "finrisk_nlp.modeling.metadata",
    "load_model": "finrisk_nlp.modeling.saving",
    "save_model": "finrisk_nlp.modeling.saving",
}

__all__ = ["METADATA_FILE", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
