"""LoRA adapters merged into the encoder, once, for inference: ``finrisk predict|score|serve`` and ``finrisk export``.

:meth:`~finrisk_nlp.inference.predictor.Predictor.open` merges on load (the same probabilities within 1e-5, no
adapter matmuls per layer); every export format starts from the merged copy.
"""

from __future__ import annotations

import copy
import dataclasses

from peft import PeftModel

from finrisk_nlp.errors import ModelLoadError
from finrisk_nlp.modeling import DocumentClassifier, ModelMetadata


def merged_for_inference(model: DocumentClassifier, meta: ModelMetadata,
                         task: str | None = None) -> tuple[DocumentClassifier, ModelMetadata]:
    """A copy of ``model`` whose encoder has its LoRA adapters merged in (no peft at inference).

    Hard sharing (and single-task models) keep one encoder with every task's head, or ``task``'s head only when
    it is given. With soft sharing each task has its own adapters, hence its own merged encoder: the copy holds
    ``task``'s encoder and head only.

    Raises:
        ModelLoadError: when a soft-sharing model is merged without naming the task.
    """
    head = meta.head
    names = [task] if task else list(model.task_names)
    encoder = model.encoder
    if isinstance(encoder, PeftModel) and head.strategy == "soft":
        if task is None:
            raise ModelLoadError(f"this soft-sharing model has one adapter set per task {names}; name the task "
                                 "to merge (--task)")
        adapters = model.adapters_for(task)
        encoder = copy.deepcopy(encoder)
        encoder.base_model.set_adapter(adapters)
        encoder = encoder.merge_and_unload(adapter_names=adapters)
    elif isinstance(encoder, PeftModel):
        encoder = copy.deepcopy(encoder).merge_and_unload()
    if task is not None:
        meta = meta.for_task(task)
    layouts = meta.field_layouts()
    out = DocumentClassifier(encoder, {name: meta.task_specs()[name] for name in names}, pooling=head.pooling,
                             token_pooling=head.token_pooling, fields={n: layouts[n] for n in names if n in layouts},
                             fusion=head.fusion, field_dropout=head.field_dropout)
    out.heads.load_state_dict({k: v for k, v in model.heads.state_dict().items() if k.split(".")[0] in names})
    out.encoder.eval()
    out.eval().requires_grad_(False)
    meta = dataclasses.replace(meta, lora=False, head=dataclasses.replace(head, strategy="hard", shared_adapter=False))
    return out, meta

