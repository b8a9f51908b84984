"""The quality gate every reduced precision passes before it scores: ``finrisk score|serve --precision bf16|int8``,
``finrisk export --quantize int8`` and ``Predictor.load(precision=...)``.

    finrisk score runs/credit_text docs/ --out scores.parquet --precision int8 [--force]

A reduced-precision model (bf16 weights, int8 layers, an int8 ONNX graph) is compared with its fp32 original on the
model's reference texts (:func:`reference_texts`): the share of documents whose decision at the stored operating
threshold is unchanged must be at least :data:`MIN_AGREEMENT`, and with labels macro-F1 may drop by at most
:data:`MAX_F1_DROP`. A model that fails is refused unless the user forces it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from finrisk_nlp.data.tables import encode_labels, load_table
from finrisk_nlp.errors import FinriskError
from finrisk_nlp.evaluation.metrics import compute_metrics
from finrisk_nlp.formatting import fmt
from finrisk_nlp.inference.parity import BUILT_IN_TEXTS
from finrisk_nlp.modeling import ModelMetadata
from finrisk_nlp.modeling.reference_texts import read_reference_texts

if TYPE_CHECKING:
    from finrisk_nlp.data.fields import FieldBatch
    from finrisk_nlp.inference.predictor import Predictor

logger = logging.getLogger("finrisk_nlp")

MAX_F1_DROP = 0.005  # macro-F1 a reduced-precision model may lose against fp32 (0.5 point)
MIN_AGREEMENT = 0.995  # share of documents whose reduced-precision decision must equal the fp32 one
MAX_REFERENCE_TEXTS = 512  # documents per task used for parity and the gate (a validation split may be larger)


@dataclass
class ReferenceTexts:
    """Texts to compare two versions of a model on; ``labels`` (class ids or 0/1 rows) when known."""

    texts: list[str]
    source: str
    labels: np.ndarray | None = None
    records: list[dict[str, Any]] | None = None  # the rows of a table (their structured fields), when read from one


@dataclass
class GateReport:
    """A reduced-precision model (``precision``: bf16, int8) against its fp32 original on one task's reference
    texts."""

    task: str
    source: str
    num_texts: int
    agreement: float
    precision: str = "int8"
    macro_f1_fp32: float | None = None
    macro_f1_reduced: float | None = None
    pr_auc_fp32: float | None = None
    pr_auc_reduced: float | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        text = (f"{self.task}: {self.precision} vs fp32 decision agreement {self.agreement:.2%} on {self.num_texts} "
                f"texts ({self.source})")
        if self.macro_f1_fp32 is not None:
            text += (f"; macro-F1 {self.macro_f1_fp32:.4f} -> {self.macro_f1_reduced:.4f}; PR-AUC "
                     f"{fmt(self.pr_auc_fp32, 4)} -> {fmt(self.pr_auc_reduced, 4)}")
        return text


# ----------------------------------------------------------------------------------------------
# Reference texts


def _run_validation(model_dir: Path, task: str) -> ReferenceTexts | None:
    """The validation split of the run ``model_dir`` was saved by (RUN_DIR/model beside RUN_DIR/config.yaml)."""
    config = model_dir.parent / "config.yaml"
    if model_dir.name != "model" or not config.is_file():
        return None
    from finrisk_nlp.config import load_config, task_data_config
    from finrisk_nlp.data.tables import load_splits
    from finrisk_nlp.tasks import get_task

    try:
        cfg = load_config(config)
        spec, splits = load_splits(task_data_config(cfg, task), get_task(task), cfg.seed)
    except (FinriskError, OSError, KeyError) as exc:
        logger.warning(f"the validation split of {model_dir.parent} could not be loaded ({exc}); comparing on "
                       "built-in texts instead (pass --texts FILE to use your own)")
        return None
    split = splits["validation"]
    return ReferenceTexts(list(split[spec.text_column]), f"validation split of {model_dir.parent}",
                          np.asarray(split["labels"]), split.to_list())


def _saved_texts(model_dir: Path, task: str) -> ReferenceTexts | None:
    """The validation texts saved with the model (training writes them; an export carries its own)."""
    saved = read_reference_texts(model_dir, task)
    if saved is None:
        return None
    texts, labels, source = saved
    return ReferenceTexts(texts, source, None if labels is None else np.asarray(labels))


def _texts_file(path: Path, task: Any) -> ReferenceTexts:
    """A .txt file (one text per line) or a table with the task's text column (and its label column, if any)."""
    if not path.is_file():
        raise FinriskError(f"--texts {str(path)!r} does not exist; give a .txt file with one text per line, or a "
                           f"CSV/JSONL/Parquet table with a {task.text_column!r} column")
    if path.suffix.lower() == ".txt":
        texts = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not texts:
            raise FinriskError(f"--texts {str(path)!r} holds no text; give one text per line")
        return ReferenceTexts(texts, str(path))
    table = load_table(path)
    if task.text_column not in table.column_names:
        raise FinriskError(f"--texts {str(path)!r} has no {task.text_column!r} column (found {table.column_names}); "
                           "add it, or give a .txt file with one text per line")
    if task.label_column not in table.column_names:
        return ReferenceTexts(list(table[task.text_column]), str(path), records=table.to_list())
    table = encode_labels(table, task)
    return ReferenceTexts(list(table[task.text_column]), str(path), np.asarray(table["labels"]), table.to_list())


def reference_texts(model_dir: Path | None, meta: ModelMetadata, task: str, texts_file: str | Path | None = None,
                    max_texts: int = MAX_REFERENCE_TEXTS) -> ReferenceTexts:
    """What parity and the quality gate compare on: ``texts_file`` when given, else the validation texts saved
    with the model (:mod:`finrisk_nlp.modeling.reference_texts`), else the run's validation split, else
    :data:`~finrisk_nlp.inference.parity.BUILT_IN_TEXTS` (no labels: the gate checks agreement only).

    Raises:
        FinriskError: when ``texts_file`` is missing, empty or lacks the task's text column.
    """
    spec = meta.task_metadata(task).task
    ref = (_texts_file(Path(texts_file), spec) if texts_file else None) or (
        _saved_texts(Path(model_dir), task) if model_dir else None) or (
        _run_validation(Path(model_dir), task) if model_dir else None) or ReferenceTexts(
        list(BUILT_IN_TEXTS), "built-in texts")
    if len(ref.texts) > max_texts:
        ref = ReferenceTexts(ref.texts[:max_texts], f"{ref.source}, first {max_texts}",
                             None if ref.labels is None else ref.labels[:max_texts],
                             None if ref.records is None else ref.records[:max_texts])
    return ref


# ----------------------------------------------------------------------------------------------
# int8 quality gate


def quality_gate(fp32: Predictor, reduced: Predictor, ref: ReferenceTexts, *, precision: str = "int8",
                 fp32_probs: np.ndarray | None = None, max_f1_drop: float = MAX_F1_DROP,
                 min_agreement: float = MIN_AGREEMENT) -> GateReport:
    """Compare a reduced-precision predictor with its fp32 original: decisions at the stored threshold, and with
    labels macro-F1 and PR-AUC. The report's ``problems`` list what fails the gate (agreement below
    ``min_agreement``, macro-F1 lower by more than ``max_f1_drop``). ``fp32_probs``: the fp32 predictor's
    probabilities on ``ref`` when already computed (several candidates compared against one original)."""
    fields = reference_fields(fp32, ref)
    p32 = fp32.predict_documents(ref.texts, fields=fields)[0] if fp32_probs is None else fp32_probs
    low, _ = reduced.predict_documents(ref.texts, fields=fields)
    same = [a == b for a, b in zip(fp32.decide(p32), reduced.decide(low), strict=True)]
    report = GateReport(fp32.task.name, ref.source, len(ref.texts), float(np.mean(same)) if same else 1.0, precision)
    if report.agreement < min_agreement:
        report.problems.append(f"decision agreement {report.agreement:.2%} < {min_agreement:.1%}")
    if ref.labels is not None and len(ref.labels):
        m32, mlow = compute_metrics(p32, ref.labels, fp32.task), compute_metrics(low, ref.labels, reduced.task)
        report.macro_f1_fp32, report.macro_f1_reduced = m32["macro_f1"], mlow["macro_f1"]
        report.pr_auc_fp32, report.pr_auc_reduced = m32["pr_auc"], mlow["pr_auc"]
        if report.macro_f1_fp32 - report.macro_f1_reduced > max_f1_drop:
            report.problems.append(f"macro-F1 drops by {report.macro_f1_fp32 - report.macro_f1_reduced:.4f} "
                                   f"> {max_f1_drop}")
    return report


def reference_fields(predictor: Predictor, ref: ReferenceTexts) -> FieldBatch | None:
    """The field inputs beside the reference texts of a model with structured fields: the table's own rows when
    they hold the fields, else rows spanning what training saw (``FieldPreprocessor.example_rows``)."""
    if predictor.fields is None:
        return None
    names = predictor.field_names
    rows = ref.records if ref.records and all(n in ref.records[0] for n in names) else None
    return predictor.fields.transform(rows or predictor.fields.example_rows(len(ref.texts)), ref.source)


def enforce_gate(reports: list[GateReport], force: bool) -> None:
    """Log each report; raise FinriskError when one fails, unless ``force`` (then warn)."""
    for report in reports:
        logger.info(f"{report.precision} quality gate {'passed' if report.passed else 'FAILED'}: {report.summary()}")
    failed = [r for r in reports if not r.passed]
    if not failed:
        return
    precision = failed[0].precision
    problems = "; ".join(f"{r.task}: {', '.join(r.problems)}" for r in failed)
    if force:
        logger.warning(f"{precision} quality gate failed ({problems}); going on because of --force")
        return
    what = "int8 quantisation" if precision == "int8" else precision
    raise FinriskError(f"{what} costs too much quality: {problems} ({precision} against fp32 on "
                       f"{failed[0].source}). Use fp32 (--precision fp32), or pass --force to accept it")


def gate_predictor(fp32: Predictor, reduced: Predictor, *, precision: str = "int8", force: bool = False,
                   texts_file: str | Path | None = None) -> GateReport:
    """:func:`quality_gate` on the model's reference texts, enforced (what ``finrisk score --precision int8``
    runs before scoring)."""
    ref = reference_texts(fp32.model_dir, fp32.metadata, fp32.task.name, texts_file)
    report = quality_gate(fp32, reduced, ref, precision=precision)
    enforce_gate([report], force)
    return report
