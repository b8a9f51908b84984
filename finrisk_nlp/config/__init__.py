"""The recipe config: typed sections (:mod:`.sections`) and how YAML plus overrides become one (:mod:`.loading`)."""

from finrisk_nlp.config.loading import (
    apply_overrides,
    config_from_dict,
    given_keys,
    load_config,
    parse_cli,
    save_config,
)
from finrisk_nlp.config.sections import (
    CALIBRATION_SPLIT,
    EMBEDDED_MODEL,
    HUB_REPO_PATTERN,
    REGISTRY_NAME_PATTERN,
    SPLIT_ORDER,
    SPLITS,
    TARGET_KINDS,
    CalibrationConfig,
    CalibrationMethod,
    DataConfig,
    DedupMode,
    EvalConfig,
    LoraSettings,
    LossConfig,
    ModelConfig,
    MultitaskConfig,
    Pooling,
    RecipeConfig,
    RegistryConfig,
    TargetKind,
    TaskDataConfig,
    ThresholdConfig,
    ThresholdTarget,
    TokenPooling,
    TrainConfig,
    parse_target,
    task_data_config,
)

__all__ = [
    "CALIBRATION_SPLIT", "EMBEDDED_MODEL", "HUB_REPO_PATTERN", "REGISTRY_NAME_PATTERN", "SPLIT_ORDER", "SPLITS",
    "TARGET_KINDS", "CalibrationConfig",
    "CalibrationMethod", "DataConfig", "DedupMode", "EvalConfig", "LoraSettings", "LossConfig", "ModelConfig",
    "MultitaskConfig", "Pooling", "RecipeConfig", "RegistryConfig", "TargetKind", "TaskDataConfig", "ThresholdConfig",
    "ThresholdTarget", "TokenPooling", "TrainConfig", "apply_overrides",
    "config_from_dict", "given_keys", "load_config", "parse_cli", "parse_target", "save_config",
    "task_data_config",
]
