"""The document classifier every run trains and every prediction uses: encoder windows -> document -> task heads.

    accelerate launch recipes/credit_text.py model.pooling=attention      # one task
    accelerate launch recipes/multitask.py multitask.strategy=soft        # several tasks, one encoder

A document is cut into token windows (``model.max_length`` tokens, up to ``model.max_chunks`` of them). The
encoder (any ``AutoModel``: BERT, RoBERTa, XLM-R, ELECTRA, DeBERTa-v3, DistilBERT, ModernBERT, ...) turns each
window into a vector (its first token, or the mean of its tokens: ``model.token_pooling``); a task head combines
the window vectors of a document (``model.pooling``: learned ``attention`` weights, ``mean`` or elementwise
``max``) and maps the document vector to logits (dense + tanh + dropout + linear, trained in full). A single-task
model is the one-task case of a multi-task model, so training, evaluation, prediction and scoring treat a document
the same way everywhere.

LoRA adapters live on the encoder only (peft). ``hard`` sharing trains one adapter (``shared``) on every task;
``soft`` gives each task its own adapter, switched per batch, optionally above a ``shared`` one.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from peft import PeftModel
from transformers.modeling_outputs import SequenceClassifierOutput

from finrisk_nlp.config import Pooling, TokenPooling
from finrisk_nlp.modeling.layout import SHARED
from finrisk_nlp.tasks import Task


def pool_windows(vectors: torch.Tensor, doc_index: torch.Tensor, num_docs: int, method: str,
                 scores: torch.Tensor | None = None) -> torch.Tensor:
    """Combine window vectors ``(W, H)`` into document vectors ``(num_docs, H)``.

    ``attention`` takes a softmax over each document's window ``scores`` (``(W,)``); ``mean`` and ``max`` are the
    plain mean and elementwise maximum. Windows may come in any order: ``doc_index`` names each one's document.
    """
    hidden = vectors.shape[1]
    index = doc_index.long()
    if method == "max":
        out = vectors.new_full((num_docs, hidden), torch.finfo(vectors.dtype).min)
        return out.scatter_reduce(0, index[:, None].expand_as(vectors), vectors, reduce="amax", include_self=True)
    if method == "mean":
        weights = torch.ones(len(index), dtype=vectors.dtype, device=vectors.device)
    elif method == "attention":
        if scores is None:
            raise ValueError("attention pooling needs window scores")
        scores = scores.float()
        top = scores.new_full((num_docs,), -torch.inf).scatter_reduce(0, index, scores, reduce="amax")
        weights = torch.exp(scores - top[index]).to(vectors.dtype)
    else:
        raise ValueError(f"model.pooling must be attention, mean or max, got {method!r}")
    total = weights.new_zeros(num_docs).index_add(0, index, weights)
    weights = weights / total[index]
    return vectors.new_zeros(num_docs, hidden).index_add(0, index, weights[:, None] * vectors)


class FieldEncoder(torch.nn.Module):
    """A row's structured fields -> one vector: scaled numbers and missing indicators as they are, and one learned
    embedding per categorical field (see :mod:`finrisk_nlp.data.fields` for the inputs)."""

    def __init__(self, numeric_width: int, categories: list[list[int]], init_std: float = 0.02) -> None:
        super().__init__()
        self.numeric_width = numeric_width
        self.embeddings = torch.nn.ModuleList(torch.nn.Embedding(rows, dim) for rows, dim in categories)
        for embedding in self.embeddings:
            torch.nn.init.normal_(embedding.weight, std=init_std)
        self.width = numeric_width + sum(dim for _, dim in categories)

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric] + [emb(categorical[:, j]) for j, emb in enumerate(self.embeddings)]
        return torch.cat(parts, dim=1)


class DocumentHead(torch.nn.Module):
    """Window vectors of a document -> pooled -> dense + tanh -> dropout -> logits of one task.

    With ``fields`` (a :meth:`finrisk_nlp.data.fields.FieldPreprocessor.input_layout`) the field vector joins the
    pooled document vector before the dense layer: ``concat`` feeds ``[document; fields]`` to it, ``gated`` adds a
    projection of the fields to the document vector through a learned sigmoid gate (Multimodal-Toolkit's gating).
    ``field_dropout`` zeroes a row's whole field vector in training, so the head learns to score text alone; rows
    whose ``field_present`` is 0 (bare documents) get the same zero vector at inference.
    """

    def __init__(self, hidden_size: int, num_labels: int, pooling: str, dropout: float,
                 init_std: float = 0.02, fields: dict[str, Any] | None = None, fusion: str = "concat",
                 field_dropout: float = 0.0) -> None:
        super().__init__()
        self.pooling = pooling
        self.fusion = fusion
        self.field_dropout = field_dropout
        self.score = torch.nn.Linear(hidden_size, 1) if pooling == "attention" else None
        self.fields = FieldEncoder(fields["numeric_width"], fields["categories"], init_std) if fields else None
        width = self.fields.width if self.fields is not None else 0
        if fusion not in ("concat", "gated"):
            raise ValueError(f"model.fusion must be concat or gated, got {fusion!r}")
        gated = self.fields is not None and fusion == "gated"
        self.field_proj = torch.nn.Linear(width, hidden_size) if gated else None
        self.gate = torch.nn.Linear(hidden_size + width, hidden_size) if gated else None
        concat = self.fields is not None and fusion == "concat"
        self.dense = torch.nn.Linear(hidden_size + (width if concat else 0), hidden_size)
        self.dropout = torch.nn.Dropout(dropout)
        self.out = torch.nn.Linear(hidden_size, num_labels)
        # As transformers initialises its heads (normal, the encoder's initializer_range): PyTorch's default init is
        # several times larger and saturates the tanh. The attention scores start at zero: a plain mean of windows.
        for layer in (self.dense, self.out, self.field_proj, self.gate):
            if layer is not None:
                torch.nn.init.normal_(layer.weight, std=init_std)
                torch.nn.init.zeros_(layer.bias)
        if self.score is not None:
            torch.nn.init.zeros_(self.score.weight)
            torch.nn.init.zeros_(self.score.bias)

    def forward(self, vectors: torch.Tensor, doc_index: torch.Tensor, num_docs: int,
                field_numeric: torch.Tensor | None = None, field_categorical: torch.Tensor | None = None,
                field_present: torch.Tensor | None = None) -> torch.Tensor:
        return self.fuse_and_score(self.pool(vectors, doc_index, num_docs), field_numeric, field_categorical,
                                   field_present)

    def pool(self, vectors: torch.Tensor, doc_index: torch.Tensor, num_docs: int) -> torch.Tensor:
        """Document vectors ``(num_docs, H)`` from window vectors (:func:`pool_windows`)."""
        scores = self.score(vectors).squeeze(-1) if self.score is not None else None
        return pool_windows(vectors, doc_index, num_docs, self.pooling, scores)

    def fuse_and_score(self, document: torch.Tensor, field_numeric: torch.Tensor | None = None,
                       field_categorical: torch.Tensor | None = None,
                       field_present: torch.Tensor | None = None) -> torch.Tensor:
        """Logits from pooled document vectors ``(n, H)`` and the rows' fields (what field explanations vary)."""
        if self.fields is not None:
            n = document.shape[0]
            if field_numeric is None or field_categorical is None:
                raise ValueError("this head was trained with fields: pass field_numeric and field_categorical")
            values = self.fields(field_numeric.to(document.dtype), field_categorical.long())
            keep = (torch.ones(n, device=document.device, dtype=document.dtype) if field_present is None
                    else field_present.to(document.dtype))
            if self.training and self.field_dropout > 0:
                keep = keep * (torch.rand(n, device=document.device) >= self.field_dropout).to(document.dtype)
            values = values * keep[:, None]
            if self.gate is not None:
                gate = torch.sigmoid(self.gate(torch.cat([document, values], dim=1)))
                document = document + gate * torch.tanh(self.field_proj(values))
            else:
                document = torch.cat([document, values], dim=1)
        return self.out(self.dropout(torch.tanh(self.dense(document))))


def repeated_layer_classes(encoder: torch.nn.Module) -> list[str]:
    """The class name of the encoder's transformer block (``BertLayer``, ``DebertaV2Layer``, ``TransformerBlock``...):
    the modules of its longest ``ModuleList`` of one class.

    FSDP shards each such block as one unit. The encoder's own ``_no_split_modules`` is not used as it is: several
    architectures leave it empty (DeBERTa-v2, DistilBERT, ELECTRA), and BERT's also names ``BertEmbeddings``, which
    accelerate's FSDP2 preparation then shards a second time (through the word embeddings) and fails.
    """
    best: list[torch.nn.Module] = []
    for module in encoder.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > len(best):
            if len({type(m) for m in module}) == 1:
                best = list(module)
    return [type(best[0]).__name__] if best else []


class DocumentClassifier(torch.nn.Module):
    """An encoder (peft-wrapped or plain) and a ``ModuleDict`` of document heads, one per task.

    ``forward(input_ids, attention_mask, doc_index=None, num_docs=None, task=None)`` returns logits per document;
    without ``doc_index`` every window is its own document. ``task`` may be left out when there is one task.
    """

    def __init__(self, encoder: torch.nn.Module, tasks: dict[str, Task], *, pooling: Pooling = "attention",
                 token_pooling: TokenPooling = "cls", strategy: str = "hard", shared_adapter: bool = False,
                 fields: dict[str, dict[str, Any]] | None = None, fusion: str = "concat",
                 field_dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = encoder
        self.task_names = list(tasks)
        self.token_pooling = token_pooling
        self.strategy = strategy
        self.shared_adapter = shared_adapter
        config = self.encoder_config
        dropout = float(getattr(config, "hidden_dropout_prob", getattr(config, "dropout", 0.1)) or 0.0)
        init_std = float(getattr(config, "initializer_range", 0.02))
        fields = fields or {}
        self.field_tasks = [name for name in tasks if fields.get(name)]
        self.heads = torch.nn.ModuleDict({name: DocumentHead(config.hidden_size, len(task.labels), pooling, dropout,
                                                             init_std, fields.get(name), fusion, field_dropout)
                                          for name, task in tasks.items()})
        base = encoder.get_base_model() if isinstance(encoder, PeftModel) else encoder
        self.input_names = set(inspect.signature(base.forward).parameters)
        # FSDP's transformer auto-wrap (accelerate reads `_no_split_modules` when no layer class is configured).
        self._no_split_modules = repeated_layer_classes(base)
        self._adapter_params = [p for n, p in encoder.named_parameters() if "lora_" in n]
        self._active: tuple[Any, ...] | None = None

    @property
    def encoder_config(self) -> Any:
        base = self.encoder.get_base_model() if isinstance(self.encoder, PeftModel) else self.encoder
        return base.config

    @property
    def config(self) -> Any:
        """The encoder's transformers config (attention implementation and the like)."""
        return self.encoder_config

    def get_input_embeddings(self) -> torch.nn.Module:
        """The encoder's word embeddings (what token attributions integrate over)."""
        return self.encoder.get_input_embeddings()

    def adapters_for(self, task: str) -> list[str]:
        """The LoRA adapters active for ``task``'s batches."""
        if self.strategy == "hard":
            return [SHARED]
        return [SHARED, task] if self.shared_adapter else [task]

    def _activate(self, task: str) -> None:
        if self.strategy == "hard" or not isinstance(self.encoder, PeftModel):
            return
        wanted = (*self.adapters_for(task), self.training)
        if wanted == self._active:
            return
        self.encoder.base_model.set_adapter(list(wanted[:-1]), inference_mode=not self.training)
        if self.training:
            # peft freezes the adapters it deactivates; each task's adapter must stay trainable (it learns on its own
            # task's batches) and DDP must see the same trainable set on every step.
            for param in self._adapter_params:
                param.requires_grad_(True)
        self._active = wanted

    def embed_windows(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                      task: str | None = None, **inputs: Any) -> torch.Tensor:
        """One vector per window ``(W, hidden)``: the first token's state, or the mean over real tokens."""
        self._activate(self._task(task))
        inputs = {k: v for k, v in inputs.items() if k in self.input_names}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
        if self.token_pooling == "cls":
            return hidden[:, 0]
        if attention_mask is None:
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def classify(self, vectors: torch.Tensor, doc_index: torch.Tensor | None, num_docs: int | None,
                 task: str | None = None, **fields: torch.Tensor | None) -> torch.Tensor:
        """Document logits ``(num_docs, num_labels)`` from window vectors (see :func:`pool_windows`) and, for a task
        with fields, ``field_numeric``, ``field_categorical`` and ``field_present`` per document."""
        if doc_index is None:
            doc_index = torch.arange(vectors.shape[0], device=vectors.device)
            num_docs = vectors.shape[0]
        return self.heads[self._task(task)](vectors, doc_index, int(num_docs), **fields)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                doc_index: torch.Tensor | None = None, num_docs: int | None = None, task: str | None = None,
                labels: torch.Tensor | None = None, field_numeric: torch.Tensor | None = None,
                field_categorical: torch.Tensor | None = None, field_present: torch.Tensor | None = None,
                **inputs: Any) -> SequenceClassifierOutput:
        del labels  # the loss is the training engine's (class weights, focal loss)
        task = self._task(task)
        vectors = self.embed_windows(input_ids, attention_mask, task=task, **inputs)
        fields = ({"field_numeric": field_numeric, "field_categorical": field_categorical,
                   "field_present": field_present} if field_numeric is not None else {})
        return SequenceClassifierOutput(logits=self.classify(vectors, doc_index, num_docs, task, **fields))

    def _task(self, task: str | None) -> str:
        if task is None:
            if len(self.task_names) == 1:
                return self.task_names[0]
            raise KeyError(f"this model has several tasks {self.task_names}; name one with task=...")
        if task not in self.heads:
            raise KeyError(f"unknown task {task!r}; this model has {self.task_names}")
        return task
