"""Stripe-like webhook signatures: ``X-Agentic-Signature: t=<unix seconds>,v1=<hex>``.

``v1`` is HMAC-SHA256, keyed with the job's secret, over ``"<t>." + raw body``. A signature
is accepted when one ``v1`` matches (constant-time compare) and ``t`` is within the
tolerance (5 minutes) of the receiver's clock. Several ``v1`` entries are allowed (secret
rotation).
"""

from __future__ import annotations

import hashlib
import hmac

from agentic_app.domain.errors import AuthenticationError

SIGNATURE_HEADER = "X-Agentic-Signature"
"""Header carrying ``t=...,v1=...``."""
DELIVERY_HEADER = "X-Agentic-Delivery"
"""Header carrying the sender's unique delivery id (replays of it are refused)."""
SECRET_HEADER = "X-Agentic-Secret"
"""Shared-secret mode: the secret itself (or ``?secret=`` in the URL), for senders that cannot
sign, such as TradingView. Weaker: the secret travels with every request."""
TOLERANCE_S = 300
"""Accepted clock difference between sender and receiver, in seconds."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>." + body`` keyed with ``secret``."""
    msg = str(int(timestamp)).encode() + b"." + body
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The full header value a sender puts in ``X-Agentic-Signature``."""
    return f"t={int(timestamp)},v1={compute_signature(secret, timestamp, body)}"


def parse_header(header: str | None) -> tuple[int, list[str]]:
    """(timestamp, [v1 signatures]); AuthenticationError when missing or malformed."""
    if not header:
        raise AuthenticationError(f"missing {SIGNATURE_HEADER} header", field=SIGNATURE_HEADER)
    timestamp, sigs = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            sigs.append(value.strip())
    if timestamp is None or not sigs:
        raise AuthenticationError(f"malformed {SIGNATURE_HEADER} header (want t=...,v1=...)",
                                  field=SIGNATURE_HEADER)
    return timestamp, sigs


def verify_signature(secret: str, header: str | None, body: bytes, now: float,
                     tolerance_s: int = TOLERANCE_S) -> int:
    """Check the header against ``body``; returns its timestamp or raises AuthenticationError."""
    timestamp, sigs = parse_header(header)
    if abs(now - timestamp) > tolerance_s:
        raise AuthenticationError(f"signature timestamp outside the {tolerance_s} s window",
                                  field=SIGNATURE_HEADER)
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in sigs):
        raise AuthenticationError("signature does not match", field=SIGNATURE_HEADER)
    return timestamp


def verify_shared_secret(secret: str, given: str | None) -> None:
    """Constant-time check of a shared secret; AuthenticationError when wrong or missing."""
    if not given or not hmac.compare_digest(secret.encode(), given.encode()):
        raise AuthenticationError("missing or wrong shared secret", field=SECRET_HEADER)
