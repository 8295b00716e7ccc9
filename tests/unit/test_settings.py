"""Settings: defaults from the seed, env overrides, and clear errors naming the bad setting."""

from __future__ import annotations

import pytest

from agentic_app.settings import AppMode, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "AGENTIC_MODE", "DATA_DIR",
                 "START_LOCAL_SERVICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_seed_defaults(monkeypatch):
    """SCHEDULER_CONFIG, QUEUE_CONFIG and limits default to the plan's values (production)."""
    monkeypatch.setenv("AGENTIC_MODE", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    s = load_settings()
    assert s.scheduler_config.max_concurrent_jobs == 10
    assert s.scheduler_config.check_interval_seconds == 60
    assert s.scheduler_config.timezone == "UTC"
    assert s.scheduler_config.enable_price_triggers and s.scheduler_config.enable_indicator_triggers
    assert s.queue_config.max_queue_size == 1000
    assert s.queue_config.max_retries == 3
    assert s.queue_config.retry_delay_seconds == [1, 5, 15]
    assert s.queue_config.job_timeout_seconds == 300
    assert (s.limits.max_concurrent_per_user, s.limits.max_executions_per_day) == (10, 100)
    assert (s.limits.memory_limit_mb, s.limits.auto_pause_after_failures) == (500, 5)
    assert s.mode is AppMode.production and s.start_local_services is False
    assert s.market_feed == "simulated" and s.market_speed == 1.0


def test_local_demo_defaults(monkeypatch):
    """Local mode: services start, the demo market runs 60x, triggers checked every 5 s."""
    s = load_settings()
    assert s.mode is AppMode.local and s.start_local_services is True
    assert s.market_feed == "demo" and s.market_speed == 60.0
    assert s.scheduler_config.check_interval_seconds == 5
    monkeypatch.setenv("SCHEDULER_CONFIG__CHECK_INTERVAL_SECONDS", "60")
    monkeypatch.setenv("MARKET_SPEED", "1")
    s = load_settings()
    assert s.market_speed == 1.0 and s.scheduler_config.check_interval_seconds == 60


def test_database_url_defaults_to_sqlite_in_data_dir(tmp_path):
    """Without DATABASE_URL the app uses a SQLite file in the data dir."""
    assert load_settings().database_url == f"sqlite:///{tmp_path / 'agentic.db'}"


def test_env_overrides(monkeypatch):
    """The exact names DATABASE_URL, REDIS_URL, SECRET_KEY and nested configs are honoured."""
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("REDIS_URL", "redis://example:6380/2")
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    monkeypatch.setenv("QUEUE_CONFIG__MAX_RETRIES", "5")
    monkeypatch.setenv("SCHEDULER_CONFIG__TIMEZONE", "Europe/Berlin")
    s = load_settings()
    assert s.database_url == "postgresql+psycopg://u@h/db"
    assert s.redis_url == "redis://example:6380/2"
    assert s.resolved_secret_key() == "k" * 40
    assert s.queue_config.max_retries == 5
    assert s.scheduler_config.timezone == "Europe/Berlin"


@pytest.mark.parametrize(("name", "value", "named"), [
    ("QUEUE_CONFIG__MAX_RETRIES", "many", "QUEUE_CONFIG.MAX_RETRIES"),
    ("SCHEDULER_CONFIG__TIMEZONE", "Mars/Olympus", "SCHEDULER_CONFIG.TIMEZONE"),
    ("SCHEDULER_CONFIG__CHECK_INTERVAL_SECONDS", "0", "SCHEDULER_CONFIG.CHECK_INTERVAL_SECONDS"),
    ("REDIS_URL", "http://nope", "REDIS_URL"),
    ("MARKET_FEED", "carrier-pigeon", "MARKET_FEED"),
    ("LIMITS__MAX_EXECUTIONS_PER_DAY", "-1", "LIMITS.MAX_EXECUTIONS_PER_DAY"),
    ("AGENTIC_MODE", "staging", "AGENTIC_MODE"),
])
def test_invalid_setting_is_named(monkeypatch, name, value, named):
    """An invalid value fails at start with a message naming the setting."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert named in str(err.value)


def test_production_requires_secret_key(monkeypatch):
    """Production mode refuses to start without a SECRET_KEY, and turns local services off."""
    monkeypatch.setenv("AGENTIC_MODE", "production")
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("SECRET_KEY", "x" * 48)
    s = load_settings()
    assert s.start_local_services is False and not s.is_local


def test_local_secret_key_generated_once(tmp_path):
    """In local mode a secret key is generated on first use, kept in the data dir, and reused."""
    first = load_settings().resolved_secret_key()
    assert len(first) >= 32
    assert (tmp_path / "secret_key").read_text().strip() == first
    assert load_settings().resolved_secret_key() == first
