"""A finrisk_nlp document classifier for plain transformers: shipped inside every Hub repo finrisk_nlp writes.

    from transformers import AutoModelForSequenceClassification
    model = AutoModelForSequenceClassification.from_pretrained(REPO, trust_remote_code=True)
    model.predict(["Applicant lost her job in March ..."])   # label, decision, probabilities, num_chunks

Written by ``finrisk export --format hf`` and ``finrisk registry push --hub`` (finrisk_nlp.modeling.hub_format);
it needs torch and transformers only. A text is redacted (``finrisk_redaction.py``, generated from finrisk_nlp's
own redaction module when the repo was written), cut into the token windows the model was trained on, each
window encoded (the LoRA adapter is merged into these weights), the windows pooled per document by the task head,
the logits calibrated and the operating threshold applied, exactly as finrisk_nlp's ``Predictor`` does.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from .finrisk_redaction import redact_texts

REVIEW = "review"


class FinriskConfig(PretrainedConfig):
    """The encoder's own config (``encoder``) plus what turns window vectors into decisions.

    ``task``: name, labels, multi_label, positive_label; ``calibration`` and ``threshold`` as finrisk_nlp stores
    them in ``finrisk_model.json``.
    """

    model_type = "finrisk-document-classifier"

    def __init__(self, encoder: dict[str, Any] | None = None, task: dict[str, Any] | None = None,
                 pooling: str = "attention", token_pooling: str = "cls", max_length: int = 128, stride: int = 0,
                 max_chunks: int = 1, redact_pii: bool = False, calibration: dict[str, Any] | None = None,
                 threshold: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.encoder = dict(encoder or {})
        self.task = dict(task or {})
        self.pooling = pooling
        self.token_pooling = token_pooling
        self.max_length = max_length
        self.stride = stride
        self.max_chunks = max_chunks
        self.redact_pii = redact_pii
        self.calibration = dict(calibration or {"method": "none"})
        self.threshold = threshold
        super().__init__(**kwargs)


@dataclass
class FinriskOutput(ModelOutput):
    """Document ``logits`` (before calibration) and calibrated ``probabilities``, ``(num_docs, num_labels)``."""

    logits: torch.Tensor | None = None
    probabilities: torch.Tensor | None = None


def pool_windows(vectors: torch.Tensor, doc_index: torch.Tensor, num_docs: int, method: str,
                 scores: torch.Tensor | None) -> torch.Tensor:
    """Window vectors ``(W, H)`` -> document vectors ``(num_docs, H)``: softmax-weighted, mean or max."""
    hidden = vectors.shape[1]
    index = doc_index.long()
    if method == "max":
        out = vectors.new_full((num_docs, hidden), torch.finfo(vectors.dtype).min)
        return out.scatter_reduce(0, index[:, None].expand_as(vectors), vectors, reduce="amax", include_self=True)
    if method == "attention":
        scores = scores.float()
        top = scores.new_full((num_docs,), -torch.inf).scatter_reduce(0, index, scores, reduce="amax")
        weights = torch.exp(scores - top[index]).to(vectors.dtype)
    else:
        weights = torch.ones(len(index), dtype=vectors.dtype, device=vectors.device)
    total = weights.new_zeros(num_docs).index_add(0, index, weights)
    weights = weights / total[index]
    return vectors.new_zeros(num_docs, hidden).index_add(0, index, weights[:, None] * vectors)


class FinriskDocumentHead(torch.nn.Module):
    """Pooled window vectors -> dense + tanh -> logits (dropout is off at inference)."""

    def __init__(self, hidden_size: int, num_labels: int, pooling: str) -> None:
        super().__init__()
        self.pooling = pooling
        self.score = torch.nn.Linear(hidden_size, 1) if pooling == "attention" else None
        self.dense = torch.nn.Linear(hidden_size, hidden_size)
        self.out = torch.nn.Linear(hidden_size, num_labels)

    def forward(self, vectors: torch.Tensor, doc_index: torch.Tensor, num_docs: int) -> torch.Tensor:
        scores = self.score(vectors).squeeze(-1) if self.score is not None else None
        return self.out(torch.tanh(self.dense(pool_windows(vectors, doc_index, num_docs, self.pooling, scores))))


def _interp(x: torch.Tensor, xp: list[float], fp: list[float]) -> torch.Tensor:
    """``numpy.interp`` in torch: piecewise linear through ``(xp, fp)``, constant outside."""
    xs, ys = torch.tensor(xp, dtype=torch.float64), torch.tensor(fp, dtype=torch.float64)
    if len(xs) == 1:
        return ys[0].expand_as(x).clone()
    right = torch.searchsorted(xs, x, right=True).clamp(1, len(xs) - 1)
    x0, x1, y0, y1 = xs[right - 1], xs[right], ys[right - 1], ys[right]
    span = torch.where(x1 > x0, x1 - x0, torch.ones_like(x1))
    out = y0 + (x - x0) / span * (y1 - y0)
    return torch.where(x <= xs[0], ys[0], torch.where(x >= xs[-1], ys[-1], out))


def calibrate(logits: torch.Tensor, calibration: dict[str, Any], multi_label: bool) -> torch.Tensor:
    """Calibrated probabilities (float64) from document logits, for every method finrisk_nlp fits.

    Callers round them to float32, as finrisk_nlp's Predictor does, so decisions at a threshold agree."""
    z = logits.double()
    method, p = calibration.get("method", "none"), calibration.get("params") or {}
    pos = int(calibration.get("positive_index", 1))

    def probs(values: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(values) if multi_label else torch.softmax(values, dim=1)

    def binary(p_risk: torch.Tensor) -> torch.Tensor:
        out = torch.empty(len(p_risk), 2, dtype=torch.float64)
        out[:, pos], out[:, 1 - pos] = p_risk, 1 - p_risk
        return out

    if method == "none":
        return probs(z)
    if method in ("temperature", "temperature_scaling"):
        return probs(z / float(p.get("temperature", calibration.get("temperature", 1.0))))
    if method == "vector":
        scale, bias = (torch.tensor(p[k], dtype=torch.float64) for k in ("scale", "bias"))
        return torch.softmax(z * scale + bias, dim=1)
    if method == "platt":
        if multi_label:
            a, b = (torch.tensor(p[k], dtype=torch.float64) for k in ("a", "b"))
            return torch.sigmoid(z * a + b)
        return binary(torch.sigmoid(float(p["a"]) * (z[:, pos] - z[:, 1 - pos]) + float(p["b"])))
    if method == "isotonic":
        raw = probs(z)
        if calibration.get("kind") == "binary":
            return binary(_interp(raw[:, pos], p["x"][0], p["y"][0]))
        out = torch.stack([_interp(raw[:, j], x, y) for j, (x, y) in enumerate(zip(p["x"], p["y"], strict=True))],
                          dim=1)
        return out if multi_label else out / out.sum(dim=1, keepdim=True)
    raise ValueError(f"unknown calibration method {method!r} in config.json")


def decide(probs: torch.Tensor, task: dict[str, Any], threshold: dict[str, Any] | None) -> list[Any]:
    """The operating decision per document, as finrisk_nlp's ``evaluation.thresholds.decide``: the risk label at or
    above its threshold (binary), the labels at or above theirs (multi-label), risk classes first then arg-max
    (multi-class), and ``"review"`` where the review band or the conformal set says so."""
    labels, multi_label = list(task["labels"]), bool(task.get("multi_label"))
    pos = labels.index(task["positive_label"]) if task.get("positive_label") else len(labels) - 1
    probs = probs.double()
    threshold = threshold or {}
    by_label = threshold.get("by_label") or {}
    band = float(threshold.get("review_band") or 0.0)
    names = [n for n in labels if n in by_label]
    cols = [labels.index(n) for n in names]
    cut = torch.tensor([float(by_label[n]["value"]) for n in names], dtype=torch.float64)
    if cols and band:
        review = ((probs[:, cols] - cut).abs() < band).any(dim=1).tolist()
    else:
        review = [False] * len(probs)
    conformal = threshold.get("conformal")
    in_set = probs >= 1.0 - float(conformal["quantile"]) if conformal else None
    if in_set is not None:
        review = [r or int(n) != 1 for r, n in zip(review, in_set.sum(dim=1).tolist(), strict=True)]
    if multi_label:
        cut_all = torch.tensor([float(by_label.get(n, {}).get("value", 0.5)) for n in labels], dtype=torch.float64)
        decided: list[Any] = [[n for n, hit in zip(labels, row.tolist(), strict=True) if hit]
                              for row in probs >= cut_all]
    elif len(labels) == 2 and by_label:
        value = float(by_label[labels[pos]]["value"])
        decided = [labels[pos] if float(row[pos]) >= value else labels[1 - pos] for row in probs]
    elif cols:
        passed = torch.where(probs[:, cols] >= cut, probs[:, cols], torch.full_like(probs[:, cols], -1.0))
        others = probs.clone()
        others[:, cols] = -1.0
        decided = [labels[cols[int(p.argmax())]] if float(p.max()) >= 0 else labels[int(o.argmax())]
                   for p, o in zip(passed, others, strict=True)]
    else:
        decided = [labels[int(i)] for i in probs.argmax(dim=1)]
    if in_set is not None:
        decided = [labels[int(row.int().argmax())] for row in in_set]
    return [REVIEW if r else d for r, d in zip(review, decided, strict=True)]


def pick_windows(count: int, max_chunks: int) -> list[int]:
    """Up to ``max_chunks`` of ``count`` windows spread evenly from the first to the last (as ``numpy.linspace``
    then rounding half to even, which finrisk_nlp's training used)."""
    if count <= max_chunks:
        return list(range(count))
    step = (count - 1) / (max_chunks - 1)
    points = [i * step for i in range(max_chunks - 1)] + [float(count - 1)]
    return sorted({int(round(p)) for p in points})


class FinriskForDocumentClassification(PreTrainedModel):
    """Encoder windows -> pooled document -> task head -> calibrated probabilities and the operating decision.

    ``forward`` takes the windows of a batch of documents (``doc_index``: the document of each window; without it
    every window is a document) and returns :class:`FinriskOutput`. :meth:`predict` does the whole job for texts.
    """

    config_class = FinriskConfig
    base_model_prefix = "finrisk"

    def __init__(self, config: FinriskConfig) -> None:
        super().__init__(config)
        encoder_kwargs = dict(config.encoder)
        encoder_config = AutoConfig.for_model(encoder_kwargs.pop("model_type"), **encoder_kwargs)
        try:
            self.encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler take no add_pooling_layer
            self.encoder = AutoModel.from_config(encoder_config)
        self.head = FinriskDocumentHead(encoder_config.hidden_size, len(config.task["labels"]), config.pooling)
        self.input_names = set(inspect.signature(self.encoder.forward).parameters)
        self.post_init()

    def embed_windows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      **inputs: Any) -> torch.Tensor:
        """One vector per window: its first token's state, or the mean of its real tokens."""
        inputs = {k: v for k, v in inputs.items() if k in self.input_names}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **inputs).last_hidden_state
        if self.config.token_pooling == "cls":
            return hidden[:, 0]
        if attention_mask is None:
            return hidden.mean(dim=1)
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                doc_index: torch.Tensor | None = None, num_docs: int | None = None, **inputs: Any) -> FinriskOutput:
        vectors = self.embed_windows(input_ids, attention_mask, **inputs)
        if doc_index is None:
            doc_index, num_docs = torch.arange(len(vectors), device=vectors.device), len(vectors)
        elif num_docs is None:
            num_docs = int(doc_index.max()) + 1 if len(doc_index) else 0
        logits = self.head(vectors, doc_index.to(vectors.device), int(num_docs))
        probs = self.calibrated(logits)
        return FinriskOutput(logits=logits, probabilities=probs)

    def calibrated(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities, rounded to float32 as finrisk_nlp's Predictor rounds them."""
        multi_label = bool(self.config.task.get("multi_label"))
        return calibrate(logits.float().cpu(), self.config.calibration, multi_label).float()

    def encode_documents(self, texts: list[str], tokenizer: Any) -> tuple[dict[str, list[Any]], list[int]]:
        """The model inputs of every window of ``texts`` (redacted first when the model was trained so) and the
        text each window belongs to."""
        cfg = self.config
        if cfg.redact_pii:
            texts, _ = redact_texts(texts)
        texts = list(texts)
        if cfg.max_chunks == 1:
            enc = tokenizer(texts, truncation=True, max_length=cfg.max_length)
            return dict(enc), list(range(len(texts)))
        enc = tokenizer(texts, truncation=True, max_length=cfg.max_length, stride=cfg.stride,
                        return_overflowing_tokens=True)
        mapping = list(enc.pop("overflow_to_sample_mapping"))
        windows_of: list[list[int]] = [[] for _ in texts]
        for window, doc in enumerate(mapping):
            windows_of[doc].append(window)
        keep = [w[i] for w in windows_of for i in pick_windows(len(w), cfg.max_chunks)]
        return {key: [values[i] for i in keep] for key, values in enc.items()}, [mapping[i] for i in keep]

    def tokenizer(self) -> Any:
        """The tokenizer saved with the model (loaded once)."""
        if getattr(self, "_tokenizer", None) is None:
            # The repo's code is already running, so its config may be read without asking again.
            self._tokenizer = AutoTokenizer.from_pretrained(self.name_or_path, trust_remote_code=True)
        return self._tokenizer

    @torch.inference_mode()
    def predict_documents(self, texts: list[str], tokenizer: Any = None, batch_size: int = 32
                          ) -> tuple[torch.Tensor, list[int]]:
        """Calibrated probabilities ``(len(texts), num_labels)`` and the number of windows each text took."""
        tokenizer = tokenizer or self.tokenizer()
        columns, doc_index = self.encode_documents(texts, tokenizer)
        names = [k for k in columns if k in self.input_names]
        vectors = []
        for start in range(0, len(doc_index), batch_size):
            features = [{k: columns[k][i] for k in names} for i in range(start, min(start + batch_size,
                                                                                   len(doc_index)))]
            batch = tokenizer.pad(features, return_tensors="pt")
            vectors.append(self.embed_windows(**{k: v.to(self.device) for k, v in batch.items()}))
        if not vectors:
            return torch.zeros(0, len(self.config.task["labels"]), dtype=torch.float64), []
        index = torch.tensor(doc_index, device=self.device)
        logits = self.head(torch.cat(vectors), index, len(texts))
        probs = self.calibrated(logits)
        counts = [0] * len(texts)
        for doc in doc_index:
            counts[doc] += 1
        return probs, counts

    def predict(self, texts: list[str], tokenizer: Any = None, batch_size: int = 32) -> list[dict[str, Any]]:
        """One dict per text: ``label`` (``labels`` for multi-label tasks), ``decision`` at the operating
        threshold, ``probabilities`` by label name and ``num_chunks``, as ``finrisk predict`` prints them.

        ``tokenizer`` defaults to the one saved beside the weights."""
        probs, counts = self.predict_documents(list(texts), tokenizer or self.tokenizer(), batch_size)
        return describe(probs, counts, self.config.task, self.config.threshold)


def describe(probs: torch.Tensor, counts: list[int], task: dict[str, Any],
             threshold: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Rows of :meth:`FinriskForDocumentClassification.predict` from probabilities and window counts."""
    labels = list(task["labels"])
    results = []
    for row, decision, chunks in zip(probs, decide(probs, task, threshold), counts, strict=True):
        named = {label: float(p) for label, p in zip(labels, row.tolist(), strict=True)}
        if task.get("multi_label"):
            top: dict[str, Any] = {"labels": [k for k, p in named.items() if p >= 0.5]}
        else:
            top = {"label": labels[int(row.argmax())]}
        results.append({**top, "decision": decision, "probabilities": named, "num_chunks": int(chunks)})
    return results
