"""What the AML notes give the encoder: windows per note, and how far a linear model gets on frozen MiniLM vectors.

    python benchmarks/aml_probe.py --out benchmarks/results/aml_probe.md     # windows and TF-IDF: ~1 min
    python benchmarks/aml_probe.py --frozen                                    # + frozen MiniLM probes: ~10 min

Splits the shipped aml_alert data as the recipe does (stratified, seed 42, redaction on), then reports

* how many 256-token windows (stride 32) each note needs, and how many the recipe's ``max_chunks`` keeps;
* the class mix and note length over an epoch's training order: the length-grouped order as it was (each
  mega-batch longest first) and as it is (length buckets in shuffled order);
* validation PR-AUC of TF-IDF + logistic regression, and (``--frozen``) of a logistic regression on frozen,
  untuned MiniLM window vectors (mean token pooling), pooled over windows by mean and by max. If frozen features
  already beat the fine-tuned recipe, its shortfall is optimisation (rate, epochs), not what the encoder can see.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from bench_utils import emit, machine_description, recipe_config
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from transformers import AutoModel, AutoTokenizer

from finrisk_nlp.data.loaders import LengthGroupedSampler
from finrisk_nlp.data.tables import load_splits
from finrisk_nlp.data.windows import window_encodings
from finrisk_nlp.modeling.build import resolve_model_path
from finrisk_nlp.tasks import get_task


def window_vectors(model: torch.nn.Module, tokenizer, texts: list[str], max_length: int, stride: int,
                   max_chunks: int, bf16: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean-token vectors of every window ``(W, H)`` and each window's document index ``(W,)``; ``bf16``: under
    CPU bf16 autocast, as ``train.mixed_precision=auto`` trains on a CPU with native bf16."""
    columns, _ = window_encodings(tokenizer, texts, max_length, stride, max_chunks)
    order = np.argsort([-len(ids) for ids in columns["input_ids"]], kind="stable")
    vectors = torch.zeros((len(order), model.config.hidden_size))
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), 64):
            rows = order[start:start + 64]
            batch = tokenizer.pad({"input_ids": [columns["input_ids"][i] for i in rows]}, return_tensors="pt")
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            vectors[torch.as_tensor(rows)] = (hidden * mask).sum(1) / mask.sum(1)
    return vectors, torch.as_tensor(columns["doc_index"])


def embed(model: torch.nn.Module, tokenizer, texts: list[str], max_length: int, stride: int,
          max_chunks: int) -> list[np.ndarray]:
    """Mean-token vectors of every window of every text (one array of windows per text)."""
    vectors, doc_index = window_vectors(model, tokenizer, texts, max_length, stride, max_chunks)
    return [vectors[doc_index == d].numpy() for d in range(len(texts))]


def longest_first(lengths: list[int], batch_size: int, seed: int, mega_factor: int = 50) -> list[int]:
    """The length-grouped order before batches were shuffled: each shuffled mega-batch sorted longest first."""
    order = list(range(len(lengths)))
    random.Random(seed * 1_000_003).shuffle(order)
    mega = batch_size * mega_factor
    return [i for start in range(0, len(order), mega)
            for i in sorted(order[start:start + mega], key=lengths.__getitem__, reverse=True)]


def epoch_drift(lengths: list[int], labels: np.ndarray, batch_size: int, seed: int) -> list[str]:
    """Escalation share and mean tokens per quarter of an epoch, for the old and the current training order."""
    lines = []
    for name, order in (("longest first in each mega-batch (before)", longest_first(lengths, batch_size, seed)),
                        ("length buckets in shuffled order (now)", list(LengthGroupedSampler(lengths, batch_size,
                                                                                               seed)))):
        quarters = np.array_split(np.asarray(order), 4)
        lines.append(f"| {name} | " + ", ".join(f"{labels[q].mean():.2f}" for q in quarters) + " | "
                     + ", ".join(f"{np.mean([lengths[i] for i in q]):.0f}" for q in quarters) + " |")
    return lines


def pr_auc_of(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray) -> float:
    best = 0.0
    for c in (0.1, 1.0, 10.0):
        clf = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(train_x, train_y)
        best = max(best, average_precision_score(val_y, clf.predict_proba(val_x)[:, 1]))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="also write the markdown report here")
    parser.add_argument("--frozen", action="store_true", help="also the frozen-encoder probes (~15k window passes)")
    args = parser.parse_args()
    started = time.perf_counter()
    cfg = recipe_config("aml_alert", [])
    task, splits = load_splits(cfg.data, get_task("aml_alert"), cfg.seed)
    path = resolve_model_path(cfg.model.name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval() if args.frozen else None
    texts = {s: list(splits[s][task.text_column]) for s in ("train", "validation")}
    y = {s: np.asarray(splits[s]["labels"]) for s in texts}
    lengths = np.asarray([len(ids) for ids in tokenizer(texts["train"])["input_ids"]])
    _, windows = window_encodings(tokenizer, texts["train"], 256, 32, 100)
    windows = np.asarray(windows)
    lines = [f"Machine: {machine_description()}.\n",
             f"Train notes: {len(lengths)}; tokens per note: median {np.median(lengths):.0f}, p90 "
             f"{np.percentile(lengths, 90):.0f}, max {lengths.max()}.",
             "256-token windows (stride 32) a note needs: " + ", ".join(
                 f"{k}: {np.mean(windows == k):.0%}" for k in range(1, windows.max() + 1) if np.any(windows == k)),
             f"With max_chunks {cfg.model.max_chunks}: {np.mean(windows > cfg.model.max_chunks):.0%} of notes cut.\n",
             f"Training order over one epoch (batch {cfg.train.batch_size}; quarters of the epoch in order):\n",
             "| order | escalate share | mean tokens |", "| :--- | ---: | ---: |",
             *epoch_drift([int(n) for n in lengths], y["train"], cfg.train.batch_size, cfg.seed), ""]
    rows = [f"| TF-IDF (word 1-2 + char 2-5) | {tfidf_pr_auc(texts, y):.3f} |"]
    probes = ((256, 1, "first 256-token window"), (256, 4, "all windows (<= 4 x 256)"),
              (128, 8, "all windows (<= 8 x 128)"))
    for max_length, chunks, label in probes if args.frozen else ():
        vectors = {s: embed(model, tokenizer, texts[s], max_length, 32, chunks) for s in texts}
        for pool in ("mean", "max"):
            if chunks == 1 and pool == "max":
                continue
            fn = np.mean if pool == "mean" else np.max
            x = {s: np.stack([fn(v, axis=0) for v in vectors[s]]) for s in texts}
            score = pr_auc_of(x["train"], y["train"], x["validation"], y["validation"])
            rows.append(f"| frozen MiniLM, {label}, {pool} over windows | {score:.3f} |")
            print(rows[-1], flush=True)
    lines += ["Validation PR-AUC (positive: escalate; logistic regression, balanced weights, best C of 0.1/1/10):\n",
              "| features | validation PR-AUC |", "| :--- | ---: |", *rows,
              f"\nWall time {time.perf_counter() - started:.0f} s."]
    emit("\n".join(lines) + "\n", args.out)


def tfidf_pr_auc(texts: dict[str, list[str]], y: dict[str, np.ndarray]) -> float:
    from sklearn.pipeline import FeatureUnion

    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)),
    ])
    train = features.fit_transform(texts["train"])
    return pr_auc_of(train, y["train"], features.transform(texts["validation"]), y["validation"])


if __name__ == "__main__":
    main()
