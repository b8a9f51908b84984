"""Small I/O helpers shared by training, the registry and scoring: atomic JSON writes, hashes, git commit.

Used wherever a file must never be seen half-written, e.g. ``RUN_DIR/metrics.json`` after
``accelerate launch recipes/credit_text.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to a temp file in the same directory, then rename it over ``path``."""
    write_text_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temp file beside ``path`` for the block to write; when the block ends it is synced to disk and renamed
    over ``path``, so readers see the old file or the whole new one. On an error it is removed, ``path`` untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit of the working directory (or of this package's checkout), if any."""
    for where in (cwd, Path.cwd(), Path(__file__).resolve().parent):
        if where is None:
            continue
        try:
            out = subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5, check=True
            )
            return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
    return None
