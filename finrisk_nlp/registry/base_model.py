"""The fingerprint of the base model an adapter is built on, recorded when a version is published and checked on load.

    finrisk registry push runs/credit_text --name credit-text     # records the base model's fingerprint
    finrisk predict registry:credit-text@production "text"       # refused if the base weights changed since

A LoRA adapter (and a multi-task model's adapters and heads) is a difference to its base encoder: the release
holds the adapter and only the base model's path. Replacing the weights at that path would silently change every
version built on it, so the manifest also holds the sha256 of the base model's ``*.safetensors`` and
``config.json``, and :func:`verify_base_model` compares it with the files there now. Digests are cached per
(file, size, modification time) for the life of the process, so a scoring run hashes a base model once.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.metadata import ModelMetadata
from finrisk_nlp.provenance import sha256_file

logger = logging.getLogger(__name__)

_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def base_model_dir(name_or_path: str | Path) -> Path:
    """The local folder ``from_pretrained`` reads a base model from: a directory, the embedded model's package
    folder, or a Hub id's snapshot in the Hugging Face cache.

    Raises:
        ModelLoadError: if the base model is in none of these places.
    """
    from finrisk_nlp.modeling import resolve_model_path

    path = Path(resolve_model_path(str(name_or_path)))
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(name_or_path), local_files_only=True, allow_patterns=["*.safetensors",
                                                                                               "config.json"]))
    except Exception as exc:  # noqa: BLE001 (an invalid id, a cache miss and offline mode all mean "not here")
        raise ModelLoadError(
            f"base model {str(name_or_path)!r} is not a local directory and not in the Hugging Face cache "
            f"({type(exc).__name__}). Restore the base model at that path, or retrain and publish against one "
            "that exists."
        ) from None


def _file_digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        _FILE_DIGESTS[key] = sha256_file(path)
    return _FILE_DIGESTS[key]


def base_model_fingerprint(path: str | Path) -> str:
    """sha256 over the base model's weight files (``*.safetensors``) and ``config.json``, by name and content.

    Args:
        path: the base model as a model's metadata names it (``base_model``): a directory, the embedded default
            model's name, or a Hub id that is in the local cache.

    Raises:
        ModelLoadError: if the base model cannot be found or has no safetensors weights.
    """
    folder = base_model_dir(path)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"base model {folder} has no *.safetensors weights to fingerprint; finrisk_nlp loads "
                             "base models from safetensors only")
    if (folder / "config.json").is_file():
        files.append(folder / "config.json")
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}:{_file_digest(file)}\n".encode())
    return digest.hexdigest()


def base_model_record(metadata: ModelMetadata) -> dict[str, Any] | None:
    """The manifest's ``base_model`` entry for a model: None when it holds full weights (nothing to check).

    A base model that cannot be fingerprinted now (e.g. the embedded package is missing here) is recorded
    with ``sha256: null`` and a warning: such a version loads without the check.
    """
    if not metadata.lora:
        return None
    try:
        return {"path": metadata.base_model, "sha256": base_model_fingerprint(metadata.base_model)}
    except ModelLoadError as exc:
        logger.warning(f"the base model's fingerprint is not recorded, so loads cannot check it: {exc}")
        return {"path": metadata.base_model, "sha256": None}


def verify_base_model(record: dict[str, Any] | None, release: Path) -> None:
    """Check the base model a release was published with against the files at its path now.

    Raises:
        ModelLoadError: saying which base path changed, the expected and found fingerprints, and what to do.
    """
    if not record or not record.get("sha256"):
        return  # full weights, or a version published before fingerprints (or without its base model)
    found = base_model_fingerprint(record["path"])
    if found != record["sha256"]:
        raise ModelLoadError(
            f"the base model {record['path']} (at {base_model_dir(record['path'])}) changed since {release} was "
            f"published: expected fingerprint {record['sha256']}, found {found}. The adapter only works with the "
            "weights it was trained on: restore the original base model files at that path, or retrain on the "
            "new base model and publish a new version."
        )
