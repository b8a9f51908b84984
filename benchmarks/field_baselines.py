"""What a bank builds itself from structured fields and text: the scikit-learn rows of ``benchmarks/quality.py``.

    python benchmarks/quality.py --tasks credit_text --methods fields-hgb,fields-lr,tfidf,fields+tfidf

* ``fields-hgb``    HistGradientBoosting on the field columns (missing values handled natively, categoricals
                    as categories); a small grid chosen on validation by the task's primary metric
* ``fields-lr``     logistic regression on the fields: numbers median-imputed with missing indicators and
                    quantile-scaled (amounts are heavy-tailed), categoricals one-hot with missing as a category;
                    C chosen on validation
* ``fields+tfidf``  a stack: the TF-IDF logistic regression's out-of-fold log-odds on train (5 folds; the model
                    refitted on all train rows scores validation and test) joins the fields of the gradient
                    boosting model, which is tuned on validation as above. Nothing is fitted on test rows.

All take the splits of :func:`finrisk_nlp.data.tables.load_splits` (Hugging Face datasets with a ``labels``
column) and return the dict ``quality.py`` tabulates: test metrics, trainable parameters, rule, test probabilities.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import OneHotEncoder, QuantileTransformer

from finrisk_nlp.evaluation.metrics import compute_metrics
from finrisk_nlp.tasks import Task

C_GRID = (0.3, 1.0, 3.0, 10.0)
HGB_GRID = {"learning_rate": (0.05,), "max_leaf_nodes": (7, 15), "max_iter": (150, 400)}
STACK_FOLDS = 5
TEXT_FEATURE = "tfidf_logit"


def tfidf_features() -> FeatureUnion:
    """Word 1-2-gram + character 2-5-gram TF-IDF (the ``tfidf`` row's features)."""
    return FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2, lowercase=True)),
        ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2,
                                 lowercase=True)),
    ])


def class_probabilities(clf: Any, features: Any, n_labels: int) -> np.ndarray:
    """``predict_proba`` spread over every task label (a class missing from train keeps probability 0)."""
    probs = np.zeros((features.shape[0], n_labels))
    probs[:, clf.classes_] = clf.predict_proba(features)
    return probs


def select_on_validation(candidates: Sequence[dict[str, Any]], fit: Callable[[dict[str, Any]], Any],
                         x_val: Any, y_val: np.ndarray, task: Task) -> tuple[Any, dict[str, Any]]:
    """Fit each candidate setting and keep the model with the best validation primary metric (first on ties)."""
    best: tuple[float, Any, dict[str, Any]] | None = None
    for params in candidates:
        model = fit(params)
        score = compute_metrics(class_probabilities(model, x_val, len(task.labels)), y_val, task).get(
            task.primary_metric)
        score = -np.inf if score is None else score
        if best is None or score > best[0]:
            best = (score, model, params)
    assert best is not None
    return best[1], best[2]


def field_frame(split: Any, columns: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    """The field columns of a split as a DataFrame: numbers as float (missing: NaN), categoricals as str/None."""
    frame = {}
    for name in columns:
        values = split[name]
        if name in categorical:
            frame[name] = pd.Series([None if v in (None, "") else str(v) for v in values], dtype=object)
        else:
            frame[name] = pd.to_numeric(pd.Series([None if v == "" else v for v in values], dtype=object))
    return pd.DataFrame(frame)


def infer_categorical(splits: Any, columns: Sequence[str], declared: Sequence[str] | None) -> list[str]:
    """``declared`` when given; otherwise the columns holding any non-numeric value in train."""
    if declared is not None:
        return list(declared)
    train = splits["train"]
    return [c for c in columns if any(isinstance(v, str) and v != "" for v in train[c])]


def _hgb_frames(frames: dict[str, pd.DataFrame], categorical: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Categoricals as pandas categories with the train split's levels (unseen levels become missing)."""
    out = {name: frame.copy() for name, frame in frames.items()}
    for column in categorical:
        levels = sorted(frames["train"][column].dropna().unique())
        for frame in out.values():
            frame[column] = pd.Categorical(frame[column], categories=levels)
    return out


def _fit_hgb(task: Task, frames: dict[str, pd.DataFrame], labels: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    keys = list(HGB_GRID)
    candidates = [dict(zip(keys, values, strict=True)) for values in itertools.product(*HGB_GRID.values())]

    def fit(params: dict[str, Any]) -> HistGradientBoostingClassifier:
        clf = HistGradientBoostingClassifier(categorical_features="from_dtype", class_weight="balanced",
                                             early_stopping=False, l2_regularization=1.0, min_samples_leaf=20,
                                             random_state=seed, **params)
        return clf.fit(frames["train"], labels["train"])

    clf, params = select_on_validation(candidates, fit, frames["validation"], labels["validation"], task)
    probs = class_probabilities(clf, frames["test"], len(task.labels))
    rule = f"argmax (lr={params['learning_rate']:g}, leaves={params['max_leaf_nodes']}, trees={params['max_iter']})"
    return {"test": compute_metrics(probs, labels["test"], task), "parameters": {"trainable": None},
            "rule": rule, "probs": probs,
            "val_probs": class_probabilities(clf, frames["validation"], len(task.labels))}


def _labels(splits: Any) -> dict[str, np.ndarray]:
    return {name: np.asarray(split["labels"]) for name, split in splits.items()}


def run_fields_hgb(task: Task, splits: Any, columns: Sequence[str], categorical: Sequence[str],
                   seed: int = 0) -> dict[str, Any]:
    """Gradient boosting on the field columns alone."""
    frames = {name: field_frame(split, columns, categorical) for name, split in splits.items()}
    return _fit_hgb(task, _hgb_frames(frames, categorical), _labels(splits), seed)


def run_fields_lr(task: Task, splits: Any, columns: Sequence[str], categorical: Sequence[str],
                  seed: int = 0) -> dict[str, Any]:
    """Logistic regression on the field columns alone (imputation and scaling fitted on train)."""
    frames = {name: field_frame(split, columns, categorical) for name, split in splits.items()}
    numeric = [c for c in columns if c not in categorical]
    labels = _labels(splits)
    n_quantiles = min(200, len(frames["train"]))
    prep = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                              QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal",
                                                  random_state=seed)), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                              OneHotEncoder(handle_unknown="ignore")), list(categorical)),
    ])
    x = {"train": prep.fit_transform(frames["train"])}
    x.update({name: prep.transform(frame) for name, frame in frames.items() if name != "train"})

    def fit(params: dict[str, Any]) -> LogisticRegression:
        return LogisticRegression(C=params["C"], class_weight="balanced", max_iter=5000).fit(x["train"],
                                                                                             labels["train"])

    clf, params = select_on_validation([{"C": c} for c in C_GRID], fit, x["validation"], labels["validation"], task)
    probs = class_probabilities(clf, x["test"], len(task.labels))
    return {"test": compute_metrics(probs, labels["test"], task),
            "parameters": {"trainable": int(clf.coef_.size + clf.intercept_.size)},
            "rule": f"argmax (C={params['C']:g})", "probs": probs,
            "val_probs": class_probabilities(clf, x["validation"], len(task.labels))}


def _log_odds(probs: np.ndarray, task: Task) -> np.ndarray:
    """Log-odds of the positive class (binary) or of every class (multi-class), clipped away from 0 and 1."""
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    if task.is_binary:
        positive = p[:, task.positive_index]
        return np.log(positive / (1 - positive))[:, None]
    return np.log(p)


def run_fields_tfidf_stack(task: Task, splits: Any, columns: Sequence[str], categorical: Sequence[str],
                           text_c: float, seed: int = 0) -> dict[str, Any]:
    """Fields + the TF-IDF model's log-odds (out of fold on train) in one gradient boosting model.

    Args:
        text_c: The TF-IDF logistic regression's C (the one the ``tfidf`` row chose on validation).
    """
    labels = _labels(splits)
    texts = {name: list(split[task.text_column]) for name, split in splits.items()}

    def text_model(train_texts: list[str], y: np.ndarray) -> Any:
        return make_pipeline(tfidf_features(), LogisticRegression(C=text_c, class_weight="balanced",
                                                                  max_iter=3000)).fit(train_texts, y)

    n_labels = len(task.labels)
    oof = np.zeros((len(texts["train"]), n_labels))
    folds = StratifiedKFold(n_splits=STACK_FOLDS, shuffle=True, random_state=seed)
    for fit_rows, held_rows in folds.split(texts["train"], labels["train"]):
        model = text_model([texts["train"][i] for i in fit_rows], labels["train"][fit_rows])
        oof[held_rows] = _predict(model, [texts["train"][i] for i in held_rows], n_labels)
    full = text_model(texts["train"], labels["train"])
    scores = {"train": _log_odds(oof, task)}
    scores.update({name: _log_odds(_predict(full, texts[name], n_labels), task) for name in splits if name != "train"})
    frames = {}
    for name, split in splits.items():
        frame = field_frame(split, columns, categorical)
        for k in range(scores[name].shape[1]):
            frame[f"{TEXT_FEATURE}_{k}"] = scores[name][:, k]
        frames[name] = frame
    result = _fit_hgb(task, _hgb_frames(frames, categorical), labels, seed)
    result["rule"] = result["rule"].replace("argmax (", f"argmax (text C={text_c:g}, ")
    return result


def _predict(model: Any, texts: list[str], n_labels: int) -> np.ndarray:
    """A fitted text pipeline's probabilities over every task label."""
    probs = np.zeros((len(texts), n_labels))
    probs[:, model.classes_] = model.predict_proba(texts)
    return probs
