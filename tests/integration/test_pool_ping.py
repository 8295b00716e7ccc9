"""Pooled PostgreSQL connections: pinged only after sitting idle, and a dead one is replaced
at checkout instead of failing the caller's first statement."""

from __future__ import annotations

import sqlalchemy as sa

from agentic_app.db import engine as db_engine
from tests.conftest import fresh_postgres_database


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()


def test_dead_idle_connection_is_replaced_and_busy_one_not_pinged(monkeypatch):
    with fresh_postgres_database("pool_ping") as url:
        engine = db_engine.get_engine(url)
        pings: list[int] = []
        real_ping = engine.dialect.do_ping
        monkeypatch.setattr(engine.dialect, "do_ping",
                            lambda conn: pings.append(1) or real_ping(conn))

        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # the same pooled connection, reused at once
        assert pings == []  # used within PING_AFTER_IDLE_S: no ping round trip

        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # the server drops the pooled connection
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"),
                                {"pid": first}).scalar()
        admin.dispose()
        monkeypatch.setattr(db_engine, "PING_AFTER_IDLE_S", 0.0)  # it has now sat "idle"

        second = _backend_pid(engine)  # pinged, found dead, replaced: no error here
        assert pings and second != first
        engine.dispose()
