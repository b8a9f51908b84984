"""Entry point shared by the training recipes: parse the config, train, publish, turn user errors into exit code 2.

    accelerate launch recipes/credit_text.py [--config FILE] [key.sub=value ...]
    finrisk train --task credit_text [key.sub=value ...]      # the packaged config, from any directory
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from finrisk_nlp.config import given_keys, parse_cli
from finrisk_nlp.errors import ConfigError, FinriskError, storage_problem

logger = logging.getLogger("finrisk_nlp")


def setup_logging() -> None:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO,
                        datefmt="%H:%M:%S")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()  # "newly initialized" warnings are expected and handled here
    datasets.disable_progress_bars()


def exit_code(command: Callable[[], int]) -> int:
    """Run a command; bad input (a :class:`FinriskError`) and a full, read-only or forbidden disk are one logged
    message and exit code 2, not a traceback."""
    try:
        return command()
    except FinriskError as exc:
        logger.error(str(exc))
        return 2
    except OSError as exc:
        message = storage_problem(exc)
        if message is None:
            raise
        logger.error(message)
        return 2


def run_recipe(argv: list[str] | None, default_config: str | Path, *, fit_to_data: bool = False) -> int:
    """Run one training recipe; returns the process exit code (0 ok, 2 bad input).

    With ``fit_to_data`` the settings of :data:`finrisk_nlp.training.data_defaults.CHOSEN` that neither the config
    nor the command line sets are measured from the training data (the generic ``recipes/text_classifier.py``).
    """
    from finrisk_nlp.training.engine import train

    setup_logging()

    def run() -> int:
        cfg = parse_cli(argv, default_config=default_config)
        if fit_to_data:
            from finrisk_nlp.training import data_defaults

            given = given_keys(argv, default_config)
            cfg, choices = data_defaults.fit_to_data(cfg, given)
            data_defaults.log_choices(choices, given)
        train(cfg)
        if cfg.registry.push or cfg.registry.hub_repo:
            from accelerate import PartialState

            if PartialState().is_main_process:  # one publisher; the other ranks are done once train() returns
                from finrisk_nlp.registry.local import publish_from_config

                publish_from_config(cfg)
        return 0

    return exit_code(run)


def recipe_config(recipe_file: str, name: str) -> Path:
    """The YAML shipped next to a recipe script: ``recipes/configs/<name>.yaml``; the packaged copy
    (:func:`packaged_config`) when the script was copied somewhere without its ``configs/`` folder."""
    beside = Path(recipe_file).resolve().parent / "configs" / f"{name}.yaml"
    return beside if beside.is_file() else packaged_config(name)


def packaged_config(name: str) -> Path:
    """The recipe config of task ``name`` as installed: ``finrisk_nlp/recipe_configs/<name>.yaml``, which in the
    repo is a link to ``recipes/configs/`` and in a wheel holds copies of those files.

    Raises:
        ConfigError: when no recipe config of that name exists, listing the ones that do.
    """
    from importlib import resources

    folder = Path(str(resources.files("finrisk_nlp"))) / "recipe_configs"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError([f"no recipe config for task {name!r}: the shipped ones are {known}; pass --config FILE "
                           "for your own"])
    return path


DEFAULT_CONFIG: Path = packaged_config("credit_text")
# ``set_defaults`` key naming a command's ``nargs="*"`` positional (texts, overrides) that positionals given after an
# option join (``finrisk_nlp.cli.main.parse_args``).
TRAILING = "trailing_positional"
"""The config ``finrisk train``, ``validate`` and ``tune`` read without ``--config``: the credit recipe's."""
