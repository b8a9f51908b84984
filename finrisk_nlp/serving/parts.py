"""Part files of ``finrisk score MODEL_REF INPUT... --out scores.parquet``: manifest, atomic writes, compaction.

Each process writes its scored documents to ``OUT.parts/part-<rank>-<seq>-L<level>.parquet``, by default one
part per batch, so a kill loses at most the batch in flight. Every file is written to a temp name and renamed,
so a part is complete or absent. To keep the number of files small on large archives, whenever a process has
:data:`COMPACT_FANOUT` parts of one level it concatenates them into one part of the next level and deletes them
(a log-structured merge): a process holds at most ``(COMPACT_FANOUT - 1)`` parts per level, e.g. about 60 files
for a million documents at batch size 64. A kill between writing the compacted part and deleting its sources
leaves some documents in two parts with identical rows; resuming and merging count every document once.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from finrisk_nlp.errors import FinriskError
from finrisk_nlp.provenance import write_json_atomic

FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}  # output suffix -> format

MANIFEST = "manifest.json"
COMPACT_FANOUT = 16
_PART_NAME = re.compile(r"^part-(\d+)-(\d+)(?:-L(\d+))?\.parquet$")


class ScoringError(FinriskError):
    """The output location or its parts cannot be used for this run (e.g. written by another model)."""


def check_manifest(directory: Path, fingerprint: dict[str, Any], is_main: bool) -> None:
    """Create the manifest on first use; refuse parts written with another model or other arguments."""
    path = directory / MANIFEST
    if is_main and not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"fingerprint": fingerprint, "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif fmt == "csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)
        else:
            with open(tmp, "w") as f:
                f.writelines(json.dumps(row) + "\n" for row in table.to_pylist())
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
