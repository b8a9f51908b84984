"""Settings chosen from the user's own table: window length and count, batch size, learning rate, class weights.

Used by the generic recipe for any labelled text file::

    accelerate launch recipes/text_classifier.py data.train_file=tickets.csv data.text_column=body \\
        data.label_column=queue

Every setting named in :data:`CHOSEN` that neither the YAML config nor the command line gives is measured from the
training split (token lengths with the model's own tokenizer, rows, class counts) and logged at the start with the
reason, so a user sees why a run used what it used and can override any of it with ``key=value``.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from accelerate import PartialState
from accelerate.logging import get_logger
from transformers import AutoTokenizer

from finrisk_nlp.config import RecipeConfig
from finrisk_nlp.data.tables import load_splits
from finrisk_nlp.modeling.build import resolve_model_path
from finrisk_nlp.tasks import get_task

logger = get_logger(__name__)

CHOSEN = ("model.max_length", "model.max_chunks", "train.batch_size", "train.lr", "loss.class_weights")
WINDOW_TOKENS = 256  # longest window: MiniLM-sized encoders lose little beyond it and a CPU step stays affordable
MAX_WINDOWS = 4  # windows per document at most: ~900 tokens read, the rest of a very long text is cut
TOKENS_PER_BATCH = 4096  # documents x window tokens per step: short texts get large (cheap) batches
MIN_STEPS_PER_EPOCH = 30  # small tables: smaller batches, so an epoch still holds enough optimizer steps
LENGTH_SAMPLE = 4000  # texts tokenised to measure lengths (a random sample of larger tables)
IMBALANCE_FOR_WEIGHTS = 3.0  # most / least frequent class at or above this: weight classes by inverse frequency
LORA_LR = 1e-3  # the searched credit rate (benchmarks/results/tune_credit); see README "Your own table"


@dataclass(frozen=True)
class Choice:
    """One setting chosen from the data, and why."""

    key: str
    value: Any
    reason: str


@dataclass(frozen=True)
class TableShape:
    """What the choices are made from: train rows, class counts and token lengths (special tokens included)."""

    rows: int
    class_counts: dict[str, int]
    length_p50: int
    length_p95: int
    length_max: int


def measure(cfg: RecipeConfig) -> TableShape:
    """Rows, class counts and token-length percentiles of the training split, with the model's tokenizer."""
    task, splits = load_splits(cfg.data, get_task(cfg.task), cfg.seed)
    train = splits["train"]
    counts = Counter(int(i) for i in train["labels"]) if not task.multi_label else Counter(
        int(i) for row in train["labels"] for i, v in enumerate(row) if v)
    texts = train[task.text_column]
    if len(texts) > LENGTH_SAMPLE:
        picks = np.random.default_rng(cfg.seed).choice(len(texts), LENGTH_SAMPLE, replace=False)
        texts = [texts[i] for i in picks]
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(cfg.model.name_or_path),
                                              trust_remote_code=cfg.model.trust_remote_code)
    lengths = np.asarray([len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]])
    return TableShape(rows=len(train), class_counts={task.labels[i]: counts.get(i, 0) for i in range(len(task.labels))},
                      length_p50=int(np.percentile(lengths, 50)), length_p95=int(np.percentile(lengths, 95)),
                      length_max=int(lengths.max()))


def choose(shape: TableShape, stride: int) -> list[Choice]:
    """The settings for a table of this shape (pure: tested without a model)."""
    p95 = shape.length_p95
    lengths = f"texts run {shape.length_p50} tokens (median), {p95} at the 95th percentile, {shape.length_max} at most"
    if p95 <= WINDOW_TOKENS:
        max_length = max(32, 16 * math.ceil(p95 / 16))
        windows = 1
        window_reason = "one window holds 95% of the texts whole: no windows needed"
    else:
        max_length = WINDOW_TOKENS
        windows = min(MAX_WINDOWS, 1 + math.ceil((p95 - WINDOW_TOKENS) / (WINDOW_TOKENS - stride)))
        window_reason = (f"long texts: {windows} windows of {WINDOW_TOKENS} tokens (overlap {stride}) read "
                         f"{windows * WINDOW_TOKENS - (windows - 1) * stride} tokens"
                         + (f", the rest of the longest is cut (at most {MAX_WINDOWS} windows)"
                            if windows == MAX_WINDOWS else ", 95% of the texts whole"))
    by_tokens = 2 ** int(math.log2(max(1, TOKENS_PER_BATCH // (max_length * windows))))
    batch = max(8, min(64, by_tokens))
    batch_reason = f"about {TOKENS_PER_BATCH} tokens a step ({batch} x {windows} x {max_length})"
    if shape.rows // batch < MIN_STEPS_PER_EPOCH:
        batch = max(8, 2 ** int(math.log2(max(1, shape.rows // MIN_STEPS_PER_EPOCH))))
        batch_reason = (f"{shape.rows} training rows: {batch} a batch keeps ~{shape.rows // batch} optimizer "
                        f"steps an epoch (at least {MIN_STEPS_PER_EPOCH} wanted)")
    present = [n for n in shape.class_counts.values() if n > 0]
    ratio = max(present) / max(1, min(present))
    kind = "binary" if len(shape.class_counts) == 2 else f"{len(shape.class_counts)}-class"
    if ratio >= IMBALANCE_FOR_WEIGHTS:
        weights, weight_reason = "auto", (f"{kind}, imbalanced (largest class {ratio:.1f}x the smallest): "
                                          "inverse-frequency class weights")
    else:
        weights, weight_reason = None, f"{kind}, classes within {ratio:.1f}x of each other: no class weights"
    return [
        Choice("model.max_length", max_length, f"{lengths}; " + (
            f"{max_length} tokens covers the 95th percentile" if windows == 1 else window_reason)),
        Choice("model.max_chunks", windows, window_reason if windows == 1 else f"{p95} tokens at the 95th percentile"),
        Choice("train.batch_size", batch, batch_reason),
        Choice("train.lr", LORA_LR, "LoRA rate confirmed by a recorded search on credit narratives"),
        Choice("loss.class_weights", weights, weight_reason),
    ]


def fit_to_data(cfg: RecipeConfig, given: set[str]) -> tuple[RecipeConfig, list[Choice]]:
    """``cfg`` with every :data:`CHOSEN` setting not in ``given`` (dotted keys) measured from the data.

    Returns the new config and the choices made (logged by the caller; the kept, given keys are not listed).
    """
    wanted = [k for k in CHOSEN if k not in given]
    if not wanted:
        return cfg, []
    PartialState(cpu=cfg.cpu)  # the same state the run's Accelerator takes over; main-process logging needs it
    shape = measure(cfg)
    choices = [c for c in choose(shape, cfg.model.stride) if c.key in wanted]
    sections: dict[str, dict[str, Any]] = {}
    for choice in choices:
        section, name = choice.key.split(".")
        sections.setdefault(section, {})[name] = choice.value
    changed = {s: dataclasses.replace(getattr(cfg, s), **values) for s, values in sections.items()}
    return dataclasses.replace(cfg, **changed), choices


def log_choices(choices: list[Choice], given: set[str]) -> None:
    """One line per chosen setting with its reason; the user's own settings are named as kept."""
    if not choices:
        return
    logger.info("settings chosen from the training data (override any with key=value):", main_process_only=True)
    for choice in choices:
        logger.info(f"  {choice.key}={choice.value}: {choice.reason}", main_process_only=True)
    kept = sorted(k for k in CHOSEN if k in given)
    if kept:
        logger.info(f"  kept as given: {', '.join(kept)}", main_process_only=True)
