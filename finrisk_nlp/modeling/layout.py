"""The file layout of a saved model directory, without torch: what the registry and the CLI need to check one.

    finrisk registry push runs/credit_text --name credit-text    # refuses a directory missing required files

See :mod:`finrisk_nlp.modeling.saving` for what each file holds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finrisk_nlp.modeling.metadata import ModelMetadata

METADATA_FILE = "finrisk_model.json"
REFERENCE_TEXTS_FILE = "reference_texts.json"  # validation texts (redacted) that reduced-precision gates compare on
EXPORT_MANIFEST = "export_manifest.json"  # an export of ``finrisk export``: how it was made and every file's sha256
HEADS_FILE = "heads.safetensors"
ADAPTERS_DIR = "adapters"
ENCODER_DIR = "encoder"
FORMAT_VERSION = 2
HUB_CONFIG = "config.json"  # the Hub format (modeling/hub_format.py): a custom transformers model at the root
HUB_WEIGHTS = "model.safetensors"
HUB_MODEL_TYPE = "finrisk-document-classifier"
SHARED = "shared"  # the adapter every task uses (hard sharing), or under the per-task ones (soft + shared_adapter)


def adapter_names(tasks: list[str], strategy: str, shared_adapter: bool) -> list[str]:
    """Every LoRA adapter a model of this sharing strategy holds."""
    if strategy == "hard":
        return [SHARED]
    return ([SHARED] if shared_adapter else []) + list(tasks)


def is_hub_layout(model_dir: Path) -> bool:
    """True when ``model_dir`` holds the Hub format: a root ``config.json`` of model type :data:`HUB_MODEL_TYPE`."""
    path = Path(model_dir) / HUB_CONFIG
    try:
        return path.is_file() and json.loads(path.read_text()).get("model_type") == HUB_MODEL_TYPE
    except (json.JSONDecodeError, AttributeError):
        return False


def required_files(model_dir: Path, metadata: ModelMetadata) -> list[Path]:
    """Every file loading needs besides the tokenizer's: metadata, heads, and adapters or the encoder's weights (or,
    in the Hub format, ``config.json`` and ``model.safetensors``)."""
    if not metadata.lora and is_hub_layout(model_dir):
        return [model_dir / METADATA_FILE, model_dir / HUB_CONFIG, model_dir / HUB_WEIGHTS]
    files = [model_dir / METADATA_FILE, model_dir / HEADS_FILE]
    if metadata.lora:
        for name in metadata.adapter_names():
            folder = model_dir / ADAPTERS_DIR / name
            files += [folder / "adapter_config.json", folder / "adapter_model.safetensors"]
        return files
    encoder = model_dir / ENCODER_DIR
    index = encoder / "model.safetensors.index.json"
    shards = sorted(set(json.loads(index.read_text()).get("weight_map", {}).values())) if index.is_file() else []
    return files + [encoder / "config.json", *([index, *(encoder / s for s in shards)] if shards
                                               else [encoder / "model.safetensors"])]
