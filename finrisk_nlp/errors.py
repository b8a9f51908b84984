"""Exceptions raised for bad user input.

Every message says what was expected, what was found and what to do about it. The command line
(``finrisk ...`` and the recipes) turns these into a one-paragraph error and exit code 2 instead of a traceback.
"""

from __future__ import annotations


class FinriskError(Exception):
    """Base class for errors caused by user input (config, data files, model references)."""


class ConfigError(FinriskError, ValueError):
    """The recipe configuration is invalid; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Invalid configuration ({len(problems)} problem(s)):\n{lines}")


class DataError(FinriskError, ValueError):
    """A data file is missing, unreadable or does not match the task's schema."""


class ModelLoadError(FinriskError, ValueError):
    """A model reference cannot be resolved or the files behind it are incomplete."""
