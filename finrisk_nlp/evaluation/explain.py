"""Which words drove a risk decision: ``finrisk explain RUN_DIR "text" [--label L] [--html out.html]``.

Token attributions by Layer Integrated Gradients (Captum) on the model's word-embedding layer: the input is
compared with a baseline in which every word piece is replaced by ``[PAD]`` (``[CLS]``/``[SEP]`` kept), and the
gradients of the explained label's probability along that path are summed per piece, then per word. A positive
score is evidence for the label, a negative one evidence against it; the scores add up to the probability's
change from the baseline (``convergence_delta`` is the part they miss). Texts longer than the model's
``max_length`` are explained over their first window only (``truncated`` says so).

A model trained with structured fields (``data.feature_columns``) is explained on records (text + fields): the
words with the record's fields held fixed, and each field by its exact Shapley value on the document head
(:func:`field_shapley`): the text's pooled vector held fixed, a field left out of a coalition is set to missing
(its training median and missing indicator; a category to the missing bucket), so the field scores add up to the
probability's change from the same text with every field missing.

Install with ``pip install finrisk_nlp[explain]``. Batch scoring calls :func:`explain` and stores
``Explanation.to_dict()`` per document; :func:`render_html`, :func:`render_terminal` and
:func:`render_explanation_markdown` show the same result to people.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from finrisk_nlp.data.fields import MISSING_INDEX, FieldBatch, FieldPreprocessor, split_records
from finrisk_nlp.errors import FinriskError, ModelLoadError
from finrisk_nlp.formatting import fmt_signed

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

    from finrisk_nlp.tasks import Task

METHOD = "Layer Integrated Gradients (Captum) on the word embeddings, baseline [PAD]"
FIELD_METHOD = "exact Shapley values of the document head over the fields (left-out field: missing), text fixed"
MAX_EXACT_FIELDS = 12  # 2**12 head evaluations per text; more fields are estimated from sampled permutations
CAPTUM_MISSING = "explanations need Captum: pip install 'finrisk_nlp[explain]' (captum==0.9.0)"


class ExplainablePredictor(Protocol):
    """What :func:`explain` reads of a model: :class:`~finrisk_nlp.inference.predictor.Predictor` on the PyTorch
    backend (attributions need gradients) as ``finrisk explain`` loads it, or :class:`InMemoryModel`, a model fresh
    from training (its example explanations).

    ``model`` is the :class:`~finrisk_nlp.modeling.DocumentClassifier`: its forward pass, word embeddings,
    ``embed_windows`` and the task's head (``heads[task]``) are what get attributed.
    """

    task: Task
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    fields: FieldPreprocessor | None  # the fitted field preprocessing of a model trained with structured fields
    field_dropout: float  # > 0: the model also scores a text without its fields

    @property
    def max_length(self) -> int:
        """Tokens per window; explanations cover a text's first window."""
        ...

    @property
    def device(self) -> torch.device:
        ...


@dataclass(frozen=True)
class InMemoryModel:
    """A model fresh from training with the settings saved beside it: an :class:`ExplainablePredictor` without
    loading one."""

    task: Task
    model: torch.nn.Module
    tokenizer: PreTrainedTokenizerBase
    max_length: int
    fields: FieldPreprocessor | None = None
    field_dropout: float = 0.0

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


class ExplainError(FinriskError, ValueError):
    """An explanation was asked for no text, or for a label the model does not have."""


class CaptumMissingError(FinriskError, ImportError):
    """Captum (the ``explain`` extra) is not installed.

    An ImportError, so a finished training run skips its example explanations with one log line, and a
    FinriskError, so ``finrisk explain`` exits 2 with the install command.
    """


def _layer_integrated_gradients() -> type:
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise CaptumMissingError(CAPTUM_MISSING) \
            from None
    return LayerIntegratedGradients


@dataclass(frozen=True)
class WordScore:
    """One word of the text (``text[start:end]``) and its attribution to the explained label."""

    text: str
    start: int
    end: int
    score: float


@dataclass(frozen=True)
class FieldScore:
    """One structured field of the record, its value as given (None: missing) and its Shapley value."""

    name: str
    value: Any
    score: float


@dataclass
class Explanation:
    """Attributions for one text: every word of the explained part in text order, and the prediction."""

    text: str
    label: str  # the label explained (the prediction unless another was asked for)
    predicted_label: str
    probabilities: dict[str, float]
    words: list[WordScore]
    top_k: int = 5
    convergence_delta: float = 0.0
    truncated: bool = False
    steps: int = field(default=50, repr=False)
    fields: list[FieldScore] = field(default_factory=list)  # a model with structured fields: one per field

    @property
    def evidence(self) -> list[WordScore]:
        """Up to ``top_k`` words that speak most for the label, strongest first."""
        return sorted((w for w in self.words if w.score > 0), key=lambda w: -w.score)[: self.top_k]

    @property
    def counter_evidence(self) -> list[WordScore]:
        """Up to ``top_k`` words that speak most against the label, strongest first."""
        return sorted((w for w in self.words if w.score < 0), key=lambda w: w.score)[: self.top_k]

    def to_dict(self, include_words: bool = False) -> dict[str, Any]:
        """JSON-ready: label, prediction, probabilities, ``evidence``/``counter_evidence`` as
        ``{"text", "start", "end", "score"}`` spans, ``truncated``, ``convergence_delta`` (and all ``words``)."""
        out: dict[str, Any] = {
            "label": self.label, "predicted_label": self.predicted_label, "probabilities": self.probabilities,
            "evidence": [asdict(w) for w in self.evidence],
            "counter_evidence": [asdict(w) for w in self.counter_evidence],
            "truncated": self.truncated, "convergence_delta": self.convergence_delta, "method": METHOD,
        }
        if self.fields:
            out["fields"] = [asdict(f) for f in self.fields]
            out["field_method"] = FIELD_METHOD
        if include_words:
            out["words"] = [asdict(w) for w in self.words]
        return out


def explain(
    predictor: ExplainablePredictor,
    texts: Sequence[str | Mapping[str, Any]],
    top_k: int = 5,
    *,
    label: str | None = None,
    n_steps: int = 50,
    batch_size: int = 8,
    internal_batch_size: int = 64,
) -> list[Explanation]:
    """Word attributions for each text, for its predicted label (or ``label``).

    Args:
        predictor: a loaded model (:meth:`finrisk_nlp.inference.predictor.Predictor.load`); needs a fast tokenizer.
        texts: the texts to explain, each truncated to the model's ``max_length`` tokens; for a model with
            structured fields, records (dicts with the text and the fields).
        top_k: how many evidence words :attr:`Explanation.evidence` keeps.
        label: explain this label instead of each text's prediction.
        n_steps: integration steps; more give a smaller ``convergence_delta`` at a proportional cost.
        batch_size: texts attributed together.
        internal_batch_size: interpolated inputs per forward pass (bounds memory).

    Raises:
        ExplainError: for an unknown ``label``, or records without fields for a model that needs them.
        ModelLoadError: if the model's tokenizer is not a fast one (no word alignment).
        CaptumMissingError: if captum is not installed (an ImportError).
    """
    attribution = _layer_integrated_gradients()  # before any work: without captum there is nothing to explain with
    labels = list(predictor.task.labels)
    if label is not None and label not in labels:
        raise ExplainError(f"--label {label!r} is not a label of this model; choose one of {labels}")
    if not getattr(predictor.tokenizer, "is_fast", False):
        raise ModelLoadError("explanations need a fast (Rust) tokenizer to map word pieces back to words; "
                             "save the model with a tokenizer.json")
    prep = predictor.fields
    plain, fields = split_records(texts, predictor.task.text_column, prep, "explain")
    if fields is not None and not fields.present.all() and not predictor.field_dropout:
        raise ExplainError(f"this model reads the fields {prep.names} beside the text (trained without field dropout);"
                           " explain records that carry them")
    out: list[Explanation] = []
    for start in range(0, len(plain), batch_size):
        part = None if fields is None else fields.rows(start, start + batch_size)
        out += _explain_batch(predictor, plain[start:start + batch_size], top_k, label, n_steps, internal_batch_size,
                              attribution, part, list(texts[start:start + batch_size]), prep)
    return out


def shapley_weights(n: int) -> np.ndarray:
    """``|S|! (n - |S| - 1)! / n!`` for coalition sizes 0..n-1."""
    return np.array([math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n) for k in range(n)])


def field_shapley(value: Any, n: int, seed: int = 0, permutations: int = 256) -> np.ndarray:
    """Shapley values of ``n`` players for ``value(masks) -> (len(masks),)`` where ``masks`` is a boolean
    ``(m, n)`` array of coalitions: exact over all ``2**n`` coalitions up to ``MAX_EXACT_FIELDS`` players, else the
    mean marginal contribution over sampled permutations."""
    if n == 0:
        return np.zeros(0)
    if n <= MAX_EXACT_FIELDS:
        codes = np.arange(2 ** n)
        masks = ((codes[:, None] >> np.arange(n)) & 1).astype(bool)
        v = np.asarray(value(masks), dtype=np.float64)
        weights = shapley_weights(n)[masks.sum(axis=1).clip(max=n - 1)]
        out = np.zeros(n)
        for i in range(n):
            without = ~masks[:, i]
            out[i] = float((weights[without] * (v[codes[without] | (1 << i)] - v[codes[without]])).sum())
        return out
    rng = np.random.default_rng(seed)
    orders = np.array([rng.permutation(n) for _ in range(permutations)])
    masks = np.zeros((permutations, n + 1, n), dtype=bool)
    for step in range(1, n + 1):
        masks[:, step] = masks[:, step - 1]
        masks[np.arange(permutations), step, orders[:, step - 1]] = True
    v = np.asarray(value(masks.reshape(-1, n)), dtype=np.float64).reshape(permutations, n + 1)
    out = np.zeros(n)
    np.add.at(out, orders.ravel(), np.diff(v, axis=1).ravel())
    return out / permutations


def head_field_values(predictor: ExplainablePredictor, document: Any, row: FieldBatch, prep: FieldPreprocessor,
                      target: int) -> Any:
    """``value(masks)``: the explained label's probability from the document vector with only the masked-in fields
    of ``row`` (one record) known, every other field set to missing."""
    import torch

    head = predictor.model.heads[predictor.task.name]
    kinds = [(s.kind, [x.name for x in (prep.numeric if s.kind == "numeric" else prep.categorical)].index(s.name))
             for s in prep.specs]
    width = len(prep.numeric)

    def value(masks: np.ndarray) -> np.ndarray:
        m = len(masks)
        numeric = np.repeat(row.numeric, m, axis=0)
        categorical = np.repeat(row.categorical, m, axis=0)
        for i, (kind, j) in enumerate(kinds):
            out = ~masks[:, i]
            if kind == "numeric":
                numeric[out, j], numeric[out, width + j] = 0.0, 1.0
            else:
                categorical[out, j] = MISSING_INDEX
        device = document.device
        with torch.no_grad():
            logits = head.fuse_and_score(document.expand(m, -1), torch.as_tensor(numeric, device=device),
                                         torch.as_tensor(categorical, device=device),
                                         torch.as_tensor(np.repeat(row.present, m).astype(np.float32),
                                                         device=device)).float()
        probs = torch.sigmoid(logits) if predictor.task.multi_label else torch.softmax(logits, dim=-1)
        return probs[:, target].cpu().numpy()

    return value


def _explain_batch(
    predictor: ExplainablePredictor, texts: list[str], top_k: int, label: str | None, n_steps: int,
    internal_batch_size: int, attribution: type, fields: FieldBatch | None = None,
    records: list[Any] | None = None, prep: FieldPreprocessor | None = None,
) -> list[Explanation]:
    import torch

    task, model, tokenizer = predictor.task, predictor.model, predictor.tokenizer
    enc = tokenizer(texts, truncation=True, max_length=predictor.max_length, padding=True,
                    return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping").tolist()
    special = enc.pop("special_tokens_mask").bool()
    inputs = {k: v.to(predictor.device) for k, v in enc.items()}
    input_ids = inputs.pop("input_ids")
    if fields is not None:  # held fixed while the words are attributed
        inputs.update(field_numeric=torch.as_tensor(fields.numeric, device=predictor.device),
                      field_categorical=torch.as_tensor(fields.categorical, device=predictor.device),
                      field_present=torch.as_tensor(fields.present.astype(np.float32), device=predictor.device))
    extra_names = list(inputs)  # attention_mask, token_type_ids (if the model has them), the fields

    def forward(ids: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=ids, task=task.name, **dict(zip(extra_names, extra, strict=True))).logits.float()
        return torch.sigmoid(logits) if task.multi_label else torch.softmax(logits, dim=-1)

    extra_args = tuple(inputs[name] for name in extra_names)
    with torch.no_grad():
        probs = forward(input_ids, *extra_args).cpu()
    targets = [task.labels.index(label) if label else int(row.argmax()) for row in probs]
    baseline = torch.where(special.to(input_ids.device), input_ids, torch.full_like(input_ids, tokenizer.pad_token_id))
    lig = attribution(forward, model.get_input_embeddings())  # captum's LayerIntegratedGradients
    with torch.enable_grad():
        attributions, delta = lig.attribute(
            input_ids, baselines=baseline, target=targets, additional_forward_args=extra_args, n_steps=n_steps,
            internal_batch_size=internal_batch_size, return_convergence_delta=True,
        )
    token_scores = attributions.sum(dim=-1).detach().cpu().tolist()

    results = []
    for i, text in enumerate(texts):
        words = _words(text, enc.word_ids(i), offsets[i], token_scores[i])
        covered = max((w.end for w in words), default=0)
        scored: list[FieldScore] = []
        if fields is not None and prep is not None:
            window = {k: v[i:i + 1] for k, v in inputs.items() if not k.startswith("field_")}
            with torch.no_grad():
                vectors = model.embed_windows(input_ids=input_ids[i:i + 1], task=task.name, **window)
                document = model.heads[task.name].pool(vectors, torch.zeros(1, dtype=torch.long,
                                                                            device=vectors.device), 1)
            row = fields.rows(i, i + 1)
            values = field_shapley(head_field_values(predictor, document, row, prep, targets[i]), len(prep.specs))
            record = records[i] if records is not None and isinstance(records[i], Mapping) else {}
            scored = [FieldScore(s.name, record.get(s.name), float(v)) for s, v in zip(prep.specs, values, strict=True)]
        results.append(Explanation(
            text=text, label=task.labels[targets[i]], predicted_label=task.labels[int(probs[i].argmax())],
            probabilities={name: float(p) for name, p in zip(task.labels, probs[i].tolist(), strict=True)},
            words=words, top_k=top_k, convergence_delta=float(delta[i]), truncated=bool(text[covered:].strip()),
            steps=n_steps, fields=scored,
        ))
    return results


def _words(text: str, word_ids: list[int | None], offsets: list[list[int]], scores: list[float]) -> list[WordScore]:
    """Sum word-piece scores per word (as the tokenizer split words); spans come from the offsets."""
    spans: dict[int, list[float]] = {}
    for word, (start, end), score in zip(word_ids, offsets, scores, strict=True):
        if word is None:
            continue
        if word not in spans:
            spans[word] = [start, end, 0.0]
        spans[word][1] = end
        spans[word][2] += score
    return [WordScore(text[int(s):int(e)], int(s), int(e), float(v)) for s, e, v in spans.values()]


# ------------------------------------------------------------------------------------------------
# Showing explanations: terminal, HTML page, markdown.

_ANSI_POS = (194, 157, 120, 83)  # 256-colour backgrounds, faint to strong: green speaks for the label
_ANSI_NEG = (224, 217, 210, 203)  # red speaks against it


def _strength(score: float, scale: float) -> float:
    return min(abs(score) / scale, 1.0) if scale > 0 else 0.0


def _segments(exp: Explanation) -> list[tuple[str, WordScore | None]]:
    """The text cut into words (with scores) and the gaps between them (None), in order."""
    out: list[tuple[str, WordScore | None]] = []
    pos = 0
    for w in exp.words:
        if w.start > pos:
            out.append((exp.text[pos:w.start], None))
        out.append((exp.text[w.start:w.end], w))
        pos = w.end
    if pos < len(exp.text):
        out.append((exp.text[pos:], None))
    return out


def _scale(exp: Explanation) -> float:
    return max((abs(w.score) for w in exp.words), default=0.0)


def _probs_line(exp: Explanation) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(exp.probabilities.items(), key=lambda kv: -kv[1]))


def _shown(value: Any) -> str:
    return "missing" if value is None or value == "" else str(value)[:40]


def _ranked_fields(exp: Explanation) -> list[FieldScore]:
    return sorted(exp.fields, key=lambda f: -abs(f.score))


def _field_list(exp: Explanation) -> str:
    return ", ".join(f"{f.name}={_shown(f.value)} {fmt_signed(f.score)}" for f in _ranked_fields(exp))


def _word_list(words: list[WordScore]) -> str:
    return ", ".join(f"{w.text} {fmt_signed(w.score)}" for w in words) or "(none)"


def render_terminal(exp: Explanation, color: bool) -> str:
    """Lines for a terminal: prediction, the text (words on coloured backgrounds when ``color``), evidence lists."""
    if color:
        scale, parts = _scale(exp), []
        for piece, word in _segments(exp):
            level = int(_strength(word.score, scale) * 4 - 0.4) if word else -1  # faintest bucket from 0.1 up
            if word is None or level < 0:
                parts.append(piece)
            else:
                code = (_ANSI_POS if word.score > 0 else _ANSI_NEG)[min(level, 3)]
                parts.append(f"\033[30;48;5;{code}m{piece}\033[0m")
        body = "".join(parts)
    else:
        body = exp.text
    lines = [f"predicted {exp.predicted_label} ({_probs_line(exp)}); explaining {exp.label}", body,
             f"  for {exp.label}: {_word_list(exp.evidence)}",
             f"  against {exp.label}: {_word_list(exp.counter_evidence)}"]
    if exp.fields:
        lines.append(f"  fields (Shapley, toward {exp.label}): {_field_list(exp)}")
    if exp.truncated:
        lines.append("  (text longer than the model's max_length: only its first part was explained)")
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2937}
section{border:1px solid #e5e7eb;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}
.text{line-height:2;font-size:1.05rem;white-space:pre-wrap}.w{border-radius:3px;padding:1px 2px}
.cut{color:#9ca3af}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}
.pos-key{background:rgba(22,163,74,.6)}.neg-key{background:rgba(220,38,38,.6)}.meta{color:#6b7280}"""


def _html_word(piece: str, word: WordScore, scale: float) -> str:
    alpha = 0.1 + 0.75 * _strength(word.score, scale)
    kind, rgb = ("pos", "22,163,74") if word.score >= 0 else ("neg", "220,38,38")
    style = f' style="background-color:rgba({rgb},{alpha:.2f})"' if _strength(word.score, scale) >= 0.05 else ""
    return (f'<span class="w {kind}" data-score="{word.score:+.6g}" title="{fmt_signed(word.score)}"{style}>'
            f"{html.escape(piece)}</span>")


def _html_fields(exp: Explanation) -> str:
    """A table of the record's fields, strongest first, shaded like the words."""
    if not exp.fields:
        return ""
    scale = max(abs(f.score) for f in exp.fields)
    rows = "".join(
        f"<tr><td>{html.escape(f.name)}</td><td>{html.escape(_shown(f.value))}</td>"
        f"<td>{_html_word(fmt_signed(f.score), WordScore(f.name, 0, 0, f.score), scale)}</td></tr>"
        for f in _ranked_fields(exp))
    return (f"<p>Fields ({html.escape(FIELD_METHOD)}):</p>"
            f"<table><tr><th>field</th><th>value</th><th>score</th></tr>{rows}</table>")


def render_html(explanations: list[Explanation], title: str = "finrisk explanation") -> str:
    """A self-contained HTML page (inline CSS, no scripts): each text with its words shaded by attribution."""
    sections = []
    for n, exp in enumerate(explanations, 1):
        scale, segments, pieces = _scale(exp), _segments(exp), []
        for i, (piece, word) in enumerate(segments):
            cut = word is None and exp.truncated and i == len(segments) - 1  # the part past max_length
            pieces.append(_html_word(piece, word, scale) if word else
                          f'<span class="cut">{html.escape(piece)}</span>' if cut else html.escape(piece))
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td></tr>"
                       for k, v in sorted(exp.probabilities.items(), key=lambda kv: -kv[1]))
        items = "".join(f"<li><b>{html.escape(w.text)}</b> {fmt_signed(w.score)}</li>" for w in exp.evidence)
        sections.append(
            f"<section><h2>Text {n}: predicted <code>{html.escape(exp.predicted_label)}</code></h2>"
            f"<table><tr><th>label</th><th>probability</th></tr>{rows}</table>"
            f"<p>Explaining <code>{html.escape(exp.label)}</code>:</p><p class=\"text\">{''.join(pieces)}</p>"
            f"<p>Strongest evidence for <code>{html.escape(exp.label)}</code>:</p><ol>{items}</ol>"
            + _html_fields(exp)
            + ("<p class=\"meta\">Only the first part of this text fits the model and was explained; the rest "
               "is grey.</p>" if exp.truncated else "")
            + f"<p class=\"meta\">convergence delta {exp.convergence_delta:+.2e}</p></section>"
        )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<p class="meta">{html.escape(METHOD)}. <span class="w pos-key">green</span> speaks for the explained '
        f'label, <span class="w neg-key">red</span> against it; colour strength is relative to the strongest word '
        f"of each text.</p>"
        + "".join(sections) + "</body></html>\n"
    )


def _md(text: str) -> str:
    for ch in "\\`*_[]<>|#":
        text = text.replace(ch, "\\" + ch)
    return text.replace("\n", " ")


def render_explanation_markdown(explanations: list[Explanation], heading_level: int = 2, max_chars: int = 400) -> str:
    """Markdown for reports and model cards: per text the prediction, the text with evidence words in bold
    (cut at ``max_chars``) and the evidence with scores."""
    lines = [f"{'#' * heading_level} Example explanations", "", f"{METHOD}; bold words speak for the explained label."]
    for n, exp in enumerate(explanations, 1):
        strong, shown, used = {(w.start, w.end) for w in exp.evidence}, [], 0
        for piece, word in _segments(exp):
            used += len(piece)
            if used > max_chars:
                shown.append(" …")
                break
            shown.append(f"**{_md(piece)}**" if word and (word.start, word.end) in strong else _md(piece))
        lines += ["", f"{n}. predicted `{exp.predicted_label}` ({_probs_line(exp)}), explaining `{exp.label}`", "",
                  f"   > {''.join(shown)}", "",
                  "   evidence: " + (", ".join(f"`{_md(w.text)}` {fmt_signed(w.score)}" for w in exp.evidence)
                                     or "(none)")]
        if exp.fields:
            lines += ["", f"   fields ({FIELD_METHOD}): " + ", ".join(
                f"`{_md(f.name)}`={_md(_shown(f.value))} {fmt_signed(f.score)}" for f in _ranked_fields(exp))]
    return "\n".join(lines) + "\n"
