"""Typed recipe configuration: one dataclass per config section, each checking its own values.

Used by every recipe and by ``finrisk train``::

    accelerate launch recipes/credit_text.py --config recipes/configs/credit_text.yaml train.lr=1e-4 lora.r=4

Reading YAML and ``key.sub=value`` overrides into these classes is :mod:`finrisk_nlp.config.loading`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

EMBEDDED_MODEL = "all-MiniLM-L6-v2"


# Operating-point targets (``threshold.target``), parsed here so that configs are checked where they are read.

TargetKind = Literal["f1", "recall_at_precision", "precision_at_recall", "min_cost"]
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)

# Choices named in the config and implemented below it: the modules that implement them import them from here.
Pooling = Literal["attention", "mean", "max"]  # model.pooling: how window vectors become a document's
TokenPooling = Literal["cls", "mean"]  # model.token_pooling: a window's vector
DedupMode = Literal["drop", "warn", "error"]  # data.dedup
CalibrationMethod = Literal["auto", "none", "temperature", "platt", "vector", "isotonic"]  # calibration.method


@dataclass(frozen=True)
class ThresholdTarget:
    """A parsed ``threshold.target``: the kind, for constrained kinds the level in (0, 1], for ``min_cost`` the
    cost of a missed risk case and of a false alert."""

    kind: TargetKind
    level: float | None = None
    cost_fn: float = 1.0
    cost_fp: float = 1.0

    def __str__(self) -> str:
        return self.kind if self.level is None else f"{self.kind}={self.level:g}"


def parse_target(text: str, costs: dict[str, float] | None = None) -> ThresholdTarget:
    """Parse ``f1``, ``min_cost``, ``recall_at_precision=0.9`` or ``precision_at_recall=0.95``.

    Args:
        text: the target.
        costs: ``{"fn": ..., "fp": ...}`` for ``min_cost`` (default 1 each: the fewest errors).

    Raises:
        ValueError: naming the accepted forms when ``text`` is none of them or a cost is not > 0.
    """
    expected = "expected f1, min_cost, recall_at_precision=P or precision_at_recall=R with P, R in (0, 1]"
    kind, sep, level_text = str(text).strip().partition("=")
    if kind not in TARGET_KINDS:
        raise ValueError(f"{expected}; got {text!r}")
    if kind in ("f1", "min_cost"):
        if sep:
            raise ValueError(f"{expected} ({kind} takes no level); got {text!r}")
        if kind == "f1":
            return ThresholdTarget("f1")
        costs = {"fn": 1.0, "fp": 1.0, **(costs or {})}
        if set(costs) != {"fn", "fp"} or not all(isinstance(v, int | float) and v > 0 for v in costs.values()):
            raise ValueError(f"min_cost needs costs {{fn: C_FN, fp: C_FP}} with both > 0, e.g. {{fn: 20, fp: 1}}; "
                             f"got {costs}")
        return ThresholdTarget("min_cost", cost_fn=float(costs["fn"]), cost_fp=float(costs["fp"]))
    try:
        level = float(level_text)
    except ValueError:
        raise ValueError(f"{expected}; got {text!r}") from None
    if not 0.0 < level <= 1.0:
        raise ValueError(f"{expected}; got level {level}")
    return ThresholdTarget(kind, level)  # type: ignore[arg-type]


@dataclass
class ModelConfig:
    """Which encoder to fine-tune and how texts are cut to its input size."""

    name_or_path: str = EMBEDDED_MODEL  # the offline MiniLM shipped as a package; a local dir or Hub id works too
    max_length: int = 128  # tokens per window
    trust_remote_code: bool = False  # only for Hub models whose code you have read
    max_chunks: int = 1  # windows per document, in training, evaluation and prediction alike; 1: truncate
    stride: int = 32  # tokens shared by neighbouring windows, so evidence on a window edge is seen whole
    pooling: Pooling = "attention"  # how window vectors become a document's
    token_pooling: TokenPooling = "cls"  # a window's vector: its first token, or the mean of its tokens
    attn_implementation: str | None = None  # null: the encoder's default; sdpa | eager | flash_attention_2
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory for large encoders
    # With data.feature_columns: how the field vector joins the pooled document vector before the head.
    fusion: Literal["concat", "gated"] = "concat"  # concat: [document; fields]; gated: document + gate * fields
    field_dropout: float = 0.0  # train-time chance of dropping a row's whole field vector; > 0: may score bare text

    def validate(self) -> list[str]:
        problems = [] if self.max_length >= 8 else [f"model.max_length must be >= 8, got {self.max_length}"]
        if self.max_chunks < 1:
            problems.append(f"model.max_chunks must be >= 1, got {self.max_chunks}")
        if self.max_chunks > 1 and not 0 <= self.stride <= self.max_length // 2:  # stride only matters for windows
            problems.append(
                f"model.stride must be in [0, max_length // 2 = {self.max_length // 2}], got {self.stride}"
            )
        if self.attn_implementation not in (None, "sdpa", "eager", "flash_attention_2"):
            problems.append(f"model.attn_implementation must be null, sdpa, eager or flash_attention_2, got "
                            f"{self.attn_implementation!r}")
        if self.fusion not in ("concat", "gated"):
            problems.append(f"model.fusion must be concat or gated, got {self.fusion!r}")
        if not 0.0 <= self.field_dropout < 1.0:
            problems.append(f"model.field_dropout must be in [0, 1), got {self.field_dropout}")
        return problems


@dataclass
class LoraSettings:
    """LoRA adapter settings (passed to ``peft.LoraConfig``); ``enabled=false`` trains every weight instead."""

    enabled: bool = True
    r: int = 8
    alpha: int = 16  # scaling is alpha / r; 2*r is the usual choice
    dropout: float = 0.1
    # auto: every attention and MLP Linear of the encoder (per architecture); all-linear; or layer names.
    target_modules: list[str] = field(default_factory=lambda: ["auto"])
    # Pretrained encoder modules to train in full and save with the adapter (the document heads always are).
    modules_to_save: list[str] = field(default_factory=list)

    def validate(self) -> list[str]:
        problems = []
        if self.r < 1:
            problems.append(f"lora.r must be >= 1, got {self.r}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.target_modules:
            problems.append("lora.target_modules must name at least one module, e.g. auto or [query, value]")
        if len(self.target_modules) > 1 and ({"auto", "all-linear"} & set(self.target_modules)):
            problems.append(f"lora.target_modules: auto and all-linear stand alone, got {self.target_modules}")
        return problems


SPLITS: tuple[str, ...] = ("train", "validation", "test")  # every run's splits (data.train_file, ...)
CALIBRATION_SPLIT = "calibration"  # carved from validation by data.calibration_fraction
SPLIT_ORDER: tuple[str, ...] = (*SPLITS[:2], CALIBRATION_SPLIT, *SPLITS[2:])  # the order splits are carved in


@dataclass
class DataConfig:
    """Where the labelled text comes from and how it is split."""

    train_file: str | None = None  # null: the task's shipped demo data
    validation_file: str | None = None  # null: carved from train_file (stratified)
    test_file: str | None = None  # null: carved from train_file (stratified)
    text_column: str | None = None  # null: the task's default column
    label_column: str | None = None  # null: the task's default column
    labels: list[str] | None = None  # null: the task's labels, or the sorted labels found in train_file
    positive_label: str | None = None  # binary tasks: the risk class that PR-AUC and thresholds refer to
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    # A split of its own for fitting calibration, thresholds and conformal sets, apart from the validation rows
    # that select the epoch (null: validation does both). A share of all rows, carved like validation.
    calibration_fraction: float | None = None
    min_examples_per_class: int = 5  # fewer rows for a class in train_file is an error
    redact_pii: bool = True  # replace card numbers, IBANs, SSNs, accounts, emails, phones by [CARD], [IBAN], ...
    time_column: str | None = None  # out-of-time split: train on the earliest rows, validate/test on the latest
    group_column: str | None = None  # keep each customer/account in one split; with time_column, time decides
    # Validation/test texts repeating a train text (digits masked, case/space folded): drop them from
    # validation/test (default: metrics then measure generalisation, not memory), warn and keep, or error.
    dedup: DedupMode = "drop"
    # Structured fields in the same rows as the text (numbers or categories; missing: null/absent/empty), fed to
    # the document head beside the text (finrisk_nlp.data.fields). Empty: a text-only model.
    feature_columns: list[str] = field(default_factory=list)
    categorical_columns: list[str] | None = None  # null: inferred; under 90% numbers in train: categorical

    def validate(self) -> list[str]:
        problems = field_column_problems("data", self.feature_columns, self.categorical_columns)
        named = [c for c in (self.text_column, self.label_column) if c and c in self.feature_columns]
        if named:
            problems.append(f"data.feature_columns names {named}, the text or label column; fields are other columns")
        for name in ("validation_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 0.5:
                problems.append(f"data.{name} must be in (0, 0.5), got {value}")
        if self.calibration_fraction is not None and not 0.0 < self.calibration_fraction < 0.5:
            problems.append(f"data.calibration_fraction must be in (0, 0.5) or null, got {self.calibration_fraction}")
        elif self.validation_fraction + self.test_fraction + (self.calibration_fraction or 0.0) >= 0.8:
            problems.append("data.validation_fraction + data.test_fraction + data.calibration_fraction must stay "
                            "below 0.8 so that most rows train; lower one of them")
        if self.min_examples_per_class < 1:
            problems.append(f"data.min_examples_per_class must be >= 1, got {self.min_examples_per_class}")
        if self.time_column is not None and self.time_column == self.group_column:
            problems.append(f"data.time_column and data.group_column both name {self.time_column!r}; the group "
                            "column identifies a customer/account, the time column when a row happened")
        return problems


@dataclass
class TrainConfig:
    """Optimisation, evaluation cadence, checkpointing and resume."""

    # An integer, or auto: until the selection metric has not improved for early_stopping_patience epochs, at most
    # max_epochs and max_minutes (finrisk_nlp.training.epochs).
    epochs: int | Literal["auto"] = 3
    max_epochs: int = 20  # epochs=auto: the cap, and the length the learning-rate schedule is laid over
    max_minutes: float | None = None  # stop training after this many minutes (every resumed session counted)
    batch_size: int = 16  # per process
    eval_batch_size: int = 64  # per process
    grad_accum_steps: int = 1
    lr: float = 5e-4
    head_lr: float | None = None  # the task heads' rate (finrisk_nlp.training.optimizer); null: train.lr
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06  # share of the scheduled optimizer steps (the cap's for epochs=auto) with warmup
    optimizer: Literal["adamw", "adamw-fused"] = "adamw"  # torch AdamW; fused: one kernel per step (CPU and GPU)
    # After warmup: linear or cosine decay to 0 at the last scheduled step (the cap for epochs=auto), or constant.
    scheduler: Literal["linear", "cosine", "constant"] = "linear"  # (train.lr_schedule is its deprecated name)
    max_grad_norm: float = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps (smoke runs)
    log_every: int = 10  # optimizer steps between loss log lines
    checkpoint_every: int | None = None  # optimizer steps between save_state checkpoints; null: each epoch
    keep_checkpoints: int = 2
    early_stopping_patience: int | None = 2  # epochs without improvement before stopping; null: never
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"  # auto: bf16/fp16 on GPU; CPU: bf16 if native
    resume: str | None = None  # "latest" or a checkpoint dir; null: start fresh
    group_by_length: bool = True  # batches of similar length waste less padding
    compile: bool = False  # torch.compile the model (GPU; the first steps are slow while it compiles)
    weighted_sampler: bool = False  # draw every class equally often (imbalanced data); overrides group_by_length
    overwrite: bool = False  # true: train into an output_dir holding other files (an earlier run's are replaced)

    def validate(self) -> list[str]:
        problems = []
        if self.epochs == "auto" and self.early_stopping_patience is None:
            problems.append("train.epochs=auto stops when validation stops improving, so it needs "
                            "train.early_stopping_patience (e.g. 2); got null. Or give a fixed number of epochs")
        if self.max_minutes is not None and self.max_minutes <= 0:
            problems.append(f"train.max_minutes must be > 0 or null, got {self.max_minutes}")
        for name in ("epochs", "max_epochs", "batch_size", "eval_batch_size", "grad_accum_steps", "log_every",
                     "keep_checkpoints"):
            if getattr(self, name) != "auto" and getattr(self, name) < 1:
                problems.append(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not math.isfinite(self.lr) or self.lr <= 0:
            problems.append(f"train.lr must be a finite number > 0, got {self.lr}")
        if self.head_lr is not None and (not math.isfinite(self.head_lr) or self.head_lr <= 0):
            problems.append(f"train.head_lr must be a finite number > 0 or null (train.lr), got {self.head_lr}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            problems.append(f"train.warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        for name in ("max_steps", "checkpoint_every", "early_stopping_patience"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"train.{name} must be >= 1 or null, got {value}")
        return problems


REGISTRY_NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
HUB_REPO_PATTERN = r"[\w.-]+/[\w.-]+"


@dataclass
class RegistryConfig:
    """Publishing the trained model when a recipe finishes (``finrisk registry push RUN_DIR`` does it by hand)."""

    push: bool = False  # true: publish a new registry version after training (main process only)
    name: str | None = None  # registry name; null: the task name with '-' for '_' (credit_text -> credit-text)
    root: str | None = None  # registry directory; null: $FINRISK_REGISTRY, else ./registry
    hub_repo: str | None = None  # also push to this Hugging Face Hub repo, ORG/NAME (token from HF_TOKEN/login)
    private: bool = True  # a new Hub repo is created private; false is also needed to push to an existing public one

    def validate(self) -> list[str]:
        import re

        problems = []
        if self.name is not None and not re.fullmatch(REGISTRY_NAME_PATTERN, self.name):
            problems.append(f"registry.name must be lower case letters, digits, '.', '_' or '-', got {self.name!r}")
        if self.hub_repo is not None and not re.fullmatch(HUB_REPO_PATTERN, self.hub_repo):
            problems.append(f"registry.hub_repo must look like ORG/NAME, got {self.hub_repo!r}")
        return problems


@dataclass
class LossConfig:
    """Training loss for imbalanced risk data: class weights and focal loss (``finrisk_nlp.training.losses``)."""

    class_weights: str | dict[str, float] | None = None  # null | auto (inverse frequency) | {label: weight}
    focal_gamma: float = 0.0  # > 0: focal loss, down-weighting easy examples; 2.0 is the usual choice

    def validate(self) -> list[str]:
        problems = []
        if isinstance(self.class_weights, str) and self.class_weights != "auto":
            problems.append(f"loss.class_weights must be null, auto or {{label: weight}}, got {self.class_weights!r}")
        if isinstance(self.class_weights, dict):
            bad = {k: v for k, v in self.class_weights.items() if not isinstance(v, float) or v <= 0}
            if bad:
                problems.append(f"loss.class_weights: every weight must be a number > 0, got {bad}")
        if self.focal_gamma < 0:
            problems.append(f"loss.focal_gamma must be >= 0, got {self.focal_gamma}")
        return problems


@dataclass
class ThresholdConfig:
    """The operating point tuned on calibrated validation probabilities after training (``evaluation.thresholds``)."""

    target: str = "f1"  # f1 | min_cost | recall_at_precision=0.9 | precision_at_recall=0.95
    costs: dict[str, float] = field(default_factory=lambda: {"fn": 1.0, "fp": 1.0})  # min_cost: {fn: 20, fp: 1}
    risk_classes: list[str] = field(default_factory=list)  # multi-class: classes with their own threshold
    review_band: float | None = None  # decision "review" within this distance of the threshold, e.g. 0.1
    conformal_alpha: float | None = None  # decision "review" unless the conformal set (level 1-alpha) has one label

    def validate(self) -> list[str]:
        problems = []
        try:
            parse_target(self.target, self.costs)
        except ValueError as exc:
            problems.append(f"threshold.target: {exc}")
        if self.review_band is not None and not 0.0 < self.review_band < 0.5:
            problems.append(f"threshold.review_band must be in (0, 0.5) or null, got {self.review_band}")
        if self.conformal_alpha is not None and not 0.0 < self.conformal_alpha < 1.0:
            problems.append(f"threshold.conformal_alpha must be in (0, 1) or null, got {self.conformal_alpha}")
        if self.review_band and self.conformal_alpha:
            problems.append("threshold.review_band and threshold.conformal_alpha are two abstention rules; set one")
        return problems


@dataclass
class CalibrationConfig:
    """How validation logits are calibrated after training (``evaluation.calibration.fit_calibration``)."""

    # auto: lowest cross-validated NLL on validation, never worse than none; platt: binary/multi-label; vector:
    # multi-class
    method: CalibrationMethod = "auto"


@dataclass
class EvalConfig:
    """How the test split is broken down in the final report (fairness slices)."""

    slice_columns: list[str] = field(default_factory=list)  # data columns to slice test metrics by, e.g. [region]
    min_slice_size: int = 30  # slices with fewer test rows are reported but left out of the gaps, with a warning
    explain_examples: int = 3  # test texts (highest risk first) explained in report.md and the model card; 0: none
    explain_steps: int = 20  # integrated-gradients steps for those examples

    def validate(self) -> list[str]:
        problems = []
        if self.explain_examples < 0 or self.explain_steps < 1:
            problems.append(f"eval.explain_examples must be >= 0 and eval.explain_steps >= 1, got "
                            f"{self.explain_examples} and {self.explain_steps}")
        if self.min_slice_size < 1:
            problems.append(f"eval.min_slice_size must be >= 1, got {self.min_slice_size}")
        repeated = sorted({c for c in self.slice_columns if self.slice_columns.count(c) > 1})
        if repeated:
            problems.append(f"eval.slice_columns names {repeated} more than once; list each column once")
        return problems


@dataclass
class TaskDataConfig:
    """Per-task data files of a multi-task run; every other ``data.*`` setting is shared."""

    train_file: str | None = None  # null: the task's shipped demo data
    validation_file: str | None = None  # null: carved from train_file
    test_file: str | None = None  # null: carved from train_file
    labels: list[str] | None = None  # null: the task's registered labels
    feature_columns: list[str] = field(default_factory=list)  # this task's fields (as data.feature_columns)
    categorical_columns: list[str] | None = None  # as data.categorical_columns


def field_column_problems(section: str, columns: list[str], categorical: list[str] | None) -> list[str]:
    """Repeated field columns, and categorical columns that are not field columns."""
    problems = []
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        problems.append(f"{section}.feature_columns names {repeated} more than once; list each column once")
    stray = sorted(set(categorical or []) - set(columns))
    if stray:
        problems.append(f"{section}.categorical_columns names {stray}, which are not in {section}.feature_columns "
                        f"{columns}; add them there or remove them")
    return problems


@dataclass
class MultitaskConfig:
    """One encoder, several tasks (``recipes/multitask.py``); ``tasks: []`` is an ordinary single-task run."""

    tasks: list[str] = field(default_factory=list)  # at least two registered task names
    strategy: Literal["hard", "soft"] = "hard"  # hard: one shared LoRA adapter; soft: one LoRA adapter per task
    sampling: Literal["size", "temperature"] = "temperature"  # which task each batch comes from: p ~ n or n^(1/T)
    temperature: float = 2.0  # T of temperature sampling; 1: like size, larger: closer to uniform
    loss_weights: dict[str, float] = field(default_factory=dict)  # {task: weight}; unlisted tasks: 1.0
    shared_adapter: bool = False  # soft only: a shared LoRA adapter beneath the per-task ones
    data: dict[str, TaskDataConfig] = field(default_factory=dict)  # {task: {train_file: ...}}; default demo data

    def validate(self) -> list[str]:
        from finrisk_nlp.tasks import list_tasks

        if not self.tasks:
            return []
        problems = []
        unknown = [t for t in self.tasks if t not in list_tasks()]
        if unknown:
            problems.append(f"multitask.tasks: unknown task(s) {unknown}; registered tasks are {list_tasks()}")
        if len(set(self.tasks)) != len(self.tasks) or len(self.tasks) < 2:
            problems.append(f"multitask.tasks must name at least two different tasks, got {self.tasks}")
        if self.temperature <= 0:
            problems.append(f"multitask.temperature must be > 0, got {self.temperature}")
        for key, mapping in (("loss_weights", self.loss_weights), ("data", self.data)):
            stray = sorted(set(mapping) - set(self.tasks))
            if stray:
                problems.append(f"multitask.{key} names {stray}, which are not in multitask.tasks {self.tasks}")
        for name, own in self.data.items():
            problems += field_column_problems(f"multitask.data.{name}", own.feature_columns, own.categorical_columns)
        bad = {k: v for k, v in self.loss_weights.items() if not isinstance(v, float) or v <= 0}
        if bad:
            problems.append(f"multitask.loss_weights: every weight must be a number > 0, got {bad}")
        if self.shared_adapter and self.strategy != "soft":
            problems.append("multitask.shared_adapter=true needs strategy=soft (hard sharing has one adapter only)")
        return problems


def output_dir_problems(output_dir: str) -> list[str]:
    """Refuse an ``output_dir`` whose model/ and checkpoints/ folders would land among a person's own files: empty,
    a filesystem root or a home folder (or one above it)."""
    from pathlib import Path

    if not output_dir.strip():
        return ["output_dir is empty; name a folder for this run, e.g. output_dir=runs/credit_text"]
    path = Path(output_dir).expanduser().resolve()
    home = Path.home().resolve()
    if path == Path(path.anchor) or path == home or path in home.parents:
        return [f"output_dir={output_dir!r} is {'a filesystem root' if path == Path(path.anchor) else 'a home folder'}"
                f"; a run writes model/, checkpoints/ and reports there. Name a folder of its own, e.g. "
                "output_dir=runs/credit_text"]
    return []


@dataclass
class RecipeConfig:
    """Everything one training run needs. Saved next to the model as ``config.yaml``."""

    task: str = "credit_text"  # a name registered in finrisk_nlp.tasks
    seed: int = 42
    cpu: bool = False  # true: run on CPU even if a GPU is there (needed for multi-process CPU runs)
    output_dir: str = "runs/credit_text"
    log_with: list[str] = field(default_factory=list)  # accelerate trackers, e.g. [tensorboard]
    save_merged: bool = False  # also write model_merged/: adapter merged into the base, loadable without peft
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    registry: RegistryConfig = field(default_factory=RegistryConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    multitask: MultitaskConfig = field(default_factory=MultitaskConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)

    def validate(self) -> list[str]:
        from finrisk_nlp.tasks import get_task, list_tasks

        problems = output_dir_problems(self.output_dir)
        if self.task not in list_tasks():
            problems.append(f"task: unknown task {self.task!r}; registered tasks are {list_tasks()}")
        if self.calibration.method in ("platt", "vector"):
            kinds = {"platt": "binary or multi-label", "vector": "multi-class"}
            # A task whose labels come from the data is checked once they are known (by the calibration fit).
            wrong = [t for t in (self.multitask.tasks or [self.task]) if t in list_tasks()
                     and not get_task(t).labels_from_data
                     and (get_task(t).multi_label or get_task(t).is_binary) == (self.calibration.method == "vector")]
            if wrong:
                problems.append(f"calibration.method: {self.calibration.method} is for {kinds[self.calibration.method]}"
                                f" tasks, not {wrong}; use auto, temperature or isotonic")
        return problems

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def task_data_config(cfg: RecipeConfig, task: str) -> DataConfig:
    """The ``data`` settings of one task. A single-task run uses ``data`` as it is; a multi-task run shares the
    options and takes each task's files and labels from ``multitask.data.<task>`` with the task's default columns."""
    if not cfg.multitask.tasks:
        return cfg.data
    own = cfg.multitask.data.get(task)
    return dataclasses.replace(
        cfg.data, train_file=own.train_file if own else None, validation_file=own.validation_file if own else None,
        test_file=own.test_file if own else None, labels=own.labels if own else None, text_column=None,
        label_column=None, positive_label=None, feature_columns=list(own.feature_columns) if own else [],
        categorical_columns=own.categorical_columns if own else None,
    )
