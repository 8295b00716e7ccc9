"""Inbound webhooks: verify, refuse replays and oversized bodies, enqueue the execution."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlmodel import select

from agentic_app.db.models import JobQueueEntry, ScheduledJob
from agentic_app.domain.errors import ConflictError, NotFoundError, PayloadTooLargeError
from agentic_app.domain.triggers import WebhookTriggerConfig, parse_trigger_config
from agentic_app.domain.webhook_signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TOLERANCE_S,
    verify_shared_secret,
    verify_signature,
)
from agentic_app.engine.queue.enqueue import DuplicateJobError, enqueue_execution
from agentic_app.engine.scheduler.store import record_fire
from agentic_app.services.base import Service
from agentic_app.services.tradingview import receive_tradingview

REPLAY_PREFIX = "agentic:webhook:seen:"
"""Redis key prefix of deliveries seen within the signature window."""
ABSOLUTE_MAX_BODY = 1024 * 1024
"""No webhook body is read past this many bytes, whatever the job allows."""


def _payload(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body else {}
    except (UnicodeDecodeError, json.JSONDecodeError):
        return body.decode("utf-8", errors="replace")


class WebhookService(Service):
    """Inbound webhook deliveries (no user: the job's secret authenticates the sender)."""

    max_body = ABSOLUTE_MAX_BODY

    def find_job(self, token: str) -> tuple[ScheduledJob, WebhookTriggerConfig]:
        """The webhook job behind a URL token; NotFoundError when there is none."""
        with self.db.session() as s:
            job = s.exec(select(ScheduledJob).where(ScheduledJob.webhook_token == token)).first()
            if job is None or job.trigger_type != "webhook":
                raise NotFoundError("unknown webhook", field="token")
            return job, parse_trigger_config("webhook", job.trigger_config)

    def receive(self, *, token: str, body: bytes, headers: dict[str, str],
                secret_param: str | None = None, now: float | None = None,
                client_host: str | None = None,
                path_secret: str | None = None) -> JobQueueEntry | None:
        """Check one delivery and enqueue its execution; the body becomes the trigger payload.
        A ``tradingview`` job's alerts go through :mod:`agentic_app.services.tradingview`
        (None: a duplicate alert, dropped).

        Raises NotFoundError (404), PayloadTooLargeError (413), AuthenticationError (401),
        ForbiddenError (403: sender not allowed), InvalidInputError (422), ConflictError (409:
        replayed delivery or paused job), LimitExceededError (429), ServiceUnavailableError
        (503: no Redis).
        """
        now = time.time() if now is None else now
        job, config = self.find_job(token)
        if len(body) > config.max_body_bytes:
            raise PayloadTooLargeError(f"body of {len(body)} bytes is over this webhook's limit of "
                                       f"{config.max_body_bytes}", field="body")
        if config.mode == "tradingview":
            return receive_tradingview(self._app, job=job, config=config, body=body,
                                       headers=headers, client_host=client_host,
                                       secret=path_secret or secret_param, now=now)
        if path_secret is not None:
            raise NotFoundError("unknown webhook", field="token")  # a TradingView URL only
        redis = self._app.redis
        lower = {k.lower(): v for k, v in headers.items()}
        delivery = lower.get(DELIVERY_HEADER.lower())
        body_hash = hashlib.sha256(body).hexdigest()
        if config.mode == "hmac":
            # the replay identity is what the signature covers (timestamp + body): the unsigned
            # delivery header or extra ``v1=`` entries cannot make a captured request new again
            signed_at = verify_signature(job.webhook_secret, lower.get(SIGNATURE_HEADER.lower()),
                                         body, now)
            replay_id = f"{signed_at}:{body_hash}"
            dedupe = f"webhook:{job.id}:{hashlib.sha256(replay_id.encode()).hexdigest()}"
        else:
            verify_shared_secret(job.webhook_secret,
                                 lower.get("x-agentic-secret") or secret_param)
            # unsigned senders (TradingView) repeat identical bodies legitimately: a body is only a
            # replay inside the Redis window; a sender's delivery id is unique for good
            replay_id = delivery or body_hash
            dedupe = (f"webhook:{job.id}:{hashlib.sha256(delivery.encode()).hexdigest()}"
                      if delivery else None)
        if not job.is_active:
            raise ConflictError("this webhook's job is paused", field="token")
        key = f"{REPLAY_PREFIX}{job.id}:{hashlib.sha256(replay_id.encode()).hexdigest()}"
        if not redis.set(key, 1, nx=True, ex=TOLERANCE_S * 2):
            raise ConflictError("delivery already received (replay)", field=DELIVERY_HEADER)
        payload = {"body": _payload(body), "delivery_id": delivery,
                   "received_at": now, "scheduled_job_id": job.id}
        try:
            entry = enqueue_execution(
                db=self.db, redis=redis, workflow_id=job.workflow_id,
                user_id=job.user_id, trigger_type="webhook", trigger_payload=payload,
                priority=config.priority, scheduled_job_id=job.id, dedupe_key=dedupe,
                settings=self.settings)
        except DuplicateJobError:
            raise ConflictError("delivery already received (replay)",
                                field=DELIVERY_HEADER) from None
        except Exception:
            redis.delete(key)  # not accepted: the sender may retry the same delivery
            raise
        record_fire(self.db, job.id, datetime.fromtimestamp(now, UTC), None)
        return entry
