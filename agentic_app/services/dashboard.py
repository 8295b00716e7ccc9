"""Queries the UI needs beyond the other services: last run per job, throughput series,
symbols, condition previews over the feed, and trigger nodes written into workflows.

No Reflex here; every function that reads user rows takes ``user_id`` and filters on it.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import JobQueueEntry, utcnow
from agentic_app.domain import triggers
from agentic_app.market import indicators
from agentic_app.nodes.library import registry
from agentic_app.services.schedules import NODE_FOR_TRIGGER
from agentic_app.settings import Settings

CHART_DAYS = 3
"""Days of feed history the condition preview chart covers."""
CHART_MAX_BARS = 300
"""Most bars a condition preview reads."""
WEBHOOK_PATH = "/api/agentic/webhooks/"
"""Path prefix of inbound webhooks (followed by the job's URL token)."""


_MARKETS: dict[tuple, Any] = {}


def market(settings: Settings):
    """The configured market feed (built once per process and feed setting)."""
    from agentic_app.engine.executor.node_services import build_market

    key = (settings.market_feed, settings.market_seed, settings.market_speed)
    if key not in _MARKETS:
        _MARKETS[key] = build_market(settings)
    return _MARKETS[key]


def feed_symbols(settings: Settings) -> list[str]:
    """Symbols of the configured feed, sorted."""
    return list(market(settings).symbols())


def last_runs(database_url: str, *, user_id: int, job_ids: list[int]) -> dict[int, dict]:
    """Newest queue row per scheduled job of ``user_id``: {job_id: {status, at, job}}."""
    out: dict[int, dict] = {}
    if not job_ids:
        return out
    with session_scope(database_url) as s:
        rows = s.exec(select(JobQueueEntry).where(
            JobQueueEntry.user_id == user_id,
            col(JobQueueEntry.scheduled_job_id).in_(job_ids)).order_by(
            col(JobQueueEntry.id).desc())).all()
    for row in rows:
        out.setdefault(row.scheduled_job_id, {"status": row.status, "at": row.created_at,
                                              "job": row.id})
    return out


def throughput_series(database_url: str, *, user_id: int, minutes: int = 60,
                      now: datetime | None = None) -> list[dict[str, Any]]:
    """Per minute over the last ``minutes``: completed, failed and failure rate (%)."""
    now = (now or utcnow()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = now - timedelta(minutes=minutes)
    buckets = {i: {"completed": 0, "failed": 0} for i in range(minutes)}
    with session_scope(database_url) as s:
        rows = s.exec(select(JobQueueEntry.status, JobQueueEntry.completed_at).where(
            JobQueueEntry.user_id == user_id, col(JobQueueEntry.completed_at) >= since)).all()
    for status, done in rows:
        if done.tzinfo is None:
            done = done.replace(tzinfo=UTC)
        index = int((done - since) / timedelta(minutes=1))
        if 0 <= index < minutes and status in ("completed", "failed"):
            buckets[index][status] += 1
    out = []
    for i in range(minutes):
        b = buckets[i]
        total = b["completed"] + b["failed"]
        out.append({"minute": (since + timedelta(minutes=i)).strftime("%H:%M"),
                    "completed": b["completed"], "failed": b["failed"],
                    "failure_rate": round(100 * b["failed"] / total, 1) if total else 0})
    return out


def job_ids_by_status(database_url: str, *, user_id: int, status: str,
                      limit: int = 500) -> list[int]:
    """Ids of the user's queue rows in ``status`` (for bulk actions), oldest first."""
    with session_scope(database_url) as s:
        return list(s.exec(select(JobQueueEntry.id).where(
            JobQueueEntry.user_id == user_id, JobQueueEntry.status == status)
            .order_by(col(JobQueueEntry.id)).limit(limit)))


def check_condition(trigger_type: str, condition: str, indicator: str = "rsi") -> None:
    """Raise a positioned ConditionError when ``condition`` is invalid for the trigger."""
    triggers.check_condition(trigger_type, condition, indicator)


def condition_chart(settings: Settings, *, trigger_type: str, config: dict[str, Any],
                    days: int = CHART_DAYS) -> dict[str, Any]:
    """Close (and indicator) over the last ``days`` of the feed, with the bars where the
    trigger would have fired by the watcher's own rules (``domain.triggers.replay``):
    {points: [{t, close, value, fire}], fires, indicator}. Raises InvalidInputError
    (positioned for conditions) when the config is not usable."""
    feed = market(settings)
    cfg = triggers.parse_trigger_config(trigger_type, config)
    feed.instrument(cfg.symbol)
    rule = triggers.compile_rule(cfg)
    indicator = getattr(cfg, "indicator", None)
    timeframe = getattr(cfg, "timeframe", "1h")
    seconds = indicators_seconds(timeframe)
    count = max(10, min(CHART_MAX_BARS, days * 86400 // seconds))
    warmup = indicators.spec(indicator).min_bars(**cfg.params) if indicator else 0
    bars = feed.bars(cfg.symbol, timeframe, count + warmup)
    values = {"close": bars.close}
    if indicator:
        values.update(indicators.compute(indicator, bars, **cfg.params))
    series = {name: values[out] for name, out in rule.names.items()}
    used = rule.condition.names
    envs = [None if any(math.isnan(series[n][i]) for n in used)
            else {name: float(arr[i]) for name, arr in series.items()}
            for i in range(len(bars.close))]
    fires = triggers.replay(rule, [float(ts) + seconds for ts in bars.ts], envs)
    points = []
    for i in range(max(0, len(bars.close) - count), len(bars.close)):
        close = round(float(bars.close[i]), 6)
        value = float(series[indicator][i]) if indicator else math.nan
        points.append({
            "t": datetime.fromtimestamp(int(bars.ts[i]), UTC).strftime("%m-%d %H:%M"),
            "close": close,
            "value": None if math.isnan(value) else round(value, 4),
            "fire": close if fires[i] else None,
        })
    return {"points": points, "fires": sum(1 for p in points if p["fire"] is not None),
            "indicator": indicator or "", "timeframe": timeframe}


def indicators_seconds(timeframe: str) -> int:
    """Seconds of one bar of ``timeframe``."""
    from agentic_app.market.base import parse_timeframe

    return parse_timeframe(timeframe)


def trigger_node_type(definition: dict) -> str | None:
    """Type of the workflow's trigger node, or None."""
    for node in definition.get("nodes", []):
        cls = registry.get(node.get("type", ""))
        if cls is not None and cls.is_trigger:
            return node["type"]
    return None


def with_trigger(definition: dict, trigger_type: str, params: dict[str, Any]) -> dict:
    """A copy of ``definition`` whose trigger node is the ``trigger_type`` node with ``params``
    (the trigger node keeps its id and edges; one is added in front when there is none)."""
    new = copy.deepcopy(definition)
    node_type = NODE_FOR_TRIGGER[trigger_type]
    for node in new.get("nodes", []):
        cls = registry.get(node.get("type", ""))
        if cls is not None and cls.is_trigger:
            node["type"], node["params"] = node_type, dict(params)
            return new
    roots = [n["id"] for n in new.get("nodes", [])
             if not any(e.get("to") == n["id"] for e in new.get("edges", []))]
    new.setdefault("nodes", []).insert(0, {"id": "trigger", "type": node_type,
                                           "params": dict(params)})
    new.setdefault("edges", []).extend({"from": "trigger", "to": r} for r in roots)
    return new


def trigger_params(definition: dict) -> dict[str, Any]:
    """Params of the workflow's trigger node ({} when none)."""
    for node in definition.get("nodes", []):
        cls = registry.get(node.get("type", ""))
        if cls is not None and cls.is_trigger:
            return dict(node.get("params") or {})
    return {}


def webhook_url(settings: Settings, token: str) -> str:
    """Public URL of a webhook job."""
    return f"{settings.api_base_url.rstrip('/')}{WEBHOOK_PATH}{token}"


def webhook_examples(url: str, secret: str, mode: str) -> dict[str, str]:
    """Copyable examples: a signed curl call and a TradingView alert set-up."""
    body = '{"symbol":"EURUSD","action":"buy","price":{{close}}}'
    curl_body = '{"symbol":"EURUSD","action":"buy","price":1.1}'
    if mode == "shared_secret":
        curl = (f"curl -X POST '{url}' -H 'Content-Type: application/json' \\\n"
                f"  -H 'X-Agentic-Secret: {secret}' -d '{curl_body}'")
    else:
        curl = (f"SECRET='{secret}'\nBODY='{curl_body}'\nT=$(date +%s)\n"
                "SIG=$(printf '%s.%s' \"$T\" \"$BODY\" | openssl dgst -sha256 -hmac \"$SECRET\" "
                "| sed 's/^.* //')\n"
                f"curl -X POST '{url}' -H 'Content-Type: application/json' \\\n"
                "  -H \"X-Agentic-Signature: t=$T,v1=$SIG\" \\\n"
                "  -H \"X-Agentic-Delivery: $(cat /proc/sys/kernel/random/uuid)\" "
                "-d \"$BODY\"")
    tradingview = (f"Webhook URL: {url}?secret={secret}\nMessage: {body}\n"
                   "(TradingView cannot sign requests: create the job in shared-secret mode.)")
    return {"curl": curl, "tradingview": tradingview}


def as_utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime (SQLite hands back naive ones)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
