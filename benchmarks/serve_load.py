"""Load test of ``finrisk serve`` on loopback: latency (p50, p99) and requests/s at 1, 8 and 32 concurrent clients.

    python benchmarks/serve_load.py                      # ~3 minutes on 2 CPU cores
    python benchmarks/serve_load.py --seconds 30 --clients 1,8,32,64

The model is the embedded MiniLM with a fitted document head (as in ``score_throughput.py``). Each client sends
one document per request, back to back, drawn from the mixed archive (transaction memos, loan narratives, AML
notes). The same server runs twice side by side: with request batching (``--max-batch 64``) and without it
(``--max-batch 1``: one forward pass per request), so what batching buys under concurrency is measured, not
assumed. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from score_throughput import make_model, make_texts

from finrisk_nlp.config import EMBEDDED_MODEL


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: Path, port: int, max_batch: int) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "finrisk_nlp.cli.main", "serve", str(model_dir), "--port", str(port),
           "--max-batch", str(max_batch), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"error: `{' '.join(cmd)}` exited with {proc.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    sys.exit("error: finrisk serve did not answer /health within 180 s")


async def load(url: str, texts: list[str], clients: int, seconds: float) -> tuple[list[float], int]:
    """Latencies (s) of the requests finished within ``seconds`` by ``clients`` back-to-back clients."""
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def client(seed: int) -> None:
        nonlocal errors
        rng = random.Random(seed)
        async with httpx.AsyncClient(timeout=60) as session:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                response = await session.post(url, json={"texts": [rng.choice(texts)]})
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8,32", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per row (after a warm-up)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--base-model", default=EMBEDDED_MODEL)
    args = parser.parse_args(argv)
    texts, fit_texts, labels = make_texts(600, None, "mixed")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model(args.base_model, args.max_length, Path(tmp) / "model", fit_texts, labels)
        for max_batch in (64, 1):
            port = free_port()
            server = start_server(model_dir, port, max_batch)
            url = f"http://127.0.0.1:{port}/predict"
            try:
                asyncio.run(load(url, texts, 4, min(3.0, args.seconds)))  # warm-up: first passes, connections
                for clients in (int(c) for c in args.clients.split(",")):
                    before = httpx.get(f"http://127.0.0.1:{port}/health").json()
                    latencies, errors = asyncio.run(load(url, texts, clients, args.seconds))
                    after = httpx.get(f"http://127.0.0.1:{port}/health").json()
                    passes = max(after["batches"] - before["batches"], 1)
                    ms = np.array(latencies) * 1000
                    rows.append((max_batch, clients, len(latencies) / args.seconds, np.percentile(ms, 50),
                                 np.percentile(ms, 99), (after["texts"] - before["texts"]) / passes, errors))
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(f"\nfinrisk serve on loopback, model {args.base_model} (max_length {args.max_length}), one mixed-archive "
          f"document per request; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.seconds:.0f} s per row\n")
    print("| server | clients | requests/s | p50 ms | p99 ms | texts per batch | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for max_batch, clients, rps, p50, p99, per_pass, errors in rows:
        name = "batching (--max-batch 64)" if max_batch > 1 else "no batching (--max-batch 1)"
        print(f"| {name} | {clients} | {rps:.1f} | {p50:.0f} | {p99:.0f} | {per_pass:.1f} | {errors} |")


if __name__ == "__main__":
    main()
