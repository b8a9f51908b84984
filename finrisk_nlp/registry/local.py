"""The model registry: immutable numbered versions, stage aliases, and model references.

    finrisk registry push runs/credit_text --name credit-text          # -> credit-text version N
    finrisk registry push runs/credit_text --hub my-bank/credit-text   # private Hugging Face repo (see hub.py)
    finrisk registry promote credit-text 3 --stage production
    finrisk registry list | show credit-text@production | diff credit-text 2 3
    finrisk predict registry:credit-text@production "Applicant lost his job ..."

Layout under the root (``--root``, else ``$FINRISK_REGISTRY``, else ``./registry``)::

    credit-text/versions/1/   a release folder (see release.py), files read-only, checked against its manifest
    credit-text/aliases.json  {"aliases": {"production": 3}, "history": [...]}

A version is built in a hidden staging folder and renamed into place, so a crash leaves no half version; an
existing version is never replaced. Every place that loads a model accepts a reference (:func:`resolve_model_ref`).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from finrisk_nlp.config import HUB_REPO_PATTERN, REGISTRY_NAME_PATTERN, RecipeConfig
from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.evaluation.run_metrics import METRICS_FILE, read_metrics
from finrisk_nlp.modeling.layout import EXPORT_MANIFEST, METADATA_FILE
from finrisk_nlp.modeling.metadata import ModelMetadata
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.registry.model_card import DEFAULT_LICENSE
from finrisk_nlp.registry.release import (
    MANIFEST_FILE,
    RELEASE_FILE,
    read_run,
    stage_release,
    verify_export,
    verify_release,
)

REGISTRY_ENV = "FINRISK_REGISTRY"
DEFAULT_ROOT = "registry"
REGISTRY_PREFIX = "registry:"
HUB_PREFIX = "hub:"
STAGE_PATTERN = r"[a-z][a-z0-9_-]{0,31}"


class RegistryError(FinriskError, ValueError):
    """A registry operation was refused: unknown name or version, an existing version, a bad stage name."""


def is_version_number(text: str) -> bool:
    """ASCII digits of a sane length: ``str.isdigit`` also accepts ``²`` and ``٣``, which ``int`` then refuses or
    reads as another number, and a 100,000-digit string is past what ``int`` converts."""
    return text.isascii() and text.isdigit() and len(text) <= 9


def default_root(root: str | Path | None = None) -> Path:
    """The registry directory: ``root`` if given, else ``$FINRISK_REGISTRY``, else ``./registry``."""
    return Path(root or os.environ.get(REGISTRY_ENV) or DEFAULT_ROOT)


def default_name(task: str) -> str:
    return task.replace("_", "-")


class ModelRegistry:
    """A directory of named models, each with numbered immutable versions and stage aliases."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = default_root(root)

    def _model_dir(self, name: str) -> Path:
        if not re.fullmatch(REGISTRY_NAME_PATTERN, name):
            raise RegistryError(f"invalid registry name {name!r}: use lower case letters, digits, '.', '_', '-' "
                                "(e.g. credit-text)")
        return self.root / name

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "versions").is_dir())

    def versions(self, name: str) -> list[int]:
        folder = self._model_dir(name) / "versions"
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if is_version_number(p.name)
                      and (p / MANIFEST_FILE).is_file())

    def version_dir(self, name: str, version: int) -> Path:
        if version not in self.versions(name):
            known = self.versions(name)
            raise RegistryError(f"{name} has no version {version} in {self.root}; "
                                + (f"versions: {known}" if known else f"registered names: {self.names()}"))
        return self._model_dir(name) / "versions" / str(version)

    def aliases(self, name: str) -> dict[str, int]:
        return dict(self._alias_file(name).get("aliases", {}))

    def _alias_file(self, name: str) -> dict[str, Any]:
        path = self._model_dir(name) / "aliases.json"
        return json.loads(path.read_text()) if path.is_file() else {"aliases": {}, "history": []}

    def resolve(self, name: str, ref: str | int | None = None) -> int:
        """A version number from a number, a stage alias, or None / ``latest`` (the newest version)."""
        known = self.versions(name)
        if not known:
            raise RegistryError(f"nothing is published as {name!r} in {self.root} (registered: {self.names()}); "
                                f"publish with `finrisk registry push RUN_DIR --name {name}`")
        if ref is None or ref == "latest":
            return known[-1]
        if isinstance(ref, int) or is_version_number(str(ref)):
            self.version_dir(name, int(ref))
            return int(ref)
        aliases = self.aliases(name)
        if ref not in aliases:
            shown = repr(ref) if len(str(ref)) <= 40 else f"{str(ref)[:40]!r}... ({len(str(ref)):,} characters)"
            raise RegistryError(f"{name} has no stage {shown}; stages: {aliases or 'none'}; versions: {known}. "
                                f"Promote one with `finrisk registry promote {name} VERSION --stage {ref}`")
        return aliases[ref]

    def publish(self, run_dir: str | Path, name: str, *, version: int | None = None, merged: bool = False,
                license: str = DEFAULT_LICENSE) -> int:
        """Publish a finished run (or an export of ``finrisk export``) as a new version and return its number.

        Raises:
            RegistryError: if ``version`` is given and is below 1 or already exists (versions are never
                overwritten).
            ModelLoadError: if the run is not finished or its model lacks a file loading needs; nothing is written.
        """
        model_dir = self._model_dir(name)
        if version is not None and version < 1:
            raise RegistryError(f"--version must be a positive number, got {version}: versions count up from 1 and "
                                "a version with another number could never be loaded; leave out --version to get "
                                "the next number")
        if not (Path(run_dir) / EXPORT_MANIFEST).is_file():  # an export is checked against its hashes when staged
            read_run(Path(run_dir))  # refuse an unfinished or incomplete run before anything is created
        versions = model_dir / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        self._remove_stale_staging(model_dir)
        if version is not None and (versions / str(version)).exists():
            raise RegistryError(f"{name} version {version} already exists in {self.root} and versions are immutable; "
                                "publish without --version to get the next number")
        staging = model_dir / f".staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            staging.mkdir()
            stage_release(run_dir, staging, name=name, merged=merged, license=license)
            for path in staging.rglob("*"):
                if path.is_file():
                    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            number = version if version is not None else self._next_number(name)
            while True:
                try:
                    # rename() refuses a non-empty target, so two publishers can never share a number.
                    os.rename(staging, versions / str(number))
                    return number
                except OSError as exc:
                    if not (versions / str(number)).exists():
                        raise
                    if version is not None:
                        raise RegistryError(f"{name} version {version} was just published by another process; "
                                            "versions are immutable") from exc
                    number += 1
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _next_number(self, name: str) -> int:
        folder = self._model_dir(name) / "versions"
        taken = [int(p.name) for p in folder.iterdir() if is_version_number(p.name)]
        return max(taken, default=0) + 1

    @staticmethod
    def _remove_stale_staging(model_dir: Path) -> None:
        """Staging folders of publishers that died (killed mid-publish) are never visible; clear them."""
        for path in model_dir.glob(".staging-*"):
            pid = int(path.name.split("-")[1])
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(path, ignore_errors=True)
            except PermissionError:
                pass

    def promote(self, name: str, version: int, stage: str) -> int | None:
        """Point ``stage`` (e.g. production) at ``version``; return the version it pointed at before."""
        if not re.fullmatch(STAGE_PATTERN, stage) or stage == "latest":
            raise RegistryError(f"invalid stage {stage!r}: use a lower case word such as production or staging "
                                "('latest' is reserved for the newest version)")
        self.version_dir(name, version)
        # Read-modify-write under an exclusive lock: concurrent promotes would otherwise each start from the same
        # state and the last rename would drop the others' stages and history entries.
        with _exclusive_lock(self._model_dir(name) / "aliases.json.lock"):
            state = self._alias_file(name)
            previous = state["aliases"].get(stage)
            state["aliases"][stage] = version
            state["history"].append({"stage": stage, "version": version, "previous": previous,
                                     "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            write_json_atomic(self._model_dir(name) / "aliases.json", state)
        return previous

    def info(self, name: str, ref: str | int | None = None) -> dict[str, Any]:
        """Release metadata, metrics, config and stages of one version; for a model with structured fields also
        ``fields``: each field's kind, scaling, range and missing rate seen in training."""
        import yaml

        version = self.resolve(name, ref)
        folder = self.version_dir(name, version)
        release = json.loads((folder / RELEASE_FILE).read_text())
        out = {
            "name": name, "version": version, "path": str(folder),
            "stages": sorted(s for s, v in self.aliases(name).items() if v == version),
            "release": release,
            "metrics": read_metrics(json.loads((folder / METRICS_FILE).read_text()), release.get("task")),
            "config": yaml.safe_load((folder / "config.yaml").read_text()),
        }
        meta = ModelMetadata.read(folder) if (folder / METADATA_FILE).is_file() else None
        fields = meta.task_metadata().fields if meta is not None and len(meta.tasks) == 1 else None
        if fields is not None:
            out["fields"] = fields.card()
        return out


@contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the duration of the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, also if the block raises
        yield


def parse_registry_ref(ref: str) -> tuple[str, str | None]:
    """``registry:NAME[@VERSION|@STAGE]`` (or ``NAME[@...]`` without the prefix) -> ``(name, ref)``."""
    body = ref[len(REGISTRY_PREFIX):] if ref.startswith(REGISTRY_PREFIX) else ref
    name, _, version = body.partition("@")
    return name, version or None


def resolve_model_ref(ref: str | Path, *, registry_root: str | Path | None = None) -> Path:
    """The local model directory behind a model reference, with its checksums verified where it has a manifest.

    Args:
        ref: ``registry:NAME[@VERSION|@STAGE]``, ``hub:ORG/NAME[@REVISION]`` (the only reference that reaches the
            Hugging Face Hub), or a run or model directory.
        registry_root: registry directory for ``registry:`` references (default: see :func:`default_root`).

    Raises:
        ModelLoadError: the reference does not resolve, or a published file fails its checksum.
    """
    from finrisk_nlp.modeling import METADATA_FILE

    text = str(ref)
    if text.startswith(REGISTRY_PREFIX):
        name, version = parse_registry_ref(text)
        registry = ModelRegistry(registry_root)
        try:
            folder = registry.version_dir(name, registry.resolve(name, version))
        except RegistryError as exc:
            raise ModelLoadError(f"cannot resolve {text}: {exc}") from None
    elif text.startswith(HUB_PREFIX):  # the only way to the Hub: a mistyped local path is never fetched
        from finrisk_nlp.registry.hub import download_model

        repo, _, revision = text.removeprefix(HUB_PREFIX).partition("@")
        folder = download_model(repo, revision or None)
    else:
        folder = Path(text)
        try:
            found = folder.is_dir()
        except OSError:  # e.g. a name longer than the file system allows
            found = False
        if not found:
            hint = f" (a Hugging Face Hub model is named hub:{text})" if re.fullmatch(HUB_REPO_PATTERN, text) else ""
            raise ModelLoadError(
                f"{text[:200]}: no such directory{hint}. Pass a run directory written by a recipe (e.g. "
                "runs/credit_text), its model/ subdirectory, registry:NAME[@STAGE] or hub:ORG/NAME.")
        if (folder / "model" / METADATA_FILE).is_file() and not (folder / METADATA_FILE).is_file():
            folder = folder / "model"
        if not (folder / METADATA_FILE).is_file():
            raise ModelLoadError(
                f"{text} is not a finrisk model: expected {METADATA_FILE} in it or in {Path(text) / 'model'}. Pass a "
                "run directory written by a recipe (e.g. runs/credit_text), its model/ subdirectory, "
                "registry:NAME[@STAGE] or hub:ORG/NAME."
            )
    if (folder / MANIFEST_FILE).is_file():
        verify_release(folder)
    if (folder / EXPORT_MANIFEST).is_file():  # an export (also inside a release): every file as it was exported
        verify_export(folder)
    return folder


def publish_from_config(cfg: RecipeConfig) -> None:
    """Publish a just-finished recipe run as its ``registry`` section says (local and/or Hub)."""
    import logging

    logger = logging.getLogger(__name__)
    name = cfg.registry.name or default_name(cfg.task)
    if cfg.registry.push:
        version = ModelRegistry(cfg.registry.root).publish(cfg.output_dir, name, merged=cfg.save_merged)
        logger.info(f"published {cfg.output_dir} as registry:{name}@{version}")
    if cfg.registry.hub_repo:
        from finrisk_nlp.registry.hub import push_to_hub

        url = push_to_hub(cfg.output_dir, cfg.registry.hub_repo, private=cfg.registry.private,
                          merged=cfg.save_merged)
        logger.info(f"pushed {cfg.output_dir} to {url}")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def diff_versions(registry: ModelRegistry, name: str, a: str, b: str) -> dict[str, dict[str, tuple[Any, Any]]]:
    """Metrics and config keys whose values differ between two versions: ``{section: {key: (a, b)}}``."""
    left, right = registry.info(name, a), registry.info(name, b)
    out = {}
    for section in ("metrics", "config"):
        flat_a, flat_b = _flatten(left[section]), _flatten(right[section])
        out[section] = {k: (flat_a.get(k), flat_b.get(k)) for k in sorted(set(flat_a) | set(flat_b))
                        if flat_a.get(k) != flat_b.get(k)}
    return out
