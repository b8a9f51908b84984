"""Find and read the documents that ``finrisk score MODEL_REF INPUT... --out scores.parquet`` classifies.

An INPUT is a directory tree, a glob, a ``.zip``, a ``.tar``/``.tar.gz``/``.tgz``, or a CSV/JSONL/Parquet table
with a text column. Documents are read by :mod:`finrisk_nlp.scoring.extract`. Archives found inside a directory
are read too; a symlink to a directory is followed when its target stays inside the input directory and is not
one of the directories above it (a loop), and listed with the reason otherwise.

Archives are read in memory and never extracted: a member named with ``..`` or an absolute path is reported,
not read. Only regular files are opened (a FIFO or device in a tree would block or never end). Every document
that cannot be used (unsafe, unreadable, corrupt, empty, binary, undecodable, oversized, unsupported, not a
regular file) becomes a :class:`Document` with ``error`` set, so one bad file never stops a run.

File names that are not valid UTF-8 (e.g. Latin-1 bytes on a Linux disk or in a tar) appear in ``source`` with
each undecodable byte written ``%XX``, so ids are stable and can be stored in Parquet, CSV and JSON.

Enumeration order is deterministic, so document ``i`` is the same on every process and every rerun; that is
what lets several processes split the work by ``index % num_processes`` without talking to each other.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from finrisk_nlp.data.windows import fit_text
from finrisk_nlp.errors import DataError
from finrisk_nlp.scoring.extract import (
    DOCUMENT_SUFFIXES,
    TEXT_SUFFIXES,
    DocumentError,
    extract_text,
    extract_text_capped,
    html_to_text,
)

__all__ = ["DOCUMENT_SUFFIXES", "TEXT_SUFFIXES", "Document", "DocumentError", "ReadLimits", "check_table_columns",
           "extract_text",
           "fit_text", "html_to_text", "iter_documents", "printable_name", "unsafe_member_reason"]

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
TABLE_SUFFIXES = {".csv", ".jsonl", ".json", ".parquet"}  # as read by finrisk_nlp.data.tables.load_table


@dataclass(frozen=True)
class ReadLimits:
    """Safety limits; each names the ``finrisk score`` flag that raises it."""

    max_doc_bytes: int = 20 * 2**20  # --max-doc-bytes; also the most characters taken from one .pdf or .docx
    max_archive_bytes: int = 4 * 2**30  # --max-archive-bytes: total uncompressed size of one archive
    max_archive_members: int = 200_000  # --max-archive-members


@dataclass
class Document:
    """One input document: its text, or the reason it could not be used.

    Attributes:
        index: position in the deterministic enumeration of all inputs.
        source: where it came from, e.g. ``docs.zip!/2024/a.txt`` or ``loans.csv!/17`` (row 17).
        doc_id: ``source#<first 16 hex digits of the content's sha256>``; just ``source`` when nothing was read.
        text: the extracted text (None when ``error`` is set).
        error: why the document was not scored.
        truncated: the text was cut (see :func:`fit_text` and :attr:`ReadLimits.max_doc_bytes`).
        fields: a table row's structured fields (those of ``field_columns`` the table has); None for a document
            read from a file (a bare document).
        key: a table row's value of ``id_column`` (``finrisk score --id-column``), as text, so that scores join
            back to the rows they came from; None for a document read from a file or a row without one.
    """

    index: int
    source: str
    doc_id: str
    text: str | None = None
    error: str | None = None
    truncated: bool = False
    fields: dict[str, Any] | None = None
    key: str | None = None


@dataclass
class _Entry:
    """A document found but not yet read. ``read`` must be called before the next entry is requested."""

    source: str
    size: int | None = None
    read: Callable[[], bytes] | None = None
    text: str | None = None  # rows of a table come with their text
    error: str | None = None
    fields: dict[str, Any] | None = None  # and with their structured fields
    key: str | None = None  # and with their id (--id-column)


# ----------------------------------------------------------------------------------------------
# Names, regular files, text budget


def printable_name(name: str) -> str:
    """``name`` as valid UTF-8: each byte that Python could not decode (a lone surrogate from ``os.fsdecode`` or
    tarfile) becomes ``%XX``; the result is the same on every run, so it can be part of a stable id."""
    if not _SURROGATE.search(name):
        return name
    return _SURROGATE.sub(lambda m: f"%{ord(m.group()) - 0xDC00:02X}" if "\udc80" <= m.group() <= "\udcff"
                          else "\ufffd", name)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device", stat.S_ISDIR: "a directory"}
    return next((name for test, name in kinds.items() if test(mode)), "not a regular file")


def _unreadable(exc: BaseException) -> str:
    """The reason for a document whose bytes or text could not be had; codec errors keep their module's name
    (``zlib.error`` says more than ``error``)."""
    kind = type(exc)
    name = kind.__name__ if kind.__name__[0].isupper() else f"{kind.__module__.lstrip('_')}.{kind.__name__}"
    return f"unreadable ({name}: {exc})"


def _not_regular(mode: int) -> str:
    return f"not a regular file ({_kind(mode)}); not read"


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; never blocks on a FIFO that replaced the file since it was listed."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DocumentError(_not_regular(mode))
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


# ----------------------------------------------------------------------------------------------
# Enumeration: directories, globs, archives, tables


def unsafe_member_reason(name: str) -> str | None:
    """Why an archive member name could escape an extraction directory, or None if it is safe."""
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return f"unsafe archive member {name!r}: absolute path (not read)"
    if ".." in PurePosixPath(posix).parts:
        return f"unsafe archive member {name!r}: '..' path traversal (not read)"
    return None


def _limit_error(archive: str, what: str, value: int, limit: int, flag: str) -> str:
    return f"archive {archive} exceeds the {what} limit ({value:,} > {limit:,}); raise it with {flag} if you trust it"


def _zip_entries(path: Path, label: str, limits: ReadLimits) -> Iterator[_Entry]:
    fileobj = None
    try:
        fileobj = _open_regular(path)
        zf = zipfile.ZipFile(fileobj)
    # Damaged central directories fail in zipfile with several exception types; all mean the same here.
    except Exception as exc:  # noqa: BLE001
        if fileobj is not None:
            fileobj.close()
        yield _Entry(source=label, error=f"unreadable zip archive ({type(exc).__name__}: {exc})")
        return
    with fileobj, zf:
        members = [info for info in zf.infolist() if not info.is_dir()]
        total = sum(info.file_size for info in members)
        if len(members) > limits.max_archive_members:
            yield _Entry(source=label, error=_limit_error(label, "member count", len(members),
                                                          limits.max_archive_members, "--max-archive-members"))
            return
        if total > limits.max_archive_bytes:
            yield _Entry(source=label, error=_limit_error(label, "uncompressed size", total,
                                                          limits.max_archive_bytes, "--max-archive-bytes"))
            return
        for info in members:
            source = f"{label}!/{printable_name(info.filename)}"
            reason = unsafe_member_reason(info.filename)
            if reason:
                yield _Entry(source=source, error=reason)
                continue

            def read(info: zipfile.ZipInfo = info) -> bytes:
                # Read at most one byte past the limit: a member's declared size can lie (zip bombs).
                with zf.open(info) as f:
                    return f.read(limits.max_doc_bytes + 1)

            yield _Entry(source=source, size=info.file_size, read=read)


def _tar_entries(path: Path, label: str, limits: ReadLimits) -> Iterator[_Entry]:
    fileobj = None
    try:
        fileobj = _open_regular(path)
        tf = tarfile.open(fileobj=fileobj, mode="r|*")  # streaming: members are read in order, never extracted
    except Exception as exc:  # noqa: BLE001
        if fileobj is not None:
            fileobj.close()
        yield _Entry(source=label, error=f"unreadable tar archive ({type(exc).__name__}: {exc})")
        return
    count, total = 0, 0
    with fileobj, tf:
        try:
            for member in tf:
                if member.isdir():
                    continue
                count += 1
                total += max(member.size, 0)
                if count > limits.max_archive_members or total > limits.max_archive_bytes:
                    what, value, limit, flag = (
                        ("member count", count, limits.max_archive_members, "--max-archive-members")
                        if count > limits.max_archive_members
                        else ("uncompressed size", total, limits.max_archive_bytes, "--max-archive-bytes"))
                    yield _Entry(source=label, error=_limit_error(label, what, value, limit, flag)
                                 + "; the remaining members were not read")
                    return
                name = printable_name(member.name)
                source = f"{label}!/{name.removeprefix('./')}"
                reason = unsafe_member_reason(name)
                if reason is None and not member.isfile():
                    reason = f"archive member {name!r} is a link or special file (not read)"
                if reason:
                    yield _Entry(source=source, error=reason)
                    continue

                def read(member: tarfile.TarInfo = member) -> bytes:
                    f = tf.extractfile(member)
                    return f.read(limits.max_doc_bytes + 1) if f else b""

                yield _Entry(source=source, size=member.size, read=read)
        # A corrupt compressed stream fails in gzip, zlib, bz2 or lzma with their own exception types.
        except Exception as exc:  # noqa: BLE001
            yield _Entry(source=label, error=f"corrupt tar archive after {count} members ({type(exc).__name__}: "
                                             f"{exc}); the remaining members were not read")


def check_table_columns(path: str | Path, columns: list[str], text_column: str | None,
                        id_column: str | None = None) -> None:
    """Raise :class:`DataError` for a table input without the text column, or without the ``--id-column``."""
    if not text_column or text_column not in columns:
        raise DataError(f"{path}: no text column {text_column!r}; columns are {columns}. Pass --text-column NAME")
    if id_column and id_column not in columns:
        raise DataError(f"{path}: no id column {id_column!r} (--id-column); columns are {columns}. Pass the column "
                        "that identifies each row, or leave out --id-column")


def _table_entries(path: Path, label: str, text_column: str | None,
                   field_columns: tuple[str, ...] = (), id_column: str | None = None) -> Iterator[_Entry]:
    from finrisk_nlp.data.tables import load_table  # imports datasets: only when a table is given

    table = load_table(path)
    check_table_columns(path, table.column_names, text_column, id_column)
    present = [c for c in field_columns if c in table.column_names]
    values = {c: table[c] for c in present}
    keys = [None if k is None else str(k) for k in table[id_column]] if id_column else [None] * len(table)
    for i, value in enumerate(table[text_column]):
        source = f"{label}!/{i}"
        fields = {c: values[c][i] for c in present} if field_columns else None
        if not isinstance(value, str) or not value.strip():
            yield _Entry(source=source, error=f"empty or missing {text_column!r} value", key=keys[i])
        else:
            yield _Entry(source=source, text=value.strip(), fields=fields, key=keys[i])


def _file_entry(path: Path, label: str, size: int, limits: ReadLimits) -> _Entry:
    def read() -> bytes:
        with _open_regular(path) as f:
            return f.read(limits.max_doc_bytes + 1)

    return _Entry(source=label, size=size, read=read)


def _is_tar(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def _dir_entries(directory: Path, label: str, limits: ReadLimits, root: str, above: frozenset[str]
                 ) -> Iterator[_Entry]:
    """Files first, then subdirectories, each sorted by name (the order ``os.walk`` gave before symlinks were
    followed). ``root`` is the real path of the input directory, ``above`` the real paths on the way down."""
    try:
        with os.scandir(directory) as scan:
            children = sorted(scan, key=lambda child: child.name)
    except OSError as exc:
        yield _Entry(source=label, error=f"unreadable directory ({exc.strerror or exc})")
        return
    subdirs = []
    for child in children:
        try:
            is_dir = child.is_dir()  # follows symlinks
        except OSError:
            is_dir = False
        if is_dir:
            subdirs.append(child)
        else:
            yield from _path_entries(Path(child.path), f"{label}/{printable_name(child.name)}", limits, None,
                                     top=False)
    for child in subdirs:
        child_label = f"{label}/{printable_name(child.name)}"
        real = os.path.realpath(child.path)
        if real in above:
            yield _Entry(source=child_label, error=f"symlink loop: {printable_name(real)} is a directory above "
                                                   "it (not followed)")
        elif os.path.commonpath([real, root]) != root:
            yield _Entry(source=child_label, error=f"symlink to {printable_name(real)}, outside the input "
                                                   "directory (not followed); pass that directory as an input")
        else:
            yield from _dir_entries(Path(child.path), child_label, limits, root, above | {real})


def _path_entries(path: Path, label: str, limits: ReadLimits, text_column: str | None, top: bool,
                  field_columns: tuple[str, ...] = (), id_column: str | None = None) -> Iterator[_Entry]:
    try:
        info = path.stat()
    except OSError as exc:
        yield _Entry(source=label, error=f"unreadable ({exc.strerror or exc})")
        return
    lower = path.name.lower()
    if stat.S_ISDIR(info.st_mode):
        real = os.path.realpath(path)
        yield from _dir_entries(path, label, limits, real, frozenset({real}))
    elif not stat.S_ISREG(info.st_mode):
        yield _Entry(source=label, error=_not_regular(info.st_mode))
    elif lower.endswith(".zip"):
        yield from _zip_entries(path, label, limits)
    elif _is_tar(lower):
        yield from _tar_entries(path, label, limits)
    elif top and path.suffix.lower() in TABLE_SUFFIXES:
        yield from _table_entries(path, label, text_column, field_columns, id_column)
    else:
        yield _file_entry(path, label, info.st_size, limits)


def expand_inputs(inputs: list[str]) -> list[str]:
    """Expand globs (sorted, ``**`` allowed) and check that every input exists.

    Raises:
        DataError: naming the input that does not exist or the glob that matches nothing.
    """
    expanded: list[str] = []
    for item in inputs:
        if glob.has_magic(item):
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise DataError(f"input glob {item!r} matches no file; check the pattern (quote it in the shell)")
            expanded.extend(matches)
        elif not os.path.exists(item):
            raise DataError(f"input {item!r} does not exist; pass a directory, glob, archive or table")
        else:
            expanded.append(item)
    unique = list(dict.fromkeys(os.path.normpath(p) for p in expanded))
    return unique


def content_id(source: str, data: bytes) -> str:
    return f"{source}#{hashlib.sha256(data).hexdigest()[:16]}"


def _text_document(index: int, source: str, doc_id: str, text: str, truncated: bool,
                   max_chars: int | None, fields: dict[str, Any] | None = None, key: str | None = None) -> Document:
    text, cut = fit_text(text, max_chars)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (e.g. from an email body) would fail in the tokenizer
        text = text.encode("utf-8", "replace").decode("utf-8")
    return Document(index, source, doc_id, text=text, truncated=truncated or cut, fields=fields, key=key)


def _load(entry: _Entry, index: int, limits: ReadLimits, max_chars: int | None) -> Document:
    if entry.error:
        return Document(index, entry.source, entry.source, error=entry.error, key=entry.key)
    if entry.text is not None:
        content = entry.text.encode("utf-8", "surrogatepass")
        if entry.fields is not None:  # a row whose fields changed is a new document for a rerun
            content += b"\0" + json.dumps(entry.fields, sort_keys=True, default=str).encode("utf-8", "replace")
        if entry.key is not None:  # and so is one whose id changed: its row must carry the new id
            content += b"\0id\0" + entry.key.encode("utf-8", "surrogatepass")
        doc_id = content_id(entry.source, content)
        return _text_document(index, entry.source, doc_id, entry.text, False, max_chars, entry.fields, entry.key)
    oversized = f"oversized: more than --max-doc-bytes={limits.max_doc_bytes:,} bytes"
    if entry.size is not None and entry.size > limits.max_doc_bytes:
        return Document(index, entry.source, entry.source, error=oversized)
    assert entry.read is not None
    try:
        data = entry.read()
    except DocumentError as exc:
        return Document(index, entry.source, entry.source, error=str(exc))
    # A corrupt member fails in zlib, lzma, bz2, zipfile or tarfile with their own exception types.
    except Exception as exc:  # noqa: BLE001
        return Document(index, entry.source, entry.source, error=_unreadable(exc))
    if len(data) > limits.max_doc_bytes:
        return Document(index, entry.source, entry.source, error=oversized)
    doc_id = content_id(entry.source, data)
    try:
        text, truncated = extract_text_capped(entry.source, data, limits.max_doc_bytes)
    except DocumentError as exc:
        return Document(index, entry.source, doc_id, error=str(exc))
    except Exception as exc:  # noqa: BLE001 -- an extractor's bug on one hostile file must not stop the run
        return Document(index, entry.source, doc_id, error=_unreadable(exc))
    del data  # the bytes of a large document are not needed while its text is cut
    return _text_document(index, entry.source, doc_id, text, truncated, max_chars)


def iter_documents(
    inputs: list[str],
    limits: ReadLimits | None = None,
    *,
    text_column: str | None = None,
    rank: int = 0,
    num_shards: int = 1,
    max_chars: int | None = None,
    field_columns: tuple[str, ...] = (),
    id_column: str | None = None,
) -> Iterator[Document]:
    """Yield the documents of shard ``rank`` of ``num_shards`` (those whose index % num_shards == rank).

    Entries of other shards are enumerated but never read, so each process reads only its own documents
    (tar archives are decompressed by every process, as they can only be read in order).

    Args:
        inputs: directories, globs, archives or tables (see the module docstring).
        limits: size and count limits; defaults to :class:`ReadLimits`.
        text_column: the column holding the text in CSV/JSONL/Parquet inputs.
        rank: this shard's number.
        num_shards: how many shards the inputs are split into.
        max_chars: cut each text to this many characters (see :func:`fit_text`); None keeps it whole.
        field_columns: structured fields a model reads; table rows carry those their table has.
        id_column: a column every table input must have; each row's value becomes its document's ``key``.

    Raises:
        DataError: for an input that does not exist or a table without the text column (or the id column).
    """
    limits = limits or ReadLimits()
    index = 0
    for item in expand_inputs(inputs):
        label = printable_name(Path(item).as_posix())
        for entry in _path_entries(Path(item), label, limits, text_column, top=True, field_columns=field_columns,
                                   id_column=id_column):
            if index % num_shards == rank:
                yield _load(entry, index, limits, max_chars)
            index += 1
