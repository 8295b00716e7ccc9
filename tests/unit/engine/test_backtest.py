"""The backtest replays the live watcher's evaluation: same fires on the same feed."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.triggers import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.engine.scheduler.backtest import MAX_DAYS, backtest
from agentic_app.engine.scheduler.market_watch import TriggerWatcher
from agentic_app.market.simulated import SimulatedFeed

START = datetime(2025, 1, 6, 0, 0, tzinfo=UTC)


def live_fires(feed, configs: dict, start: datetime, end: datetime, *, seed: int,
               check_s: tuple[int, int], interval: int) -> dict[int, list[tuple[str, float]]]:
    """Run the real watcher over [start, end] with checks at random gaps in ``check_s``
    (check interval setting ``interval``): (bar close, price) of every fire per trigger."""
    watcher = TriggerWatcher(feed, check_interval_seconds=interval)
    for tid, cfg in configs.items():
        watcher.upsert(tid, cfg.type, cfg, start)
    rng = random.Random(seed)
    fires: dict[int, list[tuple[str, float]]] = {tid: [] for tid in configs}
    now = start + timedelta(seconds=61)
    while now <= end + timedelta(seconds=check_s[1]):
        for fire in watcher.tick(now):
            if datetime.fromisoformat(fire.payload["bar_close_ts"]) <= end:
                fires[fire.trigger_id].append((fire.payload["bar_close_ts"],
                                               fire.payload["price"]))
        now += timedelta(seconds=rng.randint(*check_s))
    return fires


def test_price_backtest_fires_where_the_live_watcher_fires():
    """Six price triggers (edge, crossing, re-arm band, cooldown, max fires, expiry, scalar
    path) over a day of the simulated feed: the backtest's fires are the live watcher's,
    bar for bar and price for price, whatever the check gaps (20 s to 170 s)."""
    feed = SimulatedFeed(seed=21)
    end = START + timedelta(days=1)
    level = float(feed.bars("EURUSD", "1m", 1, START + timedelta(hours=12)).close[-1])
    configs = {
        1: PriceTriggerConfig(symbol="EURUSD", condition=f"price > {level}"),
        2: PriceTriggerConfig(symbol="EURUSD", condition=f"crosses_below(price, {level})",
                              cooldown_seconds=1800),
        3: PriceTriggerConfig(symbol="EURUSD", condition=f"price > {level}",
                              rearm_band=0.0004),
        4: PriceTriggerConfig(symbol="EURUSD", condition=f"price < {level}", max_fires=3),
        5: PriceTriggerConfig(symbol="EURUSD", condition=f"abs(price - {level}) > 0.0015",
                              cooldown_seconds=600),
        6: PriceTriggerConfig(symbol="EURUSD", condition=f"price > {level}",
                              cooldown_seconds=900, expires_at=START + timedelta(hours=18)),
    }
    live = live_fires(feed, configs, START, end, seed=1, check_s=(20, 170), interval=90)
    for tid, cfg in configs.items():
        result = backtest(feed, cfg, start=START, end=end)
        assert [(f["time"], f["price"]) for f in result.fires] == live[tid], tid
        assert result.count == len(live[tid])
    assert all(live[tid] for tid in configs)
    assert len(live[4]) == 3 and len(live[1]) > len(live[3])


def test_indicator_backtest_fires_where_the_live_watcher_fires():
    """15m RSI, 5m MACD crossing and a scalar-path condition over three days: the same bar
    closes fire live (checked every 40 s to 4 min) and in the backtest."""
    feed = SimulatedFeed(seed=8)
    end = START + timedelta(days=3)
    configs = {
        1: IndicatorTriggerConfig(symbol="GBPUSD", condition="rsi < 40", timeframe="15m",
                                  indicator="rsi", cooldown_seconds=3600),
        2: IndicatorTriggerConfig(symbol="GBPUSD", condition="crosses_above(macd, signal)",
                                  timeframe="5m", indicator="macd", max_fires=20),
        3: IndicatorTriggerConfig(symbol="GBPUSD", condition="abs(rsi - 50) > 15",
                                  timeframe="15m", indicator="rsi"),
    }
    live = live_fires(feed, configs, START, end, seed=2, check_s=(40, 240), interval=200)
    for tid, cfg in configs.items():
        result = backtest(feed, cfg, start=START, end=end)
        assert [f["time"] for f in result.fires] == [t for t, _ in live[tid]], tid
        assert live[tid], tid
    assert len(live[2]) == 20


def test_backtest_window_is_capped():
    """More than 90 days (or an empty window) is refused naming ``days``."""
    feed = SimulatedFeed(seed=1)
    cfg = PriceTriggerConfig(symbol="EURUSD", condition="price > 1")
    with pytest.raises(InvalidInputError) as err:
        backtest(feed, cfg, start=START - timedelta(days=MAX_DAYS, seconds=1), end=START)
    assert err.value.field == "days"
    with pytest.raises(InvalidInputError):
        backtest(feed, cfg, start=START, end=START)


def test_fires_outside_the_trading_session_are_counted_as_market_closed():
    """A trigger limited to NYSE open hours: its would-be fires are the unlimited trigger's,
    those while NYSE is closed counted as market_closed (skipped, as the scheduler records
    them), the others listed - all inside open hours."""
    from agentic_app.domain.sessions import get_calendar

    feed = SimulatedFeed(seed=21)
    end = START + timedelta(days=7)
    level = float(feed.bars("EURUSD", "1m", 1, START + timedelta(days=3)).close[-1])
    plain = backtest(feed, PriceTriggerConfig(symbol="EURUSD", condition=f"price > {level}"),
                     start=START, end=end)
    limited = backtest(feed, PriceTriggerConfig(
        symbol="EURUSD", condition=f"price > {level}",
        session={"calendar": "XNYS", "rule": "open_hours"}), start=START, end=end)
    assert limited.count + limited.market_closed == plain.count
    assert 0 < limited.count < plain.count and limited.market_closed > 0
    nyse = get_calendar("XNYS")
    times = [f["time"] for f in limited.fires]
    assert set(times) <= {f["time"] for f in plain.fires}
    assert all(nyse.is_open(datetime.fromisoformat(t)) for t in times)
