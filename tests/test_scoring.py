"""Batch scoring: document discovery and safety, resumable parts, merge, multi-process, CLI and benchmark."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import REPO, make_credit_records, write_jsonl
from runs import kill_once_a_part_is_written

from finrisk_nlp.cli.score import main as score_main
from finrisk_nlp.scoring.documents import DocumentError, ReadLimits, extract_text, iter_documents, unsafe_member_reason

GOOD_TEXTS = {
    "loans/2024/a.txt": "Applicant lost job and has missed payments on the car loan.",
    "loans/2024/q1/b.md": "# Review\n\nSteady salary, good savings, ontime payment history.",
    "loans/c.html": "<html><head><title>t</title><style>p{}</style></head><body><p>High debt and "
                    "<b>medical bills</b>.</p><script>var x = 1;</script></body></html>",
}
EMAIL = (b"From: officer@bank.example\r\nTo: credit@bank.example\r\nSubject: file 17\r\n"
         b"Content-Type: text/plain; charset=utf-8\r\n\r\nBorrower reports late payment and high debt.\r\n")
BAD_FILES = {  # name -> (content, reason substring)
    "loans/empty.txt": (b"", "empty"),
    "loans/blob.txt": (b"\x00\x01\x02binary\x00" * 10, "binary"),
    "loans/latin1.txt": ("Prêt refusé".encode("latin-1"), "undecodable"),
    "loans/scan.bin": (b"\x89PNG....", "unsupported document type"),
}


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with a real text layer, written by hand (objects + a correct xref table)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for i, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.writelines(b"%010d 00000 n \n" % off for off in offsets)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def minimal_docx(paragraph: str, cells: tuple[str, str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(paragraph)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = cells
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _tree_files() -> dict[str, bytes]:
    files = {name: text.encode() for name, text in GOOD_TEXTS.items()}
    files["loans/mail/note.eml"] = EMAIL
    files["loans/letter.pdf"] = minimal_pdf("Borrower missed payments after losing his job")
    files["loans/2024/memo.docx"] = minimal_docx("Applicant income verified.", ("debt", "high"))
    files.update({name: content for name, (content, _) in BAD_FILES.items()})
    return files


GOOD_NAMES = [*GOOD_TEXTS, "loans/mail/note.eml", "loans/letter.pdf", "loans/2024/memo.docx"]


@pytest.fixture(scope="module")
def archive_set(tmp_path_factory) -> dict[str, Path]:
    """A directory tree, the same documents as .zip and .tar.gz plus unsafe members, and a JSONL table."""
    root = tmp_path_factory.mktemp("archives")
    tree = root / "tree"
    for name, content in _tree_files().items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(content)
    with zipfile.ZipFile(root / "docs.zip", "w") as zf:
        for name, content in _tree_files().items():
            zf.writestr(name, content)
        zf.writestr("../evil.txt", b"escaped")
        zf.writestr("/etc/cron.txt", b"absolute")
    with tarfile.open(root / "docs.tar.gz", "w:gz") as tf:
        for name, content in [*_tree_files().items(), ("../../evil.txt", b"escaped")]:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
        link = tarfile.TarInfo("loans/passwd.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    rows = [{"text": "missed payments, lost job."}, {"text": "steady salary."}, {"text": "  "}]
    write_jsonl(root / "table.jsonl", rows)
    return {"tree": tree, "zip": root / "docs.zip", "tar": root / "docs.tar.gz", "table": root / "table.jsonl"}


def _inputs(archive_set: dict[str, Path]) -> list[str]:
    return [str(archive_set[k]) for k in ("tree", "zip", "tar", "table")]


def _expected(archive_set: dict[str, Path]) -> tuple[set[str], dict[str, str]]:
    good, bad = set(), {}
    for key in ("tree", "zip", "tar"):
        prefix = str(archive_set[key]) + ("/" if key == "tree" else "!/")
        good |= {prefix + name for name in GOOD_NAMES}
        bad |= {prefix + name: reason for name, (_, reason) in BAD_FILES.items()}
    bad[f"{archive_set['zip']}!/../evil.txt"] = "path traversal"
    bad[f"{archive_set['zip']}!//etc/cron.txt"] = "absolute path"
    bad[f"{archive_set['tar']}!/../../evil.txt"] = "path traversal"
    bad[f"{archive_set['tar']}!/loans/passwd.txt"] = "link"
    good |= {f"{archive_set['table']}!/0", f"{archive_set['table']}!/1"}
    bad[f"{archive_set['table']}!/2"] = "empty"
    return good, bad


def _score(run: Path, inputs: list[str], out: Path, *extra: str) -> int:
    return score_main([str(run), *inputs, "--out", str(out), "--cpu", "--batch-size", "4", *extra])


def _errors(out: Path) -> dict[str, str]:
    lines = out.with_name(f"{out.stem}.errors.jsonl").read_text().splitlines()
    return {r["source"]: r["reason"] for r in map(json.loads, lines)}


def test_extract_text_formats():
    assert extract_text("a.eml", EMAIL) == "Borrower reports late payment and high debt."
    html = extract_text("x.html", GOOD_TEXTS["loans/c.html"].encode())
    assert "High debt" in html and "medical bills" in html and "var x" not in html and "p{}" not in html
    assert "missed payments" in extract_text("l.pdf", minimal_pdf("Borrower missed payments"))
    assert extract_text("m.docx", minimal_docx("Income verified.", ("debt", "high"))) == "Income verified.\ndebt | high"
    with pytest.raises(DocumentError, match="not a .docx"):
        extract_text("old.docx", b"\xd0\xcf\x11\xe0 binary Word 97 file")
    with pytest.raises(DocumentError, match="unreadable .docx"):
        extract_text("broken.docx", b"PK\x03\x04 truncated zip")
    assert unsafe_member_reason("a/../../b.txt") and unsafe_member_reason("C:/x.txt")
    assert unsafe_member_reason("a/b..c/d.txt") is None


def test_every_good_document_scored_once_and_every_bad_one_listed(trained_run, archive_set, tmp_path):
    out = tmp_path / "scores.parquet"
    assert _score(trained_run, _inputs(archive_set), out, "--part-size", "5") == 0
    table = pq.read_table(out).to_pandas()
    good, bad = _expected(archive_set)
    assert sorted(table["source"]) == sorted(good)  # exactly once each
    assert table["doc_id"].is_unique
    assert all(doc_id.startswith(src + "#") and len(doc_id) == len(src) + 17
               for doc_id, src in zip(table["doc_id"], table["source"]))
    errors = _errors(out)
    assert set(errors) == set(bad)
    for source, reason in bad.items():
        assert reason in errors[source], (source, errors[source])
    probs = table[["p_repaid", "p_default"]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert set(table["decision"]) <= {"repaid", "default"}
    threshold = table["threshold"].iloc[0]
    assert 0 < threshold < 1 and (table["threshold"] == threshold).all()  # tuned on validation, stored with the model
    assert (table["decision"] == np.where(table["p_default"] >= threshold, "default", "repaid")).all()
    # The scorer gives what Predictor gives for the same texts (redaction, windows, calibration, threshold).
    from finrisk_nlp.inference.predictor import Predictor

    predictor = Predictor.load(trained_run)
    tree = {src: row for src, row in table.set_index("source").iterrows() if src.startswith(str(archive_set["tree"]))
            and src.endswith(".txt")}
    expected = predictor.predict([Path(src).read_text() for src in tree], batch_size=3)
    for row, want in zip(tree.values(), expected, strict=True):
        assert row["decision"] == want["decision"] and row["num_chunks"] == want["num_chunks"]
        assert abs(row["p_default"] - want["probabilities"]["default"]) < 1e-5
    # Same documents, same content: zip, tar and directory copies get the same hash suffix.
    hashes = table.set_index("source")["doc_id"].str.rsplit("#", n=1).str[1]
    assert hashes[f"{archive_set['zip']}!/loans/2024/a.txt"] == hashes[f"{archive_set['tree']}/loans/2024/a.txt"]


def test_long_documents_are_scored_in_windows_like_predictor(tmp_path, trained_run):
    docs = tmp_path / "docs"
    docs.mkdir()
    long_text = "the applicant has a bank account, family of four. " * 12 + "missed payments, lost job."
    (docs / "long.txt").write_text(long_text)
    (docs / "short.txt").write_text("steady salary.")
    out = tmp_path / "scores.parquet"
    assert _score(trained_run, [str(docs)], out) == 0
    table = pq.read_table(out).to_pandas().set_index("source")
    from finrisk_nlp.inference.predictor import Predictor

    want = Predictor.load(trained_run).predict([long_text])[0]
    row = table.loc[str(docs / "long.txt")]
    assert want["num_chunks"] > 1 and row["num_chunks"] == want["num_chunks"]
    assert abs(row["p_default"] - want["probabilities"]["default"]) < 1e-5
    assert table.loc[str(docs / "short.txt")]["num_chunks"] == 1
    assert (table["model_ref"] == str(trained_run)).all() and (table["num_chunks"] >= 1).all()


def test_interrupted_run_resumes_to_the_same_output_as_a_clean_run(trained_run, archive_set, tmp_path, capsys,
                                                                    monkeypatch):
    from finrisk_nlp.scoring.parts import PartWriter

    clean, resumed = tmp_path / "clean.parquet", tmp_path / "resumed.parquet"
    inputs = _inputs(archive_set)
    assert _score(trained_run, inputs, clean, "--part-size", "4") == 0
    write, written = PartWriter.write, []

    def write_then_interrupt_after_two_parts(self, rows):
        written.append(write(self, rows))
        if len(written) == 2:
            raise KeyboardInterrupt  # Ctrl-C between two parts

    monkeypatch.setattr(PartWriter, "write", write_then_interrupt_after_two_parts)
    with pytest.raises(KeyboardInterrupt):
        _score(trained_run, inputs, resumed, "--part-size", "4")
    monkeypatch.undo()
    parts = Path(f"{resumed}.parts")
    assert len(list(parts.glob("part-*.parquet"))) == 2 and not resumed.exists()
    # What a kill in the middle of a write leaves behind: a temp file, never a part.
    (parts / ".part-000-000002.parquet.999.tmp").write_bytes(b"PAR1 half written")
    capsys.readouterr()
    assert _score(trained_run, inputs, resumed, "--part-size", "4") == 0
    good, bad = _expected(archive_set)
    scored, skipped, failed = map(int, re.findall(r"scored (\d+), skipped \(already done\) (\d+), failed (\d+)",
                                                  capsys.readouterr().out)[0])
    assert skipped == 8 and scored + failed + skipped == len(good) + len(bad)  # the 2 parts of 4 were not redone
    assert not list(parts.glob(".*.tmp"))
    a, b = pq.read_table(clean).to_pandas(), pq.read_table(resumed).to_pandas()
    assert list(a["doc_id"]) == list(b["doc_id"]) and list(a["decision"]) == list(b["decision"])
    np.testing.assert_allclose(a["p_default"], b["p_default"], atol=1e-5)
    assert _errors(clean) == _errors(resumed)
    # A third run has nothing left to do and rewrites the same output.
    assert _score(trained_run, inputs, resumed, "--part-size", "4") == 0
    assert f"scored 0, skipped (already done) {len(good) + len(bad)}, failed 0" in capsys.readouterr().out
    assert list(pq.read_table(resumed).column("doc_id").to_pylist()) == list(a["doc_id"])


def test_parts_of_another_run_are_refused(trained_run, archive_set, tmp_path, caplog):
    out = tmp_path / "s.parquet"
    assert _score(trained_run, [str(archive_set["tree"])], out) == 0
    assert _score(trained_run, [str(archive_set["zip"])], out) == 2
    assert "different scoring run" in caplog.text and "inputs" in caplog.text
    assert _score(trained_run, [str(archive_set["tree"])], out, "--max-doc-bytes", "10") == 2


def test_limits_name_the_flag_and_csv_output(trained_run, archive_set, tmp_path):
    out = tmp_path / "s.csv"
    code = _score(trained_run, [str(archive_set["zip"]), str(archive_set["tree"])], out,
                  "--max-archive-members", "3", "--max-doc-bytes", "40")
    assert code == 0
    errors = _errors(out)
    assert "--max-archive-members" in errors[str(archive_set["zip"])]
    assert "--max-doc-bytes" in errors[f"{archive_set['tree']}/loans/2024/a.txt"]
    header = out.read_text().splitlines()[0]
    assert header.startswith('"doc_id","source","label","p_repaid","p_default","decision"')


def test_shards_partition_the_documents(archive_set):
    inputs = _inputs(archive_set)
    limits = ReadLimits()
    whole = [d.doc_id for d in iter_documents(inputs, limits, text_column="text")]
    shards = [[d.doc_id for d in iter_documents(inputs, limits, text_column="text", rank=r, num_shards=3)]
              for r in range(3)]
    assert sorted(sum(shards, [])) == sorted(whole) and len(set(whole)) == len(whole)


@pytest.mark.e2e
def test_two_processes_give_the_same_rows_as_one(trained_run, archive_set, tmp_path):
    one, two = tmp_path / "one.parquet", tmp_path / "two.parquet"
    inputs = _inputs(archive_set)
    assert _score(trained_run, inputs, one) == 0
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "PYTHONPATH": str(REPO)}
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(REPO / "accelerate_configs" / "cpu.yaml")]
    cmd = [*launcher, str(REPO / "recipes" / "batch_score.py"), str(trained_run), *inputs, "--out", str(two),
           "--cpu", "--batch-size", "4", "--part-size", "4"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    parts = Path(f"{two}.parts")
    assert {p.name[:8] for p in parts.glob("part-*.parquet")} == {"part-000", "part-001"}
    assert json.loads((parts / "manifest.json").read_text())["num_processes"] == 2
    a, b = pq.read_table(one).to_pandas(), pq.read_table(two).to_pandas()
    assert list(a["doc_id"]) == list(b["doc_id"]) and list(a["decision"]) == list(b["decision"])
    np.testing.assert_allclose(a["p_default"], b["p_default"], atol=1e-5)
    assert _errors(one) == _errors(two)


def test_throughput_benchmark_prints_its_table(tiny_model_dir, tmp_path):
    cmd = [sys.executable, str(REPO / "benchmarks" / "score_throughput.py"), "--base-model", str(tiny_model_dir),
           "--num-docs", "24", "--batch-size", "8", "--max-length", "32", "--repeats", "1", "--work-dir", str(tmp_path),
           "--pipeline-batch-sizes", "1,8", "--gate-docs", "12"]
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    # header, rule, finrisk torch fp32 / bf16 / int8, onnx fp32 / int8, one pipeline row per batch size
    assert lines[0].startswith("| method") and len(lines) == 9
    methods = [line.split("|")[1].strip() for line in lines[2:]]
    assert methods == [*(f"finrisk score --backend {b} --precision {p}" for b, p in (
        ("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("onnx", "fp32"), ("onnx", "int8"))),
        "pipeline, batch_size 1", "pipeline, batch_size 8"]
    cells = [[c.strip() for c in line.split("|")[1:-1]] for line in lines[2:7]]
    assert cells[0][6].startswith("100.00%") and cells[0][7] == "(fp32)"  # torch fp32 is the reference
    assert all(re.match(r"(passed|FAILED) \(\d+\.\d%", row[7]) for row in cells[1:3] + cells[4:5])
    assert "fp32 kept:" in cells[2][7] and "mixed archive" in proc.stdout and "native bf16" in proc.stdout
    assert re.search(r"GFLOP/s = \d+% of this CPU's fp32 matmul peak", proc.stdout)


def test_static_int8_probe_compares_every_graph_with_fp32(tiny_model_dir):
    cmd = [sys.executable, str(REPO / "benchmarks" / "int8_static_probe.py"), "--base-model", str(tiny_model_dir),
           "--num-docs", "12", "--max-length", "32", "--repeats", "1"]
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in proc.stdout.splitlines() if line.startswith("|")]
    assert rows[0][0] == "graph"
    assert [r[0] for r in rows[2:4]] == ["onnx fp32", "dynamic (finrisk's int8: every MatMul)"]
    assert len(rows) == 2 + 2 + 4 and all(r[0].startswith("static ") for r in rows[4:])
    assert rows[2][2:5] == ["1.00x", "100.0%", "100.0%"]  # fp32 against itself
    for row in rows[3:]:
        assert float(row[1]) > 0 and 0 <= float(row[3].rstrip("%")) <= 100 and 0 <= float(row[5]) <= 1



def _many_docs(directory: Path, n: int) -> Path:
    records = make_credit_records()
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (directory / f"doc{i:05d}.txt").write_text(f"{records[i % len(records)]['text']} (file {i})")
    return directory


def _cli_score(run: Path, docs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "finrisk_nlp.cli.main", "score", str(run), str(docs), "--out", str(out), "--cpu",
            "--batch-size", "2"]


@pytest.mark.e2e
def test_sigkilled_run_resumes_to_the_same_output_as_a_clean_run(trained_run, tmp_path):

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    n = 120
    for _attempt in range(3):  # if the run ends before the kill lands, retry with more documents
        docs = _many_docs(tmp_path / f"docs{n}", n)
        killed = tmp_path / f"killed{n}.parquet"
        parts = Path(f"{killed}.parts")
        if kill_once_a_part_is_written(_cli_score(trained_run, docs, killed), parts, env, 240) and not killed.exists():
            break
        n *= 4
    else:
        pytest.fail("the scoring run always finished before it could be killed")
    from finrisk_nlp.scoring.engine import done_ids

    assert 0 < len(done_ids(parts)) < n  # killed mid-run: some documents scored, not all
    rerun = subprocess.run(_cli_score(trained_run, docs, killed), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    skipped = int(re.search(r"skipped \(already done\) (\d+)", rerun.stdout).group(1))
    assert skipped > 0  # the parts written before the kill were reused
    clean = tmp_path / "clean.parquet"
    assert _score(trained_run, [str(docs)], clean, "--batch-size", "2") == 0
    a, b = pq.read_table(clean).to_pandas(), pq.read_table(killed).to_pandas()
    assert len(a) == n and b["doc_id"].is_unique
    assert list(a["doc_id"]) == list(b["doc_id"]) and list(a["decision"]) == list(b["decision"])
    np.testing.assert_allclose(a["p_default"], b["p_default"], atol=1e-6)
    assert not [p for p in [*parts.iterdir(), *tmp_path.iterdir()] if p.name.endswith(".tmp")]


def test_parts_are_compacted_and_keep_every_row(tmp_path):
    from finrisk_nlp.scoring.engine import part_schema
    from finrisk_nlp.scoring.parts import PartWriter, done_ids, part_files

    schema = part_schema(("repaid", "default"))
    writer = PartWriter(tmp_path, rank=0, schema=schema, fanout=3)
    for i in range(40):
        writer.write([{"index": i, "doc_id": f"d{i}", "error": "x"}])
    # 40 = 1*27 + 1*9 + 1*3 + 1 in base 3: one part per level, not 40 files.
    assert len(part_files(tmp_path)) == writer.num_files == 4
    assert done_ids(tmp_path) == {f"d{i}" for i in range(40)}
    resumed = PartWriter(tmp_path, rank=0, schema=schema, fanout=3)  # a rerun carries on with the same levels
    for i in range(40, 42):
        resumed.write([{"index": i, "doc_id": f"d{i}", "error": "x"}])
    assert len(part_files(tmp_path)) == 4 and len(done_ids(tmp_path)) == 42  # 42 = 27 + 9 + 2 * 3


def test_int8_scores_every_document_and_its_parts_are_kept_apart(trained_run, archive_set, tmp_path):
    out, fp32 = tmp_path / "int8.parquet", tmp_path / "fp32.parquet"
    inputs = [str(archive_set["tree"])]
    assert _score(trained_run, inputs, out, "--quantize", "int8", "--force") == 0  # tiny model: past the gate
    assert _score(trained_run, inputs, fp32) == 0
    a, b = pq.read_table(fp32).to_pandas(), pq.read_table(out).to_pandas()
    assert list(a["doc_id"]) == list(b["doc_id"])
    np.testing.assert_allclose(b[["p_repaid", "p_default"]].sum(axis=1), 1.0, rtol=1e-5)
    assert json.loads(Path(f"{out}.parts/manifest.json").read_text())["fingerprint"]["precision"] == "int8"
    assert _score(trained_run, inputs, out) == 2  # fp32 never finishes an int8 run's parts


def _id_table(path: Path) -> Path:
    write_jsonl(path, [{"app_id": 101, "text": "missed payments, lost job."}, {"app_id": 102, "text": "steady salary."},
                       {"app_id": 103, "text": "  "}])
    return path


def test_id_column_carries_each_rows_id_into_its_scores_and_errors(trained_run, archive_set, tmp_path):
    table = _id_table(tmp_path / "apps.jsonl")
    with_ids, plain = tmp_path / "with_ids.csv", tmp_path / "plain.csv"
    inputs = [str(table), str(archive_set["tree"])]
    assert _score(trained_run, inputs, with_ids, "--id-column", "app_id") == 0
    assert _score(trained_run, inputs, plain) == 0
    import pandas as pd

    a, b = pd.read_csv(with_ids, dtype={"app_id": str}), pd.read_csv(plain)
    assert list(a.columns[:4]) == ["doc_id", "source", "app_id", "label"]
    assert list(a.columns.drop("app_id")) == list(b.columns)
    from_table = a["source"].str.startswith(str(table))
    assert list(a.loc[from_table, "app_id"]) == ["101", "102"]  # as text, whatever the table's type
    assert a.loc[~from_table, "app_id"].isna().all() and (~from_table).sum() > 0  # files have no id
    np.testing.assert_allclose(a["p_default"], b["p_default"], atol=1e-6)  # the id changes no score
    assert list(a["decision"]) == list(b["decision"])
    errors = [json.loads(line) for line in with_ids.with_name("with_ids.errors.jsonl").read_text().splitlines()]
    (empty,) = [e for e in errors if e["source"] == f"{table}!/2"]
    assert empty["app_id"] == "103" and "empty" in empty["reason"]


def test_a_missing_text_or_id_column_exits_2_before_writing_and_the_corrected_rerun_runs(trained_run, tmp_path,
                                                                                          caplog):
    table = _id_table(tmp_path / "apps.jsonl")
    out = tmp_path / "s.parquet"
    assert _score(trained_run, [str(table)], out, "--id-column", "loan_no") == 2
    assert "no id column 'loan_no' (--id-column); columns are ['app_id', 'text']" in caplog.text
    assert _score(trained_run, [str(table)], out, "--text-column", "narrative") == 2
    assert "no text column 'narrative'; columns are ['app_id', 'text']. Pass --text-column NAME" in caplog.text
    assert not out.exists() and not list(Path(f"{out}.parts").glob("*.json"))  # no manifest to refuse a rerun
    caplog.clear()
    assert _score(trained_run, [str(table)], out, "--id-column", "app_id") == 0
    assert "different scoring run" not in caplog.text and len(pq.read_table(out)) == 2


def test_id_column_named_like_an_output_column_exits_2(trained_run, tmp_path, caplog):
    table = _id_table(tmp_path / "apps.jsonl")
    out = tmp_path / "s.parquet"
    assert _score(trained_run, [str(table)], out, "--id-column", "label") == 2
    assert "--id-column 'label' cannot be an output column name" in caplog.text
    assert not out.exists()
