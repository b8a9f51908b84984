"""finrisk serve: the micro-batcher, the REST app on a trained tiny model, limits, and the command on loopback."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from runs import train_tiny_run

from finrisk_nlp.service.rest import MicroBatcher, ServeLimits

fastapi = pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from finrisk_nlp.inference.predictor import Predictor  # noqa: E402
from finrisk_nlp.service.rest import build_app  # noqa: E402

TEXTS = ["Borrower lost his job and missed three payments.", "Stable salary, no missed payments, low debt.",
         "late payment, high debt and lost job. " * 40]


def _echo(batches: list[list[str]], delay: float = 0.05):
    def predict(texts: list[str]) -> list[dict]:
        batches.append(list(texts))
        time.sleep(delay)  # the model is busy: requests arriving meanwhile form the next batch
        return [{"text": t} for t in texts]
    return predict


def test_concurrent_requests_share_forward_passes_and_get_their_own_results():
    batches: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(_echo(batches), max_batch=8, max_wait_ms=20)
        batcher.start()
        requests = [[f"r{i}-a", f"r{i}-b"] if i % 2 else [f"r{i}"] for i in range(12)]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests))
        await batcher.stop()
        return requests, results

    requests, results = asyncio.run(scenario())
    for request, result in zip(requests, results, strict=True):
        assert [r["text"] for r in result] == request
    assert sum(len(b) for b in batches) == 18
    assert len(batches) < 12 and max(len(b) for b in batches) <= 8  # coalesced, never above max_batch


def test_a_request_above_max_batch_is_one_batch_and_order_is_kept():
    batches: list[list[str]] = []

    async def scenario():
        batcher = MicroBatcher(_echo(batches, delay=0.0), max_batch=4, max_wait_ms=50)
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(["a", "b", "c"]))
        await asyncio.sleep(0)
        big = asyncio.ensure_future(batcher.submit([f"x{i}" for i in range(6)]))
        last = asyncio.ensure_future(batcher.submit(["z"]))
        out = await asyncio.gather(first, big, last)
        await batcher.stop()
        return out

    first, big, last = asyncio.run(scenario())
    assert [r["text"] for r in big] == [f"x{i}" for i in range(6)]
    assert ["x0", "x1", "x2", "x3", "x4", "x5"] in batches  # not split, not mixed with others
    assert batches.index(["a", "b", "c"]) < batches.index(["x0", "x1", "x2", "x3", "x4", "x5"])
    assert [r["text"] for r in first] == ["a", "b", "c"] and [r["text"] for r in last] == ["z"]


def test_a_failing_batch_fails_its_callers_and_the_next_batch_is_served():
    calls = []

    def predict(texts):
        calls.append(texts)
        if "boom" in texts:
            raise RuntimeError("model exploded")
        return [{"text": t} for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=1, max_wait_ms=0)
        batcher.start()
        with pytest.raises(RuntimeError, match="exploded"):
            await batcher.submit(["boom"])
        ok = await batcher.submit(["fine"])
        await batcher.stop()
        return ok

    assert asyncio.run(scenario()) == [{"text": "fine"}]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("serve") / "run")


@pytest.fixture(scope="module")
def predictor(run_dir) -> Predictor:
    return Predictor.load(run_dir)


INFO = {"ref": "runs/x", "version": "7", "fingerprint": "sha256:abc"}


def test_predict_matches_predictor_and_names_the_model(predictor):
    with TestClient(build_app(predictor, INFO)) as client:
        response = client.post("/predict", json={"texts": TEXTS})
        health = client.get("/health").json()
    assert response.status_code == 200
    assert response.headers["x-model-version"] == "7"
    body = response.json()
    assert body["model"] == INFO
    expected = predictor.predict(TEXTS)
    assert [p["decision"] for p in body["predictions"]] == [e["decision"] for e in expected]
    for got, want in zip(body["predictions"], expected, strict=True):
        np.testing.assert_allclose(list(got["probabilities"].values()), list(want["probabilities"].values()),
                                   atol=1e-6)
        assert got["num_chunks"] == want["num_chunks"]
    assert health["status"] == "ok" and health["model"] == INFO and health["labels"] == list(predictor.task.labels)
    assert health["texts"] == len(TEXTS)


def test_concurrent_clients_get_their_own_answers(predictor):
    expected = {text: predictor.predict([text])[0]["probabilities"] for text in TEXTS}
    limits = ServeLimits(max_batch=16, max_wait_ms=30)
    with TestClient(build_app(predictor, INFO, limits)) as client:
        answers: list[tuple[str, dict]] = []

        def ask(text: str) -> None:
            answers.append((text, client.post("/predict", json={"texts": [text]}).json()))

        threads = [threading.Thread(target=ask, args=(TEXTS[i % 3],)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        batches = client.get("/health").json()["batches"]
    assert len(answers) == 12
    for text, body in answers:
        np.testing.assert_allclose(list(body["predictions"][0]["probabilities"].values()),
                                   list(expected[text].values()), atol=1e-5)
    assert batches < 12  # requests shared forward passes


@pytest.mark.parametrize(("payload", "status", "needle"), [
    ({"texts": ["a"] * 5}, 413, "at most 4"),
    ({"texts": ["x" * 101]}, 413, "at most 100"),
    ({"texts": []}, 422, "texts"),
    ({"text": "a"}, 422, "texts"),
])
def test_requests_over_the_limits_are_refused_with_the_fix(predictor, payload, status, needle):
    limits = ServeLimits(max_texts=4, max_text_chars=100, max_body_bytes=10_000)
    with TestClient(build_app(predictor, INFO, limits)) as client:
        response = client.post("/predict", json=payload)
        too_big = client.post("/predict", content=json.dumps({"texts": ["y" * 20_000]}),
                              headers={"content-type": "application/json"})
    assert response.status_code == status
    assert needle in response.text
    assert too_big.status_code == 413 and "body of" in too_big.json()["error"]
    assert too_big.headers["x-model-version"] == "7"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_finrisk_serve_answers_on_loopback(run_dir):
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "finrisk_nlp.cli.main", "serve", str(run_dir), "--port", str(port),
           "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json()
                break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("finrisk serve did not answer /health in 120 s")
        response = httpx.post(f"http://127.0.0.1:{port}/predict", json={"texts": TEXTS[:2]}, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert health["model"]["version"].startswith("sha256:") and health["model"]["ref"] == run_dir.name
    assert response.status_code == 200 and len(response.json()["predictions"]) == 2
    assert response.headers["x-model-version"] == health["model"]["version"]


def test_serve_without_the_extra_names_the_install(monkeypatch, run_dir, caplog):
    from finrisk_nlp.cli.main import main as cli_main

    monkeypatch.setitem(sys.modules, "fastapi", None)  # an import of fastapi now raises ImportError
    with caplog.at_level(logging.ERROR, logger="finrisk_nlp"):
        assert cli_main(["serve", str(run_dir)]) == 2
    assert any("pip install 'finrisk_nlp[serve]'" in r.getMessage() for r in caplog.records)


def test_load_benchmark_prints_its_table(tiny_model_dir):
    cmd = [sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--base-model", str(tiny_model_dir),
           "--seconds", "0.5", "--clients", "1,4", "--max-length", "32", "--precisions", "fp32,bf16"]
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    assert [(r[0].strip().split(" ")[0], r[1].strip(), int(r[2])) for r in rows] == [
        (server, precision, clients) for precision in ("fp32", "bf16") for server in ("batching", "no")
        for clients in (1, 4)]
    assert all(float(r[3]) > 0 and int(r[7]) == 0 for r in rows)  # requests answered, none failed
