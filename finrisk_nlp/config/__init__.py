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
    EMBEDDED_MODEL,
    HUB_REPO_PATTERN,
    REGISTRY_NAME_PATTERN,
    TARGET_KINDS,
    CalibrationConfig,
    DataConfig,
    EvalConfig,
    LoraSettings,
    LossConfig,
    ModelConfig,
    MultitaskConfig,
    RecipeConfig,
    RegistryConfig,
    TargetKind,
    TaskDataConfig,
    ThresholdConfig,
    ThresholdTarget,
    TrainConfig,
    parse_target,
)

__all__ = [
    "EMBEDDED_MODEL", "HUB_REPO_PATTERN", "REGISTRY_NAME_PATTERN", "TARGET_KINDS", "CalibrationConfig", "DataConfig",
    "EvalConfig", "LoraSettings", "LossConfig", "ModelConfig", "MultitaskConfig", "RecipeConfig", "RegistryConfig",
    "TargetKind", "TaskDataConfig", "ThresholdConfig", "ThresholdTarget", "TrainConfig", "apply_overrides",
    "config_from_dict", "given_keys", "load_config", "parse_cli", "parse_target", "save_config",
]
