"""Saving and loading trained document classifiers (one or several tasks) by local directory.

    finrisk predict runs/credit_text "Applicant lost her job in March ..."    # loads RUN_DIR/model

A saved model directory holds::

    finrisk_model.json        ModelMetadata: tasks and labels, base model, windows, head, calibration, threshold,
                              fitted field preprocessing (``extra.fields``, JSON) of a model with structured fields
    adapters/<name>/          LoRA adapters (adapter_model.safetensors + adapter_config.json), one per adapter
    encoder/                  instead of adapters/: the whole encoder (full fine-tuning or a merged export)
    heads.safetensors         every task's document head, keys "<task>.<parameter>" (field embeddings included)
    tokenizer files

or, in the Hub format (:mod:`finrisk_nlp.modeling.hub_format`), ``config.json`` + ``model.safetensors`` (merged
encoder and one task's head) instead of adapters/encoder and heads. Only safetensors weights are written or read.
Model references (``registry:``, ``hub:``, run directories) are resolved to a directory by the layers above; this
module only loads directories.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.modeling.build import load_encoder, load_tokenizer, quiet_peft, resolve_model_path
from finrisk_nlp.modeling.classifier import DocumentClassifier
from finrisk_nlp.modeling.layout import (
    ADAPTERS_DIR,
    ENCODER_DIR,
    FORMAT_VERSION,
    HEADS_FILE,
    METADATA_FILE,
    adapter_names,
    is_hub_layout,
    required_files,
)
from finrisk_nlp.tasks import Task


@dataclass
class ModelMetadata:
    """What is needed, besides weights, to use a model: written as ``finrisk_model.json``.

    A single-task model keeps its task in ``task`` and its threshold, calibration and windows in ``extra``; a
    multi-task model summarises its tasks in ``task`` and keeps each task's entry under ``multitask["tasks"]``.
    """

    task: dict[str, Any]
    base_model: str
    max_length: int
    lora: bool
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    multitask: dict[str, Any] | None = None  # {"strategy", "shared_adapter", "tasks": {name: {"task", "extra"}}}
    head: dict[str, Any] = field(default_factory=dict)  # {"pooling", "token_pooling", "strategy", "shared_adapter"}

    def to_task(self) -> Task:
        return task_from_dict(self.task)

    def task_names(self) -> list[str]:
        return list(self.multitask["tasks"]) if self.multitask else [self.task["name"]]

    def for_task(self, name: str) -> ModelMetadata:
        """The single-task view of one task (what a Predictor of that task reads)."""
        if not self.multitask:
            return self
        entry = self.multitask["tasks"][name]
        return ModelMetadata(task=entry["task"], base_model=self.base_model, max_length=self.max_length,
                             lora=self.lora, extra=dict(entry.get("extra") or {}), head=dict(self.head))

    def tasks(self) -> dict[str, Task]:
        return {name: self.for_task(name).to_task() for name in self.task_names()}

    def field_layouts(self) -> dict[str, dict[str, Any]]:
        """The field input layout of every task trained with structured fields (``extra["fields"]``)."""
        from finrisk_nlp.data.fields import FieldPreprocessor

        out = {}
        for name in self.task_names():
            raw = (self.for_task(name).extra or {}).get("fields")
            if raw:
                out[name] = FieldPreprocessor.from_dict(raw).input_layout()
        return out

    @classmethod
    def read(cls, model_dir: Path) -> ModelMetadata:
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
        version = raw.get("format_version", 1)
        if version != FORMAT_VERSION:
            raise ModelLoadError(
                f"{model_dir} was saved in model format {version}, but this finrisk_nlp reads format "
                f"{FORMAT_VERSION} (document-level heads); retrain it with this version, or load it with the "
                "finrisk_nlp release that saved it"
            )
        with reading(path):
            return cls(**raw)


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


def task_from_dict(fields: dict[str, Any]) -> Task:
    fields = dict(fields)
    fields["labels"] = tuple(fields["labels"])
    return Task(**fields)


def write_dir_atomic(out_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Let ``fill`` write a fresh temp directory, then put it in the place of ``out_dir`` (replacing it)."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(out_dir)
    return out_dir


def save_model(
    model: DocumentClassifier, tokenizer: PreTrainedTokenizerBase, metadata: ModelMetadata, out_dir: str | Path,
    *, merged: bool = False, state_dict: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save adapters or encoder, heads, tokenizer and metadata atomically (temp dir, then rename).

    Args:
        state_dict: the model's full state dict when it is sharded (FSDP/DeepSpeed: from
            ``accelerator.get_state_dict`` on every rank); by default ``model.state_dict()``.
        merged: merge the LoRA adapter into a copy of the encoder and save that whole (``encoder/``), so loading
            needs no peft; only for models with one adapter.
    """
    state = state_dict if state_dict is not None else model.state_dict()
    heads = {k[len("heads."):]: v.detach().cpu().contiguous() for k, v in state.items() if k.startswith("heads.")}
    encoder_state = {k[len("encoder."):]: v for k, v in state.items() if k.startswith("encoder.")}
    encoder = model.encoder
    if merged and isinstance(encoder, PeftModel):
        if len(encoder.peft_config) != 1:
            raise ModelLoadError("only a model with one LoRA adapter (hard sharing) can be merged; "
                                 f"this one has {list(encoder.peft_config)}")
        encoder = copy.deepcopy(encoder)
        encoder.load_state_dict(encoder_state)
        encoder = encoder.merge_and_unload()
        encoder_state = encoder.state_dict()
        metadata = ModelMetadata(**{**asdict(metadata), "lora": False})

    def fill(tmp: Path) -> None:
        if isinstance(encoder, PeftModel):
            encoder.save_pretrained(tmp / ADAPTERS_DIR, state_dict=encoder_state, safe_serialization=True,
                                    save_embedding_layers=False)
            (tmp / ADAPTERS_DIR / "README.md").unlink(missing_ok=True)  # peft's empty template card
        else:
            encoder.save_pretrained(tmp / ENCODER_DIR, state_dict=encoder_state, safe_serialization=True)
        save_file(heads, str(tmp / HEADS_FILE), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2))

    return write_dir_atomic(out_dir, fill)


def load_model(
    model_dir: str | Path, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
) -> tuple[DocumentClassifier, PreTrainedTokenizerBase, ModelMetadata]:
    """Load a saved model directory for inference (eval mode, no gradients) with its tokenizer and metadata.

    Raises:
        ModelLoadError: when the directory is not a finrisk model of this format, or a weight file is missing.
    """
    model_dir = Path(model_dir)
    meta = ModelMetadata.read(model_dir)
    missing = [str(p) for p in required_files(model_dir, asdict(meta)) if not p.is_file()]
    if missing:
        raise ModelLoadError(f"{model_dir} is incomplete: {missing} missing; save or publish the run again")
    head = meta.head or {}
    strategy, shared = head.get("strategy", "hard"), bool(head.get("shared_adapter"))
    hub_head: dict[str, torch.Tensor] | None = None
    if not meta.lora and is_hub_layout(model_dir):
        from finrisk_nlp.modeling.hub_format import load_hub_parts

        encoder, hub_head = load_hub_parts(model_dir)
    elif meta.lora:
        encoder = load_encoder(resolve_model_path(meta.base_model), trust_remote_code=trust_remote_code)
        names = adapter_names(meta.task_names(), strategy, shared)
        with quiet_peft():
            with reading(model_dir / ADAPTERS_DIR / names[0] / "adapter_model.safetensors"):
                encoder = PeftModel.from_pretrained(encoder, model_dir / ADAPTERS_DIR / names[0],
                                                    adapter_name=names[0])
            for name in names[1:]:
                with reading(model_dir / ADAPTERS_DIR / name / "adapter_model.safetensors"):
                    encoder.load_adapter(model_dir / ADAPTERS_DIR / name, adapter_name=name)
    else:
        with reading(model_dir / ENCODER_DIR):
            encoder = load_encoder(str(model_dir / ENCODER_DIR), trust_remote_code=trust_remote_code)
    with reading(model_dir / "tokenizer.json"):
        tokenizer = load_tokenizer(model_dir, encoder, trust_remote_code=trust_remote_code)
    with reading(model_dir / METADATA_FILE):
        model = DocumentClassifier(encoder, meta.tasks(), pooling=head.get("pooling", "attention"),
                                   token_pooling=head.get("token_pooling", "cls"), strategy=strategy,
                                   shared_adapter=shared, fields=meta.field_layouts(),
                                   fusion=head.get("fusion", "concat"),
                                   field_dropout=float(head.get("field_dropout", 0)))
    if hub_head is not None:
        model.heads[meta.task_names()[0]].load_state_dict(hub_head)
    else:
        with reading(model_dir / HEADS_FILE):
            model.heads.load_state_dict(load_file(str(model_dir / HEADS_FILE)))
    model.eval()
    model.requires_grad_(False)
    if device is not None:
        model.to(device)
    return model, tokenizer, meta
