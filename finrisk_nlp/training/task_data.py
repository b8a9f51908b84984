"""Each task's data for the training engine: splits, tokenised documents, loaders, loss and fairness slices.

    accelerate launch recipes/credit_text.py data.train_file=my_loans.csv      # one task, the user's data
    accelerate launch recipes/multitask.py multitask.data.aml_alert.train_file=my_alerts.csv
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import datasets
from accelerate import Accelerator
from torch.utils.data import DataLoader, Sampler
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


@dataclass(frozen=True)
class TaskSplits:
    """One task's data as read: its (user-adjusted) Task, raw splits, loss weight, test slices and fitted fields."""

    task: Task
    splits: datasets.DatasetDict
    weight: float = 1.0  # multitask.loss_weights
    test_slices: dict[str, list[str]] | None = None
    pii_counts: Counter[str] = field(default_factory=Counter)
    split_summary: dict[str, Any] = field(default_factory=dict)
    fields: FieldPreprocessor | None = None  # fitted on the train split when the task has data.feature_columns

    @property
    def name(self) -> str:
        return self.task.name


@dataclass(frozen=True)
class TaskData(TaskSplits):
    """One task ready to train: its splits, its loaders (train, validation, test and, with
    ``data.calibration_fraction``, calibration), the train loader's sampler and the loss on the run's device.

    Built whole by :func:`build_task_data`; after ``accelerator.prepare`` the engine makes a new one holding the
    prepared loaders (``dataclasses.replace``), so a ``TaskData`` never changes.
    """

    loaders: Mapping[str, DataLoader] = field(default_factory=dict)
    sampler: Sampler | None = None  # the train loader's own (accelerate wraps it); streams set its epoch
    loss: RiskLoss | None = None


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


def load_task_data(cfg: RecipeConfig, accelerator: Accelerator) -> dict[str, TaskSplits]:
    """Load, validate and split every task's data; check fairness slice columns before any training."""
    out: dict[str, TaskSplits] = {}
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
        out[name] = TaskSplits(task=task, splits=splits, test_slices=slices, pii_counts=counts, split_summary=summary,
                               weight=float(cfg.multitask.loss_weights.get(name, 1.0)), fields=fields)
    return out


def build_task_data(cfg: RecipeConfig, splits: dict[str, TaskSplits], tokenizer: PreTrainedTokenizerBase,
                    accelerator: Accelerator) -> dict[str, TaskData]:
    """Every task's splits tokenised into documents of windows, with its loaders, sampler and loss."""
    on_gpu = accelerator.device.type == "cuda"
    out: dict[str, TaskData] = {}
    for name, item in splits.items():
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
        train = build_dataloader(tokenized["train"], collator, cfg.train.batch_size, shuffle=True, seed=cfg.seed,
                                 group_by_length=cfg.train.group_by_length, sampler=balanced, **workers)
        loaders = {"train": train} | {split: build_dataloader(tokenized[split], collator, cfg.train.eval_batch_size,
                                                              shuffle=False, **workers)
                                      for split in tokenized if split != "train"}
        out[name] = TaskData(**{f.name: getattr(item, f.name) for f in dataclasses.fields(item)},
                             loaders=MappingProxyType(loaders), sampler=train.sampler,
                             loss=build_loss(cfg.loss, item.task, labels).to(accelerator.device))
    return out
