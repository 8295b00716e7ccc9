"""TradingView webhook intake: check one alert of a ``tradingview`` webhook job and enqueue
its execution, doing nothing slow (one row read, one Redis SET, the enqueue).

Order of checks: sender address (when the job accepts TradingView's senders only), secret
(URL path, the JSON body's ``secret`` field, the ``X-Agentic-Secret`` header or ``?secret=``),
unresolved ``{{placeholders}}``, paused job, duplicate (the same body within
``WEBHOOKS__DEDUPE_SECONDS``: Redis SET NX with a TTL on the body's hash; dropped, not an
error). Rules in :mod:`agentic_app.domain.tradingview`.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from agentic_app.db.models import JobQueueEntry, ScheduledJob
from agentic_app.domain.errors import ConflictError, ForbiddenError, InvalidInputError
from agentic_app.domain.tradingview import (
    MAX_PLACEHOLDERS_NAMED,
    client_address,
    parse_body,
    sender_allowed,
    unresolved_placeholders,
)
from agentic_app.domain.triggers import WebhookTriggerConfig
from agentic_app.domain.webhook_signing import SECRET_HEADER, verify_shared_secret
from agentic_app.engine.queue.enqueue import enqueue_execution
from agentic_app.engine.scheduler.store import record_fire
from agentic_app.settings import Settings

DEDUPE_PREFIX = "agentic:webhook:tv:"
"""Redis key prefix of the TradingView alerts seen within the duplicate window."""


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError("the alert body is not UTF-8 text", field="body") from None


def receive_tradingview(app: Any, *, job: ScheduledJob, config: WebhookTriggerConfig,
                        body: bytes, headers: dict[str, str], client_host: str | None,
                        secret: str | None, now: float) -> JobQueueEntry | None:
    """Check one TradingView alert and enqueue its execution; None for a duplicate (dropped).

    Raises ForbiddenError (403: sender not allowed), AuthenticationError (401: missing or
    wrong secret), InvalidInputError (422: not UTF-8, unresolved placeholders),
    ConflictError (409: paused job), LimitExceededError (429), ServiceUnavailableError (503).
    """
    settings: Settings = app.settings
    lower = {k.lower(): v for k, v in headers.items()}
    sender = client_address(client_host, lower.get("x-forwarded-for"),
                            settings.webhooks.proxy_networks())
    if config.senders == "tradingview" and not sender_allowed(
            sender, settings.webhooks.sender_networks()):
        raise ForbiddenError(f"sender {sender or 'unknown'} is not one of TradingView's "
                             "addresses (WEBHOOKS__TRADINGVIEW_SENDERS)", field="client")
    text = _text(body)
    payload, body_secret = parse_body(text)
    verify_shared_secret(job.webhook_secret or "", secret or body_secret
                         or lower.get(SECRET_HEADER.lower()))
    left = unresolved_placeholders(text)
    if left:
        named = ", ".join(left[:MAX_PLACEHOLDERS_NAMED])
        raise InvalidInputError(
            f"the alert message still holds {named}: TradingView replaces only the "
            "placeholders it knows ({{close}}, {{ticker}}, {{strategy.order.action}}, ...); "
            "fix the alert's message", field="body")
    if not job.is_active:
        raise ConflictError("this webhook's job is paused", field="token")
    redis = app.redis
    key = f"{DEDUPE_PREFIX}{job.id}:{hashlib.sha256(body).hexdigest()}"
    if not redis.set(key, 1, nx=True, ex=settings.webhooks.dedupe_seconds):
        return None
    trigger_payload = {"body": payload, "source": "tradingview", "received_at": now,
                       "sender": sender, "scheduled_job_id": job.id}
    try:
        entry = enqueue_execution(
            db=app.db, redis=redis, workflow_id=job.workflow_id, user_id=job.user_id,
            trigger_type="webhook", trigger_payload=trigger_payload, priority=config.priority,
            scheduled_job_id=job.id, settings=settings)
    except Exception:
        redis.delete(key)  # not accepted: the same alert may be sent again
        raise
    record_fire(app.db, job.id, datetime.fromtimestamp(now, UTC), None)
    return entry
