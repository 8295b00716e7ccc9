"""The services nodes use (market feed, broker, notifier), built from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentic_app.broker.alert_only import AlertOnlyBroker, SendAlert
from agentic_app.broker.paper import PaperBroker
from agentic_app.broker.router import BrokerRouter, LiveBrokers
from agentic_app.db.engine import Database
from agentic_app.engine.executor.notifier import Notifier, inbox_nudge
from agentic_app.market.accelerated import AcceleratedFeed
from agentic_app.market.factory import create_feed
from agentic_app.settings import Settings


@dataclass
class NodeServices:
    """What ``ctx.services`` holds for every node of an execution."""

    market: Any
    broker: Any
    notifier: Any
    alert_only: bool = False


def build_market(settings: Settings, *, clock: Callable[[], datetime] | None = None,
                 speed: float | None = None, kind: str | None = None):
    """The market data feed chosen in settings (MARKET_FEED), at MARKET_SPEED (demo clock)."""
    feed = create_feed(kind or settings.market_feed, seed=settings.market_seed,
                       replay_csv=settings.replay_csv, clock=clock)
    speed = settings.market_speed if speed is None else speed
    if speed and speed != 1.0:
        return AcceleratedFeed(feed, speed, clock=clock)
    return feed


def build_node_services(settings: Settings, *, db: Database,
                        clock: Callable[[], datetime] | None = None,
                        market: Any = None, redis: Callable[[], Any] | None = None,
                        alert: Callable[..., None] | None = None) -> NodeServices:
    """Feed (``market`` or the one of settings), broker and notifier on ``db``.

    The broker routes paper orders to the paper broker and live ones to the user's exchange
    account (safety limits counted in ``redis()``, the process's Redis by default; live
    order outcomes told through ``alert``, see ``broker.router.Alert``); the notifier's inbox
    rows nudge the user's open bells through the same Redis."""
    market = market or build_market(settings, clock=clock)
    redis = redis or _settings_redis(settings)
    live = LiveBrokers(db, settings.broker, settings.resolved_secret_key, redis)
    broker = BrokerRouter(db, build_paper_broker(settings, db, market, clock), live, alert)
    return NodeServices(market=market, broker=broker,
                        notifier=Notifier(db, settings.outbound.policy(),
                                          on_inbox=inbox_nudge(redis)))


def _settings_redis(settings: Settings) -> Callable[[], Any]:
    """A lazily connected client of REDIS_URL (only live orders need it)."""
    client: list[Any] = []

    def get() -> Any:
        if not client:
            from agentic_app.engine.redis_conn import connect

            client.append(connect(settings.redis_url))
        return client[0]

    return get


def build_paper_broker(settings: Settings, db: Database, market: Any,
                       clock: Callable[[], datetime] | None = None) -> PaperBroker:
    """The paper broker with the fees, slippage and starting cash of settings (PAPER__*)."""
    p = settings.paper
    return PaperBroker(db, market, slippage_bps=p.slippage_bps, starting_cash=p.starting_cash,
                       clock=clock, fee_bps=p.fee_bps, fee_per_fill=p.fee_per_fill,
                       currency=p.currency)


def alert_only_services(services: NodeServices, *, db: Database, send_alert: SendAlert,
                        clock: Callable[[], datetime] | None = None) -> NodeServices:
    """``services`` for an alert-only run: the broker records orders and hands each to
    ``send_alert`` (the worker passes ``engine.alerts.orders.order_alert``) instead of
    trading."""
    if getattr(services, "alert_only", False):
        return services
    broker = AlertOnlyBroker(db, services.broker, services.market, send_alert, clock=clock)
    return NodeServices(market=services.market, broker=broker, notifier=services.notifier,
                        alert_only=True)
