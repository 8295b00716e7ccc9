"""Market data: the ``MarketData`` protocol, the simulated (default), replay and ccxt feeds,
and TA-Lib indicators. Build a feed with ``create_feed``."""

from agentic_app.market.base import (
    TIMEFRAMES,
    Bars,
    Instrument,
    MarketData,
    Quote,
    parse_timeframe,
)
from agentic_app.market.clock import FixedClock
from agentic_app.market.factory import create_feed

__all__ = [
    "TIMEFRAMES",
    "Bars",
    "FixedClock",
    "Instrument",
    "MarketData",
    "Quote",
    "create_feed",
    "parse_timeframe",
]
