"""Shared fixtures: a real Redis (flushed per test) and real databases (SQLite, PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa

from agentic_app.engine.runtime.local_redis import find_redis
from agentic_app.settings import REPO_ROOT

TEST_REDIS_DB = 15
"""Redis logical database reserved for tests (flushed before each test that uses it)."""
TEST_POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
"""Admin URL of the PostgreSQL used for tests; each session creates its own database there."""


def _with_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return urlunsplit(parts._replace(query=f"db={db}"))
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture(scope="session")
def redis_base_url() -> str:
    """URL of a Redis that answers (the configured one, or the private one from setup)."""
    url = find_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), REPO_ROOT / ".data")
    if url is None:
        pytest.fail("no Redis answers: run `make setup` (it starts one)")
    return url


@pytest.fixture
def redis_url(redis_base_url: str) -> str:
    """The test Redis database, flushed before the test."""
    import redis

    url = _with_db(redis_base_url, TEST_REDIS_DB)
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


def _postgres_admin() -> sa.Engine | None:
    try:
        engine = sa.create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return engine
    except Exception:
        return None


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "agentic_test"):
    """A new database on the PostgreSQL server (its URL), dropped on exit; skips the test
    when PostgreSQL does not answer."""
    admin = _postgres_admin()
    if admin is None:
        pytest.skip(f"PostgreSQL does not answer at {TEST_POSTGRES_URL}")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield TEST_POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        from agentic_app.db.engine import get_engine

        get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_server_url():
    """URL of a fresh PostgreSQL database for this test session (dropped at the end)."""
    with fresh_postgres_database() as url:
        yield url


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_url(request, tmp_path) -> str:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url = request.getfixturevalue("postgres_server_url")
    _reset_postgres(url)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once per session (by the real migrations), its WAL
    checkpointed into the file: the tests get byte copies of it instead of running every
    migration again for each test (~0.2 s each, hundreds of tests)."""
    from agentic_app.db.engine import get_engine
    from agentic_app.db.migrate import upgrade_to_head

    folder = tmp_path_factory.mktemp("migrated-template")
    path = folder / "template.db"
    url = f"sqlite:///{path}"
    upgrade_to_head(url, folder)
    get_engine(url).dispose()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _copy_migrated_sqlite(template: Path, target: Path) -> str:
    """Copy the migrated template to ``target`` (a new file); its SQLAlchemy URL."""
    assert not target.exists(), target
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def db_url(empty_db_url: str, tmp_path, request) -> str:
    """A database migrated to head, once on SQLite and once on PostgreSQL."""
    from agentic_app.db.migrate import upgrade_to_head

    if empty_db_url.startswith("sqlite:///"):
        template = request.getfixturevalue("migrated_sqlite_template")
        return _copy_migrated_sqlite(template, Path(empty_db_url.removeprefix("sqlite:///")))
    upgrade_to_head(empty_db_url, tmp_path)
    return empty_db_url


@pytest.fixture
def sqlite_db_url(tmp_path, migrated_sqlite_template) -> str:
    """A SQLite database migrated to head (for tests that need one backend only)."""
    return _copy_migrated_sqlite(migrated_sqlite_template, tmp_path / "test.db")
