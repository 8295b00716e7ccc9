"""The services nodes use (market feed, broker, notifier), built from settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentic_app.broker.paper import PaperBroker
from agentic_app.db.engine import Database
from agentic_app.engine.executor.notifier import Notifier
from agentic_app.market.accelerated import AcceleratedFeed
from agentic_app.market.factory import create_feed
from agentic_app.settings import Settings


@dataclass
class NodeServices:
    """What ``ctx.services`` holds for every node of an execution."""

    market: Any
    broker: Any
    notifier: Any


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
                        market: Any = None) -> NodeServices:
    """Feed (``market`` or the one of settings), paper broker and notifier on ``db``."""
    market = market or build_market(settings, clock=clock)
    return NodeServices(market=market, broker=PaperBroker(db, market, clock=clock),
                        notifier=Notifier(db, settings.outbound.policy()))
