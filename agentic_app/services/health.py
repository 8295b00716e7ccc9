"""Liveness of the database and Redis, for /api/agentic/health.

Anyone may ask whether the app is up (``status`` only); the details (latencies, the
connection URLs with their passwords hidden, the errors) are for admins alone, since raw
errors and URLs tell an attacker where the databases are and how they fail.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from agentic_app.engine.redis_conn import redis_answers
from agentic_app.services.base import Service


def hide_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (unparseable: ``<hidden>``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is hidden whole rather than risk leaking it
        return "<hidden>"


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
                    else (False, f"no answer at {hide_password(url)}"))

        return _timed(_check)

    def report(self, token: str | None = None) -> tuple[bool, dict]:
        """Overall health (blocking): ``{"status": "ok"|"degraded"}`` for anyone; the caller
        of an admin's ``token`` also gets per-dependency details, URLs with passwords hidden
        (while the database is down no token can be checked: status only)."""
        db, rd = self.database(), self.redis()
        ok = db["ok"] and rd["ok"]
        body: dict = {"status": "ok" if ok else "degraded"}
        viewer = self._app.auth.actor_for_token(token) if token and db["ok"] else None
        if viewer is None or not viewer.is_admin:
            return ok, body
        db["url"] = hide_password(self.settings.database_url)
        rd["url"] = hide_password(self._app.redis_url() or self.settings.redis_url)
        failed = [name for name, r in (("database", db), ("redis", rd)) if not r["ok"]]
        return ok, {**body, "database": db, "redis": rd, "failed": failed}
