"""The ``finrisk serve`` command: a REST scoring service for one model.

    finrisk serve registry:credit-text@production --port 8000 [--backend onnx] [--precision auto|bf16|int8]

Kept apart from :mod:`finrisk_nlp.service.rest` so that building the CLI parser imports neither torch nor
FastAPI. Exit code 2 (no traceback) when the model does not load or the ``serve`` extra is missing.
"""

from __future__ import annotations

import argparse
import os

from finrisk_nlp.cli.score import add_precision_arguments
from finrisk_nlp.cli.tune import positive


def run_serve_command(args: argparse.Namespace) -> int:
    from finrisk_nlp.service.rest import ServeLimits, serve

    limits = ServeLimits(max_texts=args.max_texts, max_text_chars=args.max_text_chars,
                         max_body_bytes=args.max_body_bytes, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                         batch_size=args.batch_size, max_connections=args.max_connections,
                         header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout,
                         keep_alive_s=args.keep_alive_timeout)
    hosts = None if args.allowed_hosts is None else [h.strip() for h in args.allowed_hosts.split(",") if h.strip()]
    serve(args.model, host=args.host, port=args.port, task=args.task, backend=args.backend, quantize=args.quantize,
          precision=args.precision, texts_file=args.texts, force=args.force, limits=limits, log_level=args.log_level,
          api_key=args.api_key or os.environ.get("FINRISK_API_KEY") or None, allowed_hosts=hosts, docs=args.docs)
    return 0


def add_serve_command(subparsers: argparse._SubParsersAction) -> None:
    from finrisk_nlp.service.rest import ServeLimits

    defaults = ServeLimits()
    parser = subparsers.add_parser(
        "serve", help="serve a model over HTTP: POST /predict, GET /health (needs the serve extra)",
        description="Loads the model once and answers POST /predict {\"texts\": [...]} with one result per text and "
                    "the model version; concurrent requests are batched into one forward pass.")
    parser.add_argument("model", help="run or model directory, export, registry:NAME[@STAGE|@VERSION], hub:ORG/NAME")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; "
                                                            "0.0.0.0 to accept other machines)")
    parser.add_argument("--port", type=int, default=8000, help="default: %(default)s")
    parser.add_argument("--task", help="the task to serve from a multi-task model (required for those)")
    parser.add_argument("--backend", choices=["torch", "onnx"], default="torch",
                        help="torch, or onnxruntime on CPU (an ONNX export, or any model exported on load)")
    add_precision_arguments(parser)
    parser.add_argument("--max-texts", type=positive(int), default=defaults.max_texts,
                        help="texts per request (default: %(default)s; more: 413)")
    parser.add_argument("--max-text-chars", type=positive(int), default=defaults.max_text_chars,
                        help="characters per text (default: %(default)s; more: 413)")
    parser.add_argument("--max-body-bytes", type=positive(int), default=defaults.max_body_bytes,
                        help="bytes per request body (default: %(default)s; more: 413)")
    parser.add_argument("--max-batch", type=positive(int), default=defaults.max_batch,
                        help="texts taken together from concurrent requests (default: %(default)s; 1: each request "
                             "alone)")
    parser.add_argument("--max-wait-ms", type=float, default=defaults.max_wait_ms,
                        help="how long a batch waits for more requests (default: %(default)s: never; requests that "
                             "queue while the model is busy form the next batch)")
    parser.add_argument("--batch-size", type=positive(int), default=defaults.batch_size,
                        help="windows per forward pass; a batch is sorted by length first (default: %(default)s)")
    parser.add_argument("--max-connections", type=positive(int), default=defaults.max_connections,
                        help="open connections at once; one more is answered 503 and closed (default: %(default)s; "
                             "keep it below `ulimit -n`)")
    parser.add_argument("--header-timeout", type=positive(float), default=defaults.header_timeout_s,
                        help="seconds for a request's line and headers to arrive, or 408 and closed "
                             "(default: %(default)s)")
    parser.add_argument("--body-timeout", type=positive(float), default=defaults.body_timeout_s,
                        help="seconds for a request body to arrive, or 408 and closed (default: %(default)s)")
    parser.add_argument("--keep-alive-timeout", type=positive(float), default=defaults.keep_alive_s,
                        help="seconds an idle keep-alive connection stays open (default: %(default)s)")
    parser.add_argument("--api-key", help="require `Authorization: Bearer KEY` on every request (401 otherwise); "
                                          "default: the FINRISK_API_KEY environment variable (safer: not shown by ps)")
    parser.add_argument("--allowed-hosts", help="comma-separated Host header values accepted, `*` for any (default: "
                                                "localhost, 127.0.0.1, [::1] when --host is loopback, any otherwise)")
    parser.add_argument("--docs", action="store_true", help="serve /docs and /openapi.json (off by default)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help="uvicorn's log level (default: %(default)s)")
    parser.set_defaults(func=run_serve_command)
