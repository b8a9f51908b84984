"""Post-hoc calibration of document logits, fitted on validation so that predicted risk matches frequencies.

Fitted after training (``accelerate launch recipes/aml_alert.py calibration.method=auto``), stored as
``extra["calibration"]`` (:meth:`Calibration.to_dict`) in ``finrisk_model.json`` and applied by the predictor.

Methods: ``temperature`` (one scale for all logits; keeps every ranking), ``platt`` (binary: ``a * logit_diff + b``;
multi-label: per label), ``vector`` (multi-class: a scale and a bias per class), ``isotonic`` (scikit-learn's
monotone fit on P(class), one-vs-rest, rows renormalised) and ``none``. Only methods with a bias can undo a prior
shift such as the one class weights put into the logits. ``auto`` picks the method with the lowest negative
log-likelihood in k-fold cross-validation inside the validation set, so a flexible method cannot win by memorising
it, and keeps ``none`` unless a method beats it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, get_args

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_softmax, softmax
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold, StratifiedKFold

from finrisk_nlp.config import CalibrationMethod
from finrisk_nlp.errors import ConfigError
from finrisk_nlp.evaluation.metrics import expected_calibration_error
from finrisk_nlp.evaluation.risk_measures import brier_score, classwise_ece, risk_columns
from finrisk_nlp.tasks import Task

logger = logging.getLogger(__name__)

METHODS: tuple[str, ...] = get_args(CalibrationMethod)
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0
PROB_EPS = 1e-7  # probabilities are clipped here before logs: one confident miss costs 16 nats, not infinity


def logits_to_probs(logits: np.ndarray, multi_label: bool) -> np.ndarray:
    """Softmax (single-label) or independent sigmoids (multi-label) in float64."""
    logits = np.asarray(logits, dtype=np.float64)
    return expit(logits) if multi_label else softmax(logits, axis=1)


def _kind(task: Task) -> str:
    return "multilabel" if task.multi_label else "binary" if task.is_binary else "multiclass"


def calibration_methods(task: Task) -> tuple[str, ...]:
    """The methods that apply to ``task`` (besides ``auto``): platt for binary and multi-label tasks, vector
    scaling for multi-class ones."""
    affine = "vector" if _kind(task) == "multiclass" else "platt"
    return ("none", "temperature", affine, "isotonic")


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray, multi_label: bool) -> float:
    """Mean NLL of the labels: per document for softmax outputs, per (document, label) for sigmoids."""
    probs = np.clip(np.asarray(probs, dtype=np.float64), PROB_EPS, 1 - PROB_EPS)
    if multi_label:
        y = np.asarray(labels, dtype=np.float64)
        return float(-(y * np.log(probs) + (1 - y) * np.log(1 - probs)).mean())
    return float(-np.log(probs[np.arange(len(probs)), np.asarray(labels).astype(int)]).mean())


@dataclass
class Calibration:
    """A fitted calibration map from document logits to probabilities.

    Attributes:
        method: ``none``, ``temperature``, ``platt``, ``vector`` or ``isotonic``.
        params: the fitted numbers, JSON-serialisable.
        kind: ``binary``, ``multiclass`` or ``multilabel`` (how logits become probabilities).
        positive_index: the risk class of a binary task (what platt and isotonic model).
    """

    method: str = "none"
    params: dict[str, Any] = field(default_factory=dict)
    kind: str = "multiclass"
    positive_index: int = 1

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """``(n, num_labels)`` calibrated probabilities (float64) from ``(n, num_labels)`` logits."""
        logits = np.asarray(logits, dtype=np.float64)
        multi_label = self.kind == "multilabel"
        p = self.params
        if self.method == "none":
            return logits_to_probs(logits, multi_label)
        if self.method == "temperature":
            return logits_to_probs(logits / p["temperature"], multi_label)
        if self.method == "vector":
            return softmax(logits * np.asarray(p["scale"]) + np.asarray(p["bias"]), axis=1)
        if self.method == "platt":
            if multi_label:
                return expit(logits * np.asarray(p["a"]) + np.asarray(p["b"]))
            return self._binary(expit(p["a"] * self._logit_diff(logits) + p["b"]))
        if self.method == "isotonic":
            raw = logits_to_probs(logits, multi_label)
            if self.kind == "binary":
                return self._binary(np.interp(raw[:, self.positive_index], p["x"][0], p["y"][0]))
            out = np.stack([np.interp(raw[:, j], x, y) for j, (x, y) in enumerate(zip(p["x"], p["y"], strict=True))],
                           axis=1)
            return out if multi_label else out / out.sum(axis=1, keepdims=True)
        raise ValueError(f"unknown calibration method {self.method!r}; expected one of {METHODS[1:]}")

    def _logit_diff(self, logits: np.ndarray) -> np.ndarray:
        return logits[:, self.positive_index] - logits[:, 1 - self.positive_index]

    def _binary(self, p_risk: np.ndarray) -> np.ndarray:
        out = np.empty((len(p_risk), 2))
        out[:, self.positive_index], out[:, 1 - self.positive_index] = p_risk, 1 - p_risk
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored in model metadata; ``temperature`` is kept at the top level for older readers."""
        out = {"method": self.method, "kind": self.kind, "positive_index": self.positive_index, "params": self.params}
        if self.method == "temperature":
            out["temperature"] = self.params["temperature"]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, task: Task | None = None) -> Calibration:
        """Read :meth:`to_dict` output, or the older ``{"method": "temperature_scaling", "temperature": T}``
        (which needs ``task`` for the output kind); ``None`` is no calibration."""
        data = dict(data or {})
        kind = data.get("kind") or (_kind(task) if task else "multiclass")
        positive = int(data.get("positive_index", task.positive_index if task else 1))
        method = data.get("method", "none")
        if method == "temperature_scaling":
            return cls("temperature", {"temperature": float(data.get("temperature", 1.0))}, kind, positive)
        if method not in METHODS[1:]:
            raise ValueError(f"stored calibration method {method!r} is unknown; expected one of {METHODS[1:]}")
        return cls(method, dict(data.get("params") or {}), kind, positive)


def _fit_affine(z: np.ndarray, y: np.ndarray, sigmoid: bool, tied: bool, bias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scale(s) and bias(es) minimising NLL of ``softmax(s*z + b)`` (or per-column sigmoids), by L-BFGS with
    analytic gradients. ``tied``: one scale for every column (temperature scaling)."""
    n, m = z.shape
    n_scale = 1 if tied else m
    onehot = y.astype(np.float64) if sigmoid else np.eye(m)[y.astype(int)]

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[:n_scale], (theta[n_scale:] if bias else np.zeros(m))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        s, b = unpack(theta)
        out = z * s + b
        if sigmoid:
            value = float((np.logaddexp(0, out) - onehot * out).sum() / n)
            grad_out = (expit(out) - onehot) / n
        else:
            value = float(-(log_softmax(out, axis=1) * onehot).sum() / n)
            grad_out = (softmax(out, axis=1) - onehot) / n
        grad_s = (grad_out * z).sum(axis=0)
        grad = [np.atleast_1d(grad_s.sum()) if tied else grad_s]
        if bias:
            grad.append(grad_out.sum(axis=0))
        return value, np.concatenate(grad)

    scale_bounds = (1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE)  # positive: calibration never reverses a ranking
    bounds = [scale_bounds] * n_scale + ([(-50.0, 50.0)] * m if bias else [])
    theta0 = np.r_[np.ones(n_scale), np.zeros(m if bias else 0)]
    result = minimize(loss, theta0, jac=True, method="L-BFGS-B", bounds=bounds)
    return unpack(result.x)


def _fit_method(method: str, logits: np.ndarray, labels: np.ndarray, task: Task) -> Calibration:
    kind, pos = _kind(task), task.positive_index
    cal = Calibration(method, {}, kind, pos)
    multi_label = kind == "multilabel"
    if method == "temperature":
        s, _ = _fit_affine(logits, labels, multi_label, tied=True, bias=False)
        cal.params = {"temperature": float(1 / s[0])}
    elif method == "vector":
        s, b = _fit_affine(logits, labels, False, tied=False, bias=True)
        cal.params = {"scale": s.tolist(), "bias": b.tolist()}
    elif method == "platt":
        if multi_label:
            s, b = _fit_affine(logits, labels, True, tied=False, bias=True)
            cal.params = {"a": s.tolist(), "b": b.tolist()}
        else:
            z = cal._logit_diff(logits)[:, None]
            s, b = _fit_affine(z, (np.asarray(labels) == pos).astype(int)[:, None], True, tied=False, bias=True)
            cal.params = {"a": float(s[0]), "b": float(b[0])}
    elif method == "isotonic":
        raw = logits_to_probs(logits, multi_label)
        columns, targets, _ = risk_columns(raw, labels, task)
        eps = 0.5 / (len(raw) + 1)  # no bin is certain after a finite sample
        xs, ys = [], []
        for j in range(columns.shape[1]):
            iso = IsotonicRegression(y_min=eps, y_max=1 - eps, out_of_bounds="clip").fit(columns[:, j], targets[:, j])
            xs.append(iso.X_thresholds_.tolist())
            ys.append(iso.y_thresholds_.tolist())
        cal.params = {"x": xs, "y": ys}
    return cal


def _folds(labels: np.ndarray, task: Task, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """k folds stratified by class (single-label) or plain shuffled folds (multi-label); [] when too small."""
    if task.multi_label:
        return list(KFold(min(k, len(labels)), shuffle=True, random_state=seed).split(labels)) if len(labels) >= 4 \
            else []
    counts = np.bincount(np.asarray(labels).astype(int))
    k = min(k, int(counts[counts > 0].min()))
    if k < 2 or (counts > 0).sum() < 2:
        return []
    return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))


def held_out_probs(
    method: str, logits: np.ndarray, labels: np.ndarray, task: Task, folds: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Probabilities of each document from ``method`` fitted on the other folds (out of fold)."""
    probs = np.empty((len(logits), len(task.labels)))
    for fit_idx, held_idx in folds:
        probs[held_idx] = _fit_method(method, logits[fit_idx], labels[fit_idx], task).apply(logits[held_idx])
    return probs


def cross_validated_nll(
    method: str, logits: np.ndarray, labels: np.ndarray, task: Task, folds: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """NLL of ``method`` on each held-out fold after fitting on the others, pooled over all documents."""
    return negative_log_likelihood(held_out_probs(method, logits, labels, task, folds), labels, task.multi_label)


def cross_validated_probs(method: str, logits: np.ndarray, labels: np.ndarray, task: Task, seed: int = 0,
                          folds: int = 5) -> np.ndarray | None:
    """Calibrated validation probabilities that no document helped to fit (``method`` fitted on the other
    folds of :func:`fit_calibration`'s cross-validation), so that "after calibration" on validation is not
    in-sample; None when validation is too small for cross-validation."""
    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels)
    if method == "none":
        return logits_to_probs(logits, task.multi_label)
    splits = _folds(labels, task, folds, seed) if len(logits) else []
    return held_out_probs(method, logits, labels, task, splits) if splits else None


def _summary(probs: np.ndarray, labels: np.ndarray, task: Task) -> dict[str, float]:
    columns, targets, _ = risk_columns(probs, labels, task)
    return {"nll": negative_log_likelihood(probs, labels, task.multi_label),
            "ece": expected_calibration_error(probs, labels, task),
            "risk_ece": float(classwise_ece(columns, targets)[0].mean()),
            "brier": float(brier_score(columns, targets)[0]),
            "mean_risk_probability": float(columns.mean())}


def fit_calibration(
    logits: np.ndarray, labels: np.ndarray, task: Task, method: str = "auto", seed: int = 0, folds: int = 5
) -> tuple[Calibration, dict[str, Any]]:
    """Fit a calibration on validation document logits.

    Args:
        logits: ``(n_docs, num_labels)`` document logits.
        labels: ``(n_docs,)`` class ids, or ``(n_docs, num_labels)`` 0/1 rows for multi-label tasks.
        task: the output kind (softmax or sigmoids) and the risk class of a binary task.
        method: ``auto`` or one of :func:`calibration_methods`.
        seed: shuffles the cross-validation folds.
        folds: k of the k-fold cross-validation that ranks the methods.

    Returns:
        The fitted :class:`Calibration` and a report: ``requested``, ``method`` (chosen), ``folds``, ``cv_nll``
        (held-out NLL of each candidate and of ``none``), ``before`` and ``after`` (``nll``, top-label ``ece``,
        ``risk_ece`` of the risk columns, ``brier``, ``mean_risk_probability``) on the whole validation set;
        ``after`` is in-sample (the map was fitted on these documents), ``after_cross_validated`` the same
        numbers out of fold (:func:`cross_validated_probs`), which is what a validator should compare.

    Raises:
        ConfigError: ``method`` is unknown or does not apply to this kind of task.
    """
    allowed = calibration_methods(task)
    if method != "auto" and method not in allowed:
        raise ConfigError([f"calibration.method: {method!r} does not apply to task {task.name!r} "
                           f"({_kind(task)}); expected auto or one of {list(allowed)}"])
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    none = Calibration("none", {}, _kind(task), task.positive_index)
    splits = _folds(labels, task, folds, seed) if len(logits) else []
    candidates = [m for m in allowed if m != "none"] if method == "auto" else [method]
    cv_nll: dict[str, float] = {}
    if splits:
        cv_nll["none"] = negative_log_likelihood(none.apply(logits), labels, task.multi_label)
        cv_nll.update({m: cross_validated_nll(m, logits, labels, task, splits) for m in candidates if m != "none"})
    if method == "auto":
        best = min(cv_nll, key=cv_nll.__getitem__) if cv_nll else "none"
        if not cv_nll:
            logger.warning("calibration: too few validation documents per class for cross-validation; none applied")
    else:
        best = method
        if cv_nll.get(method, -math.inf) > cv_nll.get("none", math.inf):
            logger.warning(f"calibration: {method} makes held-out validation NLL worse than none "
                           f"({cv_nll[method]:.4f} > {cv_nll['none']:.4f}); applied because it was asked for")
    calibration = none if best == "none" or not len(logits) else _fit_method(best, logits, labels, task)
    report: dict[str, Any] = {"requested": method, "method": calibration.method, "folds": len(splits),
                              "cv_nll": cv_nll, "num_examples": int(len(logits))}
    if len(logits):
        report["before"] = _summary(none.apply(logits), labels, task)
        report["after"] = _summary(calibration.apply(logits), labels, task)
        held_out = cross_validated_probs(calibration.method, logits, labels, task, seed, folds)
        if held_out is not None:
            report["after_cross_validated"] = _summary(held_out, labels, task)
    return calibration, report
