"""Near-duplicate texts between splits: word-shingle Jaccard similarity, exact on every pair up to a cap.

Run by :func:`finrisk_nlp.data.leakage.deduplicate_splits` (``finrisk validate``, every recipe) after the exact
and digit-masked repeat checks: a memo that differs from a training memo by one word is not caught by those, yet
its test metric still rewards memory. Texts are compared as sets of word shingles (:data:`SHINGLE_WORDS` words,
after :func:`~finrisk_nlp.data.leakage.normalise_text`), so "one word changed in a ten-word memo" scores about
0.8. Pairs are scored exactly with a sparse matrix product (scikit-learn's ``CountVectorizer``), a chunk of query
texts at a time; when a reference split is larger than :data:`MAX_PAIRS` / queries, a seeded random sample of it
is compared instead and the summary says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

SHINGLE_WORDS = 1
NEAR_JACCARD = 0.8
MAX_PAIRS = 50_000_000
CHUNK = 512


def best_jaccard(queries: list[str], references: list[str], seed: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
    """For each query text, the highest word-shingle Jaccard similarity to any reference text.

    Args:
        queries, references: normalised texts (digits masked, case and whitespace folded).
        seed: draws the reference sample when the pair count is over :data:`MAX_PAIRS`.

    Returns:
        ``(similarity, index of the most similar reference, sampled)``; similarity 0 and index -1 where a
        query shares no shingle with any reference.
    """
    if not queries or not references:
        return np.zeros(len(queries)), np.full(len(queries), -1), False
    ref_ids = np.arange(len(references))
    sampled = len(queries) * len(references) > MAX_PAIRS
    if sampled:
        keep = max(1, MAX_PAIRS // len(queries))
        ref_ids = np.sort(np.random.default_rng(seed).choice(len(references), size=keep, replace=False))
    vectorizer = CountVectorizer(binary=True, lowercase=False, token_pattern=r"\S+",
                                 ngram_range=(SHINGLE_WORDS, SHINGLE_WORDS), dtype=np.float32)
    ref_matrix = vectorizer.fit_transform([references[i] for i in ref_ids])
    query_matrix = vectorizer.transform(queries)
    ref_sizes = np.asarray(ref_matrix.sum(axis=1)).ravel()
    # a query's own size counts its shingles outside the reference vocabulary too
    query_sizes = np.array([len(_shingles(q)) for q in queries], dtype=np.float64)
    best = np.zeros(len(queries))
    where = np.full(len(queries), -1)
    ref_t = ref_matrix.T.tocsr()
    for start in range(0, len(queries), CHUNK):
        inter = (query_matrix[start:start + CHUNK] @ ref_t).toarray()
        union = query_sizes[start:start + CHUNK, None] + ref_sizes[None, :] - inter
        jaccard = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
        best[start:start + CHUNK] = jaccard.max(axis=1)
        where[start:start + CHUNK] = np.where(jaccard.max(axis=1) > 0, ref_ids[jaccard.argmax(axis=1)], -1)
    return best, where, sampled


def _shingles(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i:i + SHINGLE_WORDS]) for i in range(max(1, len(words) - SHINGLE_WORDS + 1))} if words \
        else set()


def near_duplicate_rows(queries: list[str], references: list[str], skip: set[int],
                        seed: int = 0) -> tuple[list[int], dict[str, Any]]:
    """Rows of ``queries`` (outside ``skip``, the exact/normalised repeats already counted) whose best Jaccard
    against ``references`` is at least :data:`NEAR_JACCARD`, and ``{"sampled": bool}`` for the summary."""
    rest = [i for i in range(len(queries)) if i not in skip]
    similarity, _, sampled = best_jaccard([queries[i] for i in rest], references, seed)
    return [i for i, s in zip(rest, similarity, strict=True) if s >= NEAR_JACCARD], {"sampled": sampled}
