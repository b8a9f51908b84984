"""Object-store inputs of ``finrisk score ... --engine ray`` (``s3://``, ``gs://``, ``abfs://``, ``file://`` ...).

    finrisk score runs/credit_text s3://bank-archive/2024/ 's3://bank-archive/mail/*.zip' --out s.parquet --engine ray

Everything :mod:`pyarrow.fs` opens is read; credentials come from the store's usual environment (e.g.
``AWS_PROFILE``). A prefix is listed recursively and its objects ordered like the files of a local tree (files
before folders, by name); in a glob, ``*`` also matches ``/``. An object is copied to a temp file and read by the
local reader, so limits, extraction and error reasons are those of local files.
"""

from __future__ import annotations

import glob
import os
from pathlib import PurePosixPath

import pyarrow as pa

from finrisk_nlp.errors import DataError
from finrisk_nlp.scoring.documents import TABLE_SUFFIXES, TAR_SUFFIXES, ReadLimits

__all__ = ["is_remote", "list_objects", "stage_object"]


def is_remote(path: str) -> bool:
    """Whether ``path`` is an object-store URI (``scheme://...``) rather than a local path."""
    return "://" in path and not path.startswith("://")


def _walk_key(relative: str) -> tuple[tuple[int, str], ...]:
    """Order the objects under a prefix like the local reader orders a tree: files before folders, by name."""
    parts = relative.split("/")
    return tuple((0 if i == len(parts) - 1 else 1, part) for i, part in enumerate(parts))


def list_objects(uri: str) -> list[tuple[str, str | None]]:
    """The objects an object-store input names: ``(uri, base)`` pairs, base None for a single object.

    Raises:
        DataError: when the URI cannot be opened, does not exist, or its glob matches nothing.
    """
    import fnmatch

    from pyarrow import fs as pafs

    scheme, _, rest = uri.partition("://")
    pattern = rest if glob.has_magic(rest) else None
    base_rest = rest.split("*")[0].split("?")[0].split("[")[0].rsplit("/", 1)[0] if pattern else rest
    try:
        filesystem, base_path = pafs.FileSystem.from_uri(f"{scheme}://{base_rest}")
        kind = filesystem.get_file_info(base_path).type
        found = (filesystem.get_file_info(pafs.FileSelector(base_path, recursive=True))
                 if kind == pafs.FileType.Directory else [])
    except (OSError, ValueError, pa.ArrowException) as exc:  # unknown scheme, credentials, network
        raise DataError(f"cannot list input {uri!r} ({type(exc).__name__}: {exc}); check the URI and the "
                        "object store's credentials") from None
    if kind == pafs.FileType.File and not pattern:
        return [(uri, None)]
    if kind != pafs.FileType.Directory:
        raise DataError(f"input {uri!r} does not exist; pass an object, a prefix or a glob")
    prefix = f"{scheme}://{base_rest.rstrip('/')}"
    relative = sorted((i.path[len(base_path.rstrip("/")) + 1:] for i in found if i.type == pafs.FileType.File),
                      key=_walk_key)
    objects = [(f"{prefix}/{name}", prefix) for name in relative
               if pattern is None or fnmatch.fnmatchcase(f"{base_rest.rstrip('/')}/{name}", pattern)]
    if not objects:
        raise DataError(f"input {uri!r} matches no object; check the prefix or pattern")
    return objects


def stage_object(uri: str, directory: str, limits: ReadLimits) -> str:
    """Copy one object to ``directory`` under its own name; a document only up to one byte past the limit."""
    from pyarrow import fs as pafs

    name = PurePosixPath(uri.partition("://")[2]).name or "object"
    lower = name.lower()
    whole = lower.endswith((".zip", *TAR_SUFFIXES)) or PurePosixPath(lower).suffix in TABLE_SUFFIXES
    budget = None if whole else limits.max_doc_bytes + 1
    filesystem, path = pafs.FileSystem.from_uri(uri)
    target = os.path.join(directory, name)
    with filesystem.open_input_stream(path) as src, open(target, "wb") as dst:
        while budget is None or budget > 0:
            chunk = src.read(1 << 20 if budget is None else min(1 << 20, budget))
            if not chunk:
                break
            dst.write(chunk)
            budget = None if budget is None else budget - len(chunk)
    return target
