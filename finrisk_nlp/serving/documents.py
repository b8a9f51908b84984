"""Find and read the documents that ``finrisk score MODEL_REF INPUT... --out scores.parquet`` classifies.

An INPUT is a directory tree, a glob, a ``.zip``, a ``.tar``/``.tar.gz``/``.tgz``, or a CSV/JSONL/Parquet table
with a text column. Documents are ``.txt``, ``.md``, ``.eml`` (the body), ``.html``/``.htm`` (visible text) and
``.pdf`` (the text layer) and ``.docx`` (paragraphs and tables); those two need ``pip install finrisk_nlp[docs]``.
Archives found inside a directory are read too.

Archives are read in memory and never extracted: a member named with ``..`` or an absolute path is reported,
not read. Every document that cannot be used (unsafe, unreadable, empty, binary, undecodable, oversized,
unsupported) becomes a :class:`Document` with ``error`` set, so one bad file never stops a run.

Enumeration order is deterministic, so document ``i`` is the same on every process and every rerun; that is
what lets several processes split the work by ``index % num_processes`` without talking to each other.
"""

from __future__ import annotations

import email
import email.policy
import glob
import hashlib
import io
import os
import re
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

from finrisk_nlp.errors import DataError

TEXT_SUFFIXES = {".txt", ".md"}
DOCUMENT_SUFFIXES = TEXT_SUFFIXES | {".eml", ".html", ".htm", ".pdf", ".docx"}
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
TABLE_SUFFIXES = {".csv", ".jsonl", ".json", ".parquet"}  # as read by finrisk_nlp.data.tables.load_table
BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class ReadLimits:
    """Safety limits; each names the ``finrisk score`` flag that raises it."""

    max_doc_bytes: int = 20 * 2**20  # --max-doc-bytes
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
    """

    index: int
    source: str
    doc_id: str
    text: str | None = None
    error: str | None = None


class DocumentError(Exception):
    """A single document cannot be used; the message is the reason written to the errors file."""


@dataclass
class _Entry:
    """A document found but not yet read. ``read`` must be called before the next entry is requested."""

    source: str
    size: int | None = None
    read: Callable[[], bytes] | None = None
    text: str | None = None  # rows of a table come with their text
    error: str | None = None


# ----------------------------------------------------------------------------------------------
# Text extraction


class _HTMLText(HTMLParser):
    """Collects the visible text of an HTML page (script and style contents are dropped)."""

    SKIP = {"script", "style", "head", "noscript", "template"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self._skip_depth += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return _normalise_space("".join(parser.parts))


def _normalise_space(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _decode(data: bytes) -> str:
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise DocumentError("binary content (NUL bytes) in a text document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"undecodable: not valid UTF-8 at byte {exc.start}; re-encode the file as UTF-8") from None


def _email_body(data: bytes) -> str:
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise DocumentError("binary content (NUL bytes) in an email")
    msg = email.message_from_bytes(data, policy=email.policy.default)
    body = msg.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
    if body is None:
        raise DocumentError("email has no text/plain or text/html body")
    try:
        content = body.get_content()
    except (LookupError, UnicodeError, ValueError) as exc:
        raise DocumentError(f"undecodable email body ({exc})") from None
    return html_to_text(content) if body.get_content_type() == "text/html" else content


def _pdf_text(data: bytes) -> str:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        raise DocumentError("PDF support needs pypdf: pip install 'finrisk_nlp[docs]'") from None
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("not a PDF (no %PDF- header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise DocumentError("encrypted PDF; decrypt it first")
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise DocumentError(f"unreadable PDF ({type(exc).__name__}: {exc})") from None


def _docx_text(data: bytes) -> str:
    try:
        import docx
    except ImportError:
        raise DocumentError("Word .docx support needs python-docx: pip install 'finrisk_nlp[docs]'") from None
    if not data.startswith(b"PK"):
        raise DocumentError("not a .docx (no zip container; an old binary .doc? save it as .docx)")
    try:
        document = docx.Document(io.BytesIO(data))
        lines = [paragraph.text for paragraph in document.paragraphs]
        lines += [" | ".join(cell.text for cell in row.cells) for table in document.tables for row in table.rows]
    # A damaged package fails in zipfile, lxml or python-docx with many exception types; all mean the same here.
    except Exception as exc:  # noqa: BLE001
        raise DocumentError(f"unreadable .docx ({type(exc).__name__}: {exc})") from None
    return "\n".join(lines)


def extract_text(name: str, data: bytes) -> str:
    """The text of one document, chosen by the suffix of ``name``.

    Raises:
        DocumentError: with the reason when the document is unsupported, binary, undecodable or empty.
    """
    suffix = PurePosixPath(name.lower()).suffix
    if suffix not in DOCUMENT_SUFFIXES:
        raise DocumentError(f"unsupported document type {suffix or '(no suffix)'!r}; "
                            f"supported: {', '.join(sorted(DOCUMENT_SUFFIXES))}")
    if not data.strip():
        raise DocumentError("empty document")
    if suffix in TEXT_SUFFIXES:
        text = _decode(data)
    elif suffix == ".eml":
        text = _email_body(data)
    elif suffix == ".pdf":
        text = _pdf_text(data)
    elif suffix == ".docx":
        text = _docx_text(data)
    else:
        text = html_to_text(_decode(data))
    text = text.strip()
    if not text:
        raise DocumentError("no text" + (" layer (scanned PDF? run OCR first)" if suffix == ".pdf" else " found"))
    return text


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
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        yield _Entry(source=label, error=f"unreadable zip archive ({exc})")
        return
    with zf:
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
            source = f"{label}!/{info.filename}"
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
    try:
        tf = tarfile.open(path, mode="r|*")  # streaming: members are read in order, never extracted
    except (tarfile.TarError, OSError) as exc:
        yield _Entry(source=label, error=f"unreadable tar archive ({exc})")
        return
    count, total = 0, 0
    with tf:
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
                source = f"{label}!/{member.name.removeprefix('./')}"
                reason = unsafe_member_reason(member.name)
                if reason is None and not member.isfile():
                    reason = f"archive member {member.name!r} is a link or special file (not read)"
                if reason:
                    yield _Entry(source=source, error=reason)
                    continue

                def read(member: tarfile.TarInfo = member) -> bytes:
                    f = tf.extractfile(member)
                    return f.read(limits.max_doc_bytes + 1) if f else b""

                yield _Entry(source=source, size=member.size, read=read)
        except (tarfile.TarError, OSError, EOFError) as exc:
            yield _Entry(source=label, error=f"corrupt tar archive after {count} members ({exc})")


def _table_entries(path: Path, label: str, text_column: str | None) -> Iterator[_Entry]:
    from finrisk_nlp.data.tables import load_table  # imports datasets: only when a table is given

    table = load_table(path)
    if not text_column or text_column not in table.column_names:
        raise DataError(f"{path}: no text column {text_column!r}; columns are {table.column_names}. "
                        "Pass --text-column NAME")
    for i, value in enumerate(table[text_column]):
        source = f"{label}!/{i}"
        if not isinstance(value, str) or not value.strip():
            yield _Entry(source=source, error=f"empty or missing {text_column!r} value")
        else:
            yield _Entry(source=source, text=value.strip())


def _file_entry(path: Path, label: str, limits: ReadLimits) -> _Entry:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return _Entry(source=label, error=f"unreadable ({exc.strerror or exc})")

    def read() -> bytes:
        with open(path, "rb") as f:
            return f.read(limits.max_doc_bytes + 1)

    return _Entry(source=label, size=size, read=read)


def _is_tar(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def _path_entries(path: Path, label: str, limits: ReadLimits, text_column: str | None, top: bool) -> Iterator[_Entry]:
    lower = path.name.lower()
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                child = Path(root) / name
                yield from _path_entries(child, f"{label}/{child.relative_to(path).as_posix()}", limits,
                                         text_column, top=False)
    elif lower.endswith(".zip"):
        yield from _zip_entries(path, label, limits)
    elif _is_tar(lower):
        yield from _tar_entries(path, label, limits)
    elif top and path.suffix.lower() in TABLE_SUFFIXES:
        yield from _table_entries(path, label, text_column)
    else:
        yield _file_entry(path, label, limits)


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


def _load(entry: _Entry, index: int, limits: ReadLimits) -> Document:
    if entry.error:
        return Document(index, entry.source, entry.source, error=entry.error)
    if entry.text is not None:
        return Document(index, entry.source, content_id(entry.source, entry.text.encode()), text=entry.text)
    oversized = f"oversized: more than --max-doc-bytes={limits.max_doc_bytes:,} bytes"
    if entry.size is not None and entry.size > limits.max_doc_bytes:
        return Document(index, entry.source, entry.source, error=oversized)
    assert entry.read is not None
    try:
        data = entry.read()
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError, RuntimeError) as exc:
        return Document(index, entry.source, entry.source, error=f"unreadable ({type(exc).__name__}: {exc})")
    if len(data) > limits.max_doc_bytes:
        return Document(index, entry.source, entry.source, error=oversized)
    doc_id = content_id(entry.source, data)
    try:
        return Document(index, entry.source, doc_id, text=extract_text(entry.source, data))
    except DocumentError as exc:
        return Document(index, entry.source, doc_id, error=str(exc))


def iter_documents(
    inputs: list[str],
    limits: ReadLimits | None = None,
    *,
    text_column: str | None = None,
    rank: int = 0,
    num_shards: int = 1,
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

    Raises:
        DataError: for an input that does not exist or a table without the text column.
    """
    limits = limits or ReadLimits()
    index = 0
    for item in expand_inputs(inputs):
        for entry in _path_entries(Path(item), Path(item).as_posix(), limits, text_column, top=True):
            if index % num_shards == rank:
                yield _load(entry, index, limits)
            index += 1
