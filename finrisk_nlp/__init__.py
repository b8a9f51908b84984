"""finrisk_nlp: LoRA fine-tuning of BERT-style encoders for financial-risk text, on Hugging Face Accelerate.

    accelerate launch recipes/credit_text.py          # fine-tune on the shipped loan narratives
    finrisk predict runs/credit_text "Applicant lost her job in March ..."

The public API is re-exported here; recipes call :func:`run_recipe`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from finrisk_nlp.config import RecipeConfig, load_config, parse_cli  # noqa: E402
from finrisk_nlp.errors import ConfigError, DataError, FinriskError, ModelLoadError  # noqa: E402
from finrisk_nlp.tasks import Task, get_task, list_tasks, register_task  # noqa: E402

__all__ = [
    "ConfigError",
    "DataError",
    "FinriskError",
    "ModelLoadError",
    "RecipeConfig",
    "Task",
    "__version__",
    "get_task",
    "list_tasks",
    "load_config",
    "parse_cli",
    "register_task",
]
