"""Write locks that make a count-then-insert exact across processes: on SQLite the
database's write lock (``BEGIN IMMEDIATE``), on PostgreSQL a transaction-level advisory lock
(one per key and, when given, per user, so users do not wait for each other)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from agentic_app.db.engine import begin_immediate

SCHEDULES_LOCK_KEY = 0x61675343
"""Advisory lock class of a user's scheduled-job count check + insert."""


def lock_writes(s: Any, key: int, user_id: int | None = None) -> None:
    """Make the fresh transaction of ``s`` (a Session or a Core connection) hold the lock
    ``key`` (for ``user_id`` only, when given) until it ends. Call it before the
    transaction's first statement: on SQLite the whole transaction must take the write lock
    from its start."""
    conn = s.connection() if hasattr(s, "exec") else s
    if conn.dialect.name == "sqlite":
        begin_immediate(conn)
    elif conn.dialect.name == "postgresql":
        if user_id is None:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        else:  # the two-int form: (class, user) pairs never collide with the one-int form
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k, :u)"),
                         {"k": key & 0x7FFFFFFF, "u": user_id})
