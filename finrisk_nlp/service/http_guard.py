"""Connection and request guards of ``finrisk serve MODEL_REF``: what a slow, oversized or unauthorised client
can hold.

    finrisk serve registry:credit-text@production --api-key "$KEY" --max-connections 256 --header-timeout 10

* :func:`guarded_h11_protocol` is uvicorn's h11 protocol with a hard cap on open connections (one over the cap is
  answered 503 and closed at once, before it can hold a file descriptor) and a deadline for the request line and
  headers: uvicorn closes idle keep-alive connections but waits for ever on one that never finishes its headers,
  so 2,500 connections sending a byte now and then held every descriptor.
* :class:`RequestGuard` is ASGI middleware that checks the API key (``Authorization: Bearer KEY``, 401 otherwise)
  and reads the body before the app does, counting bytes as they arrive: ``--max-body-bytes`` then holds for chunked
  bodies that declare no length (413 as soon as the count passes it), and a body that does not arrive in
  ``body_timeout_s`` is answered 408. Both refusals close the connection, so the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _raw_response(status: str, text: str) -> bytes:
    """A whole HTTP/1.1 response that closes the connection, for refusals made before any request exists."""
    body = text.encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


_BUSY = _raw_response("503 Service Unavailable", "too many open connections; retry in a moment")
_SLOW = _raw_response("408 Request Timeout", "the request line and headers took too long; send them at once")


def guarded_h11_protocol(max_connections: int, header_timeout_s: float) -> type[H11Protocol]:
    """A subclass of uvicorn's ``H11Protocol`` (pass it as ``uvicorn.run(..., http=...)``) that refuses connections
    beyond ``max_connections`` and closes one whose request headers are not complete ``header_timeout_s`` after
    the connection opened or after the first byte of a keep-alive request."""

    class GuardedH11Protocol(H11Protocol):
        _refused = False
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.server_state.connections) >= max_connections:
                self._refused = True
                transport.write(_BUSY)
                transport.close()
                return
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            self._cancel_header_timer()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._header_timer is None and self.conn.their_state is h11.IDLE:
                self._arm_header_timer()  # the first byte of the next request on a keep-alive connection
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._cancel_header_timer()

        def _arm_header_timer(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_too_slow)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.write(_SLOW)
                self.transport.close()

    return GuardedH11Protocol


class RequestGuard:
    """ASGI middleware: API key, then the body read with a byte cap and a deadline, then the app.

    Args:
        app: the ASGI app to guard.
        refuse: builds the response of a refusal from a status and a message (an ASGI app, e.g. a starlette
            ``JSONResponse``), so refusals look like the app's own.
        max_body_bytes: the most body bytes read; more: 413.
        body_timeout_s: the most seconds the whole body may take to arrive; more: 408.
        api_key: when set, every request must send ``Authorization: Bearer <api_key>``; otherwise 401.
    """

    def __init__(self, app: Any, refuse: Callable[[int, str], Any], max_body_bytes: int, body_timeout_s: float,
                 api_key: str | None = None) -> None:
        self.app = app
        self.refuse = refuse
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self.expected is not None and not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
            response = self.refuse(401, "missing or wrong API key: send the header `Authorization: Bearer KEY` with "
                                        "the key the server was started with (--api-key or FINRISK_API_KEY)")
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._close_with(413, self._too_big(int(declared)), scope, receive, send)
            return
        body = await self._read_body(receive)
        if isinstance(body, tuple):
            status, message = body
            await self._close_with(status, message, scope, receive, send)
            return
        if body is None:  # the client went away
            return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_big(self, size: int, at_least: bool = False) -> str:
        return (f"request body of {'more than ' if at_least else ''}{size:,} bytes is over the limit of "
                f"{self.max_body_bytes:,}; send fewer or shorter texts per request")

    async def _read_body(self, receive: Callable) -> bytes | tuple[int, str] | None:
        """The whole body; or the refusal (status, message) when it is too big or too slow; None on disconnect."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout_s
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                return 408, (f"the request body did not arrive within {self.body_timeout_s:g} s ({size:,} bytes "
                             "read); send the whole body at once")
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return 413, self._too_big(self.max_body_bytes, at_least=True)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _close_with(self, status: int, message: str, scope: dict[str, Any], receive: Callable,
                          send: Callable) -> None:
        response = self.refuse(status, message)
        response.headers["Connection"] = "close"  # the unread rest of the body is dropped with the connection
        await response(scope, receive, send)
