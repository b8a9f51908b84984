"""Each task's data for the training engine: splits, tokenised documents, loaders, loss and fairness slices.

    accelerate launch recipes/credit_text.py data.train_file=my_loans.csv      # one task, the user's data
    accelerate launch recipes/multitask.py multitask.data.aml_alert.train_file=my_alerts.csv
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import datasets
from accelerate import Accelerator
from transformers import PreTrainedTokenizerBase

from finrisk_nlp.config import CALIBRATION_SPLIT, SPLITS, DataConfig, RecipeConfig, task_data_config
from finrisk_nlp.data.fields import FieldPreprocessor, check_columns
from finrisk_nlp.data.loaders import DocumentCollator, add_field_columns, build_dataloader, tokenize_documents
from finrisk_nlp.data.sampling import ClassBalancedSampler, balance_strata
from finrisk_nlp.data.tables import load_splits, load_table
from finrisk_nlp.data.windows import char_budget
from finrisk_nlp.evaluation.fairness import slice_values_of
from finrisk_nlp.tasks import Task, get_task
from finrisk_nlp.training.losses import RiskLoss, build_loss


@dataclass
class TaskData:
    """One task of a run: its (user-adjusted) Task, raw splits, loaders, loss and test slices."""

    task: Task
    splits: datasets.DatasetDict
    loaders: dict[str, Any] = field(default_factory=dict)
    loss: RiskLoss | None = None
    weight: float = 1.0
    test_slices: dict[str, list[str]] | None = None
    pii_counts: Counter[str] = field(default_factory=Counter)
    split_summary: dict[str, Any] = field(default_factory=dict)
    sampler: Any = None
    fields: FieldPreprocessor | None = None  # fitted on the train split when the task has data.feature_columns

    @property
    def name(self) -> str:
        return self.task.name


def task_names(cfg: RecipeConfig) -> list[str]:
    """The tasks a run trains: ``multitask.tasks``, or the one ``task``."""
    return list(cfg.multitask.tasks) or [cfg.task]


def fit_fields(data_cfg: DataConfig, splits: datasets.DatasetDict) -> FieldPreprocessor | None:
    """The task's field preprocessing, fitted on the train split only (every split must hold the columns).

    Values are checked in the user's files first, so a non-number in a numeric field is reported with its row in
    the file (not its position in a shuffled split).
    """
    columns = list(data_cfg.feature_columns)
    if not columns:
        return None
    sources = {"train": data_cfg.train_file, "validation": data_cfg.validation_file, "test": data_cfg.test_file}
    for split in SPLITS:
        check_columns(splits[split].column_names, columns, sources[split] or f"the {split} split")
    files = list(dict.fromkeys(f for f in sources.values() if f))
    tables = {f: load_table(f) for f in files}
    if data_cfg.train_file:  # type inference and numeric checks on the whole file, rows as the user sees them
        whole = tables[data_cfg.train_file]
        FieldPreprocessor.fit({c: whole[c] for c in columns}, columns, data_cfg.categorical_columns,
                              data_cfg.train_file)
    train = splits["train"]
    fitted = FieldPreprocessor.fit({c: train[c] for c in columns}, columns, data_cfg.categorical_columns,
                                   data_cfg.train_file or "the train split")
    for path, table in tables.items():
        fitted.transform(table.select_columns(columns).to_list(), path)
    return fitted


def load_task_data(cfg: RecipeConfig, accelerator: Accelerator) -> dict[str, TaskData]:
    """Load, validate and split every task's data; check fairness slice columns before any training."""
    out: dict[str, TaskData] = {}
    single = not cfg.multitask.tasks
    for name in task_names(cfg):
        counts: Counter[str] = Counter()
        summary: dict[str, Any] = {}
        data_cfg = task_data_config(cfg, name)
        with accelerator.main_process_first():
            task, splits = load_splits(data_cfg, get_task(name), cfg.seed, pii_counts=counts, summary=summary,
                                       max_chars=char_budget(cfg.model.max_length, cfg.model.max_chunks))
        fields = fit_fields(data_cfg, splits)
        slices = None
        if cfg.eval.slice_columns:
            present = all(c in splits["test"].column_names for c in cfg.eval.slice_columns)
            if single or present:  # a multi-task run slices the tasks whose data have the columns
                source = (cfg.data.test_file if single else None) or f"{name} test split"
                slices = slice_values_of(splits["test"], cfg.eval.slice_columns, source)
        out[name] = TaskData(task=task, splits=splits, test_slices=slices, pii_counts=counts, split_summary=summary,
                             weight=float(cfg.multitask.loss_weights.get(name, 1.0)), fields=fields)
    return out


def build_task_loaders(cfg: RecipeConfig, data: dict[str, TaskData], tokenizer: PreTrainedTokenizerBase,
                       accelerator: Accelerator) -> None:
    """Tokenise every split into documents of windows and build its loaders and loss (in place)."""
    on_gpu = accelerator.device.type == "cuda"
    for item in data.values():
        with accelerator.main_process_first():
            tokenized = {s: tokenize_documents(item.splits[s], tokenizer, item.task, cfg.model.max_length,
                                               stride=cfg.model.stride, max_chunks=cfg.model.max_chunks)
                         for s in (*SPLITS, CALIBRATION_SPLIT) if s in item.splits}
        if item.fields is not None:
            tokenized = {s: add_field_columns(tokenized[s], item.splits[s], item.fields, f"the {s} split")
                         for s in tokenized}
        collator = DocumentCollator(tokenizer, item.task.multi_label, pad_to_multiple_of=8 if on_gpu else None)
        workers = {"num_workers": 2 if on_gpu else 0, "pin_memory": on_gpu}
        labels = item.splits["train"]["labels"]
        balanced = (ClassBalancedSampler(balance_strata(labels, item.task.multi_label), cfg.seed)
                    if cfg.train.weighted_sampler else None)
        item.loaders["train"] = build_dataloader(
            tokenized["train"], collator, cfg.train.batch_size, shuffle=True, seed=cfg.seed,
            group_by_length=cfg.train.group_by_length, sampler=balanced, **workers)
        item.sampler = item.loaders["train"].sampler
        for split in [s for s in tokenized if s != "train"]:
            item.loaders[split] = build_dataloader(tokenized[split], collator, cfg.train.eval_batch_size,
                                                   shuffle=False, **workers)
        item.loss = build_loss(cfg.loss, item.task, labels)
