"""The folder a published model is made of, shared by ``finrisk registry push`` (local) and ``--hub`` (Hugging Face).

A release folder holds the model files at its root (so ``load_model`` and ``PeftModel.from_pretrained`` read it
as it is), the run's ``config.yaml``, ``metrics.json`` and ``run_info.json``, ``finrisk_release.json``
(dataset fingerprint, versions, git commit), the model card ``README.md``, optionally ``merged/`` (the adapter
merged into the base weights) and ``finrisk_manifest.json``: the sha256 of every other file, checked on load,
and for adapters the fingerprint of the base model they were trained on (see ``base_model.py``).

A run is published only when its model folder holds everything loading needs (:func:`required_model_files`) and
the copy staged for release actually loads (:func:`check_loads`): a truncated or garbled file is refused by name.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from finrisk_nlp.config import SPLITS
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.evaluation.run_metrics import METRICS_FILE, read_metrics
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST, METADATA_FILE, required_files
from finrisk_nlp.modeling.metadata import ModelMetadata
from finrisk_nlp.provenance import sha256_file, write_json_atomic, write_text_atomic
from finrisk_nlp.registry.base_model import base_model_fingerprint, base_model_record, verify_base_model
from finrisk_nlp.registry.model_card import DEFAULT_LICENSE, hub_base_model, render_model_card
from finrisk_nlp.version import __version__

logger = logging.getLogger(__name__)

MANIFEST_FILE = "finrisk_manifest.json"
RELEASE_FILE = "finrisk_release.json"
RUN_FILES = ("config.yaml", "metrics.json", "run_info.json")
IGNORED_DIRS = (".cache",)  # written by huggingface_hub next to downloaded files
# Any one of these holds a tokenizer's vocabulary (fast tokenizers write tokenizer.json, sentencepiece ones a model).
TOKENIZER_VOCAB = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.txt",
                   "vocab.json")


def required_model_files(model_dir: str | Path, metadata: ModelMetadata) -> list[str]:
    """The files a saved model cannot be loaded without, relative to ``model_dir``.

    Follows the layout :mod:`finrisk_nlp.modeling` saves: the metadata, the tokenizer, and the weights the
    metadata says the model has (a LoRA adapter, a full model, or a multi-task model's adapters and heads).

    Args:
        model_dir: the saved model folder (read only to find the shards of a sharded full model).
        metadata: its ``finrisk_model.json``.

    Returns:
        Relative paths; an entry ``a|b`` is satisfied by either file.
    """
    weights = [p.relative_to(Path(model_dir)).as_posix() for p in required_files(Path(model_dir), metadata)]
    return [*weights, "tokenizer_config.json", "|".join(TOKENIZER_VOCAB)]


def check_model_files(model_dir: Path, metadata: ModelMetadata) -> None:
    """Refuse a model folder that lacks a file of :func:`required_model_files`.

    Raises:
        ModelLoadError: naming every missing file.
    """
    missing = [entry for entry in required_model_files(model_dir, metadata)
               if not any((model_dir / name).is_file() for name in entry.split("|"))]
    if missing:
        shown = ", ".join(entry.replace("|", " or ") for entry in missing)
        raise ModelLoadError(
            f"{model_dir} cannot be published: loading it needs {shown}, which {'is' if len(missing) == 1 else 'are'} "
            "missing. Publish the run directory a recipe wrote once training has finished (a model folder copied "
            "in part, or from a crashed save, is not a release); nothing was published."
        )


def read_run(run_dir: Path) -> tuple[ModelMetadata, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(finrisk_model.json, metrics.json, config.yaml, run_info.json)`` of a finished run directory.

    Raises:
        ModelLoadError: if a file the run or its model needs is missing (:func:`check_model_files`).
    """

    required = (f"model/{METADATA_FILE}", "config.yaml", "metrics.json")
    missing = [name for name in required if not (run_dir / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{run_dir} is not a finished run directory: missing {', '.join(missing)}. Publish the directory a "
            "recipe wrote (its output_dir, e.g. runs/credit_text) after training has ended."
        )
    metadata = _read_metadata(run_dir / "model")
    check_model_files(run_dir / "model", metadata)
    config = _read_mapping(run_dir / "config.yaml")
    metrics = read_metrics(_read_mapping(run_dir / METRICS_FILE), metadata.task_names()[0])
    info_path = run_dir / "run_info.json"
    run_info = _read_mapping(info_path) if info_path.is_file() else {}
    return metadata, metrics, config, run_info


def _read_metadata(model_dir: Path) -> ModelMetadata:
    """The model's ``finrisk_model.json``, or a ModelLoadError naming the file."""
    path = model_dir / METADATA_FILE
    raw = _read_mapping(path)
    try:
        return ModelMetadata.from_json(raw, str(model_dir))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{path} is corrupt ({type(exc).__name__}: {exc}); it cannot be published. Restore it, "
                             "or train the run again; nothing was published.") from None


def _read_mapping(path: Path) -> dict[str, Any]:
    """A JSON or YAML file holding one mapping (YAML reads JSON too), or a ModelLoadError naming the file."""
    try:
        value = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ModelLoadError(f"{path} is corrupt ({type(exc).__name__}); it cannot be published. Restore it, or "
                             "train the run again; nothing was published.") from None
    if not isinstance(value, dict):
        raise ModelLoadError(f"{path} is corrupt: a mapping was expected, found {type(value).__name__}; nothing "
                             "was published.")
    return value


def check_loads(folder: Path) -> None:
    """Load the model in ``folder`` as a user would (adapters or encoder, heads, metadata, tokenizer), so a model
    whose files are present but truncated or garbled is refused before it becomes an immutable version (the release
    is a byte copy, sealed by its manifest).

    Raises:
        ModelLoadError: naming the file that could not be read.
    """
    from finrisk_nlp.modeling import load_model

    load_model(folder)


def _data_sources(config: dict[str, Any]) -> list[tuple[str, str, str | None]]:
    """``(task, role, file)`` for every data file a run trained or evaluated on; ``None``: the task's demo data."""
    multitask = config.get("multitask") or {}
    if multitask.get("tasks"):
        per_task = multitask.get("data") or {}
        sections = [(task, per_task.get(task) or {}) for task in multitask["tasks"]]
    else:
        sections = [(config.get("task", ""), config.get("data") or {})]
    return [(task, role, data.get(f"{role}_file")) for task, data in sections
            for role in SPLITS if role == "train" or data.get(f"{role}_file")]


def dataset_fingerprint(config: dict[str, Any], run_dir: Path) -> list[dict[str, Any]]:
    """sha256 and size of each data file the run's config names (the task's demo data when train_file is null)."""
    out = []
    for task, role, name in _data_sources(config):
        if name is None:
            try:
                from finrisk_nlp.data.tables import demo_train_file

                path = demo_train_file(task)
            except ImportError:
                out.append({"task": task, "role": role, "path": f"demo data of {task}", "sha256": None,
                            "note": "the demo data package is not installed"})
                continue
        else:
            path = Path(name)
            if not path.is_absolute() and not path.is_file() and (run_dir / name).is_file():
                path = run_dir / name
        if path.is_file():
            out.append({"task": task, "role": role, "path": str(name or path), "sha256": sha256_file(path),
                        "bytes": path.stat().st_size})
        else:
            logger.warning(f"data file {path} named in {run_dir / 'config.yaml'} is not there; its fingerprint "
                           "is recorded as unavailable (publish from the directory training ran in)")
            out.append({"task": task, "role": role, "path": str(name), "sha256": None,
                        "note": "file not found when published"})
    return out


def _copy_tree(src: Path, dest: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def stage_release(
    run_dir: str | Path, dest: str | Path, *, name: str, merged: bool = False, license: str = DEFAULT_LICENSE,
    hub: bool = False,
) -> dict[str, Any]:
    """Fill the empty folder ``dest`` with the release of a finished run; return its ``finrisk_release.json``.

    Args:
        run_dir: a recipe's output directory (``config.yaml``, ``metrics.json``, ``model/``).
        dest: where to build the release (a temp dir; the caller moves it into place).
        name: registry name or Hub repo id, used in the model card.
        merged: also add ``merged/``: the run's ``model_merged/``, or the adapter merged on the fly.
        license: license id written into the model card.
        hub: a release for the Hugging Face Hub: a single-task model in the Hub format
            (:mod:`finrisk_nlp.modeling.hub_format`, LoRA merged; ``merged`` is then implied), and no local path,
            user or host name in any file (:func:`~finrisk_nlp.registry.publishing.scrub_release`).
    """
    run_dir, dest = Path(run_dir), Path(dest)
    if (run_dir / EXPORT_MANIFEST).is_file():
        if merged:
            raise ModelLoadError(f"{run_dir} is an export of finrisk export: it is published as it is; leave out "
                                 "--merged")
        return stage_export_release(run_dir, dest, name=name, license=license)
    metadata, metrics, config, run_info = read_run(run_dir)
    hub_format = hub and len(metadata.tasks) == 1
    if hub_format:
        from finrisk_nlp.modeling import load_model
        from finrisk_nlp.modeling.hub_format import save_hub_model

        model, tokenizer, meta = load_model(run_dir / "model", device="cpu")
        save_hub_model(model, tokenizer, meta, dest)
    else:
        if hub:
            logger.warning("a multi-task model is pushed in finrisk_nlp's own layout (adapters and heads): "
                           "finrisk_nlp loads it, plain transformers does not; push one task per repo for that")
        check_loads(run_dir / "model")
        _copy_tree(run_dir / "model", dest)
    for file in RUN_FILES:
        if (run_dir / file).is_file():
            shutil.copy2(run_dir / file, dest / file)
    if merged and not hub_format:
        _stage_merged(run_dir, dest / "merged", metadata)
    base = base_model_record(metadata)
    release = {
        "name": name,
        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_run": run_dir.name if hub else str(run_dir.resolve()),
        "task": metadata.summary_task().name,
        "labels": list(metadata.summary_task().labels),
        "base_model": metadata.base_model,
        "base_model_sha256": base and base["sha256"],
        "dataset": dataset_fingerprint(config, run_dir),
        "git_commit": run_info.get("git_commit"),
        "versions": run_info.get("versions") or {"finrisk_nlp": __version__},
        "published_with": __version__,
        "merged": merged or hub_format,
        "format": "hub" if hub_format else "finrisk",
    }
    write_json_atomic(dest / RELEASE_FILE, release)
    card = render_model_card(name=name, metadata=metadata, metrics=metrics, config=config, provenance=release,
                             license=license, hub_format=hub_format)
    write_text_atomic(dest / "README.md", card)
    if hub:
        from finrisk_nlp.registry.publishing import scrub_release

        public = public_base_model(metadata.base_model, base)
        scrub_release(dest, {metadata.base_model: public, **({base_model_dir_text(metadata): public}
                                                               if base_model_dir_text(metadata) else {})})
        if base:
            base = {**base, "path": public}
    write_manifest(dest, base_model=None if hub_format else base)
    return release


def public_base_model(base_model: str, record: dict[str, Any] | None = None) -> str:
    """How a published release names its base model: its Hub id, else its folder name and fingerprint."""
    hub_id = hub_base_model(base_model)
    if hub_id:
        return hub_id
    digest = (record or {}).get("sha256")
    if digest is None:
        try:
            digest = base_model_fingerprint(base_model)
        except ModelLoadError:
            digest = None
    return f"{Path(base_model).name} (sha256 {digest})" if digest else Path(base_model).name


def base_model_dir_text(metadata: ModelMetadata) -> str | None:
    """The resolved local folder of the base model (the embedded one's package folder), when it differs from the
    name the metadata holds."""
    try:
        from finrisk_nlp.modeling import resolve_model_path

        path = resolve_model_path(metadata.base_model)
    except (ImportError, ModelLoadError):
        return None
    return path if path != metadata.base_model else None


def stage_export_release(export_dir: Path, dest: Path, *, name: str, license: str = DEFAULT_LICENSE,
                         ) -> dict[str, Any]:
    """Fill ``dest`` with the release of an export (``finrisk export``; merged or ONNX, int8 included): its files,
    checked against their export hashes first, with the model card, metrics and config of the run it came from
    when that run is still there.

    Raises:
        ModelLoadError: for a changed export file, or an export holding one model per task (publish each task's
            folder instead).
    """
    manifest = verify_export(export_dir)
    if manifest.get("task_dirs"):
        raise ModelLoadError(f"{export_dir} holds one export per task {sorted(manifest['task_dirs'])}; publish each "
                             f"task's folder on its own, e.g. {export_dir / next(iter(manifest['task_dirs']))}")
    metadata = _read_metadata(export_dir)
    _copy_tree(export_dir, dest)
    source = Path(str(manifest.get("source_dir") or ""))
    run = source.parent if source.name == "model" else None
    metrics, config = ({} if run is None or not (run / file).is_file() else _read_mapping(run / file)
                       for file in (METRICS_FILE, "config.yaml"))
    metrics = read_metrics(metrics, metadata.task_names()[0])
    release = {
        "name": name,
        "published_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "source_export": str(export_dir.resolve()),
        "export": {"format": manifest.get("format"), "quantize": manifest.get("quantize"),
                   "source": manifest.get("source")},
        "task": metadata.summary_task().name,
        "labels": list(metadata.summary_task().labels),
        "base_model": metadata.base_model,
        "base_model_sha256": None,  # an export holds its whole encoder
        "dataset": dataset_fingerprint(config, run) if config and run else [],
        "versions": {"finrisk_nlp": manifest.get("finrisk_nlp")},
        "published_with": __version__,
        "merged": False,
    }
    write_json_atomic(dest / RELEASE_FILE, release)
    write_json_atomic(dest / "metrics.json", metrics)  # what `finrisk registry show` reads ({}: run not found)
    write_text_atomic(dest / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    card = render_model_card(name=name, metadata=metadata, metrics=metrics, config=config, provenance=release,
                             license=license)
    write_text_atomic(dest / "README.md", card)
    write_manifest(dest)
    return release


def _stage_merged(run_dir: Path, dest: Path, metadata: ModelMetadata) -> None:
    if (run_dir / "model_merged").is_dir():
        _copy_tree(run_dir / "model_merged", dest)
        return
    if not metadata.lora:
        raise ModelLoadError(f"{run_dir / 'model'} holds full weights, not an adapter: there is nothing to merge; "
                             "publish without --merged")
    from finrisk_nlp.modeling import load_model, save_model

    model, tokenizer, meta = load_model(run_dir / "model")
    save_model(model, tokenizer, meta, dest, merged=True)


def _release_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.name != MANIFEST_FILE and p.relative_to(folder).parts[0] not in IGNORED_DIRS
    )


def write_manifest(folder: Path, base_model: dict[str, Any] | None = None) -> dict[str, str]:
    """Record the sha256 of every file under ``folder`` in ``finrisk_manifest.json``, and the fingerprint of the
    base model (:func:`~finrisk_nlp.registry.base_model.base_model_record`) when the model is an adapter."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in _release_files(folder)}
    manifest: dict[str, Any] = {"algorithm": "sha256", "files": files}
    if base_model:
        manifest["base_model"] = base_model
    write_json_atomic(folder / MANIFEST_FILE, manifest)
    return files


def verify_release(folder: str | Path) -> None:
    """Check every file of a release against its manifest, then its base model against the recorded fingerprint.

    Raises:
        ModelLoadError: naming the first file that is changed, missing or not in the manifest, with the expected
            and found sha256; or the base model path whose weights changed (:func:`verify_base_model`).
    """
    folder = Path(folder)
    document = json.loads((folder / MANIFEST_FILE).read_text())
    manifest = document["files"]
    advice = ("The published files must not change: restore them from the registry or Hub, or publish the run "
              "again as a new version. Do not use this copy.")
    _check_hashes(folder, manifest, folder / MANIFEST_FILE, "checksum mismatch for {path}", advice)
    extra = [p.relative_to(folder).as_posix() for p in _release_files(folder)]
    unknown = sorted(set(extra) - set(manifest))
    if unknown:
        raise ModelLoadError(
            f"{folder} holds files that were not published: {', '.join(unknown)} (not in {MANIFEST_FILE}). {advice}"
        )
    verify_base_model(document.get("base_model"), folder)


def _check_hashes(folder: Path, files: dict[str, str], listed_in: Path, changed: str, advice: str) -> None:
    """Refuse the first file of ``files`` (relative path -> sha256) that is missing or whose sha256 differs."""
    for rel, expected in files.items():
        path = folder / rel
        if not path.is_file():
            raise ModelLoadError(f"{path} is listed in {listed_in} but missing. {advice}")
        found = sha256_file(path)
        if found != expected:
            raise ModelLoadError(f"{changed.format(path=path)}: expected sha256 {expected}, found {found}. {advice}")


def seal_export(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as ``folder/export_manifest.json`` with the sha256 of every other file under ``folder``
    (``files``), so that a changed weight, head, vocabulary, threshold or label list is refused on load."""
    files = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*"))
             if p.is_file() and p != folder / EXPORT_MANIFEST}
    write_json_atomic(folder / EXPORT_MANIFEST, {**manifest, "algorithm": "sha256", "files": files})


def verify_export(folder: str | Path) -> dict[str, Any]:
    """Check every file of an export against the sha256 in its ``export_manifest.json``; return the manifest.

    Raises:
        ModelLoadError: naming the changed, missing or unlisted file (or a manifest without hashes).
    """
    folder = Path(folder)
    advice = "Do not use this copy: export the model again (finrisk export) or restore the export's files."
    manifest = _read_mapping(folder / EXPORT_MANIFEST)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ModelLoadError(f"{folder / EXPORT_MANIFEST} records no file hashes (an older finrisk wrote it, or it "
                             f"was edited), so the export cannot be checked. {advice}")
    _check_hashes(folder, files, folder / EXPORT_MANIFEST, "{path} was changed after export", advice)
    unknown = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
                     and p.relative_to(folder).as_posix() not in (EXPORT_MANIFEST, MANIFEST_FILE, RELEASE_FILE,
                                                                  "README.md", "metrics.json", "config.yaml")
                     and p.relative_to(folder).parts[0] not in IGNORED_DIRS
                     and p.relative_to(folder).as_posix() not in files)
    if unknown:
        raise ModelLoadError(f"{folder} holds files the export did not write: {', '.join(unknown[:5])}. {advice}")
    return manifest
