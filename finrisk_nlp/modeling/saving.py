"""Saving and loading trained document classifiers (one or several tasks) by local directory.

    finrisk predict runs/credit_text "Applicant lost her job in March ..."    # loads RUN_DIR/model

A saved model directory holds::

    finrisk_model.json        ModelMetadata (:mod:`finrisk_nlp.modeling.metadata`): tasks and labels, base model,
                              windows, head, calibration, threshold, fitted field preprocessing
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

import copy
import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.build import load_encoder, load_tokenizer, quiet_peft, resolve_model_path
from finrisk_nlp.modeling.classifier import DocumentClassifier
from finrisk_nlp.modeling.layout import (
    ADAPTERS_DIR,
    ENCODER_DIR,
    HEADS_FILE,
    METADATA_FILE,
    is_hub_layout,
    required_files,
)
from finrisk_nlp.modeling.metadata import ModelMetadata, reading


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
        metadata = dataclasses.replace(metadata, lora=False)

    def fill(tmp: Path) -> None:
        if isinstance(encoder, PeftModel):
            encoder.save_pretrained(tmp / ADAPTERS_DIR, state_dict=encoder_state, safe_serialization=True,
                                    save_embedding_layers=False)
            (tmp / ADAPTERS_DIR / "README.md").unlink(missing_ok=True)  # peft's empty template card
        else:
            encoder.save_pretrained(tmp / ENCODER_DIR, state_dict=encoder_state, safe_serialization=True)
        save_file(heads, str(tmp / HEADS_FILE), metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        metadata.write(tmp)

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
    missing = [str(p) for p in required_files(model_dir, meta) if not p.is_file()]
    if missing:
        raise ModelLoadError(f"{model_dir} is incomplete: {missing} missing; save or publish the run again")
    head = meta.head
    hub_head: dict[str, torch.Tensor] | None = None
    if not meta.lora and is_hub_layout(model_dir):
        from finrisk_nlp.modeling.hub_format import load_hub_parts

        encoder, hub_head = load_hub_parts(model_dir)
    elif meta.lora:
        encoder = load_encoder(resolve_model_path(meta.base_model), trust_remote_code=trust_remote_code)
        names = meta.adapter_names()
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
        model = DocumentClassifier(encoder, meta.task_specs(), pooling=head.pooling, token_pooling=head.token_pooling,
                                   strategy=head.strategy, shared_adapter=head.shared_adapter,
                                   fields=meta.field_layouts(), fusion=head.fusion, field_dropout=head.field_dropout)
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
