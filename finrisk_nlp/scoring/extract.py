"""Text of one document for ``finrisk score MODEL_REF INPUT... --out scores.parquet``.

Documents are ``.txt``, ``.md``, ``.eml`` (the body), ``.html``/``.htm`` (visible text), ``.pdf`` (the text layer)
and ``.docx`` (paragraphs and tables); the last two need ``pip install finrisk_nlp[docs]``. Every reason a
document cannot be used is a :class:`DocumentError` whose message goes to the errors file. PDF and Word parsers
fail on damaged files with exceptions of any type (pypdf raises ``AttributeError`` on some fuzzed files), so
whatever they raise becomes a :class:`DocumentError` for that one document.

A small ``.pdf`` or ``.docx`` can hold far more text than its size suggests (compressed streams), so their
extraction stops once ``max_chars`` characters are collected and says that it did. A ``.docx`` is parsed whole
(python-docx builds the XML tree in memory, about 12 bytes per XML byte), so its zip directory is checked before
anything is inflated: more than :data:`DOCX_MAX_XML_BYTES` uncompressed, or a large member compressed more than
:data:`DOCX_MAX_RATIO` times (a zip bomb: 400 MB of XML in a 1.4 MB file took 4.6 GB), is refused.
"""

from __future__ import annotations

import email
import email.policy
import io
import itertools
import zipfile
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import PurePosixPath

TEXT_SUFFIXES = {".txt", ".md"}
DOCUMENT_SUFFIXES = TEXT_SUFFIXES | {".eml", ".html", ".htm", ".pdf", ".docx"}
BINARY_SNIFF_BYTES = 8192
DOCX_MAX_XML_BYTES = 64 * 2**20  # uncompressed package; a 2,000-page report holds about 20 MB of XML
DOCX_MAX_RATIO = 200  # uncompressed / compressed size of one member; Word's XML deflates 5-20 times, bombs 1000+
DOCX_RATIO_FROM_BYTES = 2**20  # members smaller than this may have any ratio (tiny repetitive parts)


class DocumentError(Exception):
    """A single document cannot be used; the message is the reason written to the errors file."""


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
    """The visible text of an HTML page, one line per block, whitespace collapsed."""
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


def _collect(pieces: Iterable[str], max_chars: int | None) -> tuple[str, bool]:
    """Join text pieces (lazily, so pages past the cap are never parsed) until ``max_chars`` are collected."""
    kept: list[str] = []
    total = 0
    for piece in pieces:
        kept.append(piece)
        total += len(piece) + 1
        if max_chars is not None and total > max_chars:
            return "\n".join(kept)[:max_chars], True
    return "\n".join(kept), False


def _pdf_text(data: bytes, max_chars: int | None) -> tuple[str, bool]:
    try:
        from pypdf import PdfReader
    except ImportError:
        raise DocumentError("PDF support needs pypdf: pip install 'finrisk_nlp[docs]'") from None
    if not data.lstrip()[:5] == b"%PDF-":
        raise DocumentError("not a PDF (no %PDF- header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
        if not encrypted:
            return _collect((page.extract_text() or "" for page in reader.pages), max_chars)
    # A damaged or fuzzed file fails anywhere in pypdf with any exception type; all mean the same here.
    except Exception as exc:  # noqa: BLE001
        raise DocumentError(f"unreadable PDF ({type(exc).__name__}: {exc})") from None
    raise DocumentError("encrypted PDF; decrypt it first")


def check_docx_inflation(data: bytes) -> None:
    """Refuse a ``.docx`` whose members would inflate past :data:`DOCX_MAX_XML_BYTES` or more than
    :data:`DOCX_MAX_RATIO` times, from the sizes in its zip directory (nothing is decompressed). zipfile never
    inflates a member past the size its directory declares, so a directory that lies cannot get around this."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(f"unreadable .docx (BadZipFile: {exc})") from None
    total = sum(member.file_size for member in members)
    if total > DOCX_MAX_XML_BYTES:
        raise DocumentError(f"a .docx whose parts inflate to {total:,} bytes (from {len(data):,}); at most "
                            f"{DOCX_MAX_XML_BYTES:,} are read: a zip bomb, or save the document as .txt or .pdf")
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size >= DOCX_RATIO_FROM_BYTES and ratio > DOCX_MAX_RATIO:
            raise DocumentError(f"a .docx part {member.filename!r} inflates {ratio:,.0f} times ({member.file_size:,} "
                                f"bytes); at most {DOCX_MAX_RATIO} times is read: a zip bomb, or save the document "
                                "as .txt or .pdf")


def _docx_text(data: bytes, max_chars: int | None) -> tuple[str, bool]:
    try:
        import docx
    except ImportError:
        raise DocumentError("Word .docx support needs python-docx: pip install 'finrisk_nlp[docs]'") from None
    if not data.startswith(b"PK"):
        raise DocumentError("not a .docx (no zip container; an old binary .doc? save it as .docx)")
    check_docx_inflation(data)
    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = (paragraph.text for paragraph in document.paragraphs)
        rows = (" | ".join(cell.text for cell in row.cells) for table in document.tables for row in table.rows)
        return _collect(itertools.chain(paragraphs, rows), max_chars)
    # A damaged package fails in zipfile, lxml or python-docx with many exception types; all mean the same here.
    except Exception as exc:  # noqa: BLE001
        raise DocumentError(f"unreadable .docx ({type(exc).__name__}: {exc})") from None


def extract_text_capped(name: str, data: bytes, max_chars: int | None = None) -> tuple[str, bool]:
    """The text of one document, chosen by the suffix of ``name``, and whether extraction stopped early.

    Args:
        name: the document's name (only its suffix matters).
        data: the document's bytes.
        max_chars: the most characters taken from a ``.pdf`` or ``.docx`` (None: no cap); plain text, email
            and HTML are already bounded by the byte size of the document.

    Raises:
        DocumentError: with the reason when the document is unsupported, binary, undecodable, damaged or empty.
    """
    suffix = PurePosixPath(name.lower()).suffix
    if suffix not in DOCUMENT_SUFFIXES:
        raise DocumentError(f"unsupported document type {suffix or '(no suffix)'!r}; "
                            f"supported: {', '.join(sorted(DOCUMENT_SUFFIXES))}")
    if not data.strip():
        raise DocumentError("empty document")
    truncated = False
    if suffix in TEXT_SUFFIXES:
        text = _decode(data)
    elif suffix == ".eml":
        text = _email_body(data)
    elif suffix == ".pdf":
        text, truncated = _pdf_text(data, max_chars)
    elif suffix == ".docx":
        text, truncated = _docx_text(data, max_chars)
    else:
        text = html_to_text(_decode(data))
    text = text.strip()
    if not text:
        raise DocumentError("no text" + (" layer (scanned PDF? run OCR first)" if suffix == ".pdf" else " found"))
    return text, truncated


def extract_text(name: str, data: bytes) -> str:
    """The whole text of one document (see :func:`extract_text_capped`).

    Raises:
        DocumentError: with the reason when the document is unsupported, binary, undecodable, damaged or empty.
    """
    return extract_text_capped(name, data)[0]
