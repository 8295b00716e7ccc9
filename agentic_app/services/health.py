"""Liveness of the database and Redis, for /api/agentic/health."""

from __future__ import annotations

import time

import sqlalchemy as sa

from agentic_app.db.engine import get_engine
from agentic_app.engine.redis_conn import redis_answers


def _timed(check) -> dict:
    start = time.perf_counter()
    try:
        ok, detail = check()
    except Exception as exc:  # any failure means "down"; report its type and text
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    out = {"ok": ok, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}
    if detail:
        out["error"] = detail
    return out


def check_database(url: str) -> dict:
    """``{"ok": bool, "latency_ms": float, "error"?: str}`` for the database."""
    def _check():
        with get_engine(url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True, None

    return _timed(_check)


def check_redis(url: str | None) -> dict:
    """``{"ok": bool, ...}`` for Redis (not configured counts as down)."""
    def _check():
        if not url:
            return False, "no Redis URL resolved"
        return (True, None) if redis_answers(url, timeout=1.0) else (False, f"no answer at {url}")

    return _timed(_check)


def health_report(database_url: str, redis_url: str | None) -> tuple[bool, dict]:
    """Overall health and the per-dependency details."""
    db = check_database(database_url)
    rd = check_redis(redis_url)
    ok = db["ok"] and rd["ok"]
    failed = [name for name, r in (("database", db), ("redis", rd)) if not r["ok"]]
    return ok, {"status": "ok" if ok else "degraded", "database": db, "redis": rd,
                "failed": failed}
