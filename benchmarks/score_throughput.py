"""Documents per second: ``finrisk score`` (every precision x backend) vs ``transformers.pipeline``.

    python benchmarks/score_throughput.py --quick                 # ~300 documents, a few minutes on CPU
    python benchmarks/score_throughput.py --num-docs 1200 --archive mixed     # the mixed-length archive
    python benchmarks/score_throughput.py --num-docs 2000 --texts finrisk_nlp/data/demo/credit_text.jsonl

The model is the embedded MiniLM with a document head (one window per document). When the texts come with labels
(the demo data does) the head is fitted by logistic regression on the frozen encoder's window vectors of up to 400
credit narratives, so the decisions compared between fp32 and int8 are those of a model that separates the
classes, not of a random head whose probabilities all sit near 0.5. Documents are the ``--texts`` JSONL (``text``
column); ``--archive mixed`` (the default) interleaves the shipped transaction memos (short), loan narratives
(mid) and AML alert notes (long) in equal shares, shuffled, as real archives are; ``--archive credit`` takes the
narratives only. finrisk reads them from ``.txt`` files and writes a Parquet table; the pipeline gets them as an
in-memory list and runs at each of ``--pipeline-batch-sizes``; the speed-ups are against its fastest.
Timings exclude loading the model (and, for finrisk's reduced precisions, the quality gate run at load): they
time the scoring (reading, tokenising, the forward passes, writing the table) and the pipeline's call. The
seconds of loading are printed beside. The methods run in turn ``--repeats`` times and the fastest run of each
counts (the least disturbed by other work on the machine). The onnx rows score an export of ``finrisk export
--format onnx`` made once beforehand (``--backend onnx``; its int8 graph is quantised on load). The reduced
precisions (bf16, int8) run with ``--force`` and ``--texts`` of ``--gate-docs`` labelled credit narratives the head
was not fitted on: the quality gate of ``finrisk score --precision`` (:mod:`finrisk_nlp.inference.quality_gate`)
compares on them, and its verdict (read from the run's manifest) is printed on the row beside the decision
agreement with torch fp32 on the whole archive. The pipeline runs the same encoder as a sequence
classifier. Prints the CPU's native bf16 / VNNI / AMX support, a markdown table, and how close the fp32 forward
pass on full-length windows comes to this CPU's fp32 matrix-multiply peak (measured here with one large matmul).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from finrisk_nlp.config import EMBEDDED_MODEL, LoraSettings, ModelConfig
from finrisk_nlp.export.exporter import export_model
from finrisk_nlp.modeling import Head, ModelMetadata, TaskMetadata, build_model, save_model
from finrisk_nlp.precision import cpu_support
from finrisk_nlp.scoring.engine import ScoreOptions, score_documents
from finrisk_nlp.tasks import get_task

DEMO_DIR = Path(__file__).resolve().parent.parent / "finrisk_nlp" / "data" / "demo"
DEMO = DEMO_DIR / "credit_text.jsonl"
MIXED = ("transaction_memo", "credit_text", "aml_alert")  # short, mid and long documents
WORDS = ("applicant borrower loan payment missed late salary employer savings debt income mortgage rent card "
         "balance account overdraft arrears collections bankruptcy business revenue invoice repayment schedule "
         "restructured guarantor collateral vehicle property months years steady stable lost job medical bills "
         "the a and of to for with has had was is on after since before").split()
FIT_DOCS = 400


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_texts(n: int, path: Path | None, archive: str = "mixed", seed: int = 0
               ) -> tuple[list[str], list[str], list[str]]:
    """``n`` texts (cycled if the source has fewer) plus texts and labels to fit the head on (credit narratives)."""
    rng = random.Random(seed)
    if path is None and archive == "mixed" and all((DEMO_DIR / f"{t}.jsonl").is_file() for t in MIXED):
        sources = [read_rows(DEMO_DIR / f"{t}.jsonl") for t in MIXED]
        for rows in sources:
            rng.shuffle(rows)
        texts = [sources[i % 3][(i // 3) % len(sources[i % 3])]["text"] for i in range(n)]
        rng.shuffle(texts)
        credit = sources[1][:FIT_DOCS]
        return texts, [r["text"] for r in credit], [r["outcome"] for r in credit]
    path = path or (DEMO if DEMO.is_file() else None)
    if path is not None:
        rows = read_rows(path)
        rows = [rows[i % len(rows)] for i in range(n)]
        fit = rows[:FIT_DOCS] if all("outcome" in r for r in rows[:FIT_DOCS]) else []
        return [r["text"] for r in rows], [r["text"] for r in fit], [r["outcome"] for r in fit]
    texts = []
    for _ in range(n):
        words = int(min(600, max(5, rng.lognormvariate(4.0, 0.9))))  # median ~55 words, long tail
        texts.append(" ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + ".")
    return texts, [], []


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This CPU's fp32 matrix-multiply rate with torch's threads: the best of a few square products."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def encoder_flops_per_window(config, tokens: int) -> float:
    """Multiply-add FLOPs of one encoder forward pass over a window of ``tokens`` (Linears plus attention)."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    linear = 2 * (4 * h * h + 2 * h * i) * tokens
    attention = 2 * 2 * tokens * tokens * h
    return float(layers * (linear + attention))


@torch.inference_mode()
def forward_gflops(model_dir: Path, texts: list[str], max_length: int, batch_size: int, repeats: int = 3
                   ) -> tuple[float, float]:
    """Documents/s and achieved GFLOP/s of the fp32 forward pass on full-length windows (no padding)."""
    from finrisk_nlp.inference.predictor import Predictor

    predictor = Predictor.load(model_dir, device="cpu")
    enc = predictor.tokenizer(texts[:batch_size], truncation=True, max_length=max_length, padding="max_length",
                              return_tensors="pt")
    predictor.window_vectors(enc)
    seconds = min(_timed(lambda: predictor.window_vectors(enc)) for _ in range(repeats))
    flops = encoder_flops_per_window(predictor.model.encoder_config, max_length) * batch_size
    return batch_size / seconds, flops / seconds / 1e9


@torch.inference_mode()
def fit_head(model: torch.nn.Module, tokenizer, texts: list[str], labels: list[str], task, max_length: int) -> None:
    """Fit the document head on the frozen encoder's window vectors: dense = identity, so the output layer is a
    logistic regression on tanh(vector)."""
    from sklearn.linear_model import LogisticRegression

    feats = []
    for start in range(0, len(texts), 32):
        enc = tokenizer(texts[start:start + 32], truncation=True, max_length=max_length, padding=True,
                        return_tensors="pt")
        feats.append(torch.tanh(model.embed_windows(**enc)).numpy())
    y = np.array([task.labels.index(label) for label in labels])
    clf = LogisticRegression(max_iter=2000).fit(np.concatenate(feats), y)
    head = model.heads[task.name]
    head.dense.weight.copy_(torch.eye(head.dense.weight.shape[0]))
    head.dense.bias.zero_()
    weight = np.zeros((len(task.labels), clf.coef_.shape[1]), dtype=np.float32)
    bias = np.zeros(len(task.labels), dtype=np.float32)
    weight[1], bias[1] = clf.coef_[0], clf.intercept_[0]  # softmax over (0, z) == sigmoid(z) of the binary fit
    head.out.weight.copy_(torch.from_numpy(weight))
    head.out.bias.copy_(torch.from_numpy(bias))


def make_model(base: str, max_length: int, out: Path, texts: list[str], labels: list[str]) -> Path:
    task = get_task("credit_text")
    model, tokenizer = build_model(ModelConfig(name_or_path=base, max_length=max_length, pooling="mean"),
                                   LoraSettings(), {task.name: task})
    model.eval()
    if labels and len(set(labels)) == len(task.labels):
        fit_head(model, tokenizer, texts, labels, task, max_length)
    meta = ModelMetadata(tasks={task.name: TaskMetadata(task)}, base_model=base, max_length=max_length, lora=True,
                         head=Head(pooling="mean", token_pooling=model.token_pooling))
    return save_model(model, tokenizer, meta, out, merged=True)


class LoadTimer:
    """Seconds spent in :func:`~finrisk_nlp.inference.loading.load_for_inference` (loading, merging, the
    precision's gate) during a scoring run, so that timings can leave them out."""

    def __init__(self) -> None:
        from finrisk_nlp.scoring import engine

        self.seconds = 0.0
        self.module, self.load = engine, engine.load_for_inference

        def timed_load(*args, **kwargs):
            started = time.perf_counter()
            try:
                return self.load(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        engine.load_for_inference = timed_load


def time_finrisk(model_dir: Path, docs_dir: Path, out: Path, batch_size: int, precision: str,
                 backend: str, gate_texts: Path | None, loads: dict[str, float], name: str) -> float:
    """Seconds of one ``finrisk score`` run without its model load (recorded in ``loads[name]``)."""
    timer = LoadTimer()
    started = time.perf_counter()
    try:
        summary = score_documents(str(model_dir), ScoreOptions(
            inputs=[str(docs_dir)], out=str(out), batch_size=batch_size, cpu=True, backend=backend,
            precision=precision, force=True, texts_file=str(gate_texts) if gate_texts else None))
    finally:
        timer.module.load_for_inference = timer.load
    assert summary.complete and summary.failed == 0
    loads[name] = timer.seconds
    return time.perf_counter() - started - timer.seconds


def time_pipeline(model_dir: Path, texts: list[str], batch_size: int | None, max_length: int,
                  loads: dict[str, float], name: str) -> float:
    """Seconds of one pipeline call over ``texts`` (its model load recorded in ``loads[name]``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    started = time.perf_counter()
    model = AutoModelForSequenceClassification.from_pretrained(model_dir / "encoder", num_labels=2)
    pipe = pipeline("text-classification", model=model, tokenizer=AutoTokenizer.from_pretrained(model_dir),
                    device=-1, top_k=None)
    loads[name] = time.perf_counter() - started
    kwargs = {"batch_size": batch_size} if batch_size else {}
    started = time.perf_counter()
    results = pipe(texts, truncation=True, max_length=max_length, **kwargs)
    assert len(results) == len(texts)
    return time.perf_counter() - started


def gate_verdict(out: Path) -> str:
    """The quality gate a scoring run passed at load (from ``OUT.parts/manifest.json``), as one cell."""
    record = json.loads(Path(f"{out}.parts/manifest.json").read_text()).get("precision") or {}
    gate = record.get("gate")
    if gate is None:
        return "(fp32)"
    f1 = (f", macro-F1 {gate['macro_f1_fp32']:.3f} -> {gate['macro_f1_reduced']:.3f}"
          if gate["macro_f1_fp32"] is not None else "")
    kept = record.get("int8_layer_groups_kept_fp32")
    kept_text = f"; fp32 kept: {', '.join(kept) or 'none'}" if kept is not None else ""
    return f"{'passed' if gate['passed'] else 'FAILED'} ({gate['agreement']:.1%}{f1}{kept_text})"


def agreement(fp32: Path, int8: Path) -> tuple[float, float, float]:
    """Share of documents with the same decision, largest and mean absolute probability difference."""
    a, b = pq.read_table(fp32).to_pandas(), pq.read_table(int8).to_pandas()
    assert list(a["doc_id"]) == list(b["doc_id"])
    cols = [c for c in a.columns if c.startswith("p_")]
    diff = np.abs(a[cols].to_numpy() - b[cols].to_numpy())
    return float((a["decision"] == b["decision"]).mean()), float(diff.max()), float(diff.mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-docs", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--base-model", default=EMBEDDED_MODEL, help="encoder to build the classifier from")
    parser.add_argument("--texts", type=Path, help="JSONL with a text column (and outcome labels to fit the head)")
    parser.add_argument("--archive", choices=["mixed", "credit"], default="mixed",
                        help="without --texts: memos, narratives and AML notes mixed, or the narratives only")
    parser.add_argument("--pipeline-batch-sizes", default="1,8,32,64",
                        help="comma-separated batch sizes the pipeline runs at; the fastest is the baseline")
    parser.add_argument("--repeats", type=int, default=3, help="runs per method; the fastest counts")
    parser.add_argument("--quick", action="store_true", help="300 documents, 2 repeats")
    parser.add_argument("--gate-docs", type=int, default=100,
                        help="labelled credit narratives the reduced precisions' quality gate compares on")
    parser.add_argument("--work-dir", help="where the model, documents and scores go (default: a temp dir)")
    args = parser.parse_args(argv)
    n = 300 if args.quick else args.num_docs
    repeats = 2 if args.quick else args.repeats
    from finrisk_nlp.cli.recipe import setup_logging

    setup_logging()
    texts, fit_texts, labels = make_texts(n, args.texts, args.archive)
    pipeline_sizes = [int(b) for b in args.pipeline_batch_sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work_dir or tmp)
        model_dir = make_model(args.base_model, args.max_length, work / "model", fit_texts, labels)
        onnx_dir = work / "onnx"
        export_model(str(model_dir), onnx_dir, fmt="onnx")
        docs = work / "docs"
        docs.mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            (docs / f"doc{i:06d}.txt").write_text(text)
        gate_rows = read_rows(DEMO)[FIT_DOCS:FIT_DOCS + args.gate_docs] if DEMO.is_file() else []
        gate_file = work / "gate.jsonl" if gate_rows else None
        if gate_file:
            gate_file.write_text("".join(json.dumps({"text": r["text"], "outcome": r["outcome"]}) + "\n"
                                         for r in gate_rows))
        bs = args.batch_size
        combos = [(p, "torch") for p in ("fp32", "bf16", "int8")] + [(p, "onnx") for p in ("fp32", "int8")]
        methods: dict[str, tuple[int, Callable[[int], float]]] = {}
        loads: dict[str, float] = {}
        for prec, backend in combos:
            name = f"finrisk score --backend {backend} --precision {prec}"
            source = onnx_dir if backend == "onnx" else model_dir
            methods[name] = (bs, lambda r, p=prec, b=backend, m=source, name=name: time_finrisk(
                m, docs, work / f"{b}-{p}-{r}.parquet", bs, p, b, gate_file, loads, name))
        for size in pipeline_sizes:
            name = f"pipeline, batch_size {size}"
            methods[name] = (size, lambda r, size=size, name=name: time_pipeline(
                model_dir, texts, size, args.max_length, loads, name))
        runs: dict[str, list[float]] = {name: [] for name in methods}
        for rep in range(repeats):  # interleaved, so a busy spell on the machine hits every method alike
            for name, (_, timed) in methods.items():
                runs[name].append(timed(rep))
        verdicts = {(p, b): gate_verdict(work / f"{b}-{p}-0.parquet") for p, b in combos}
        agree = {(p, b): agreement(work / "torch-fp32-0.parquet", work / f"{b}-{p}-0.parquet") for p, b in combos}
        full_length = [t for t in fit_texts or texts if len(t.split()) > args.max_length] or texts
        forward_rate, achieved = forward_gflops(model_dir, full_length, args.max_length, bs)
        peak = matmul_peak_gflops()
    rate = {name: n / min(seconds) for name, seconds in runs.items()}
    pipelines = [name for name in methods if name.startswith("pipeline")]
    best_pipeline = max(pipelines, key=rate.__getitem__)
    words = sorted(len(t.split()) for t in texts)
    print(f"\n{n} documents ({words[len(words) // 2]} words median, {words[-1]} max), max_length {args.max_length}, "
          f"{'mixed archive: memos, narratives, AML notes; ' if args.texts is None and args.archive == 'mixed' else ''}"
          f"model {args.base_model} (head {'fitted' if labels else 'untrained'}); "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads, "
          f"{torch.backends.cpu.get_cpu_capability()} kernels); fastest of {repeats} runs each\n")
    print(f"CPU: {cpu_support().describe()}; load average {' / '.join(f'{v:.1f}' for v in os.getloadavg())} "
          "at the end (a shared machine when above the CPU count)\n")
    print(f"| method | batch size | seconds | documents/s | x {best_pipeline} | load (+ gate) s | decisions = torch "
          f"fp32 (max abs dp) | quality gate ({len(gate_rows) or 'built-in'} texts) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, (batch, _) in methods.items():
        speedup = rate[name] / rate[best_pipeline]
        combo = next(((p, b) for p, b in combos if name.endswith(f"--backend {b} --precision {p}")), None)
        same, max_diff, _ = agree[combo] if combo else (None, None, None)
        cells = (f"{same:.2%} ({max_diff:.4f})", verdicts[combo]) if combo else ("", "")
        print(f"| {name} | {batch} | {min(runs[name]):.1f} | {rate[name]:.1f} | {speedup:.2f}x | {loads[name]:.1f} | "
              f"{cells[0]} | {cells[1]} |")
    print()
    print(f"fp32 forward on full-length windows ({bs} x {args.max_length} tokens): {forward_rate:.1f} windows/s, "
          f"{achieved:.0f} GFLOP/s = {achieved / peak:.0%} of this CPU's fp32 matmul peak ({peak:.0f} GFLOP/s, "
          f"2048^3 torch.mm)")


if __name__ == "__main__":
    main()
