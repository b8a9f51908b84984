"""A saved model's metadata (``finrisk_model.json``), typed: the one module that writes and reads that file.

    finrisk predict runs/credit_text "Applicant lost her job in March ..."    # reads RUN_DIR/model/finrisk_model.json
    finrisk registry push runs/credit_text --name credit-text                 # reads it without torch

In memory a model of one task and a model of several have the same shape: :class:`ModelMetadata` holds the
encoder facts, its :class:`Head` and one :class:`TaskMetadata` per task (labels, :class:`Windows`, the fitted
:class:`Decision`, PII redaction, field preprocessing). On disk the layout is the one every release wrote since
format 2, so models saved by earlier releases load and earlier releases load these::

    {"task": {...}, "base_model", "max_length", "lora", "format_version": 2,
     "extra": {"chunking": {"max_chunks", "stride", "pooling"}, "redact_pii", "fields", "calibration", "threshold"},
     "multitask": null | {"strategy", "shared_adapter", "tasks": {name: {"task": {...}, "extra": {...}}}},
     "head": {"pooling", "token_pooling", "strategy", "shared_adapter", "fusion", "field_dropout"}}

One task keeps its entry in ``task``/``extra``; several keep theirs under ``multitask.tasks`` and ``task`` holds a
summary (:meth:`ModelMetadata.summary_task`). Keys a file lacks take the defaults the releases that left them out
meant (one window, no stride, attention pooling over ``cls`` tokens, hard sharing, no calibration), here and only
here. Nothing in this module imports torch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finrisk_nlp.data.fields import FieldPreprocessor
from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.modeling.layout import FORMAT_VERSION, METADATA_FILE, adapter_names
from finrisk_nlp.provenance import write_json_atomic
from finrisk_nlp.tasks import Task

# The JSON form of an object the evaluation layer (above this one) owns and decodes: a calibration map
# (``Calibration.to_dict``) or tuned thresholds (``tune_thresholds``). Stored here as written, never interpreted.
EvaluationRecord = dict[str, Any]

MULTITASK = "multitask"  # the summary task's name, and a multi-task run's ``task`` in run_info.json


@dataclass(frozen=True)
class Windows:
    """How a document is cut before the encoder reads it (``model.max_chunks`` windows overlapping by
    ``model.stride`` tokens); prediction cuts documents exactly as training did."""

    max_chunks: int = 1
    stride: int = 0


@dataclass(frozen=True)
class Decision:
    """How a task's probabilities become decisions, fitted by a run's final evaluation.

    Attributes:
        calibration: ``Calibration.to_dict()`` of :mod:`finrisk_nlp.evaluation.calibration`.
        threshold: the tuned operating thresholds of :mod:`finrisk_nlp.evaluation.thresholds`; None: the
            most probable class (multi-class tasks).
    """

    calibration: EvaluationRecord
    threshold: EvaluationRecord | None = None


@dataclass(frozen=True)
class Head:
    """The document head every task shares the design of (``model.*``) and how tasks share adapters
    (``multitask.strategy``/``shared_adapter``); ``fusion``/``field_dropout`` matter to models with fields only."""

    pooling: str = "attention"
    token_pooling: str = "cls"
    strategy: str = "hard"
    shared_adapter: bool = False
    fusion: str = "concat"
    field_dropout: float = 0.0


@dataclass(frozen=True)
class TaskMetadata:
    """One task of a saved model.

    Attributes:
        decision: None until the run's final evaluation has fitted calibration and threshold (the best model is
            saved during training without them).
        redact_pii: whether texts are redacted before the model reads them (``data.redact_pii``), in training as
            in scoring; None: not recorded (no redaction, and a model card neither claims nor denies it).
        fields: the structured-field preprocessing fitted on training rows; None for a text-only task.
    """

    task: Task
    windows: Windows = Windows()
    decision: Decision | None = None
    redact_pii: bool | None = None
    fields: FieldPreprocessor | None = None


@dataclass(frozen=True)
class ModelMetadata:
    """What is needed, besides weights, to use a model: its tasks in training order, base model, head."""

    tasks: dict[str, TaskMetadata]
    base_model: str
    max_length: int
    lora: bool
    head: Head = Head()
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ValueError("a model has at least one task")

    def task_names(self) -> list[str]:
        return list(self.tasks)

    def task_specs(self) -> dict[str, Task]:
        """Every task's :class:`~finrisk_nlp.tasks.Task` (what the classifier is built with)."""
        return {name: entry.task for name, entry in self.tasks.items()}

    def task_metadata(self, name: str | None = None) -> TaskMetadata:
        """The entry of task ``name``; without a name, the model's only task.

        Raises:
            ModelLoadError: for an unknown task, or no name on a model of several tasks.
        """
        if name is None:
            if len(self.tasks) > 1:
                raise ModelLoadError(f"this model has tasks {self.task_names()}; name one of them")
            return next(iter(self.tasks.values()))
        if name not in self.tasks:
            raise ModelLoadError(f"this model has tasks {self.task_names()}, but task {name!r} was asked for; "
                                 "pass one of them")
        return self.tasks[name]

    def for_task(self, name: str) -> ModelMetadata:
        """The single-task view of one task (what a Predictor of that task and a one-task export hold)."""
        return dataclasses.replace(self, tasks={name: self.task_metadata(name)})

    def with_decision(self, name: str, decision: Decision) -> ModelMetadata:
        """A copy whose task ``name`` has ``decision`` (the final evaluation's calibration and threshold)."""
        entry = dataclasses.replace(self.task_metadata(name), decision=decision)
        return dataclasses.replace(self, tasks={**self.tasks, name: entry})

    def summary_task(self) -> Task:
        """What a registry release or model card names the model by: its one task, or for several a summary task
        whose labels are ``task/label``."""
        if len(self.tasks) == 1:
            return next(iter(self.tasks.values())).task
        specs = self.task_specs()
        return Task(name=MULTITASK, text_column=next(iter(specs.values())).text_column, label_column="task/label",
                    labels=tuple(f"{name}/{label}" for name, task in specs.items() for label in task.labels),
                    primary_metric="mean_primary",
                    description=f"Multi-task model ({self.head.strategy} sharing) for {', '.join(specs)}; choose "
                                "one with --task.")

    def has_fields(self) -> bool:
        return any(entry.fields is not None for entry in self.tasks.values())

    def field_layouts(self) -> dict[str, dict[str, Any]]:
        """The field input layout of every task trained with structured fields."""
        return {name: entry.fields.input_layout() for name, entry in self.tasks.items() if entry.fields is not None}

    def adapter_names(self) -> list[str]:
        """Every LoRA adapter the model holds (none when ``lora`` is false)."""
        return adapter_names(self.task_names(), self.head.strategy, self.head.shared_adapter) if self.lora else []

    # -- the file ------------------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The ``finrisk_model.json`` object (the layout of the module docstring)."""
        head = {"pooling": self.head.pooling, "token_pooling": self.head.token_pooling,
                "strategy": self.head.strategy, "shared_adapter": self.head.shared_adapter}
        if self.has_fields():  # text-only models keep the metadata they always had
            head.update(fusion=self.head.fusion, field_dropout=self.head.field_dropout)
        entries = {name: {"task": _task_json(entry.task), "extra": self._extra_json(entry)}
                   for name, entry in self.tasks.items()}
        several = len(self.tasks) > 1
        only = next(iter(entries.values()))
        return {
            "task": _task_json(self.summary_task()),
            "base_model": self.base_model,
            "max_length": self.max_length,
            "lora": self.lora,
            "format_version": self.format_version,
            "extra": {} if several else only["extra"],
            "multitask": {"strategy": self.head.strategy, "shared_adapter": self.head.shared_adapter,
                          "tasks": entries} if several else None,
            "head": head,
        }

    def _extra_json(self, entry: TaskMetadata) -> dict[str, Any]:
        out: dict[str, Any] = {"chunking": {"max_chunks": entry.windows.max_chunks, "stride": entry.windows.stride,
                                            "pooling": self.head.pooling}}
        if entry.redact_pii is not None:
            out["redact_pii"] = entry.redact_pii
        if entry.fields is not None:
            out["fields"] = entry.fields.to_dict()
        if entry.decision is not None:
            out.update(threshold=entry.decision.threshold, calibration=entry.decision.calibration)
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], source: str = "the model") -> ModelMetadata:
        """Read the ``finrisk_model.json`` object of any release that wrote format 2 (``source``: the model's
        folder, for messages).

        Raises:
            ModelLoadError: for another format version.
            KeyError, TypeError, ValueError: for a file that is not model metadata (:meth:`read` names the file).
        """
        version = raw.get("format_version", 1)
        if version != FORMAT_VERSION:
            raise ModelLoadError(
                f"{source} was saved in model format {version}, but this finrisk_nlp reads format "
                f"{FORMAT_VERSION} (document-level heads); retrain it with this version, or load it with the "
                "finrisk_nlp release that saved it")
        multitask = raw.get("multitask") or {}
        if multitask.get("tasks"):
            entries = {name: (entry["task"], entry.get("extra") or {}) for name, entry in multitask["tasks"].items()}
        else:
            entries = {raw["task"]["name"]: (raw["task"], raw.get("extra") or {})}
        head = raw.get("head") or {}
        defaults = Head()
        return cls(
            tasks={name: _task_metadata(task, extra) for name, (task, extra) in entries.items()},
            base_model=str(raw["base_model"]), max_length=int(raw["max_length"]), lora=bool(raw["lora"]),
            head=Head(pooling=head.get("pooling", defaults.pooling),
                      token_pooling=head.get("token_pooling", defaults.token_pooling),
                      strategy=head.get("strategy", defaults.strategy),
                      shared_adapter=bool(head.get("shared_adapter", defaults.shared_adapter)),
                      fusion=head.get("fusion", defaults.fusion),
                      field_dropout=float(head.get("field_dropout", defaults.field_dropout))),
            format_version=version)

    @classmethod
    def read(cls, model_dir: str | Path) -> ModelMetadata:
        """The metadata of a saved model directory.

        Raises:
            ModelLoadError: no ``finrisk_model.json``, another format version, or a corrupt file (named).
        """
        path = Path(model_dir) / METADATA_FILE
        if not path.is_file():
            raise ModelLoadError(
                f"{model_dir} has no {METADATA_FILE}; expected a model saved by finrisk_nlp "
                "(a run directory or its model/ subdirectory)"
            )
        with reading(path):
            raw = json.loads(path.read_text())
            if not isinstance(raw, dict):
                raise ValueError(f"a JSON object was expected, found {type(raw).__name__}")
        with reading(path):
            return cls.from_json(raw, str(model_dir))

    def write(self, model_dir: str | Path) -> Path:
        """Write ``model_dir/finrisk_model.json`` (atomically: a temp file, then a rename)."""
        path = Path(model_dir) / METADATA_FILE
        write_json_atomic(path, self.to_json())
        return path


def _task_json(task: Task) -> dict[str, Any]:
    return {**dataclasses.asdict(task), "labels": list(task.labels)}


def _task_metadata(task: Mapping[str, Any], extra: Mapping[str, Any]) -> TaskMetadata:
    chunking = extra.get("chunking") or {}
    fitted = "calibration" in extra or "threshold" in extra
    return TaskMetadata(
        task=Task(**{**task, "labels": tuple(task["labels"])}),
        windows=Windows(max_chunks=int(chunking.get("max_chunks", 1)), stride=int(chunking.get("stride", 0))),
        decision=Decision(calibration=dict(extra.get("calibration") or {"method": "none"}),
                          threshold=extra.get("threshold")) if fitted else None,
        redact_pii=None if extra.get("redact_pii") is None else bool(extra["redact_pii"]),
        fields=FieldPreprocessor.from_dict(extra["fields"]) if extra.get("fields") else None,
    )


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn what a truncated, garbled or foreign file makes a reader raise (safetensors, JSON, tokenizers, torch
    shape checks) into a :class:`ModelLoadError` naming the file: corrupt files are refused, never half-loaded."""
    try:
        yield
    except FinriskError:
        raise
    except Exception as exc:  # noqa: BLE001 (safetensors, tokenizers and peft raise their own types)
        text = " ".join(str(exc).split())
        raise ModelLoadError(
            f"{path} is corrupt or does not belong to this model ({type(exc).__name__}: "
            f"{text[:200]}{'...' if len(text) > 200 else ''}); restore the model folder (e.g. publish or export it "
            "again from its run)") from None
