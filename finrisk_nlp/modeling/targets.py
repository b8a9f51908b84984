"""Which Linear layers of an encoder get LoRA adapters: ``lora.target_modules: auto | all-linear | [names]``.

    accelerate launch recipes/credit_text.py model.name_or_path=microsoft/deberta-v3-base   # auto picks the names
    accelerate launch recipes/credit_text.py lora.target_modules=[query,value]               # an explicit list

``auto`` (the shipped default) adapts every attention and MLP Linear of the encoder, using the layer names of known
architectures and, for others, every Linear inside the encoder. The classifier head is never a target: the
encoder is loaded without one, and finrisk's own document heads are trained in full.
"""

from __future__ import annotations

import torch

from finrisk_nlp.errors import ModelLoadError

AUTO = "auto"
ALL_LINEAR = "all-linear"

# Attention (q, k, v, output) and MLP (in, out) Linear names per `config.model_type`.
KNOWN_TARGETS: dict[str, list[str]] = {
    "bert": ["query", "key", "value", "dense"],
    "roberta": ["query", "key", "value", "dense"],
    "xlm-roberta": ["query", "key", "value", "dense"],
    "camembert": ["query", "key", "value", "dense"],
    "electra": ["query", "key", "value", "dense"],
    "deberta": ["in_proj", "query_proj", "key_proj", "value_proj", "dense"],
    "deberta-v2": ["query_proj", "key_proj", "value_proj", "dense"],
    "distilbert": ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"],
    "modernbert": ["Wqkv", "Wo", "Wi"],
}


def linear_layer_names(encoder: torch.nn.Module) -> list[str]:
    """The distinct last name components of every ``nn.Linear`` in ``encoder`` (what peft matches on)."""
    return sorted({name.rsplit(".", 1)[-1] for name, module in encoder.named_modules()
                   if isinstance(module, torch.nn.Linear) and name})


def resolve_target_modules(encoder: torch.nn.Module, requested: list[str]) -> list[str] | str:
    """Turn ``lora.target_modules`` into what ``peft.LoraConfig(target_modules=...)`` expects.

    Args:
        encoder: the bare encoder (``AutoModel``) that LoRA will wrap.
        requested: ``["auto"]``, ``["all-linear"]`` or Linear layer names.

    Returns:
        A list of layer names, or the string ``"all-linear"`` (peft's own keyword).

    Raises:
        ModelLoadError: when the encoder has no Linear layer to adapt, or a requested name is not one of its Linear
            layers; the message lists the names it has.
    """
    found = linear_layer_names(encoder)
    full_names = [name for name, module in encoder.named_modules() if isinstance(module, torch.nn.Linear)]
    model_type = getattr(getattr(encoder, "config", None), "model_type", type(encoder).__name__)
    if not found:
        kinds = sorted({type(m).__name__ for m in encoder.modules()})[:15]
        raise ModelLoadError(
            f"this {model_type} encoder has no torch.nn.Linear layer for LoRA (module types: {kinds}); "
            "train it in full with lora.enabled=false"
        )
    if requested == [ALL_LINEAR]:
        return ALL_LINEAR
    if requested == [AUTO]:
        known = [name for name in KNOWN_TARGETS.get(model_type, []) if name in found]
        return known or found
    missing = [name for name in requested
               if not any(full == name or full.endswith("." + name) for full in full_names)]
    if missing:
        raise ModelLoadError(
            f"lora.target_modules {missing} are not Linear layers of this {model_type} encoder; its Linear layers "
            f"are {found}. Use lora.target_modules=auto, all-linear, or a list of those names"
        )
    return list(requested)
