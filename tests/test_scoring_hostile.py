"""Batch scoring against hostile inputs: each attack is a fixture; a run with bad documents finishes with exit 0
and lists every one with its reason; a run that cannot be made safe refuses before it writes anything."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from test_scoring import minimal_docx, minimal_pdf

from finrisk_nlp.cli.score import main as score_main
from finrisk_nlp.scoring.documents import ReadLimits, fit_text, iter_documents, printable_name
from finrisk_nlp.scoring.engine import parts_dir
from finrisk_nlp.scoring.extract import extract_text_capped
from finrisk_nlp.scoring.parts import OutputLock, ScoringError

NARRATIVE = "Borrower missed payments after losing his job and has high debt. "
GOOD = NARRATIVE.encode()


def score(run: Path, inputs: list[str], out: Path, *extra: str) -> int:
    return score_main([str(run), *inputs, "--out", str(out), "--cpu", "--batch-size", "4", *extra])


def errors_of(out: Path) -> dict[str, str]:
    lines = out.with_name(f"{out.stem}.errors.jsonl").read_text().splitlines()
    return {r["source"]: r["reason"] for r in map(json.loads, lines)}


def sources_of(out: Path) -> list[str]:
    return pq.read_table(out).column("source").to_pylist()


@pytest.fixture()
def no_hang():
    """Fail a test that blocks (e.g. on a FIFO) instead of hanging the suite."""
    def on_alarm(signum, frame):
        raise TimeoutError("blocked for 60 s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# ----------------------------------------------------------------------------------------------
# Attacks


def _corrupt_member_data(data: bytearray, info: zipfile.ZipInfo) -> None:
    """Overwrite a member's compressed stream (past LZMA's 9-byte properties header) with 0xFF bytes."""
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len + (9 if info.compress_type == zipfile.ZIP_LZMA else 0)
    data[start:start + info.compress_size - 13] = b"\xff" * (info.compress_size - 13)


@pytest.fixture()
def corrupt_archives(tmp_path) -> tuple[Path, Path]:
    """A zip whose deflate and LZMA members have corrupt streams next to a good member; a .tar.gz cut short."""
    text = NARRATIVE.encode() * 100
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("deflate.txt"), text, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo("lzma.txt"), text, compress_type=zipfile.ZIP_LZMA)
        zf.writestr(zipfile.ZipInfo("good.txt"), GOOD, compress_type=zipfile.ZIP_DEFLATED)
        infos = zf.infolist()
    data = bytearray(buf.getvalue())
    for info in infos[:2]:
        _corrupt_member_data(data, info)
    (tmp_path / "corrupt.zip").write_bytes(bytes(data))
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as tf:
        for name in ("a.txt", "b.txt"):
            info = tarfile.TarInfo(name)
            info.size = len(text)
            tf.addfile(info, io.BytesIO(text))
    (tmp_path / "cut.tar.gz").write_bytes(tar.getvalue()[: len(tar.getvalue()) // 2])
    return tmp_path / "corrupt.zip", tmp_path / "cut.tar.gz"


@pytest.fixture()
def odd_names(tmp_path) -> tuple[Path, Path]:
    """File names a hostile archive can carry: Latin-1 bytes, a newline, U+2028; in a directory and in a tar."""
    tree = tmp_path / "odd"
    tree.mkdir()
    for i, raw in enumerate((b"caf\xe9.txt", b"two\nlines.txt", "sep\u2028arator.txt".encode())):
        with open(os.path.join(os.fsencode(tree), raw), "wb") as f:
            f.write(GOOD + b"file %d" % i)
    tar = tmp_path / "odd.tar"
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as tf:
        for name in (os.fsdecode(b"pr\xeat.txt"), "line\nbreak.txt"):
            info = tarfile.TarInfo(name)
            info.size = len(GOOD)
            tf.addfile(info, io.BytesIO(GOOD))
    return tree, tar


# ----------------------------------------------------------------------------------------------
# Reading


def test_corrupt_compressed_members_are_listed_and_the_run_completes(trained_run, corrupt_archives, tmp_path):
    zip_path, tar_path = corrupt_archives
    with zipfile.ZipFile(zip_path) as zf:  # the attack is real: zipfile itself fails with codec errors
        import lzma
        import zlib

        with pytest.raises(zlib.error):
            zf.read("deflate.txt")
        with pytest.raises(lzma.LZMAError):
            zf.read("lzma.txt")
    out = tmp_path / "s.parquet"
    for _rerun in range(2):  # the same on a rerun: listed, never a crash
        assert score(trained_run, [str(zip_path), str(tar_path)], out) == 0
        errors = errors_of(out)
        assert errors[f"{zip_path}!/deflate.txt"] == ("unreadable (zlib.error: Error -3 while decompressing data: "
                                                      "invalid block type)")
        assert "unreadable (LZMAError: Corrupt input data)" == errors[f"{zip_path}!/lzma.txt"]
        assert any(source.startswith(str(tar_path)) for source in errors)
        assert f"{zip_path}!/good.txt" in sources_of(out)


def test_an_extractor_that_raises_anything_fails_only_its_document(trained_run, tmp_path, monkeypatch):
    import pypdf

    class FuzzedReader:  # what pypdf does on about 1 in 1,000 fuzzed files
        def __init__(self, stream):
            raise AttributeError("'NullObject' object has no attribute 'get_object'")

    monkeypatch.setattr(pypdf, "PdfReader", FuzzedReader)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fuzzed.pdf").write_bytes(minimal_pdf("Borrower missed payments"))
    (docs / "good.txt").write_bytes(GOOD)
    out = tmp_path / "s.parquet"
    assert score(trained_run, [str(docs)], out) == 0
    assert errors_of(out) == {f"{docs}/fuzzed.pdf": "unreadable PDF (AttributeError: 'NullObject' object has no "
                                                    "attribute 'get_object')"}
    assert sources_of(out) == [f"{docs}/good.txt"]

    def broken_extractor(name, data, max_chars=None):
        raise IndexError("list index out of range")

    monkeypatch.setattr("finrisk_nlp.scoring.documents.extract_text_capped", broken_extractor)
    [doc] = iter_documents([str(docs / "good.txt")])
    assert doc.error == "unreadable (IndexError: list index out of range)" and doc.text is None


def test_odd_file_names_get_stable_ids_that_survive_every_format(trained_run, odd_names, tmp_path):
    tree, tar = odd_names
    assert printable_name(os.fsdecode(b"caf\xe9.txt")) == "caf%E9.txt"
    assert printable_name("two\nlines \u2028 ok.txt") == "two\nlines \u2028 ok.txt"
    expected = [f"{tree}/caf%E9.txt", f"{tree}/sep\u2028arator.txt", f"{tree}/two\nlines.txt",
                f"{tar}!/pr%EAt.txt", f"{tar}!/line\nbreak.txt"]
    for fmt in ("parquet", "csv", "jsonl"):
        out = tmp_path / f"s.{fmt}"
        for _rerun in range(2):  # the rerun finds every id in the parts: same rows, nothing rescored
            assert score(trained_run, [str(tree), str(tar)], out) == 0
            if fmt == "parquet":
                rows = pq.read_table(out).to_pylist()
            elif fmt == "csv":
                rows = pacsv.read_csv(out).to_pylist()
            else:
                rows = [json.loads(line) for line in out.read_text().splitlines()]
            assert [r["source"] for r in rows] == expected
            assert errors_of(out) == {}


def test_fifos_and_devices_are_listed_never_opened(trained_run, tmp_path, no_hang):
    docs = tmp_path / "docs"
    docs.mkdir()
    os.mkfifo(docs / "pipe.txt")
    os.mkfifo(tmp_path / "pipe.zip")
    (docs / "good.txt").write_bytes(GOOD)
    out = tmp_path / "s.parquet"
    assert score(trained_run, [str(docs), str(tmp_path / "pipe.zip")], out) == 0
    assert errors_of(out) == {f"{docs}/pipe.txt": "not a regular file (a FIFO); not read",
                              f"{tmp_path}/pipe.zip": "not a regular file (a FIFO); not read"}
    [doc] = iter_documents(["/dev/null"])
    assert doc.error == "not a regular file (a character device); not read"


def test_symlinked_directories_followed_inside_the_input_listed_otherwise(tmp_path):
    real_tmp = Path(os.path.realpath(tmp_path))  # messages name real paths
    root, outside = real_tmp / "root", real_tmp / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (root / "sub" / "a.txt").write_bytes(GOOD)
    (outside / "secret.txt").write_bytes(GOOD)
    (root / "alias").symlink_to(root / "sub")
    (root / "sub" / "up").symlink_to(root)  # a loop
    (root / "away").symlink_to(outside)
    docs = {d.source: d for d in iter_documents([str(root)])}
    assert docs[f"{root}/alias/a.txt"].text and docs[f"{root}/sub/a.txt"].text
    assert docs[f"{root}/sub/up"].error == f"symlink loop: {root} is a directory above it (not followed)"
    assert docs[f"{root}/alias/up"].error == f"symlink loop: {root} is a directory above it (not followed)"
    assert docs[f"{root}/away"].error == (f"symlink to {outside}, outside the input directory (not followed); "
                                          "pass that directory as an input")
    assert not any("secret" in source for source in docs)
    assert len(docs) == 5


# ----------------------------------------------------------------------------------------------
# Memory


def test_text_is_cut_before_tokenising_head_and_tail_kept():
    text = "start " + "x" * 10_000 + " end"
    cut, truncated = fit_text(text, 100)
    assert truncated and len(cut) == 100 and cut.startswith("start ") and cut.endswith(" end")
    assert fit_text("short", 100) == ("short", False)
    docx_text, truncated = extract_text_capped("m.docx", minimal_docx("p" * 500, ("a", "b")), max_chars=50)
    assert truncated and docx_text == "p" * 50
    pdf_text, truncated = extract_text_capped("l.pdf", minimal_pdf("Borrower missed payments"), max_chars=8)
    assert truncated and pdf_text == "Borrower"
    [doc] = iter_documents([str(REPO / "README.md")], ReadLimits(), max_chars=64)
    assert doc.truncated and len(doc.text) == 64


MEMORY_PROBE = """
import json, resource, sys
import finrisk_nlp.scoring.engine  # torch, transformers: imported before the baseline
from finrisk_nlp.cli.score import main
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[1:])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"code": code, "growth_kib": after - before}))
"""


def test_large_members_are_scored_in_bounded_memory(trained_run, tmp_path):
    member_bytes = 20_000_000  # under the default --max-doc-bytes (20 MiB)
    members = 3
    archive = tmp_path / "large.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i in range(members):
            body = (f"{NARRATIVE}steady salary {i}. " * (member_bytes // 80))[:member_bytes]
            zf.writestr(f"big{i}.txt", body)
    out = tmp_path / "s.parquet"
    proc = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(trained_run), str(archive), "--out", str(out),
                           "--cpu"], env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    bytes_per_input_byte = result["growth_kib"] * 1024 / (members * member_bytes)
    assert bytes_per_input_byte < 5, bytes_per_input_byte  # tokenising the whole text took ~135
    table = pq.read_table(out).to_pylist()
    assert [r["source"] for r in table] == [f"{archive}!/big{i}.txt" for i in range(members)]
    windows = json.loads((trained_run / "model" / "finrisk_model.json").read_text())["extra"]["chunking"]["max_chunks"]
    assert all(r["truncated"] and r["num_chunks"] == windows for r in table)


# ----------------------------------------------------------------------------------------------
# Two runs, changed inputs, a text the tokenizer rejects


def test_a_second_run_on_the_same_out_refuses_before_writing(trained_run, tmp_path, caplog):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_bytes(GOOD)
    out = tmp_path / "s.parquet"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from finrisk_nlp.scoring.parts import "
         "OutputLock\nwith OutputLock(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()",
         str(parts_dir(out))], env={**os.environ, "PYTHONPATH": str(REPO)}, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert score(trained_run, [str(docs)], out) == 2
    finally:
        holder.communicate("", timeout=30)
    assert re.search(rf"is in use by another finrisk score run \(pid {holder.pid} on host "
                     rf"{re.escape(socket.gethostname())}, started .*\)\. Wait for it to finish or choose another "
                     rf"--out; if that process is gone, delete {re.escape(str(parts_dir(out) / 'lock'))}", caplog.text)
    assert sorted(p.name for p in parts_dir(out).iterdir()) == ["lock"] and not out.exists()
    assert score(trained_run, [str(docs)], out) == 0  # released when its holder ended
    assert (parts_dir(out) / "lock").read_text() == ""  # empty: free


def test_a_lock_left_by_a_dead_process_is_taken_over(trained_run, tmp_path, caplog):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_bytes(GOOD)
    out = tmp_path / "s.parquet"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    parts_dir(out).mkdir()
    lock = parts_dir(out) / "lock"
    lock.write_text(json.dumps({"pid": dead_pid, "host": socket.gethostname(), "started": "2026-01-01T00:00:00"}))
    assert score(trained_run, [str(docs)], out) == 0
    assert (f"taking over {lock} from pid {dead_pid} on host {socket.gethostname()}, which stopped without "
            "releasing it") in caplog.text
    # A live process named in the file (where flock is not shared) is not run over.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        with pytest.raises(ScoringError, match=re.escape(f"(pid {sleeper.pid} on host {socket.gethostname()}")):
            OutputLock(parts_dir(out)).__enter__()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_output_stays_in_input_order_when_inputs_change(trained_run, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("b", "c", "d"):
        (docs / f"{name}.txt").write_bytes(GOOD + name.encode())
    out = tmp_path / "s.parquet"
    assert score(trained_run, [str(docs)], out) == 0
    (docs / "a.txt").write_bytes(GOOD + b"a")  # shifts every index by one
    (docs / "d.txt").write_bytes(GOOD + b"changed")  # its old row is stale
    assert score(trained_run, [str(docs)], out) == 0
    assert sources_of(out) == [f"{docs}/{name}.txt" for name in "abcd"]


def test_a_text_the_tokenizer_rejects_fails_alone(trained_run, tmp_path, monkeypatch):
    from finrisk_nlp.inference.predictor import Predictor

    encode = Predictor.encode

    def picky_encode(self, texts, max_chunks=None):
        if any("POISON" in text for text in texts):
            raise ValueError("tokenizer rejected the text")
        return encode(self, texts, max_chunks)

    monkeypatch.setattr(Predictor, "encode", picky_encode)
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in (("a", NARRATIVE), ("b", "POISON " + NARRATIVE), ("c", NARRATIVE + "steady salary.")):
        (docs / f"{name}.txt").write_text(text)
    out = tmp_path / "s.parquet"
    assert score(trained_run, [str(docs)], out) == 0
    assert sources_of(out) == [f"{docs}/a.txt", f"{docs}/c.txt"]
    assert errors_of(out) == {f"{docs}/b.txt": "could not be tokenised (ValueError: tokenizer rejected the text)"}
