"""Exceptions raised for bad user input.

Every message says what was expected, what was found and what to do about it. The command line
(``finrisk ...`` and the recipes) turns these into a one-paragraph error and exit code 2 instead of a traceback.
"""

from __future__ import annotations

import errno


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


# The file system refused: full, over quota, read-only, or not the user's to write.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM})


def storage_problem(exc: OSError) -> str | None:
    """A one-paragraph message for an :class:`OSError` the file system raised (disk full, read-only or forbidden
    place); None for any other error, which stays a bug to report."""
    if exc.errno not in STORAGE_ERRNOS:
        return None
    where = f" ({exc.filename})" if exc.filename else ""
    return (f"{exc.strerror or 'the file system refused'}{where}: the disk is full, or the place is read-only or not "
            "yours to write. Free space, or choose a writable folder (--out, output_dir, --root), and run again; "
            "files are written to a temporary name first, so nothing half-written is taken for a result.")
