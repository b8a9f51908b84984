"""A .docx zip bomb is refused from its zip directory before anything is inflated; ordinary Word files still read."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from test_scoring import minimal_docx

from finrisk_nlp.scoring.documents import iter_documents
from finrisk_nlp.scoring.extract import DOCX_MAX_XML_BYTES, DocumentError, extract_text_capped

pytest.importorskip("docx")


def _with_document_xml(docx_bytes: bytes, pad: int) -> bytes:
    """The same Word file with ``pad`` spaces inside word/document.xml (valid XML that deflates ~1000 times)."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "word/document.xml":
                head, _, tail = data.partition(b"<w:body>")
                data = head + b"<w:body>" + b" " * pad + tail
            target.writestr(item.filename, data)
    return out.getvalue()


def test_a_docx_inflating_past_the_cap_is_refused_before_parsing(tmp_path):
    bomb = _with_document_xml(minimal_docx("Applicant income verified.", ("debt", "high")), DOCX_MAX_XML_BYTES + 1)
    assert len(bomb) < 1_000_000  # a small file ...
    with pytest.raises(DocumentError, match="zip bomb"):  # ... refused from its directory, never inflated
        extract_text_capped("bomb.docx", bomb, max_chars=1000)
    (tmp_path / "bomb.docx").write_bytes(bomb)
    (tmp_path / "ok.docx").write_bytes(minimal_docx("Applicant income verified.", ("debt", "high")))
    docs = {d.source.rsplit("/", 1)[-1]: d for d in iter_documents([str(tmp_path)])}
    assert "zip bomb" in docs["bomb.docx"].error and docs["ok.docx"].text.startswith("Applicant income verified.")


def test_a_highly_compressed_docx_part_is_refused_below_the_size_cap():
    bomb = _with_document_xml(minimal_docx("x", ("a", "b")), 4 * 2**20)
    with pytest.raises(DocumentError, match=r"inflates [\d,]+ times"):
        extract_text_capped("bomb.docx", bomb)


def test_an_ordinary_docx_with_a_long_text_is_read():
    text = " ".join(json.dumps(i) for i in range(200_000))  # 1.3 MB of text: well within the limits
    assert extract_text_capped("long.docx", minimal_docx(text, ("a", "b")))[0].startswith("0 1 2 3")
