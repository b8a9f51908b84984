"""Part files of ``finrisk score MODEL_REF INPUT... --out scores.parquet``: manifest, atomic writes, compaction.

Each process writes its scored documents to ``OUT.parts/part-<rank>-<seq>-L<level>.parquet``, by default one
part per batch, so a kill loses at most the batch in flight. Every file is written to a temp name and renamed,
so a part is complete or absent. To keep the number of files small on large archives, whenever a process has
:data:`COMPACT_FANOUT` parts of one level it concatenates them into one part of the next level and deletes them
(a log-structured merge): a process holds at most ``(COMPACT_FANOUT - 1)`` parts per level, e.g. about 60 files
for a million documents at batch size 64. A kill between writing the compacted part and deleting its sources
leaves some documents in two parts with identical rows; resuming and merging count every document once.

Only one run at a time may use an ``OUT.parts`` directory: :class:`OutputLock` holds ``OUT.parts/lock`` (an
``flock`` on the file, which the kernel drops when the process dies, plus the owner's pid and host written in
it for the message). A second run refuses at once; a lock left by a process that is no longer running is taken
over with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finrisk_nlp.errors import FinriskError
from finrisk_nlp.provenance import atomic_path, write_json_atomic

logger = logging.getLogger("finrisk_nlp")
FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}  # output suffix -> format
MANIFEST = "manifest.json"
LOCK = "lock"
COMPACT_FANOUT = 16
_PART_NAME = re.compile(r"^part-(\d+)-(\d+)(?:-L(\d+))?\.parquet$")


class ScoringError(FinriskError):
    """The output location or its parts cannot be used for this run (e.g. written by another model)."""


def check_manifest(directory: Path, fingerprint: dict[str, Any], is_main: bool,
                   record: dict[str, Any] | None = None) -> None:
    """Create the manifest on first use (with ``record``: what the run measured, e.g. its precision's quality
    gate); refuse parts written with another model or other arguments."""
    path = directory / MANIFEST
    if is_main and not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"fingerprint": fingerprint, **(record or {}),
                                 "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        return
    if not path.exists():
        raise ScoringError(f"{path} is missing; the main process did not create it")
    found = json.loads(path.read_text()).get("fingerprint", {})
    changed = sorted(k for k in set(found) | set(fingerprint) if found.get(k) != fingerprint.get(k))
    if changed:
        details = "; ".join(f"{k}: parts have {found.get(k)!r}, this run has {fingerprint.get(k)!r}" for k in changed)
        raise ScoringError(
            f"{directory} holds parts of a different scoring run ({details}). Rerun with the same model and "
            f"arguments to finish it, or choose another --out (or delete {directory}) to start over"
        )


def part_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("part-*.parquet") if _PART_NAME.match(p.name))


def done_ids(directory: Path) -> set[str]:
    ids: set[str] = set()
    for path in part_files(directory):
        ids.update(pq.read_table(path, columns=["doc_id"]).column("doc_id").to_pylist())
    return ids


def write_table_atomic(table: pa.Table, path: Path, fmt: str = "parquet") -> None:
    """Write ``table`` as parquet, csv or jsonl to a temp file, fsync it and rename it to ``path``."""
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        else:
            with open(tmp, "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in table.to_pylist())


class PartWriter:
    """Writes one process's parts and compacts them level by level (see the module docstring).

    Args:
        directory: the ``OUT.parts`` directory.
        rank: the process number; parts of other processes are never touched.
        schema: the columns of every part.
        fanout: how many parts of one level are concatenated into one part of the next.
    """

    def __init__(self, directory: Path, rank: int, schema: pa.Schema, fanout: int = COMPACT_FANOUT) -> None:
        self.directory, self.rank, self.schema, self.fanout = directory, rank, schema, max(2, fanout)
        self.levels: dict[int, list[Path]] = {}
        self.next_seq = 0
        for path in part_files(directory):
            match = _PART_NAME.match(path.name)
            if match and int(match.group(1)) == rank:
                self.levels.setdefault(int(match.group(3) or 0), []).append(path)
                self.next_seq = max(self.next_seq, int(match.group(2)) + 1)

    def write(self, rows: list[dict[str, Any]]) -> Path:
        """Write ``rows`` as a new level-0 part, then compact; returns the new part's path."""
        path = self._write(pa.Table.from_pylist(rows, schema=self.schema), level=0)
        self._compact()
        return path

    def _write(self, table: pa.Table, level: int) -> Path:
        path = self.directory / f"part-{self.rank:03d}-{self.next_seq:06d}-L{level}.parquet"
        write_table_atomic(table, path)
        self.next_seq += 1
        self.levels.setdefault(level, []).append(path)
        return path

    def _compact(self) -> None:
        level = 0
        while len(self.levels.get(level, [])) >= self.fanout:
            sources = self.levels.pop(level)
            table = pa.concat_tables([pq.read_table(p, schema=self.schema) for p in sources])
            self._write(table, level + 1)  # first the compacted part, then the deletions: a kill loses nothing
            for path in sources:
                path.unlink(missing_ok=True)
            level += 1

    @property
    def num_files(self) -> int:
        return sum(len(paths) for paths in self.levels.values())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class OutputLock:
    """Exclusive use of one ``OUT.parts`` directory by one ``finrisk score`` run (see the module docstring).

    Use as a context manager on the main process, before anything else is written::

        with OutputLock(parts_dir(out)):
            ...

    Raises:
        ScoringError: on entry, when another run holds the lock; the message names its pid and host.
    """

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK
        self._fd: int | None = None

    def _owner(self, fd: int) -> dict[str, Any]:
        raw = os.pread(fd, 4096, 0)
        try:
            owner = json.loads(raw) if raw.strip() else {}
        except ValueError:
            owner = {"unparsed": raw[:200].decode("utf-8", "replace")}
        return owner if isinstance(owner, dict) else {}

    def _refuse(self, fd: int, owner: dict[str, Any]) -> None:
        os.close(fd)
        who = f"pid {owner.get('pid', '?')} on host {owner.get('host', '?')}, started {owner.get('started', '?')}"
        raise ScoringError(f"{self.path.parent} is in use by another finrisk score run ({who}). Wait for it to "
                           f"finish or choose another --out; if that process is gone, delete {self.path}")

    def __enter__(self) -> OutputLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._refuse(fd, self._owner(fd))
        host, pid = socket.gethostname(), os.getpid()
        owner = self._owner(fd)
        if owner:
            # The flock is free, so the recorded owner stopped without releasing the lock; its pid is checked too
            # where flock is not shared (some network file systems), unless it is this very process.
            recorded = owner.get("pid")
            if (owner.get("host") == host and isinstance(recorded, int) and 0 < recorded != pid
                    and _pid_alive(recorded)):
                self._refuse(fd, owner)
            logger.warning(f"taking over {self.path} from pid {owner.get('pid', '?')} on host "
                           f"{owner.get('host', '?')}, which stopped without releasing it")
        record = json.dumps({"pid": pid, "host": host, "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is None:
            return
        # The file stays (deleting a locked file lets two runs lock two different inodes); empty means free.
        os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing drops the flock
        self._fd = None
