"""Request-size limit: bodies over the limit get 413 before anything parses them.

A declared ``Content-Length`` over the limit is refused at once; a body without one
(chunked) is counted as it is read and refused as soon as it passes the limit (the
``HTTPException(413)`` raised from ``receive`` reaches the app's handler).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_REQUEST_BYTES = 1024 * 1024
"""Largest request body accepted by any route (1 MiB); webhooks also have their own limit."""


def too_large_detail(limit: int) -> str:
    """The 413 message."""
    return f"request body is over the limit of {limit} bytes"


class BodySizeLimitMiddleware:
    """Pure ASGI middleware enforcing ``max_bytes`` on HTTP request bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_REQUEST_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse or count the body, then run the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _send_413(send, self.max_bytes)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_large_detail(self.max_bytes))
            return message

        await self.app(scope, counting_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body: dict[str, Any] = {"detail": too_large_detail(limit), "type": "PayloadTooLargeError",
                            "field": "body"}
    raw = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": raw})
