"""Load test of ``finrisk serve`` on loopback: latency (p50, p99) and requests/s at 1, 8 and 32 concurrent clients.

    python benchmarks/serve_load.py                      # ~3 minutes on 2 CPU cores
    python benchmarks/serve_load.py --seconds 30 --clients 1,8,32,64
    python benchmarks/serve_load.py --attack             # good clients alone, then beside attackers
    python benchmarks/serve_load.py --precisions fp32,bf16 --max-batches 64 --clients 1,32   # bf16 vs fp32

The model is the embedded MiniLM with a fitted document head (as in ``score_throughput.py``). Each client sends
one document per request, back to back, drawn from the mixed archive (transaction memos, loan narratives, AML
notes). The same server runs twice side by side: with request batching (``--max-batch 64``) and without it
(``--max-batch 1``: one forward pass per request), so what batching buys under concurrency is measured, not
assumed. ``--precisions`` runs the server in each ``--precision`` in turn (bf16/int8 with ``--force``: their
quality gate is reported by ``score_throughput.py`` on labelled texts, not here). Prints a markdown table.

``--attack`` runs one server (default settings) twice for ``--seconds``: ``--good-clients`` normal clients alone,
then the same clients beside attackers: poison clients (a lone surrogate in every request), ReDoS clients (the
longest text allowed, 100,000 characters of ``"SSN" + spaces``, which froze the released server for hours) and
slow clients (connections that send a header line a second and never finish, reconnecting when cut off). It
prints the good clients' success rate and p50/p99 in both runs and what the attackers got back; the goal is 100%
success and a p99 within 2x of the run without attackers.
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
from finrisk_nlp.precision import cpu_support


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(model_dir: Path, port: int, max_batch: int, precision: str = "fp32") -> subprocess.Popen:
    cmd = [sys.executable, "-m", "finrisk_nlp.cli.main", "serve", str(model_dir), "--port", str(port),
           "--max-batch", str(max_batch), "--log-level", "critical", "--precision", precision,
           *(["--force"] if precision != "fp32" else [])]
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


POISON = '{"texts": ["a fine memo", "a text with a lone surrogate \\ud800 in it"]}'
REDOS = {"texts": ["SSN" + " " * 99_990 + "x"]}


async def attack(url: str, texts: list[str], good: int, seconds: float, poison: int, redos: int,
                 slow: int) -> dict[str, object]:
    """Good clients' latencies and failures beside ``poison``, ``redos`` and ``slow`` attackers (none: baseline)."""
    stop_at = time.perf_counter() + seconds
    statuses: dict[str, dict[str, int]] = {"poison": {}, "redos": {}, "slow": {}}

    def count(kind: str, status: str) -> None:
        statuses[kind][status] = statuses[kind].get(status, 0) + 1

    async def sender(kind: str, seed: int) -> None:
        async with httpx.AsyncClient(timeout=120) as session:
            while time.perf_counter() < stop_at:
                try:
                    if kind == "poison":
                        response = await session.post(url, content=POISON, headers={"content-type": "application/json"})
                    else:
                        response = await session.post(url, json=REDOS)
                    count(kind, str(response.status_code))
                except httpx.HTTPError as exc:
                    count(kind, type(exc).__name__)

    async def slow_client() -> None:
        host, port = url.split("//")[1].split("/")[0].split(":")
        while time.perf_counter() < stop_at:
            try:
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"POST /predict HTTP/1.1\r\nHost: localhost\r\n")
                while time.perf_counter() < stop_at and not reader.at_eof():
                    writer.write(b"X-Slow: 1\r\n")
                    await writer.drain()
                    try:
                        answer = await asyncio.wait_for(reader.read(200), 1.0)
                    except TimeoutError:
                        continue
                    if answer:
                        count("slow", answer.split(b" ")[1].decode())
                        break
                writer.close()
            except OSError as exc:
                count("slow", type(exc).__name__)
                await asyncio.sleep(0.5)

    good_latencies: list[float] = []
    good_failures = 0

    async def good_client(seed: int) -> None:
        nonlocal good_failures
        rng = random.Random(seed)
        async with httpx.AsyncClient(timeout=60) as session:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    response = await session.post(url, json={"texts": [rng.choice(texts)]})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    good_latencies.append(time.perf_counter() - started)
                else:
                    good_failures += 1

    await asyncio.gather(*(good_client(i) for i in range(good)), *(sender("poison", i) for i in range(poison)),
                         *(sender("redos", i) for i in range(redos)), *(slow_client() for _ in range(slow)))
    return {"latencies": good_latencies, "failures": good_failures, "attackers": statuses}


def run_attack(args: argparse.Namespace, model_dir: Path, texts: list[str]) -> None:
    port = free_port()
    server = start_server(model_dir, port, 64)
    url = f"http://127.0.0.1:{port}/predict"
    try:
        asyncio.run(load(url, texts, 4, min(3.0, args.seconds)))  # warm-up
        quiet = asyncio.run(attack(url, texts, args.good_clients, args.seconds, 0, 0, 0))
        loud = asyncio.run(attack(url, texts, args.good_clients, args.seconds, args.poison_clients,
                                  args.redos_clients, args.slow_clients))
        alive = server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_avg = os.getloadavg()
    print(f"\nfinrisk serve under attack on loopback, model {args.base_model} (max_length {args.max_length}); "
          f"{args.good_clients} good clients, one mixed-archive document per request; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
          f"{load_avg[0]:.1f} at the end; {args.seconds:.0f} s per run\n")
    print("| run | attackers | good requests | good success % | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    rows = {}
    for name, result, who in (("without attackers", quiet, "none"),
                              ("with attackers", loud, f"{args.poison_clients} poison, {args.redos_clients} ReDoS, "
                                                       f"{args.slow_clients} slow")):
        done = len(result["latencies"])
        total = done + result["failures"]
        ms = np.array(result["latencies"] or [float("nan")]) * 1000
        rows[name] = (100.0 * done / max(total, 1), float(np.percentile(ms, 99)))
        print(f"| {name} | {who} | {total} | {rows[name][0]:.1f} | {np.percentile(ms, 50):.0f} | "
              f"{rows[name][1]:.0f} |")
    print(f"\nattackers got: {loud['attackers']}; server still running: {alive}")
    success, p99 = rows["with attackers"]
    ratio = p99 / rows["without attackers"][1]
    print(f"goal 100% success: {'met' if success == 100.0 else 'NOT met'} ({success:.1f}%); goal p99 within 2x: "
          f"{'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="1,8,32", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per row (after a warm-up)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--base-model", default=EMBEDDED_MODEL)
    parser.add_argument("--attack", action="store_true", help="good clients alone, then beside attackers")
    parser.add_argument("--good-clients", type=int, default=8)
    parser.add_argument("--poison-clients", type=int, default=2)
    parser.add_argument("--redos-clients", type=int, default=2)
    parser.add_argument("--slow-clients", type=int, default=100)
    parser.add_argument("--precisions", default="fp32", help="comma-separated --precision values of the server")
    parser.add_argument("--max-batches", default="64,1", help="comma-separated --max-batch values of the server")
    args = parser.parse_args(argv)
    texts, fit_texts, labels = make_texts(600, None, "mixed")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_model(args.base_model, args.max_length, Path(tmp) / "model", fit_texts, labels)
        if args.attack:
            run_attack(args, model_dir, texts)
            return
        for precision, max_batch in ((p, int(b)) for p in args.precisions.split(",")
                                     for b in args.max_batches.split(",")):
            port = free_port()
            server = start_server(model_dir, port, max_batch, precision)
            url = f"http://127.0.0.1:{port}/predict"
            try:
                asyncio.run(load(url, texts, 4, min(3.0, args.seconds)))  # warm-up: first passes, connections
                for clients in (int(c) for c in args.clients.split(",")):
                    before = httpx.get(f"http://127.0.0.1:{port}/health").json()
                    latencies, errors = asyncio.run(load(url, texts, clients, args.seconds))
                    after = httpx.get(f"http://127.0.0.1:{port}/health").json()
                    passes = max(after["batches"] - before["batches"], 1)
                    ms = np.array(latencies) * 1000
                    rows.append((precision, max_batch, clients, len(latencies) / args.seconds, np.percentile(ms, 50),
                                 np.percentile(ms, 99), (after["texts"] - before["texts"]) / passes, errors))
            finally:
                server.terminate()
                server.wait(timeout=30)
    print(f"\nfinrisk serve on loopback, model {args.base_model} (max_length {args.max_length}), one mixed-archive "
          f"document per request; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{args.seconds:.0f} s per row; {cpu_support().describe()}; load average {load_text()}\n")
    print("| server | precision | clients | requests/s | p50 ms | p99 ms | texts per batch | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for precision, max_batch, clients, rps, p50, p99, per_pass, errors in rows:
        name = f"batching (--max-batch {max_batch})" if max_batch > 1 else "no batching (--max-batch 1)"
        print(f"| {name} | {precision} | {clients} | {rps:.1f} | {p50:.0f} | {p99:.0f} | {per_pass:.1f} | {errors} |")


def load_text() -> str:
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
