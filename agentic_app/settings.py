"""Application settings: the one place that reads environment variables.

Every knob of the product lives on :class:`Settings`. Values come from the
environment (and an optional ``.env`` file); invalid values fail at start with
a message naming the setting.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from enum import Enum
from functools import lru_cache
from pathlib import Path

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentic_app.domain.live_trading import TradingLimits, check_test_base_url
from agentic_app.domain.outbound import OutboundPolicy, parse_host_entry
from agentic_app.domain.tradingview import TRADINGVIEW_SENDERS, Networks, networks
from agentic_app.domain.workflow import (
    MAX_DEFINITION_BYTES,
    MAX_EDGES,
    MAX_NODES,
    WorkflowLimits,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
"""Directory holding ``rxconfig.py``; default home of the data dir."""


DEFAULT_DEMO_PASSWORD = "demo"
"""The demo user's well-known password: fine on loopback, refused when reachable from elsewhere."""

MAX_WORKER_SLOTS = 1000
"""Upper bound of WORKER_SLOTS / ``worker --slots`` (executions at once per worker process)."""


class AppMode(str, Enum):
    """Where the app runs: ``local`` starts its own worker and scheduler processes."""

    local = "local"
    production = "production"


class SchedulerConfig(BaseModel):
    """The seed's SCHEDULER_CONFIG."""

    max_concurrent_jobs: int = Field(10, ge=1)
    check_interval_seconds: int = Field(60, ge=1, le=3600)
    timezone: str = "UTC"
    enable_price_triggers: bool = True
    enable_indicator_triggers: bool = True

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value


class QueueConfig(BaseModel):
    """The seed's QUEUE_CONFIG."""

    max_queue_size: int = Field(1000, ge=1)
    max_retries: int = Field(3, ge=0, le=10)
    retry_delay_seconds: list[int] = Field(default_factory=lambda: [1, 5, 15])
    job_timeout_seconds: int = Field(300, ge=1)

    @model_validator(mode="after")
    def _delays_cover_retries(self) -> QueueConfig:
        if any(d < 0 for d in self.retry_delay_seconds):
            raise ValueError("retry_delay_seconds must be >= 0")
        if self.max_retries and not self.retry_delay_seconds:
            raise ValueError("retry_delay_seconds must not be empty when max_retries > 0")
        return self


class Limits(BaseModel):
    """Per-user and per-execution safety limits."""

    max_concurrent_per_user: int = Field(10, ge=1)
    max_executions_per_day: int = Field(100, ge=1)
    memory_limit_mb: int = Field(500, ge=16)
    auto_pause_after_failures: int = Field(5, ge=1)
    max_live_subscriptions_per_user: int = Field(20, ge=1, le=10000)
    live_subscription_lease_seconds: float = Field(30.0, ge=1, le=3600)


class WorkflowSize(BaseModel):
    """Size caps of a workflow, at most the domain's ceilings (see domain/workflow.py)."""

    max_nodes: int = Field(MAX_NODES, ge=1, le=MAX_NODES)
    max_edges: int = Field(MAX_EDGES, ge=0, le=MAX_EDGES)
    max_definition_bytes: int = Field(MAX_DEFINITION_BYTES, ge=1024, le=MAX_DEFINITION_BYTES)

    def limits(self) -> WorkflowLimits:
        """The limits the facade validates definitions against."""
        return WorkflowLimits(self.max_nodes, self.max_edges, self.max_definition_bytes)


class ScheduleLimits(BaseModel):
    """Bounds on scheduled jobs: how many a user may have, how often one may fire, and how
    many missed-run records each keeps."""

    max_per_user: int = Field(200, ge=1, le=100000)
    min_period_seconds: int = Field(10, ge=1, le=86400)
    allow_seconds_cron: bool = False
    max_missed_runs: int = Field(100, ge=1, le=100000)


class Retention(BaseModel):
    """How long finished jobs, their events and RQ results are kept."""

    completed_days: int = Field(7, ge=1, le=3650)
    failed_days: int = Field(30, ge=1, le=3650)
    interval_minutes: int = Field(60, ge=1, le=1440)


DEFAULT_NOTIFY_SCHEMES = (
    "json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "ntfy", "ntfys",
    "gotify", "gotifys", "mmost", "mmosts", "rocket", "rockets", "matrix", "matrixs", "tgram",
    "discord", "slack", "msteams", "pover", "pbul")
"""Apprise schemes allowed by default: web hooks, mail and chat services (no syslog, MQTT,
desktop or file targets)."""


class Outbound(BaseModel):
    """Where notification deliveries may go (see :mod:`agentic_app.domain.outbound`)."""

    allowed_schemes: list[str] = Field(default_factory=lambda: list(DEFAULT_NOTIFY_SCHEMES))
    allowed_private_hosts: list[str] = Field(default_factory=list)
    allow_loopback: bool = False
    """Tests only: also allow 127.0.0.1 / ::1 (a local receiver or SMTP sink)."""

    @field_validator("allowed_schemes")
    @classmethod
    def _plain_schemes(cls, value: list[str]) -> list[str]:
        out = [s.strip().lower() for s in value]
        bad = [s for s in out if not s.isalnum()]
        if bad:
            raise ValueError(f"schemes are letters and digits only, got {bad[0]!r}")
        return out

    @field_validator("allowed_private_hosts")
    @classmethod
    def _host_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_host_entry(entry)
        return value

    def policy(self) -> OutboundPolicy:
        """The policy the notifier and notification-node validation apply."""
        hosts = list(self.allowed_private_hosts)
        if self.allow_loopback:
            hosts += ["127.0.0.1", "[::1]"]
        return OutboundPolicy.build(self.allowed_schemes, hosts)


class Alerts(BaseModel):
    """Alert delivery (see :mod:`agentic_app.engine.alerts`): storm window, retries, caps."""

    storm_window_minutes: float = Field(5, gt=0, le=1440)
    max_channels_per_user: int = Field(20, ge=1, le=1000)
    max_attempts: int = Field(4, ge=1, le=20)
    retry_delay_seconds: list[int] = Field(default_factory=lambda: [5, 30, 120])
    stale_after_seconds: float = Field(60, ge=1, le=3600)


class LoginLimits(BaseModel):
    """Login throttling per username and per client address: some free failures, then a
    delay before the next attempt that doubles with each further failure (never a lock)."""

    failures_per_user: int = Field(5, ge=1, le=1000)
    failures_per_ip: int = Field(20, ge=1, le=100000)
    first_delay_seconds: float = Field(5.0, gt=0, le=3600)
    max_delay_seconds: float = Field(300.0, gt=0, le=86400)
    forget_after_seconds: int = Field(3600, ge=60, le=7 * 86400)

    @model_validator(mode="after")
    def _ordered(self) -> LoginLimits:
        if self.max_delay_seconds < self.first_delay_seconds:
            raise ValueError("max_delay_seconds must be >= first_delay_seconds")
        return self


class PaperTrading(BaseModel):
    """The paper broker: starting cash of a new account, fees and slippage of each fill."""

    starting_cash: float = Field(100_000.0, ge=0, le=1e12)
    fee_bps: float = Field(0.0, ge=0, le=1000)
    fee_per_fill: float = Field(0.0, ge=0, le=1e6)
    slippage_bps: float = Field(1.0, ge=0, le=1000)
    currency: str = Field("USD", min_length=1, max_length=8)


class Webhooks(BaseModel):
    """TradingView webhooks: who may send, which proxies to believe, duplicate window."""

    tradingview_senders: list[str] = Field(default_factory=lambda: list(TRADINGVIEW_SENDERS))
    trusted_proxies: list[str] = Field(default_factory=list)
    dedupe_seconds: int = Field(60, ge=1, le=86400)

    @field_validator("tradingview_senders", "trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        networks(value)
        return value

    def sender_networks(self) -> Networks:
        """The allowed TradingView senders as networks."""
        return networks(self.tradingview_senders)

    def proxy_networks(self) -> Networks:
        """The proxies whose X-Forwarded-For is believed (none by default)."""
        return networks(self.trusted_proxies)


class BrokerSettings(BaseModel):
    """Live trading: exchange access, credential encryption, the safety limits' defaults
    (each user may only tighten them). Amounts are in the exchange's quote currency."""

    allow_mainnet: bool = False
    request_timeout_seconds: float = Field(10.0, gt=0, le=120)
    credential_keys: list[str] = Field(default_factory=list)
    test_base_url: str = ""
    max_order_notional: float = Field(1000.0, gt=0)
    max_orders_per_day: int = Field(20, ge=1, le=100000)
    max_turnover_per_day: float = Field(10000.0, gt=0)
    max_daily_loss: float = Field(500.0, gt=0)

    @field_validator("credential_keys")
    @classmethod
    def _fernet_keys(cls, value: list[str]) -> list[str]:
        from cryptography.fernet import Fernet

        for key in value:
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ValueError("each key must be a Fernet key (32 url-safe base64 bytes; "
                                 "Fernet.generate_key())") from None
        return value

    @field_validator("test_base_url")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        return check_test_base_url(value) if value else value

    def limits(self) -> TradingLimits:
        """The default (and ceiling) safety limits."""
        return TradingLimits(self.max_order_notional, self.max_orders_per_day,
                             self.max_turnover_per_day, self.max_daily_loss)


class Settings(BaseSettings):
    """All settings of agentic_app (see README for the table)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
        case_sensitive=False,
    )

    mode: AppMode = Field(AppMode.local, validation_alias="AGENTIC_MODE")
    data_dir: Path = Field(REPO_ROOT / ".data", validation_alias="DATA_DIR")
    database_url: str = Field("", validation_alias="DATABASE_URL")
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    secret_key: str = Field("", validation_alias="SECRET_KEY")
    start_local_services: bool | None = Field(None, validation_alias="START_LOCAL_SERVICES")
    worker_processes: int = Field(2, ge=1, le=64, validation_alias="WORKER_PROCESSES")
    worker_slots: int = Field(1, ge=1, le=MAX_WORKER_SLOTS, validation_alias="WORKER_SLOTS")
    demo_password: str = Field(DEFAULT_DEMO_PASSWORD, validation_alias="DEMO_PASSWORD")
    market_feed: str = Field("", validation_alias="MARKET_FEED")
    market_seed: int = Field(42, validation_alias="MARKET_SEED")
    market_speed: float | None = Field(None, gt=0, le=3600, validation_alias="MARKET_SPEED")
    replay_csv: Path | None = Field(None, validation_alias="REPLAY_CSV")
    api_base_url: str = Field("", validation_alias="API_BASE_URL")
    frontend_port: int = Field(3000, ge=1, le=65535, validation_alias="FRONTEND_PORT")
    backend_port: int = Field(8000, ge=1, le=65535, validation_alias="BACKEND_PORT")
    bind_host: str = Field("", validation_alias="BIND_HOST")
    frontend_origins: list[str] = Field(default_factory=list, validation_alias="FRONTEND_ORIGINS")
    scheduler_config: SchedulerConfig = Field(
        default_factory=SchedulerConfig, validation_alias="SCHEDULER_CONFIG"
    )
    queue_config: QueueConfig = Field(default_factory=QueueConfig, validation_alias="QUEUE_CONFIG")
    limits: Limits = Field(default_factory=Limits, validation_alias="LIMITS")
    retention: Retention = Field(default_factory=Retention, validation_alias="RETENTION")
    schedules: ScheduleLimits = Field(default_factory=ScheduleLimits,
                                      validation_alias="SCHEDULES")
    workflows: WorkflowSize = Field(default_factory=WorkflowSize, validation_alias="WORKFLOWS")
    outbound: Outbound = Field(default_factory=Outbound, validation_alias="OUTBOUND")
    login: LoginLimits = Field(default_factory=LoginLimits, validation_alias="LOGIN")
    alerts: Alerts = Field(default_factory=Alerts, validation_alias="ALERTS")
    paper: PaperTrading = Field(default_factory=PaperTrading, validation_alias="PAPER")
    webhooks: Webhooks = Field(default_factory=Webhooks, validation_alias="WEBHOOKS")
    _api_base_url_derived: bool = PrivateAttr(False)
    broker: BrokerSettings = Field(default_factory=BrokerSettings, validation_alias="BROKER")

    @field_validator("market_feed")
    @classmethod
    def _known_feed(cls, value: str) -> str:
        if value not in {"", "simulated", "demo", "replay", "ccxt"}:
            raise ValueError("must be one of simulated, demo, replay, ccxt")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _derive_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'agentic.db'}"
        if self.mode is AppMode.production:
            if not self.secret_key:
                raise ValueError("SECRET_KEY is required in production mode")
            if len(self.secret_key) < 32:
                raise ValueError("SECRET_KEY must be at least 32 characters")
            if self.broker.test_base_url:
                raise ValueError("BROKER__TEST_BASE_URL is for tests and refused in production")
        if not self.api_base_url:
            self.api_base_url = f"http://localhost:{self.backend_port}"
            self._api_base_url_derived = True
        if not self.bind_host:  # local mode serves this machine only
            self.bind_host = "127.0.0.1" if self.is_local else "0.0.0.0"
        if not self.frontend_origins:
            self.frontend_origins = [f"http://localhost:{self.frontend_port}",
                                     f"http://127.0.0.1:{self.frontend_port}"]
        if self.start_local_services is None:
            self.start_local_services = self.mode is AppMode.local
        if not self.market_feed:  # the local demo market, or the realistic simulation
            self.market_feed = "demo" if self.is_local else "simulated"
        if self.market_speed is None:  # the demo market runs on a 60x demo clock
            self.market_speed = 60.0 if self.market_feed == "demo" else 1.0
        if self.is_local and "check_interval_seconds" not in self.scheduler_config.model_fields_set:
            self.scheduler_config.check_interval_seconds = 5
        return self

    @property
    def bun_path(self) -> Path:
        """The bun binary that ``make setup`` installs from the npm registry."""
        return REPO_ROOT / ".tools" / "bun" / "bin" / "bun"

    @property
    def api_base_url_given(self) -> bool:
        """True when API_BASE_URL was set (not derived from BACKEND_PORT)."""
        return not self._api_base_url_derived

    @property
    def loopback_only(self) -> bool:
        """True when the backend and frontend listen on a loopback address only."""
        return _is_loopback(self.bind_host)

    def unsafe_exposure(self, host: str | None = None) -> str | None:
        """Why the app must not start as configured (None when it may): listening on
        ``host`` (default BIND_HOST) makes it reachable beyond loopback while the demo
        account keeps its well-known default password."""
        host = host or self.bind_host
        if self.is_local and not _is_loopback(host) and \
                self.demo_password == DEFAULT_DEMO_PASSWORD:
            return (f"refusing to start: listening on {host} makes the app reachable "
                    f"beyond this machine while the demo user still has the default password "
                    f"{DEFAULT_DEMO_PASSWORD!r}. Set DEMO_PASSWORD to a strong password, or "
                    f"listen on 127.0.0.1 (BIND_HOST, reflex run --backend-host).")
        return None

    @property
    def is_local(self) -> bool:
        """True in local mode (demo data, private Redis, supervised children)."""
        return self.mode is AppMode.local

    def resolved_secret_key(self) -> str:
        """SECRET_KEY, or in local mode one generated once and kept in the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        return key


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SettingsError(RuntimeError):
    """Raised when the environment holds an invalid setting; the message names it."""


def load_settings(**overrides) -> Settings:
    """Build Settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "settings"
            parts.append(f"{name.upper()}: {err['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(parts)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide Settings singleton."""
    return load_settings()

