"""finrisk serve under hostile clients: a poisoned text fails only its own request, bodies are capped while they
stream, slow clients are cut off, extra connections are refused, and an exposed service asks for a key, checks the
Host header, hides its docs and never shows local paths or exception text.

The connection-level cases run the app in a real uvicorn server (the configuration ``finrisk serve`` uses) on a
loopback port and talk to it over raw sockets, as an attacker would.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO
from runs import train_tiny_run

from finrisk_nlp.service.rest import MicroBatcher, ServeLimits

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
from fastapi.testclient import TestClient  # noqa: E402

from finrisk_nlp.inference.predictor import Predictor  # noqa: E402
from finrisk_nlp.service.rest import (  # noqa: E402
    build_app,
    default_allowed_hosts,
    public_ref,
    uvicorn_config,
)

INFO = {"ref": "run", "version": "7", "fingerprint": "sha256:abc"}
GOOD = ["Borrower lost his job and missed three payments.", "Stable salary, no missed payments, low debt."]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model_dir) -> Path:
    return train_tiny_run(tiny_model_dir, tmp_path_factory.mktemp("hostile_serve") / "run")


@pytest.fixture(scope="module")
def predictor(run_dir) -> Predictor:
    return Predictor.load(run_dir)


# ---------------------------------------------------------------------------------------------------------------
# One bad text fails one request


def test_a_failing_request_in_a_shared_batch_fails_alone():
    batches: list[list[str]] = []

    def predict(texts: list[str]) -> list[dict]:
        batches.append(list(texts))
        time.sleep(0.02)
        if "poison" in texts:
            raise TypeError("TextEncodeInput must be Union[...]")
        return [{"text": t} for t in texts]

    async def scenario():
        batcher = MicroBatcher(predict, max_batch=16, max_wait_ms=50)
        batcher.start()
        requests = [["a"], ["b", "poison"], ["c"], ["d", "e"]]
        results = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
        await batcher.stop()
        return requests, results

    requests, results = asyncio.run(scenario())
    assert len(batches[0]) == 6  # the four requests did share a batch
    assert isinstance(results[1], TypeError)
    for i in (0, 2, 3):
        assert [r["text"] for r in results[i]] == requests[i]


def test_a_lone_surrogate_is_422_naming_its_index_and_others_are_served(predictor):
    poison = '{"texts": ["fine text", "bad \\ud800 text"]}'
    answers: dict[int, object] = {}
    with TestClient(build_app(predictor, INFO, ServeLimits(max_wait_ms=30))) as client:
        def good(i: int) -> None:
            answers[i] = client.post("/predict", json={"texts": [GOOD[i % 2]]})

        threads = [threading.Thread(target=good, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        bad = client.post("/predict", content=poison, headers={"content-type": "application/json"})
        for thread in threads:
            thread.join()
    assert bad.status_code == 422
    assert "text 1 " in bad.json()["error"] and "surrogate" in bad.json()["error"]
    assert all(r.status_code == 200 for r in answers.values())


def test_a_model_failure_is_500_without_exception_text_or_paths(predictor, monkeypatch):
    def explode(texts, batch_size=32):
        raise RuntimeError("cannot read /srv/secret/models/run/model/heads.safetensors")

    monkeypatch.setattr(predictor, "predict", explode)
    with TestClient(build_app(predictor, INFO), raise_server_exceptions=False) as client:
        response = client.post("/predict", json={"texts": ["x"]})
    assert response.status_code == 500
    assert "/srv" not in response.text and "RuntimeError" not in response.text and "safetensors" not in response.text
    assert response.json()["model"] == INFO  # ref, version and fingerprint stay


def test_responses_name_a_local_model_by_its_folder_only():
    assert public_ref("/srv/models/credit/run-7") == "run-7"
    assert public_ref("/srv/models/credit/run-7/") == "run-7"
    assert public_ref("registry:credit-text@production") == "registry:credit-text@production"
    assert public_ref("hub:org/model") == "hub:org/model"


# ---------------------------------------------------------------------------------------------------------------
# Bodies, docs, keys, hosts (in-process)


def test_a_chunked_body_over_the_limit_is_413(predictor):
    limits = ServeLimits(max_body_bytes=10_000)

    def chunks():  # no content-length: a chunked body; its one text is within the character limit
        yield b'{"texts": ["'
        for _ in range(20):
            yield b"y" * 1000
        yield b'"]}'

    with TestClient(build_app(predictor, INFO, limits)) as client:
        response = client.post("/predict", content=chunks(), headers={"content-type": "application/json"})
        declared = client.post("/predict", content=b"z" * 20_000, headers={"content-type": "application/json"})
    assert response.status_code == 413 and "over the limit of 10,000" in response.json()["error"]
    assert declared.status_code == 413
    assert response.headers["x-model-version"] == "7"


def test_docs_are_off_unless_asked_for(predictor):
    with TestClient(build_app(predictor, INFO)) as client:
        assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
    with TestClient(build_app(predictor, INFO, docs=True)) as client:
        assert client.get("/docs").status_code == 200 and client.get("/openapi.json").status_code == 200


def test_an_api_key_is_required_when_set(predictor):
    with TestClient(build_app(predictor, INFO, api_key="s3cret-key")) as client:
        missing = client.post("/predict", json={"texts": GOOD})
        wrong = client.get("/health", headers={"authorization": "Bearer s3cret-kez"})
        right = client.post("/predict", json={"texts": GOOD}, headers={"authorization": "Bearer s3cret-key"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer" and "Authorization: Bearer" in missing.json()["error"]
    assert "s3cret" not in missing.text
    assert right.status_code == 200 and len(right.json()["predictions"]) == 2


def test_a_loopback_server_answers_only_loopback_host_names(predictor):
    hosts = default_allowed_hosts("127.0.0.1")
    assert default_allowed_hosts("0.0.0.0") is None
    with TestClient(build_app(predictor, INFO, allowed_hosts=hosts), base_url="http://localhost:8000") as client:
        ok = client.get("/health")
        rebound = client.get("/health", headers={"host": "attacker.example:8000"})
        ip = client.get("/health", headers={"host": "127.0.0.1:8000"})
    assert ok.status_code == 200 and ip.status_code == 200
    assert rebound.status_code == 400


# ---------------------------------------------------------------------------------------------------------------
# Connection level: a real uvicorn server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serving(predictor, limits: ServeLimits):
    port = _free_port()
    server = uvicorn.Server(uvicorn_config(build_app(predictor, INFO, limits), "127.0.0.1", port, limits, "warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a socket timeout fails the test)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _get_health(port: int) -> bytes:
    with _connect(port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return _read_all(sock)


LIMITS = ServeLimits(max_connections=4, header_timeout_s=0.5, body_timeout_s=0.5, keep_alive_s=0.5,
                     max_body_bytes=10_000)


def test_slow_clients_are_cut_off_and_extra_connections_refused(predictor):
    with serving(predictor, LIMITS) as port:
        silent = _connect(port)  # opens and says nothing
        partial = _connect(port)
        partial.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\n")  # headers never finished
        slow_body = _connect(port)
        slow_body.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{\"texts\": [")
        extra = [_connect(port) for _ in range(3)]  # 4 open already counts the last; these are over the cap
        refused = [_read_all(sock) for sock in extra]
        answers = {name: _read_all(sock) for name, sock in
                   (("silent", silent), ("partial", partial), ("slow_body", slow_body))}
        after = _get_health(port)  # the slots are free again
    assert any(r.startswith(b"HTTP/1.1 503") for r in refused)
    assert answers["silent"].startswith(b"HTTP/1.1 408") and answers["partial"].startswith(b"HTTP/1.1 408")
    assert answers["slow_body"].startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in answers["slow_body"]
    assert after.startswith(b"HTTP/1.1 200")


def test_a_chunked_body_is_counted_while_it_streams(predictor):
    with serving(predictor, LIMITS) as port, _connect(port) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        try:
            while sent < 50_000_000:  # the server answers and closes long before
                sock.sendall(b"4000\r\n" + b"y" * 0x4000 + b"\r\n")
                sent += 0x4000
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    assert answer.startswith(b"HTTP/1.1 413") and b"over the limit of 10,000" in answer
    assert sent < 5_000_000


def test_an_idle_keep_alive_connection_is_closed(predictor):
    with serving(predictor, LIMITS) as port, _connect(port) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = _read_all(sock)  # returns once the server closes the idle connection
    assert answer.startswith(b"HTTP/1.1 200")


# ---------------------------------------------------------------------------------------------------------------
# The command, as a user runs it


def test_finrisk_serve_with_a_key_from_the_environment(run_dir):
    import httpx

    port = _free_port()
    cmd = [sys.executable, "-m", "finrisk_nlp.cli.main", "serve", str(run_dir), "--port", str(port),
           "--log-level", "warning"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "FINRISK_API_KEY": "k-123"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    key = {"authorization": "Bearer k-123"}
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "finrisk serve did not answer in 120 s"
            try:
                health = httpx.get(f"{base}/health", headers=key, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        no_key = httpx.post(f"{base}/predict", json={"texts": GOOD}, timeout=30)
        rebound = httpx.get(f"{base}/health", headers={**key, "host": "attacker.example"}, timeout=30)
        docs = httpx.get(f"{base}/docs", headers=key, timeout=30)
        good = httpx.post(f"{base}/predict", json={"texts": GOOD}, headers=key, timeout=30)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert health.status_code == 200 and health.json()["model"]["ref"] == run_dir.name
    assert str(run_dir.parent) not in health.text + good.text + no_key.text
    assert no_key.status_code == 401 and rebound.status_code == 400 and docs.status_code == 404
    assert good.status_code == 200 and len(good.json()["predictions"]) == 2


def test_load_benchmark_attack_mode_reports_the_good_clients(tiny_model_dir):
    cmd = [sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--attack", "--base-model", str(tiny_model_dir),
           "--seconds", "2", "--max-length", "32", "--slow-clients", "5"]
    proc = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in proc.stdout.splitlines() if line.startswith("| ")][1:]
    assert [r[0].strip() for r in rows] == ["without attackers", "with attackers"]
    assert all(int(r[2]) > 0 and float(r[3]) == 100.0 for r in rows)  # no good request failed
    attackers = proc.stdout.split("attackers got: ")[1].split("; server still running")[0]
    assert "'poison': {'422':" in attackers and "server still running: True" in proc.stdout
