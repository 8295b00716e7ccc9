"""SQLite write transactions (db/engine.py): the write lock is taken at BEGIN and waited for
in fine steps; the connection keeps its busy timeout; an error rolls everything back."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from agentic_app.db import engine as db_engine
from agentic_app.db.engine import get_engine, write_transaction


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    with get_engine(url).begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    return url


def _raw(url: str) -> sqlite3.Connection:
    """A plain sqlite3 connection (another writer), usable from a timer thread."""
    return sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None,
                           check_same_thread=False)


def _rows(url: str) -> list[int]:
    with get_engine(url).connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT x FROM t ORDER BY x")]


def test_waits_for_a_held_lock_then_writes(url) -> None:
    """A writer holding the lock for 80 ms delays the next one by about that, not by
    SQLite's coarse sleeps; both rows are kept; busy_timeout is restored."""
    holder = _raw(url)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    threading.Timer(0.08, holder.commit).start()
    t0 = time.perf_counter()
    with write_transaction(url) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        busy = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    waited = time.perf_counter() - t0
    holder.close()
    assert 0.07 <= waited < 0.2
    assert busy == int(db_engine.WRITE_LOCK_TIMEOUT_S * 1000)
    assert _rows(url) == [1, 2]


def test_error_rolls_back_and_timeout_raises(url, monkeypatch) -> None:
    """An exception inside the block keeps nothing; a lock held past the timeout raises
    OperationalError instead of waiting forever."""
    with pytest.raises(RuntimeError), write_transaction(url) as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (3)")
        raise RuntimeError("boom")
    assert _rows(url) == []
    holder = _raw(url)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(db_engine, "WRITE_LOCK_TIMEOUT_S", 0.1)
    try:
        with pytest.raises(sa.exc.OperationalError), write_transaction(url):
            pass
    finally:
        holder.rollback()
        holder.close()


def test_fork_waits_for_another_threads_transaction(url) -> None:
    """A fork while another thread holds fork_barrier() around a write transaction waits for
    it, and the child can then write (without the barrier SQLite's inherited lock state makes
    every write of the child fail)."""
    import os

    inside = threading.Event()

    def writer() -> None:
        with db_engine.fork_barrier(), write_transaction(url) as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            inside.set()
            time.sleep(0.3)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(5)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child: fresh connections, a short lock timeout
        code = 1
        try:
            db_engine.WRITE_LOCK_TIMEOUT_S = 2.0
            get_engine(url).dispose(close=False)
            with write_transaction(url) as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (2)")
            code = 0
        finally:
            os._exit(code)
    waited = time.monotonic() - t0
    _, status = os.waitpid(pid, 0)
    thread.join()
    assert os.waitstatus_to_exitcode(status) == 0
    assert waited >= 0.2  # the fork waited for the transaction
    assert _rows(url) == [1, 2]
