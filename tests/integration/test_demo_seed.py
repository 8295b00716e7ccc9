"""Local demo data: seeded once with demo-friendly schedules; what the user deletes stays gone."""

from __future__ import annotations

import pytest
from sqlmodel import select

from agentic_app.db.engine import session_scope
from agentic_app.db.models import ScheduledJob, User, Workflow
from agentic_app.services.app import AppServices
from agentic_app.settings import load_settings


@pytest.fixture
def settings(sqlite_db_url, tmp_path):
    """Local-mode settings on a migrated SQLite database (demo market, 60x clock)."""
    return load_settings(database_url=sqlite_db_url, data_dir=tmp_path)


def seed_demo(settings, *, fill_missing: bool = False):
    """Seed the demo data through the facade (what every local start does)."""
    return AppServices(settings).demo.seed(fill_missing=fill_missing)


def _jobs(settings) -> dict[str, ScheduledJob]:
    with session_scope(settings.database_url) as s:
        return {j.name: j for j in s.exec(select(ScheduledJob))}


def test_first_run_seeds_user_workflows_and_three_schedules(settings):
    """A demo user who is not an admin, the three templates and one demo schedule of each
    trigger kind."""
    user, created = seed_demo(settings)
    assert not user.is_admin and len(created) == 3
    jobs = _jobs(settings)
    assert {j.trigger_type for j in jobs.values()} == {"cron", "price", "indicator"}
    cron = jobs["RSI Oversold Strategy (demo)"]
    assert cron.trigger_config["cron_expression"] == "* * * * *" and cron.next_run is not None
    price = jobs["EURUSD Price Alert (demo)"].trigger_config
    assert price["condition"].startswith("price > 1.")
    indicator = jobs["RSI Signal Auto-trade (demo)"].trigger_config
    assert (indicator["timeframe"], indicator["evaluate_on"]) == ("1m", "tick")


def test_restart_does_not_bring_back_what_the_user_deleted(settings):
    """Deleted demo schedules stay deleted on the next start; seed-demo refills only on ask."""
    user, _ = seed_demo(settings)
    cron = _jobs(settings)["RSI Oversold Strategy (demo)"]
    AppServices(settings).schedules.delete(user, cron.id)
    seed_demo(settings)  # next start of the app
    assert "RSI Oversold Strategy (demo)" not in _jobs(settings)
    with session_scope(settings.database_url) as s:
        for job in s.exec(select(ScheduledJob)):
            s.delete(job)
        assert len(s.exec(select(Workflow)).all()) == 3
    seed_demo(settings, fill_missing=True)  # `python -m agentic_app seed-demo`
    assert len(_jobs(settings)) == 3
    with session_scope(settings.database_url) as s:
        assert len(s.exec(select(User)).all()) == 1


def test_production_refuses_demo(sqlite_db_url, monkeypatch):
    """No demo user in production mode."""
    monkeypatch.setenv("AGENTIC_MODE", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 40)
    with pytest.raises(RuntimeError):
        seed_demo(load_settings(database_url=sqlite_db_url))
