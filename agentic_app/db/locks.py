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


def locked_statement_pg(engine: sa.Engine, key: int, sql: str, params: dict[str, Any]) -> Any:
    """Run one PostgreSQL statement (psycopg's ``%(name)s`` placeholders, values as psycopg
    adapts them) in its own transaction holding the advisory lock ``key``, committed; returns
    its first row (None when it returns none).

    One network round trip: BEGIN, the lock, the statement and COMMIT go out together in
    psycopg's pipeline mode. Each is still its own statement: the lock is held before the
    statement starts, so in READ COMMITTED the statement's snapshot sees every row committed
    by the lock's previous holders. A failure rolls back (nothing of the statement stays)
    and is raised as SQLAlchemy's ``DBAPIError`` subclass (``IntegrityError``, ...), as
    ``Connection.execute`` would."""
    import psycopg
    from psycopg.pq import TransactionStatus

    raw = engine.raw_connection()
    pg = raw.driver_connection
    clean, autocommit = False, pg.autocommit
    try:
        pg.autocommit = True  # BEGIN and COMMIT are ours: psycopg would wait for its BEGIN
        try:
            with pg.pipeline():
                pg.execute(b"BEGIN")
                pg.execute(f"SELECT pg_advisory_xact_lock({int(key)})".encode())
                cur = pg.execute(sql, params)
                pg.execute(b"COMMIT")
            row = cur.fetchone()
        except BaseException as exc:
            if not pg.broken and pg.info.transaction_status != TransactionStatus.IDLE:
                pg.rollback()
            if isinstance(exc, psycopg.Error):
                raise sa.exc.DBAPIError.instance(
                    sql, params, exc, psycopg.Error, dialect=engine.dialect,
                    connection_invalidated=pg.broken) from exc
            raise
        finally:
            if not pg.broken and pg.info.transaction_status == TransactionStatus.IDLE:
                pg.autocommit = autocommit  # the pooled connection as it was handed out
                clean = True
        return row
    finally:
        if not clean:
            raw.invalidate()  # broken or stuck in a transaction: never back to the pool
        raw.close()
