"""Online scoring over HTTP: ``finrisk serve MODEL_REF [--port 8000]``.

    finrisk serve registry:credit-text@production --port 8000
    curl -s localhost:8000/predict -H 'content-type: application/json' -d '{"texts": ["Missed two payments."]}'

A model trained with structured fields takes records instead of texts, each validated against its fields (numbers
for numeric fields; the schema is in ``/openapi.json``)::

    curl -s localhost:8000/predict -H 'content-type: application/json' \
         -d '{"records": [{"text": "Lost job in May.", "income": 4200, "debt": 900, "segment": "retail"}]}'

A FastAPI app with ``POST /predict`` (texts in, one result per text out, exactly as ``finrisk predict --json``
gives them: label, decision at the stored operating threshold, probabilities, windows read) and ``GET /health``.
Every response names the model (reference, version, fingerprint) in its body and in the ``X-Model-Version``
header, so a caller can always tell which model decided. Requests that arrive while the model is busy are
coalesced by :class:`MicroBatcher` (up to ``max_batch`` texts; by default a batch never waits: the requests that
queued while the model was busy form the next one, so a lone request pays no delay), sorted by length and run in
forward passes of ``batch_size`` windows, so short memos are not padded to the length of a long narrative. Size
limits (texts per request, characters per text, bytes per body) answer 413 with what was sent, what is allowed
and what to do.
"""

# No `from __future__ import annotations` here: FastAPI reads the request model from the endpoint's evaluated
# annotations, and that model is defined inside build_app (pydantic is imported only when serving).
import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from finrisk_nlp.errors import FinriskError

logger = logging.getLogger("finrisk_nlp")
SERVE_EXTRA_HINT = "pip install 'finrisk_nlp[serve]'"


@dataclass(frozen=True)
class ServeLimits:
    """What one request may hold, and how requests are batched."""

    max_texts: int = 64  # texts per request
    max_text_chars: int = 100_000  # characters per text (longer ones are refused, not cut)
    max_body_bytes: int = 4_000_000  # bytes of the JSON body
    max_batch: int = 64  # texts taken together from concurrent requests
    max_wait_ms: float = 0.0  # how long a batch waits for company; 0: never (requests queued meanwhile join)
    batch_size: int = 16  # windows per forward pass: a batch is sorted by length and cut into these
    max_connections: int = 256  # open connections; one more is answered 503 and closed (keep it below `ulimit -n`)
    header_timeout_s: float = 10.0  # request line and headers must arrive within this, or 408 and closed
    body_timeout_s: float = 30.0  # the whole body must arrive within this, or 408 and closed
    keep_alive_s: float = 5.0  # an idle keep-alive connection is closed after this


class MicroBatcher:
    """Coalesces concurrent ``submit`` calls into calls of ``predict`` on at most ``max_batch`` texts.

    One worker thread runs ``predict`` (the model is used by one thread at a time); while it runs, new requests
    queue up and form the next batch, so batches grow with load and a lone request waits only ``max_wait_ms``.
    A request larger than ``max_batch`` is never split: it forms a batch of its own. When a batch fails, its
    requests are run again one by one, so a request that makes the model fail fails alone.
    """

    def __init__(self, predict: Callable[[list[str]], list[dict[str, Any]]], max_batch: int,
                 max_wait_ms: float) -> None:
        self.predict = predict
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.batches = 0  # batches predicted so far (for /health and the load test)
        self.texts = 0
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="finrisk-model")
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, texts: list[str]) -> list[dict[str, Any]]:
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self._queue.put((texts, future))
        return await future

    async def _next_batch(self) -> list[tuple[list[str], asyncio.Future]]:
        batch = [await self._queue.get()]
        size = len(batch[0][0])
        deadline = time.monotonic() + self.max_wait_s
        while size < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if size + len(item[0]) > self.max_batch:
                self._queue.put_nowait(item)  # the next batch starts with it (order kept: the queue was empty)
                break
            batch.append(item)
            size += len(item[0])
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            texts = [text for request, _ in batch for text in request]
            try:
                results = await loop.run_in_executor(self._executor, self.predict, texts)
            except Exception as exc:  # the callers get the error; the server keeps serving
                if len(batch) > 1:
                    logger.warning("a batch of %d requests failed (%s); running them one by one", len(batch),
                                   type(exc).__name__)
                    for item in batch:
                        await self._predict_alone(item)
                    continue
                logger.exception("prediction failed for a request of %d texts", len(texts))
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                continue
            self._deliver(batch, results)

    async def _predict_alone(self, item: tuple[list[str], asyncio.Future]) -> None:
        request, future = item
        if future.done():  # the caller went away
            return
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self.predict, request)
        except Exception as exc:
            logger.exception("prediction failed for a request of %d texts", len(request))
            if not future.done():
                future.set_exception(exc)
            return
        self._deliver([item], results)

    def _deliver(self, batch: list[tuple[list[str], asyncio.Future]], results: list[dict[str, Any]]) -> None:
        self.batches += 1
        self.texts += sum(len(request) for request, _ in batch)
        start = 0
        for request, future in batch:
            if not future.done():  # a caller that went away has a cancelled future
                future.set_result(results[start:start + len(request)])
            start += len(request)


def import_fastapi() -> Any:
    """The ``fastapi`` module, or a :class:`FinriskError` naming the extra to install."""
    try:
        import fastapi
    except ImportError as exc:
        raise FinriskError(f"finrisk serve needs FastAPI and uvicorn, which are not installed; run "
                           f"`{SERVE_EXTRA_HINT}`") from exc
    return fastapi


def invalid_text(texts: list[str]) -> str | None:
    """Why one of ``texts`` cannot be scored (naming its index), or None. A lone surrogate (JSON ``"\\ud800"``)
    is valid JSON but not text: the tokenizer raises on it, and in a shared batch it failed every request."""
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"text {index} is not valid Unicode: a lone surrogate (U+{ord(text[exc.start]):04X}) at character "
                    f"{exc.start}; send UTF-8 text, with \\ud800-\\udfff escapes only in high-low pairs")
    return None


def public_ref(model_ref: str) -> str:
    """The model reference as responses show it: registry and Hub references as given, a local path by its last
    component only (the server's directory layout is nobody's business)."""
    if model_ref.startswith(("registry:", "hub:")):
        return model_ref
    return PurePath(model_ref.rstrip("/\\")).name or "model"


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")


def default_allowed_hosts(bind_host: str) -> list[str] | None:
    """Host headers accepted by default: the loopback names when the server listens on loopback only (a web page
    cannot then reach it by DNS rebinding), any (None) otherwise."""
    loopback = bind_host in ("localhost", "::1") or bind_host.startswith("127.")
    return list(LOOPBACK_HOSTS) if loopback else None


def build_app(predictor: Any, model_info: dict[str, str], limits: ServeLimits | None = None, *,
              api_key: str | None = None, allowed_hosts: list[str] | None = None, docs: bool = False) -> Any:
    """The FastAPI app serving ``predictor`` (a :class:`~finrisk_nlp.inference.predictor.Predictor`).

    Args:
        model_info: ``ref``, ``version`` and ``fingerprint`` of the model, returned with every response.
        limits: request limits and batching; defaults of :class:`ServeLimits`.
        api_key: when set, every request must carry ``Authorization: Bearer <api_key>`` (401 otherwise).
        allowed_hosts: ``Host`` header values accepted (400 otherwise); None accepts any.
        docs: serve ``/docs`` and ``/openapi.json`` (off by default: they describe the service to anyone).
    """
    fastapi = import_fastapi()
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from finrisk_nlp.service.http_guard import RequestGuard

    limits = limits or ServeLimits()
    request_model = field_request_model(predictor) if getattr(predictor, "fields", None) is not None else None

    class PredictRequest(BaseModel):
        texts: list[str] = Field(min_length=1, description="documents to classify")

    def predict(texts: list[Any]) -> list[dict[str, Any]]:
        return predictor.predict(texts, batch_size=limits.batch_size)

    batcher = MicroBatcher(predict, limits.max_batch, limits.max_wait_ms)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        batcher.start()
        yield
        await batcher.stop()

    app = fastapi.FastAPI(title="finrisk_nlp", lifespan=lifespan,
                          description=f"{predictor.task.name}: {', '.join(predictor.task.labels)}",
                          docs_url="/docs" if docs else None, redoc_url=None,
                          openapi_url="/openapi.json" if docs else None)
    app.state.batcher = batcher

    def refuse(status: int, message: str) -> Any:
        return JSONResponse({"error": message, "model": model_info}, status_code=status)

    # Added innermost first: a request meets the version stamp, then the host check, then the key and body guard.
    app.add_middleware(RequestGuard, refuse=refuse, max_body_bytes=limits.max_body_bytes,
                       body_timeout_s=limits.body_timeout_s, api_key=api_key)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts, www_redirect=False)

    @app.middleware("http")
    async def model_version(request: Any, call_next: Callable) -> Any:
        response = await call_next(request)
        response.headers["X-Model-Version"] = model_info["version"]  # every answer, refusals and 422s included
        return response

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_info, "task": predictor.task.name,
                "labels": list(predictor.task.labels), "backend": predictor.backend,
                "precision": predictor.precision,
                "batches": batcher.batches, "texts": batcher.texts}

    async def answer(items: list[Any], texts: list[str]) -> Any:
        if len(texts) > limits.max_texts:
            return refuse(413, f"{len(texts)} texts in one request; at most {limits.max_texts} are allowed: "
                               "split the request")
        invalid = invalid_text(texts)
        if invalid is not None:
            return refuse(422, invalid)
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        if len(texts[longest]) > limits.max_text_chars:
            return refuse(413, f"text {longest} has {len(texts[longest]):,} characters; at most "
                               f"{limits.max_text_chars:,} are allowed: score long documents with `finrisk score`")
        try:
            results = await batcher.submit(items)
        except Exception:  # noqa: BLE001  (any model failure is this request's 500; the reason goes to the log only)
            return refuse(500, "prediction failed for this request; the server log has the reason")
        return {"model": model_info, "predictions": results}

    if request_model is None:
        @app.post("/predict")
        async def predict_endpoint(body: PredictRequest) -> Any:
            return await answer(body.texts, body.texts)
    else:
        names = predictor.field_names
        may_be_bare = predictor.field_dropout > 0

        @app.post("/predict")
        async def predict_records(body: request_model) -> Any:  # type: ignore[valid-type]
            # Fields left out stay out (absent), fields sent as null are missing values: both score as missing.
            records = [r.model_dump(exclude_unset=True) for r in body.records]
            bare = [i for i, r in enumerate(records) if not any(k in r for k in names)]
            if bare and not may_be_bare:
                return refuse(422, f"record(s) {bare[:5]} carry none of the fields {names}; this model was trained "
                                   "without field dropout and needs them (send null for a missing value)")
            return await answer(records, [r["text"] for r in records])

    return app


def field_request_model(predictor: Any) -> Any:
    """The pydantic request body of a model with structured fields: ``{"records": [{"text": ..., FIELD: ...}]}``;
    numeric fields take numbers (or null), categorical ones strings or numbers; unknown keys are refused."""
    from pydantic import BaseModel, ConfigDict, Field, create_model

    columns: dict[str, Any] = {"text": (str, Field(description="the document to classify"))}
    for spec in predictor.fields.specs:
        stats = spec.stats
        if spec.kind == "numeric":
            about = (f"numeric; training range {stats.get('min')} to {stats.get('max')}, "
                     f"{100 * stats.get('missing_rate', 0):.1f}% missing")
            columns[spec.name] = (float | None, Field(None, description=about))
        else:
            about = (f"categorical; {len(spec.categories)} categories seen in training, others go to an unknown "
                     f"bucket; {100 * stats.get('missing_rate', 0):.1f}% missing")
            columns[spec.name] = (str | int | float | None, Field(None, description=about))
    record = create_model("Record", __config__=ConfigDict(extra="forbid"), **columns)

    class PredictRecordsRequest(BaseModel):
        records: list[record] = Field(min_length=1,  # type: ignore[valid-type]
                                      description="documents with their structured fields")

    return PredictRecordsRequest


def serve(model_ref: str, *, host: str = "127.0.0.1", port: int = 8000, task: str | None = None,
          backend: str = "torch", quantize: str | None = None, precision: str | None = None,
          force: bool = False, texts_file: str | None = None, limits: ServeLimits | None = None,
          log_level: str = "info", api_key: str | None = None,
          allowed_hosts: list[str] | None = None, docs: bool = False) -> None:
    """Load ``model_ref`` once and serve it with uvicorn until interrupted.

    ``allowed_hosts`` None: the loopback names when ``host`` is a loopback address, any otherwise (see
    :func:`default_allowed_hosts`). The other arguments are those of :func:`build_app` and the CLI.
    """
    import_fastapi()
    try:
        import uvicorn
    except ImportError as exc:
        raise FinriskError(f"finrisk serve needs uvicorn, which is not installed; run `{SERVE_EXTRA_HINT}`") from exc
    from finrisk_nlp.inference.loading import load_for_inference, model_fingerprint, model_version

    limits = limits or ServeLimits()
    predictor = load_for_inference(model_ref, task=task, backend=backend, quantize=quantize,
                                   precision=precision, force=force, texts_file=texts_file)
    fingerprint = model_fingerprint(model_ref, predictor)
    info = {"ref": public_ref(model_ref), "version": model_version(predictor, fingerprint),
            "fingerprint": f"sha256:{fingerprint}"}
    hosts = allowed_hosts if allowed_hosts is not None else default_allowed_hosts(host)
    logger.info(f"serving {model_ref} (version {info['version']}, task {predictor.task.name}, {backend}"
                f", {predictor.precision}) on http://{host}:{port}; "
                f"{'API key required' if api_key else 'no API key'}; Host headers: {', '.join(hosts or ['any'])}")
    app = build_app(predictor, info, limits, api_key=api_key, allowed_hosts=hosts, docs=docs)
    uvicorn.Server(uvicorn_config(app, host, port, limits, log_level)).run()


def uvicorn_config(app: Any, host: str, port: int, limits: ServeLimits, log_level: str = "info") -> Any:
    """The ``uvicorn.Config`` that ``finrisk serve`` runs ``app`` with.

    uvicorn closes idle keep-alive connections and caps the size of headers; the guarded protocol adds what it
    lacks: a deadline for headers and a cap that closes extra connections (uvicorn's ``limit_concurrency`` answers
    their requests 503 but keeps the connections, and their file descriptors, open).
    """
    import uvicorn

    from finrisk_nlp.service.http_guard import guarded_h11_protocol

    return uvicorn.Config(app, host=host, port=port, log_level=log_level,
                          http=guarded_h11_protocol(limits.max_connections, limits.header_timeout_s),
                          timeout_keep_alive=limits.keep_alive_s, h11_max_incomplete_event_size=16 * 1024)
