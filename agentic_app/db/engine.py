"""Database engine and sessions, built from Settings (no Reflex involved)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from agentic_app.settings import get_settings


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def _json_or_text(text: str) -> Any:
    """SQLite JSON columns decoded leniently: a value that is not JSON (SQLite can hold one when
    the database is written around the app) comes back as its text instead of failing the whole
    query, so one corrupt row stays one row with a problem (PostgreSQL's JSONB cannot hold one)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> sa.Engine:
    """One engine per URL per process; SQLite gets WAL, synchronous=NORMAL and a busy timeout."""
    url = normalize_url(url or get_settings().database_url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            from pathlib import Path

            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                                  json_deserializer=_json_or_text)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives a crash of the process (the queue's promise);
            # only an OS crash or power loss may drop the last commits. FULL fsyncs every
            # commit, which made SQLite the queue's bottleneck.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(WRITE_LOCK_TIMEOUT_S * 1000)}")
            cur.close()

        return engine
    engine = sa.create_engine(url, pool_size=10, max_overflow=20)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 2.0
"""A pooled server connection idle longer than this is pinged before it is handed out."""


def _ping_when_idle(engine: sa.Engine) -> None:
    """Pessimistic disconnect handling (SQLAlchemy's checkout-event recipe) for connections
    that sat in the pool: one idle over ``PING_AFTER_IDLE_S`` is pinged, and a dead one is
    replaced (``DisconnectionError`` makes the pool retry with a fresh connection).
    ``pool_pre_ping`` pinged on every checkout: a round trip per transaction, 3 of the ~13
    of a queued execution. A connection used within the last seconds is not pinged; if the
    server went away in between, the statement fails, SQLAlchemy invalidates the pool, and
    the caller's usual retry runs on fresh connections."""

    @sa.event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"pooled connection is dead: {exc}") from exc
        if not alive:
            raise sa.exc.DisconnectionError("pooled connection is dead")


WRITE_LOCK_TIMEOUT_S = 30.0
"""Longest a SQLite writer waits for the database's write lock (as ``busy_timeout``)."""
_FIRST_WAIT_S, _MAX_WAIT_S = 0.0002, 0.004


def begin_immediate(conn: sa.Connection) -> None:
    """Start ``conn``'s SQLite transaction holding the write lock (``BEGIN IMMEDIATE``).

    Waits for a busy lock in fine steps (0.2 ms doubling to 4 ms) instead of SQLite's busy
    handler, which sleeps 1, 2, 5, 10, ... ms: with a few processes writing short
    transactions those sleeps, not the work, were most of a collision's cost. Once the
    transaction holds the lock its statements and its commit (WAL) do not wait again.
    Raises ``sqlalchemy.exc.OperationalError`` after ``WRITE_LOCK_TIMEOUT_S``.
    """
    import sqlite3

    raw = conn.connection.driver_connection
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        wait, deadline = _FIRST_WAIT_S, time.monotonic() + WRITE_LOCK_TIMEOUT_S
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except sa.exc.OperationalError as exc:
                locked = isinstance(exc.orig, sqlite3.OperationalError) and \
                    "locked" in str(exc.orig)
                if not locked or time.monotonic() > deadline:
                    raise
            time.sleep(wait)  # the failed BEGIN left no transaction open: just try again
            wait = min(wait * 2, _MAX_WAIT_S)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(WRITE_LOCK_TIMEOUT_S * 1000)}")


@contextmanager
def write_transaction(url: str | None = None) -> Iterator[sa.Connection]:
    """A Core connection in a transaction that writes, committed on success: on SQLite it
    holds the write lock from the start (:func:`begin_immediate`), elsewhere a plain BEGIN."""
    engine = get_engine(url)
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        begin_immediate(conn)
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


_fork_lock = threading.RLock()


@contextmanager
def fork_barrier() -> Iterator[None]:
    """Hold around database work done by a thread of a process that forks (a forking RQ
    worker's maintenance thread): ``os.fork`` waits until it is over.

    SQLite keeps its file locks' state in process memory; a child forked while another
    thread of the parent is inside a write transaction inherits "this process holds the
    write lock" and can never write (measured: a work-horse's claim waited its whole 30 s
    busy timeout and failed)."""
    with _fork_lock:
        yield


def _renew_fork_lock() -> None:
    global _fork_lock
    _fork_lock = threading.RLock()  # the child's copy may be held by a thread it lacks


os.register_at_fork(before=lambda: _fork_lock.acquire(),
                    after_in_parent=lambda: _fork_lock.release(),
                    after_in_child=_renew_fork_lock)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


class Database:
    """One process's handle on the database: its engine, sessions and write transactions.

    Built once per process by the application facade (``AppServices``) and handed to every
    engine and service function as ``db``; nothing else builds engines or passes URLs around.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = get_engine(self.url)

    @property
    def dialect(self) -> str:
        """``'sqlite'`` or ``'postgresql'``."""
        return self.engine.dialect.name

    def session(self) -> contextlib.AbstractContextManager[Session]:
        """A session that commits on success and rolls back on error."""
        return session_scope(self.url)

    def write(self) -> contextlib.AbstractContextManager[sa.Connection]:
        """A Core connection in a writing transaction (:func:`write_transaction`)."""
        return write_transaction(self.url)

    def __repr__(self) -> str:
        return f"Database({self.engine.url.render_as_string(hide_password=True)!r})"
