"""Webhook route: ``POST /webhooks/{token}`` (no bearer token: the signature authenticates).

The raw body is read (at most the absolute webhook limit) and handed, with the headers and
the peer address, to the facade's ``app.webhooks.receive``, which verifies the HMAC signature
(or the shared secret, or a TradingView job's secret URL), refuses replays and enqueues the
execution: the answer is 202 right after the enqueue (200 for a dropped duplicate alert).
``POST /webhooks/{token}/{secret}`` is the TradingView secret URL. Header format and modes:
docs/API.md and ``domain/webhook_signing.py``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from agentic_app.api.deps import AppDep
from agentic_app.api.errors import error_responses
from agentic_app.api.queue_schemas import WebhookAccepted
from agentic_app.domain.errors import PayloadTooLargeError

router = APIRouter(prefix="/webhooks", tags=["webhooks"],
                   responses=error_responses(400, 401, 403, 404, 405, 409, 413, 422, 429, 500,
                                             503))


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


Token = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$")]
BODY_DOC = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": {"type": "object"}},
    "text/plain": {"schema": {"type": "string"}}}}}


async def _deliver(app, request: Request, token: str, secret: str | None,
                   path_secret: str | None) -> WebhookAccepted | JSONResponse:
    body = await read_body(request, app.webhooks.max_body)
    job = await run_in_threadpool(
        app.webhooks.receive, token=token, body=body, headers=dict(request.headers),
        secret_param=secret, client_host=request.client.host if request.client else None,
        path_secret=path_secret)
    if job is None:  # a TradingView alert already received within the duplicate window
        return JSONResponse({"accepted": False, "job_id": None, "execution_id": None,
                             "status": "duplicate"}, status_code=200)
    view = app.queue.view(job)
    return WebhookAccepted(job_id=view["id"], execution_id=view["execution_id"],
                           status=view["status"])


@router.post("/{token}", response_model=WebhookAccepted, status_code=202,
             responses={200: {"model": WebhookAccepted, "description": "duplicate dropped"}},
             openapi_extra=BODY_DOC)
async def webhook(
    token: Token,
    request: Request,
    app: AppDep,
    secret: Annotated[str | None, Query(max_length=256,
                                        description="shared-secret mode only")] = None,
) -> WebhookAccepted | JSONResponse:
    """Receive one delivery for a webhook job and enqueue its execution (202).

    HMAC mode: header ``X-Agentic-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>." + body>``
    keyed with the job's secret, within 5 minutes; optional ``X-Agentic-Delivery`` id.
    Shared-secret mode (weaker): ``X-Agentic-Secret: <secret>`` or ``?secret=``.
    TradingView mode: the secret as ``"secret"`` in a JSON body (or as in shared-secret
    mode); text or JSON body; a duplicate within the window is dropped (200, ``duplicate``).
    401 bad/missing signature, 403 sender not allowed, 404 unknown token, 409 replay or paused
    job, 413 body over the job's limit, 422 unresolved ``{{placeholders}}``, 429 a queue
    limit."""
    return await _deliver(app, request, token, secret, None)


@router.post("/{token}/{secret}", response_model=WebhookAccepted, status_code=202,
             responses={200: {"model": WebhookAccepted, "description": "duplicate dropped"}},
             openapi_extra=BODY_DOC)
async def tradingview_webhook(
    token: Token,
    secret: Annotated[str, Path(min_length=1, max_length=256)],
    request: Request,
    app: AppDep,
) -> WebhookAccepted | JSONResponse:
    """A TradingView-mode job's secret URL (paste it into the alert's webhook URL): the body
    is the alert message, text or JSON. 202 enqueued, 200 duplicate dropped, 401 wrong
    secret, 403 sender not allowed, 404 unknown token or not a TradingView job, 413 too big,
    422 unresolved ``{{placeholders}}``."""
    return await _deliver(app, request, token, None, secret)
