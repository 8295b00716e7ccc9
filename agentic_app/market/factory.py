"""Build the configured ``MarketData`` feed (the caller passes settings in; none are read here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentic_app.domain.errors import InvalidInputError
from agentic_app.market.base import Instrument, MarketData
from agentic_app.market.clock import Clock

FEED_KINDS = ("simulated", "demo", "replay", "ccxt")
"""Feed kinds ``create_feed`` knows."""


def create_feed(
    kind: str = "simulated",
    *,
    seed: int = 42,
    replay_csv: str | Path | None = None,
    exchange: Any = None,
    clock: Clock | None = None,
    instruments: list[Instrument] | None = None,
) -> MarketData:
    """A feed of ``kind``: "simulated" (seed, instruments), "replay" (replay_csv, default the
    shipped sample) or "ccxt" (exchange: a ccxt exchange object or its name, e.g. "binance")."""
    key = str(kind).strip().lower()
    if key == "simulated":
        from agentic_app.market.simulated import SimulatedFeed

        return SimulatedFeed(seed=seed, instruments=instruments, clock=clock)
    if key == "demo":
        from agentic_app.market.demo import DemoFeed

        return DemoFeed(seed=seed, clock=clock)
    if key == "replay":
        from agentic_app.market.replay import SAMPLE_CSV, ReplayFeed

        return ReplayFeed.from_csv(replay_csv or SAMPLE_CSV, clock=clock, instruments=instruments)
    if key == "ccxt":
        from agentic_app.market.ccxt_adapter import CcxtFeed, make_exchange

        if exchange is None:
            raise InvalidInputError("the ccxt feed needs an exchange", field="exchange")
        if isinstance(exchange, str):
            exchange = make_exchange(exchange)
        return CcxtFeed(exchange, clock=clock)
    raise InvalidInputError(
        f"unknown feed kind {kind!r}; use one of {', '.join(FEED_KINDS)}", field="kind"
    )
