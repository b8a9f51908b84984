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


class MicroBatcher:
    """Coalesces concurrent ``submit`` calls into calls of ``predict`` on at most ``max_batch`` texts.

    One worker thread runs ``predict`` (the model is used by one thread at a time); while it runs, new requests
    queue up and form the next batch, so batches grow with load and a lone request waits only ``max_wait_ms``.
    A request larger than ``max_batch`` is never split: it forms a batch of its own.
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
                logger.exception("prediction failed for a batch of %d texts", len(texts))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
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


def build_app(predictor: Any, model_info: dict[str, str], limits: ServeLimits | None = None) -> Any:
    """The FastAPI app serving ``predictor`` (a :class:`~finrisk_nlp.serving.predictor.Predictor`).

    Args:
        model_info: ``ref``, ``version`` and ``fingerprint`` of the model, returned with every response.
        limits: request limits and batching; defaults of :class:`ServeLimits`.
    """
    fastapi = import_fastapi()
    from fastapi.responses import JSONResponse
    from pydantic import BaseModel, Field

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
                          description=f"{predictor.task.name}: {', '.join(predictor.task.labels)}")
    app.state.batcher = batcher

    def refuse(status: int, message: str) -> Any:
        return JSONResponse({"error": message, "model": model_info}, status_code=status)

    @app.middleware("http")
    async def body_limit_and_version(request: Any, call_next: Callable) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
            response = refuse(413, f"request body of {int(declared):,} bytes is over the limit of "
                                   f"{limits.max_body_bytes:,}; send fewer or shorter texts per request")
        else:
            response = await call_next(request)
        response.headers["X-Model-Version"] = model_info["version"]  # every answer, refusals and 422s included
        return response

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_info, "task": predictor.task.name,
                "labels": list(predictor.task.labels), "backend": predictor.backend,
                "batches": batcher.batches, "texts": batcher.texts}

    async def answer(items: list[Any], texts: list[str]) -> Any:
        if len(texts) > limits.max_texts:
            return refuse(413, f"{len(texts)} texts in one request; at most {limits.max_texts} are allowed: "
                               "split the request")
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        if len(texts[longest]) > limits.max_text_chars:
            return refuse(413, f"text {longest} has {len(texts[longest]):,} characters; at most "
                               f"{limits.max_text_chars:,} are allowed: score long documents with `finrisk score`")
        try:
            results = await batcher.submit(items)
        except Exception as exc:  # noqa: BLE001  (any model failure is this request's 500, with its reason)
            return refuse(500, f"prediction failed: {type(exc).__name__}: {exc}")
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
          backend: str = "torch", quantize: str | None = None, force: bool = False,
          limits: ServeLimits | None = None, log_level: str = "info") -> None:
    """Load ``model_ref`` once and serve it with uvicorn until interrupted."""
    import_fastapi()
    try:
        import uvicorn
    except ImportError as exc:
        raise FinriskError(f"finrisk serve needs uvicorn, which is not installed; run `{SERVE_EXTRA_HINT}`") from exc
    from finrisk_nlp.serving.model_prep import load_for_inference, model_fingerprint, model_version

    predictor = load_for_inference(model_ref, task=task, backend=backend, quantize=quantize, force=force,
                                   device="cpu" if quantize else None)
    fingerprint = model_fingerprint(model_ref, predictor)
    info = {"ref": model_ref, "version": model_version(predictor, fingerprint), "fingerprint": f"sha256:{fingerprint}"}
    logger.info(f"serving {model_ref} (version {info['version']}, task {predictor.task.name}, {backend}"
                f"{', int8' if quantize else ''}) on http://{host}:{port}")
    uvicorn.run(build_app(predictor, info, limits), host=host, port=port, log_level=log_level)
