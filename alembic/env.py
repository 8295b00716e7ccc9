"""Alembic environment: targets SQLModel.metadata; URL from settings unless given."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import agentic_app.db.alert_models
import agentic_app.db.broker_models
import agentic_app.db.models
import agentic_app.db.scheduler_models
import agentic_app.db.trading_models  # noqa: F401  (registers the trading and live trading tables)
from agentic_app.db.engine import get_engine, normalize_url
from agentic_app.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    return normalize_url(config.get_main_option("sqlalchemy.url") or get_settings().database_url)


def run_migrations_offline() -> None:
    """Emit SQL without a connection."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a live connection (batch mode so SQLite can alter tables)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with get_engine(_url()).connect() as conn:
        _run(conn)
        conn.commit()


def _run(connection) -> None:
    # a transaction per migration: one that must run outside a transaction (0013's
    # concurrent index builds, in an autocommit block) then commits only its own work
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
