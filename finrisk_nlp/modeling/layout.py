"""The file layout of a saved model directory, without torch: what the registry and the CLI need to check one.

    finrisk registry push runs/credit_text --name credit-text    # refuses a directory missing required files

See :mod:`finrisk_nlp.modeling.saving` for what each file holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METADATA_FILE = "finrisk_model.json"
HEADS_FILE = "heads.safetensors"
ADAPTERS_DIR = "adapters"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 2
SHARED = "shared"  # the adapter every task uses (hard sharing), or under the per-task ones (soft + shared_adapter)


def adapter_names(tasks: list[str], strategy: str, shared_adapter: bool) -> list[str]:
    """Every LoRA adapter a model of this sharing strategy holds."""
    if strategy == "hard":
        return [SHARED]
    return ([SHARED] if shared_adapter else []) + list(tasks)


def required_files(model_dir: Path, metadata: Mapping[str, Any]) -> list[Path]:
    """Every file loading needs besides the tokenizer's: metadata, heads, and adapters or the encoder's weights.

    Args:
        metadata: the ``finrisk_model.json`` contents (or ``asdict`` of a ``ModelMetadata``).
    """
    files = [model_dir / METADATA_FILE, model_dir / HEADS_FILE]
    if metadata.get("lora"):
        head = metadata.get("head") or {}
        tasks = list((metadata.get("multitask") or {}).get("tasks") or {}) or [(metadata.get("task") or {}).get("name")]
        for name in adapter_names(tasks, head.get("strategy", "hard"), bool(head.get("shared_adapter"))):
            folder = model_dir / ADAPTERS_DIR / name
            files += [folder / "adapter_config.json", folder / "adapter_model.safetensors"]
        return files
    encoder = model_dir / ENCODER_DIR
    index = encoder / "model.safetensors.index.json"
    shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values())) if index.is_file() else []
    return files + [encoder / "config.json", *([index, *(encoder / s for s in shards)] if shards
                                               else [encoder / "model.safetensors"])]
