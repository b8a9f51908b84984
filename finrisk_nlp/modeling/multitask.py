"""One LoRA-wrapped encoder with a classification head per task: the model behind ``recipes/multitask.py``.

    accelerate launch recipes/multitask.py multitask.strategy=soft
    finrisk predict runs/multitask --task aml_alert "Cash deposits just under the reporting limit ..."

Two ways to share the encoder (``multitask.strategy``):

* ``hard``: one LoRA adapter (``shared``) trained on every task's batches;
* ``soft``: one LoRA adapter per task on the frozen encoder, switched per batch with peft's ``set_adapter``;
  with ``shared_adapter: true`` a ``shared`` adapter is active beneath it on every batch (peft sums the outputs
  of all active LoRA adapters on a module).

Each task's head reads the encoder's first-token ([CLS]) state: dense + tanh + dropout + linear (like BERT's
pooler followed by its classifier), trained in full. A saved model directory holds::

    finrisk_model.json        ModelMetadata with "multitask": {"strategy", "shared_adapter", "tasks": {...}}
    adapters/<name>/          adapter_model.safetensors + adapter_config.json, one folder per LoRA adapter
    heads.safetensors         every task head, keys "<task>.<parameter>"
    tokenizer files
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase
from transformers.modeling_outputs import SequenceClassifierOutput

from finrisk_nlp.config import EMBEDDED_MODEL, LoraSettings, ModelConfig
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.loading import METADATA_FILE, ModelMetadata, resolve_model_path, write_dir_atomic
from finrisk_nlp.tasks import Task

SHARED = "shared"
HEADS_FILE = "heads.safetensors"
ADAPTERS_DIR = "adapters"


class TaskHead(torch.nn.Module):
    """[CLS] state -> dense + tanh -> dropout -> logits of one task."""

    def __init__(self, hidden_size: int, num_labels: int, dropout: float) -> None:
        super().__init__()
        self.dense = torch.nn.Linear(hidden_size, hidden_size)
        self.dropout = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(hidden_size, num_labels)

    def forward(self, cls_state: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(torch.tanh(self.dense(cls_state))))


class MultiTaskModel(torch.nn.Module):
    """A peft-wrapped encoder and a ``ModuleDict`` of task heads; ``forward(task=..., **inputs)``."""

    def __init__(self, encoder: PeftModel, tasks: dict[str, Task], strategy: str, shared_adapter: bool) -> None:
        super().__init__()
        self.encoder = encoder
        self.strategy = strategy
        self.shared_adapter = shared_adapter
        config = encoder.get_base_model().config
        dropout = getattr(config, "hidden_dropout_prob", 0.1)
        self.heads = torch.nn.ModuleDict(
            {name: TaskHead(config.hidden_size, len(task.labels), dropout) for name, task in tasks.items()}
        )
        self._adapter_params = [p for n, p in encoder.named_parameters() if "lora_" in n]
        self._active: tuple[Any, ...] | None = None  # adapters last activated, and whether in training

    def adapters_for(self, task: str) -> list[str]:
        """The LoRA adapters active for ``task``'s batches."""
        if self.strategy == "hard":
            return [SHARED]
        return [SHARED, task] if self.shared_adapter else [task]

    def _activate(self, task: str) -> None:
        names = (*self.adapters_for(task), self.training)
        if names == self._active or self.strategy == "hard":
            return
        self.encoder.base_model.set_adapter(list(names[:-1]), inference_mode=not self.training)
        if self.training:
            # peft freezes the adapters it deactivates; every adapter stays trainable here (each learns on its own
            # task's batches), and DDP must see the same trainable set on every step.
            for param in self._adapter_params:
                param.requires_grad_(True)
        self._active = names

    def forward(self, task: str, labels: torch.Tensor | None = None, **inputs: Any) -> SequenceClassifierOutput:
        if task not in self.heads:
            raise KeyError(f"unknown task {task!r}; this model has {list(self.heads)}")
        self._activate(task)
        inputs.pop("doc_index", None)
        hidden = self.encoder(**inputs).last_hidden_state[:, 0]
        return SequenceClassifierOutput(logits=self.heads[task](hidden))


class TaskView(torch.nn.Module):
    """One task of a multi-task model, called like a sequence classifier: ``view(**inputs).logits``."""

    def __init__(self, model: torch.nn.Module, task: str) -> None:
        super().__init__()
        self.model = model
        self.task = task

    @property
    def config(self) -> Any:
        """The encoder's config (attention implementation and the like), as on a transformers model."""
        model = self.model.module if hasattr(self.model, "module") else self.model
        return model.encoder.get_base_model().config

    def forward(self, **inputs: Any) -> SequenceClassifierOutput:
        return self.model(task=self.task, **inputs)


def _lora_config(lora_cfg: LoraSettings) -> LoraConfig:
    return LoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
                      target_modules=list(lora_cfg.target_modules))


def _load_encoder(name_or_path: str, trust_remote_code: bool) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    path = resolve_model_path(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False, use_safetensors=True,
                                            trust_remote_code=trust_remote_code)
    except TypeError:  # encoders without a pooler do not take add_pooling_layer
        encoder = AutoModel.from_pretrained(path, use_safetensors=True, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise ModelLoadError(
            f"could not load base model {name_or_path!r} ({exc}). Offline, use a local directory "
            f"or the embedded default model.name_or_path={EMBEDDED_MODEL}"
        ) from exc
    return encoder, tokenizer


def adapter_names(tasks: list[str], strategy: str, shared_adapter: bool) -> list[str]:
    """Every LoRA adapter a model of this strategy holds."""
    if strategy == "hard":
        return [SHARED]
    return ([SHARED] if shared_adapter else []) + list(tasks)


def build_multitask_model(
    model_cfg: ModelConfig, lora_cfg: LoraSettings, tasks: dict[str, Task], strategy: str, shared_adapter: bool
) -> tuple[MultiTaskModel, PreTrainedTokenizerBase]:
    """The frozen base encoder with fresh LoRA adapter(s) and fresh heads; only adapters and heads train."""
    encoder, tokenizer = _load_encoder(model_cfg.name_or_path, model_cfg.trust_remote_code)
    names = adapter_names(list(tasks), strategy, shared_adapter)
    try:
        encoder = get_peft_model(encoder, _lora_config(lora_cfg), adapter_name=names[0])
        for name in names[1:]:
            encoder.add_adapter(name, _lora_config(lora_cfg))
    except ValueError as exc:
        raise ModelLoadError(f"lora.target_modules={lora_cfg.target_modules} do not fit this model: {exc}") from exc
    for name, param in encoder.named_parameters():
        param.requires_grad_("lora_" in name)
    model = MultiTaskModel(encoder, tasks, strategy, shared_adapter)
    model._activate(next(iter(tasks)))
    return model, tokenizer


def multitask_metadata(
    tasks: dict[str, Task], extras: dict[str, dict[str, Any]], base_model: str, max_length: int, strategy: str,
    shared_adapter: bool,
) -> ModelMetadata:
    """``finrisk_model.json`` of a multi-task model. Its ``task`` summarises all tasks (labels ``task/label``) for
    model cards and registry listings; prediction uses the per-task entries under ``multitask.tasks``."""
    summary = Task(
        name="multitask", text_column=next(iter(tasks.values())).text_column, label_column="task/label",
        labels=tuple(f"{name}/{label}" for name, task in tasks.items() for label in task.labels),
        primary_metric="mean_primary",
        description=f"Multi-task model ({strategy} sharing) for {', '.join(tasks)}; choose one with --task.",
    )
    return ModelMetadata(
        task=asdict(summary), base_model=base_model, max_length=max_length, lora=True,
        multitask={"strategy": strategy, "shared_adapter": shared_adapter,
                   "tasks": {name: {"task": asdict(task), "extra": extras.get(name, {})}
                             for name, task in tasks.items()}},
    )


def save_multitask_model(
    model: MultiTaskModel, tokenizer: PreTrainedTokenizerBase, metadata: ModelMetadata, out_dir: str | Path
) -> Path:
    """Write adapters, heads (safetensors), tokenizer and metadata to a temp dir, then move it to ``out_dir``."""

    def fill(tmp: Path) -> None:
        model.encoder.save_pretrained(tmp / ADAPTERS_DIR, safe_serialization=True)
        heads = {k: v.detach().cpu().contiguous() for k, v in model.heads.state_dict().items()}
        save_file(heads, str(tmp / HEADS_FILE), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        (tmp / METADATA_FILE).write_text(json.dumps(asdict(metadata), indent=2))

    return write_dir_atomic(out_dir, fill)


def task_metadata(meta: ModelMetadata, task: str) -> ModelMetadata:
    """The single-task view of a multi-task model's metadata (what the Predictor reads)."""
    entry = meta.multitask["tasks"][task]
    return ModelMetadata(task=entry["task"], base_model=meta.base_model, max_length=meta.max_length, lora=True,
                         extra=dict(entry.get("extra") or {}))


def load_multitask_model(
    model_dir: Path, meta: ModelMetadata, task: str | None, *, device: str | torch.device | None = None,
    trust_remote_code: bool = False,
) -> tuple[TaskView, PreTrainedTokenizerBase, ModelMetadata]:
    """Load a saved multi-task model for one of its tasks (eval mode); see :func:`~.loading.load_model`.

    Raises:
        ModelLoadError: if ``task`` is None or not one of the model's tasks, or a weight file is missing.
    """
    info = meta.multitask or {}
    task_names = list(info.get("tasks") or {})
    if task is None or task not in task_names:
        found = "no task was given" if task is None else f"got {task!r}"
        raise ModelLoadError(
            f"{model_dir} is a multi-task model for {task_names}: name the task to predict ({found}), "
            f"e.g. `finrisk predict MODEL --task {task_names[0]} \"text\"` or Predictor.load(path, task=...)"
        )
    tasks = {name: task_metadata(meta, name).to_task() for name in task_names}
    strategy, shared = info["strategy"], bool(info.get("shared_adapter"))
    encoder, tokenizer = _load_encoder(meta.base_model, trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=trust_remote_code)
    names = adapter_names(task_names, strategy, shared)
    missing = [p for p in [model_dir / HEADS_FILE, *(model_dir / ADAPTERS_DIR / n for n in names)] if not p.exists()]
    if missing:
        raise ModelLoadError(f"{model_dir} is incomplete: {[str(p) for p in missing]} missing; save or publish the "
                             "multi-task run again")
    encoder = PeftModel.from_pretrained(encoder, model_dir / ADAPTERS_DIR / names[0], adapter_name=names[0])
    for name in names[1:]:
        encoder.load_adapter(model_dir / ADAPTERS_DIR / name, adapter_name=name)
    model = MultiTaskModel(encoder, tasks, strategy, shared)
    model.heads.load_state_dict(load_file(str(model_dir / HEADS_FILE)))
    view = TaskView(model, task)
    view.eval()
    view.requires_grad_(False)
    if device is not None:
        view.to(device)
    return view, tokenizer, task_metadata(meta, task)
