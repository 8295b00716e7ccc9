"""Webhook route: ``POST /webhooks/{token}`` (no bearer token: the signature authenticates).

The raw body is read (at most the absolute webhook limit) and handed, with the headers, to
the facade's ``app.webhooks.receive``, which verifies the HMAC signature (or the
shared secret), refuses replays and enqueues the execution: the answer is 202 right after
the enqueue. Header format and modes: docs/API.md and ``domain/webhook_signing.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from agentic_app.api.deps import AppDep
from agentic_app.api.errors import error_responses
from agentic_app.api.queue_schemas import WebhookAccepted
from agentic_app.domain.errors import PayloadTooLargeError

router = APIRouter(prefix="/webhooks", tags=["webhooks"],
                   responses=error_responses(400, 401, 404, 405, 409, 413, 422, 429, 500, 503))


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; PayloadTooLargeError as soon as it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"body is over the webhook limit of {limit} bytes",
                                       field="body")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/{token}", response_model=WebhookAccepted, status_code=202,
             openapi_extra={"requestBody": {"required": False, "content": {
                 "application/json": {"schema": {"type": "object"}},
                 "text/plain": {"schema": {"type": "string"}}}}})
async def webhook(
    token: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")],
    request: Request,
    app: AppDep,
    secret: Annotated[str | None, Query(max_length=256,
                                        description="shared-secret mode only")] = None,
) -> WebhookAccepted:
    """Receive one delivery for a webhook job and enqueue its execution (202).

    HMAC mode: header ``X-Agentic-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>``
    keyed with the job's secret, within 5 minutes; optional ``X-Agentic-Delivery`` id.
    Shared-secret mode (weaker): ``X-Agentic-Secret: <secret>`` or ``?secret=``.
    401 bad/missing signature, 404 unknown token, 409 replay or paused job, 413 body over
    the job's limit, 429 a queue limit."""
    body = await read_body(request, app.webhooks.max_body)
    job = await run_in_threadpool(app.webhooks.receive, token=token, body=body,
                                  headers=dict(request.headers), secret_param=secret)
    view = app.queue.view(job)
    return WebhookAccepted(job_id=view["id"], execution_id=view["execution_id"],
                           status=view["status"])
