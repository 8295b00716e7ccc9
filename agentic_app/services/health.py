"""Liveness of the database and Redis, for /api/agentic/health."""

from __future__ import annotations

import time

import sqlalchemy as sa

from agentic_app.engine.redis_conn import redis_answers
from agentic_app.services.base import Service


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


class HealthService(Service):
    """Liveness of the process's database and Redis."""

    def database(self) -> dict:
        """``{"ok": bool, "latency_ms": float, "error"?: str}`` for the database."""
        def _check():
            with self.db.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True, None

        return _timed(_check)

    def redis(self) -> dict:
        """``{"ok": bool, ...}`` for Redis (none known counts as down)."""
        def _check():
            url = self._app.redis_url()
            if not url:
                return False, "no Redis URL resolved"
            return ((True, None) if redis_answers(url, timeout=1.0)
                    else (False, f"no answer at {url}"))

        return _timed(_check)

    def report(self) -> tuple[bool, dict]:
        """Overall health and the per-dependency details (blocking)."""
        db, rd = self.database(), self.redis()
        ok = db["ok"] and rd["ok"]
        failed = [name for name, r in (("database", db), ("redis", rd)) if not r["ok"]]
        return ok, {"status": "ok" if ok else "degraded", "database": db, "redis": rd,
                    "failed": failed}
