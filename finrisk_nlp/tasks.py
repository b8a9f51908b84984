"""Registry of risk-classification tasks: which column holds the text, which the label, and the label names.

Recipes choose a task by name (``task: credit_text`` in ``recipes/configs/credit_text.yaml``); everything
task-specific lives here and in the YAML, never in recipe code. Register your own with :func:`register_task`::

    register_task(Task(name="complaints", text_column="body", label_column="product", labels=("card", "loan")))
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from finrisk_nlp.errors import ConfigError


@dataclass(frozen=True)
class Task:
    """Specification of one classification task.

    Attributes:
        name: registry key, lower case.
        text_column: column with the text to classify.
        label_column: column with the label (a string; for multi-label tasks a list of strings).
        labels: label names in a fixed order; that order is the model's output order.
        multi_label: True when a text can carry several labels at once (sigmoid outputs).
        primary_metric: the metric that selects the best checkpoint (higher is better).
        positive_label: for binary tasks, the risk class that PR-AUC and thresholds refer to.
        description: one line for model cards and ``finrisk tasks``.
        labels_from_data: the labels are the sorted distinct values of the label column of the training file
            (``labels`` is then empty until the data is read).
    """

    name: str
    text_column: str
    label_column: str
    labels: tuple[str, ...]
    multi_label: bool = False
    primary_metric: str = "macro_f1"
    positive_label: str | None = None
    description: str = ""
    labels_from_data: bool = False

    def __post_init__(self) -> None:
        if len(self.labels) < 2 and not self.multi_label and not (self.labels_from_data and not self.labels):
            raise ValueError(f"task {self.name!r}: a single-label task needs at least 2 labels, got {self.labels}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"task {self.name!r}: duplicate label names in {self.labels}")
        if self.positive_label is not None and self.positive_label not in self.labels:
            raise ValueError(f"task {self.name!r}: positive_label {self.positive_label!r} is not in {self.labels}")

    @property
    def is_binary(self) -> bool:
        return not self.multi_label and len(self.labels) == 2

    @property
    def positive_index(self) -> int:
        """Index of the risk class for binary tasks (the second label unless ``positive_label`` says otherwise)."""
        return self.labels.index(self.positive_label) if self.positive_label else len(self.labels) - 1


# Label names that mean "the risky outcome" in credit, fraud, AML and spam data, compared case-folded.
RISK_LABEL_VOCABULARY: frozenset[str] = frozenset({
    "1", "1.0", "yes", "y", "true", "t", "positive", "pos", "default", "defaulted", "bad", "fraud", "fraudulent",
    "spam", "escalate", "escalated", "suspicious", "risky", "high_risk", "high-risk", "alert", "sar", "chargeback",
    "delinquent", "charged_off", "charge_off", "risk",
})


def risk_label_from_vocabulary(labels: tuple[str, ...] | list[str]) -> str | None:
    """The one label of a binary task named like a risk outcome (:data:`RISK_LABEL_VOCABULARY`); None when no
    label or both do."""
    matches = [label for label in labels if str(label).strip().casefold() in RISK_LABEL_VOCABULARY]
    return matches[0] if len(matches) == 1 else None


_TASKS: dict[str, Task] = {}


def register_task(task: Task, *, overwrite: bool = False) -> Task:
    """Add a task to the registry.

    Raises:
        ValueError: if the name is not lower case or is already taken (pass ``overwrite=True`` to replace it).
    """
    if task.name != task.name.lower() or " " in task.name:
        raise ValueError(f"task names are lower case without spaces, e.g. 'credit_text'; got {task.name!r}")
    if task.name in _TASKS and not overwrite:
        raise ValueError(f"task {task.name!r} is already registered; pass overwrite=True to replace it")
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """Look a task up by name; the error lists the registered names."""
    try:
        return _TASKS[name]
    except KeyError:
        raise ConfigError([f"task: unknown task {name!r}; registered tasks are {list_tasks()}"]) from None


def list_tasks() -> list[str]:
    return sorted(_TASKS)


def with_overrides(
    task: Task,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    labels: list[str] | tuple[str, ...] | None = None,
    positive_label: str | None = None,
) -> Task:
    """Return a copy of ``task`` with the user's column names and labels (``data.*`` in the config)."""
    changes: dict[str, object] = {}
    if text_column:
        changes["text_column"] = text_column
    if label_column:
        changes["label_column"] = label_column
    if labels:
        changes["labels"] = tuple(labels)
        if task.positive_label not in labels:
            changes["positive_label"] = None
    if positive_label:
        changes["positive_label"] = positive_label
    try:
        return dataclasses.replace(task, **changes)
    except ValueError as exc:
        raise ConfigError([f"data: {exc}"]) from None


register_task(
    Task(
        name="credit_text",
        text_column="text",
        label_column="outcome",
        labels=("repaid", "default"),
        positive_label="default",
        primary_metric="pr_auc",
        description="Loan application narrative -> did the loan default?",
    )
)
register_task(
    Task(
        name="transaction_memo",
        text_column="text",
        label_column="category",
        labels=(
            "groceries", "dining", "travel", "utilities", "cash_withdrawal", "p2p_transfer", "gambling", "crypto",
        ),
        primary_metric="macro_f1",
        description="Card/bank transaction memo -> spending category.",
    )
)
register_task(
    Task(
        name="aml_alert",
        text_column="text",
        label_column="disposition",
        labels=("close", "escalate"),
        positive_label="escalate",
        primary_metric="pr_auc",
        description="AML alert investigator narrative -> escalate or close the alert.",
    )
)
register_task(
    Task(
        name="aml_typology",
        text_column="text",
        label_column="typologies",
        labels=("structuring", "layering", "trade_based", "sanctions"),
        multi_label=True,
        primary_metric="macro_f1",
        description="AML alert investigator narrative -> money-laundering typologies present (multi-label).",
    )
)
register_task(
    Task(
        name="text_classifier",
        text_column="text",
        label_column="label",
        labels=(),
        primary_metric="macro_f1",
        labels_from_data=True,
        description="Your own labelled texts (recipes/text_classifier.py): labels read from the data.",
    )
)
