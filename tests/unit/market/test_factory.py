"""Tests for create_feed."""

from datetime import UTC, datetime

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.market import create_feed
from agentic_app.market.ccxt_adapter import CcxtFeed
from agentic_app.market.clock import FixedClock
from agentic_app.market.replay import ReplayFeed
from agentic_app.market.simulated import SimulatedFeed

T0 = datetime(2025, 2, 1, tzinfo=UTC)


def test_simulated_is_default_and_uses_seed_and_clock():
    """The default feed is simulated, honouring seed and clock."""
    feed = create_feed(seed=3, clock=FixedClock(T0))
    assert isinstance(feed, SimulatedFeed) and feed.seed == 3
    assert feed.price("EURUSD") == SimulatedFeed(seed=3).price("EURUSD", T0)


def test_replay_defaults_to_the_sample():
    """The replay kind loads the shipped sample when no CSV is given."""
    feed = create_feed("replay")
    assert isinstance(feed, ReplayFeed) and "EURUSD" in feed.symbols()


def test_ccxt_needs_an_exchange():
    """The ccxt kind wraps the given exchange object and refuses none or unknown names."""
    marker = object()
    feed = create_feed("ccxt", exchange=marker)
    assert isinstance(feed, CcxtFeed) and feed.exchange is marker
    with pytest.raises(InvalidInputError) as info:
        create_feed("ccxt")
    assert info.value.field == "exchange"
    with pytest.raises(InvalidInputError):
        create_feed("ccxt", exchange="no_such_exchange_name")


def test_unknown_kind():
    """An unknown kind raises InvalidInputError(field='kind')."""
    with pytest.raises(InvalidInputError) as info:
        create_feed("bloomberg")
    assert info.value.field == "kind"
