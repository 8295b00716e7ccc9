"""Alerts, the pure part: the event kinds a user can route, channel input rules, masking of
secrets in apprise URLs and the storm summary text.

This module is the one place that names the kinds (:data:`ALERT_KINDS`); the engine records
them, the facade validates rules against them and the views list them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from agentic_app.domain.outbound import HOST_SCHEMES, url_scheme


@dataclass(frozen=True)
class AlertKind:
    """One kind of event a channel rule can select: its label and severity."""

    name: str
    label: str
    level: str
    plural: str


ALERT_KINDS: dict[str, AlertKind] = {k.name: k for k in (
    AlertKind("execution_failed", "Execution failed after its last retry", "error", "failures"),
    AlertKind("schedule_paused", "Schedule auto-paused", "error", "pauses"),
    AlertKind("runs_missed", "Runs missed", "warning", "missed-run alerts"),
    AlertKind("schedule_invalid", "Schedule config invalid", "error", "config errors"),
    AlertKind("data_stale", "Market data stale", "warning", "stale-data alerts"),
    AlertKind("order_filled", "Order filled", "info", "fills"),
    AlertKind("order_rejected", "Order rejected", "error", "rejections"),
    AlertKind("order_alert_only", "Alert-only order (what a run would have traded)", "info",
              "alert-only orders"),
    AlertKind("daily_limit", "Daily limit reached", "warning", "limit alerts"),
    AlertKind("kill_switch", "Kill switch engaged", "warning", "kill-switch alerts"),
    AlertKind("test", "Test message", "info", "test messages"),
)}
"""Every alert kind, by name. ``test`` is the channel's "send test" message (never routed)."""
RULE_KINDS = tuple(k for k in ALERT_KINDS if k != "test")
"""The kinds a channel rule can select (default: all of them)."""

MAX_CHANNEL_NAME = 100
"""Longest channel name."""
MAX_CHANNEL_URL = 2000
"""Longest apprise URL of a channel."""
MAX_SUBJECT = 200
"""Longest alert subject (the inbox title)."""
MAX_BODY = 4000
"""Longest alert body kept and sent."""
MASK = "****"
"""What replaces every secret part of a URL shown back to a user."""
INBOX_CHANNEL_PREFIX = "agentic:alerts:inbox:"
"""Pub/sub channel prefix nudged whenever a user's inbox changes (``...:<user_id>``)."""


def inbox_channel(user_id: int) -> str:
    """The pub/sub channel of ``user_id``'s inbox (open bells re-read their count)."""
    return f"{INBOX_CHANNEL_PREFIX}{user_id}"


def check_kinds(kinds: list[str] | tuple[str, ...]) -> list[str]:
    """The kinds, de-duplicated in canonical order; ValueError naming an unknown one."""
    unknown = [k for k in kinds if k not in RULE_KINDS]
    if unknown:
        raise ValueError(f"unknown alert kind {unknown[0]!r}; known: {', '.join(RULE_KINDS)}")
    return [k for k in RULE_KINDS if k in set(kinds)]


def check_kind(kind: str) -> AlertKind:
    """The kind named ``kind``; ValueError when there is none."""
    try:
        return ALERT_KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown alert kind {kind!r}") from None


def mask_url(url: str) -> str:
    """The URL with every part that may hold a secret replaced by :data:`MASK`: only the
    scheme, and for schemes that connect to a user-named server its host and port, remain
    (``json://****@hooks.example.com:8443/****``, ``tgram://****``)."""
    scheme = url_scheme(url) or "unknown"
    rest = url.partition("://")[2]
    if scheme not in HOST_SCHEMES:
        return f"{scheme}://{MASK}" if rest else f"{scheme}://"
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return f"{scheme}://{MASK}"
    user = f"{MASK}@" if "@" in parts.netloc else ""
    shown = f"[{host}]" if ":" in host else host
    tail = f"/{MASK}" if (parts.path.strip("/") or parts.query) else ""
    return f"{scheme}://{user}{shown}{f':{port}' if port else ''}{tail}"


def storm_summary(count: int, kinds: list[str], since: datetime) -> str:
    """The line that tells how many alerts a storm window held back:
    ``"12 more failures since 2026-12-02 10:15 UTC"``."""
    names = sorted(set(kinds))
    what = ALERT_KINDS[names[0]].plural if len(names) == 1 and names[0] in ALERT_KINDS \
        else "alerts"
    return f"{count} more {what} since {since.strftime('%Y-%m-%d %H:%M:%S')} UTC"
