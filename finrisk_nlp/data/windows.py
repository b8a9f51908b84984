"""Long documents: overlapping token windows, the unit the encoder reads; the model pools them per document.

Used by the training data (:mod:`finrisk_nlp.data.loaders`) and by the Predictor alike, so a document is cut
the same way in training, evaluation, prediction and scoring::

    accelerate launch recipes/aml_alert.py model.max_length=256 model.stride=32 model.max_chunks=4

A text becomes up to ``max_chunks`` windows of ``max_length`` tokens that overlap by ``stride`` tokens; a longer
text keeps windows spread evenly from its start to its end. Before tokenising, a text is cut to what those windows
can cover (:func:`char_budget`, :func:`fit_text`), in training as in scoring: a 50 MB cell costs what a short one does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from finrisk_nlp.errors import ModelLoadError

# Characters kept per token a model window can read. English WordPiece/BPE tokens average 4-5 characters; 16 leaves
# room for long numbers, URLs and whitespace, so only texts far longer than the windows can cover are cut.
CHARS_PER_TOKEN = 16


def char_budget(max_length: int, max_chunks: int) -> int:
    """How many characters of a document are kept before tokenising: ``max_chunks * max_length *``
    :data:`CHARS_PER_TOKEN` (e.g. 4 windows of 128 tokens: 8,192 characters)."""
    return max(max_chunks, 1) * max_length * CHARS_PER_TOKEN


def fit_text(text: str, max_chars: int | None) -> tuple[str, bool]:
    """Cut ``text`` to about ``max_chars`` characters before it is tokenised, and say whether it was cut.

    A model reads at most ``max_chunks`` windows of ``max_length`` tokens spread over the whole document, so
    the head and the tail are kept (the conclusion of a long narrative is usually at its end). Without the cut
    a 20 MB text would be tokenised in full, about 135 bytes of memory per input byte.
    """
    if max_chars is None or len(text) <= max_chars:
        return text, False
    head = max_chars // 2
    tail = max(max_chars - head - 1, 0)
    return text[:head] + "\n" + (text[len(text) - tail:] if tail else ""), True





def window_encodings(
    tokenizer: Any, texts: list[str], max_length: int, stride: int, max_chunks: int
) -> tuple[dict[str, list[Any]], list[int]]:
    """Tokenize ``texts`` into windows of at most ``max_length`` tokens.

    A document with more than ``max_chunks`` windows keeps ``max_chunks`` of them spread evenly from the first
    to the last, so the end of a long narrative (where a conclusion usually sits) is always scored.

    Returns:
        The model inputs per window (``input_ids``, ``attention_mask``, ...) with ``doc_index`` (position of
        the window's text in ``texts``), and the number of windows each text produced before the cap.

    Raises:
        ModelLoadError: when ``max_chunks > 1`` but the tokenizer is not a fast (Rust) tokenizer.
    """
    if max_chunks == 1:
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        return {**dict(enc), "doc_index": list(range(len(texts)))}, [1] * len(texts)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model.max_chunks={max_chunks} needs a fast tokenizer for overlapping windows, but "
            f"{type(tokenizer).__name__} is not one; use a model with tokenizer.json or set model.max_chunks=1"
        )
    enc = tokenizer(
        texts, truncation=True, max_length=max_length, stride=stride, return_overflowing_tokens=True,
    )
    mapping = list(enc.pop("overflow_to_sample_mapping"))
    windows_of: list[list[int]] = [[] for _ in texts]
    for window, doc in enumerate(mapping):
        windows_of[doc].append(window)
    keep: list[int] = []
    for windows in windows_of:
        if len(windows) > max_chunks:
            picks = np.unique(np.linspace(0, len(windows) - 1, max_chunks).round().astype(int))
            windows = [windows[i] for i in picks]
        keep.extend(windows)
    columns = {key: [values[i] for i in keep] for key, values in enc.items()}
    columns["doc_index"] = [mapping[i] for i in keep]
    return columns, [len(w) for w in windows_of]
