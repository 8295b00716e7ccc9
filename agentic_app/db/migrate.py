"""Apply Alembic migrations programmatically (used at app start and by the CLI)."""

from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config

from agentic_app.db.engine import get_engine, normalize_url
from agentic_app.settings import REPO_ROOT

ALEMBIC_INI = REPO_ROOT / "alembic.ini"


def alembic_config(url: str, cipher: Any = None) -> Config:
    """An Alembic Config for ``url`` that leaves the caller's logging alone; ``cipher`` (a
    ``db.cipher.CredentialCipher``) is what migrations encrypt stored secrets with (default:
    the one of the process settings)."""
    cfg = Config(str(ALEMBIC_INI))
    if cipher is not None:
        cfg.attributes["cipher"] = cipher
    cfg.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["configure_logging"] = False
    return cfg


MIGRATION_LOCK_KEY = 842017
"""PostgreSQL advisory lock (session level) held while this process migrates."""
MIGRATION_LOCK_WAIT_S = 3600.0
"""Longest a migration waits for another process's migration to finish."""


@contextmanager
def _migration_lock(url: str, lock_dir: Path):
    """Serialize migrations: a PostgreSQL advisory lock, or a file lock for SQLite.

    On PostgreSQL the lock is polled (``pg_try_advisory_lock`` every 0.2 s) on an autocommit
    connection instead of waited for: a waiting ``pg_advisory_lock`` statement holds a
    snapshot, and the holder's ``CREATE INDEX CONCURRENTLY`` (migration 0013) waits for
    every older snapshot to go, so two migrations started together waited for each other
    forever. Raises TimeoutError after ``MIGRATION_LOCK_WAIT_S``.
    """
    url = normalize_url(url)
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        with get_engine(url).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            deadline = time.monotonic() + MIGRATION_LOCK_WAIT_S
            while not conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": MIGRATION_LOCK_KEY}).scalar():
                if time.monotonic() > deadline:
                    raise TimeoutError("another migration held the database's migration "
                                       f"lock for over {MIGRATION_LOCK_WAIT_S:.0f} s")
                time.sleep(0.2)
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"),
                             {"k": MIGRATION_LOCK_KEY})
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "migrate.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade_to_head(url: str, lock_dir: Path, cipher: Any = None) -> None:
    """Upgrade the database at ``url`` to the newest revision (safe to call concurrently);
    ``cipher`` as in :func:`alembic_config`."""
    with _migration_lock(url, lock_dir):
        command.upgrade(alembic_config(url, cipher), "head")


def downgrade_to_base(url: str) -> None:
    """Drop every migrated table (tests)."""
    command.downgrade(alembic_config(url), "base")
