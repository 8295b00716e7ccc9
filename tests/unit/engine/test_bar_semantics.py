"""Bar semantics of the live watcher: a touch between checks, once per closed bar, stale data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentic_app.domain.triggers import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.engine.scheduler.market_watch import TriggerWatcher
from agentic_app.market.base import Bars
from agentic_app.market.clock import from_epoch, to_epoch
from agentic_app.market.simulated import SimulatedFeed

START = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)


class MinuteFeed:
    """One-minute bars given as (open, high, low, close) rows, bar ``k`` opening at
    ``START + k minutes``; no live quotes."""

    def __init__(self, rows: list[tuple[float, float, float, float]]):
        self.rows = np.array(rows, float)
        self.bars_calls = 0

    def bars(self, symbol: str, timeframe: str, count: int, end: datetime | None = None) -> Bars:
        """The last ``count`` bars closing at or before ``end``."""
        assert timeframe == "1m"
        self.bars_calls += 1
        last = int((to_epoch(end) - to_epoch(START)) // 60) - 1  # newest closed bar
        ks = np.arange(max(0, last - count + 1), min(last, len(self.rows) - 1) + 1)
        r = self.rows[ks]
        ts = (to_epoch(START) + 60 * ks).astype(np.int64)
        return Bars(symbol, "1m", ts, r[:, 0], r[:, 1], r[:, 2], r[:, 3], np.ones(len(ks)))


def test_a_spike_between_two_checks_fires_a_price_trigger_once():
    """Checks every 5 minutes; the price spikes above 1.1050 inside minute 7 and is back
    below by its close. No check ever sees a price above 1.1050, yet the trigger fires once,
    at the next check, recording the spike's bar and price."""
    rows = [(1.1000, 1.1010, 1.0995, 1.1005)] * 7
    rows.append((1.1005, 1.1062, 1.1001, 1.1008))  # bar 7: the spike
    rows += [(1.1008, 1.1012, 1.1000, 1.1004)] * 12
    feed = MinuteFeed(rows)
    watcher = TriggerWatcher(feed, check_interval_seconds=300)
    watcher.upsert(1, "price", PriceTriggerConfig(symbol="EURUSD", condition="price > 1.1050"),
                   START)
    watcher.upsert(2, "price", PriceTriggerConfig(
        symbol="EURUSD", condition="crosses_above(price, 1.1050)"), START)
    fires = {}
    for check in range(1, 5):  # 09:05, 09:10, 09:15, 09:20
        now = START + timedelta(minutes=5 * check, seconds=2)
        for fire in watcher.tick(now):
            fires.setdefault(fire.trigger_id, []).append((check, fire.payload))
    assert max(r[3] for r in rows) < 1.1050  # no close (no check's price) is above the level
    assert sorted(fires) == [1, 2]
    for tid in (1, 2):
        assert len(fires[tid]) == 1
        check, payload = fires[tid][0]
        assert check == 2  # the check at 09:10 sees bars 5..9
        assert payload["price"] == 1.1062 and payload["point"] == "high"
        assert payload["bar_ts"] == (START + timedelta(minutes=7)).isoformat()
        assert payload["bar_close_ts"] == (START + timedelta(minutes=8)).isoformat()


def test_a_15m_indicator_trigger_is_evaluated_once_per_closed_bar():
    """Checked every 50 s for two days, a 15m trigger is evaluated exactly once per closed
    15m bar; every fire is a 15m bar close and the fires are the ones of a watcher checked
    exactly at each bar boundary."""
    feed = SimulatedFeed(seed=11)
    cfg = IndicatorTriggerConfig(symbol="EURUSD", condition="rsi < 45", timeframe="15m",
                                 indicator="rsi", params={"period": 14})
    created = START + timedelta(seconds=1)  # it sees the newest bar then: the 09:00 one
    fast = TriggerWatcher(feed, check_interval_seconds=50)
    fast.upsert(1, "indicator", cfg, created)
    aligned = TriggerWatcher(feed, check_interval_seconds=900)
    aligned.upsert(1, "indicator", cfg, created)
    span = 2 * 86400
    fast_fires, evaluated = [], 0
    for k in range(1, span // 50 + 1):
        report = fast.tick_report(START + timedelta(seconds=50 * k))
        evaluated += report.evaluated
        fast_fires += [f.payload["bar_close_ts"] for f in report.fires]
    aligned_fires = []
    for k in range(1, span // 900 + 1):
        report = aligned.tick_report(START + timedelta(seconds=900 * k, milliseconds=500))
        aligned_fires += [f.payload["bar_close_ts"] for f in report.fires]
    assert evaluated == span // 900 + 1  # one evaluation per closed bar, 09:00 included
    assert len(fast_fires) >= 3 and len(set(fast_fires)) == len(fast_fires)
    assert all(datetime.fromisoformat(t).timestamp() % 900 == 0 for t in fast_fires)
    assert fast_fires == aligned_fires


class FrozenFeed:
    """A real feed whose data stops at ``frozen``: later requests get nothing newer."""

    def __init__(self, feed: SimulatedFeed, frozen: datetime):
        self.feed, self.frozen = feed, frozen

    def bars(self, symbol, timeframe, count, end=None):
        """Bars as of ``min(end, frozen)``."""
        return self.feed.bars(symbol, timeframe, count, min(end, self.frozen))

    def prices(self, symbols, at=None):
        """Quotes as of ``frozen`` at the latest."""
        return self.feed.prices(symbols, min(at, self.frozen))

    def price(self, symbol, at=None):
        """One quote as of ``frozen`` at the latest."""
        return self.feed.price(symbol, min(at, self.frozen))


def test_a_stale_feed_never_fires():
    """After the feed freezes, triggers whose condition holds on the frozen data (and that
    were re-armed) never fire: every check reports the symbol as stale."""
    feed = SimulatedFeed(seed=5)
    frozen = START + timedelta(minutes=30)
    last = feed.bars("EURUSD", "1m", 1, frozen)
    level = float(last.close[-1])
    stale = FrozenFeed(feed, frozen)
    watcher = TriggerWatcher(stale, check_interval_seconds=60)
    created = frozen + timedelta(minutes=10)  # created after the freeze: never primed
    watcher.upsert(1, "price", PriceTriggerConfig(symbol="EURUSD",
                                                  condition=f"price > {level - 0.01}",
                                                  fire_if_true_at_start=True), created)
    watcher.upsert(2, "indicator", IndicatorTriggerConfig(
        symbol="EURUSD", condition="rsi > 0", timeframe="5m", indicator="rsi"), created)
    for k in range(11, 40):
        report = watcher.tick_report(frozen + timedelta(minutes=k, seconds=1))
        assert report.fires == [] and report.evaluated == 0
        assert "stale" in report.unavailable["EURUSD"]
        assert "stale" in report.unavailable["EURUSD 5m"]
    fresh = TriggerWatcher(feed, check_interval_seconds=60)  # the same triggers on live data
    fresh.upsert(1, "price", watcher._entries[1].rule.config, created)
    now = frozen + timedelta(minutes=11, seconds=1)
    assert [f.trigger_id for f in fresh.tick(now)] == [1]
    assert from_epoch(to_epoch(now)) > created


def test_checks_are_aligned_to_bar_boundaries():
    """The scheduler's next check is one settle second after the next multiple of the
    interval, whenever the previous check ended: every bar close is seen ~1 s after it."""
    from agentic_app.domain.triggers.bars import CHECK_SETTLE_SECONDS, next_check_delay

    quarter = to_epoch(datetime(2025, 2, 3, 9, 15, tzinfo=UTC))
    for ended in (-59.5, -30.0, -1.0, 0.2, 0.999, 1.0, 1.5, 42.0):
        now = quarter + ended
        delay = next_check_delay(now, 60)
        at = now + delay
        assert 1e-3 < delay <= 60 + 1e-3
        off = (at - CHECK_SETTLE_SECONDS) % 60
        assert min(off, 60 - off) == pytest.approx(0, abs=1e-6)
    assert next_check_delay(quarter - 0.5, 60) == pytest.approx(1.5)  # 09:15:01
    assert next_check_delay(quarter + 1.0, 60) == pytest.approx(60)  # just checked: next minute
    assert next_check_delay(quarter + 2.0, 5) == pytest.approx(4)


FORMS = ["price > {a}", "price < {a}", "{a} < price <= {b}", "price < {a} or price > {b}",
         "crosses_above(price, {a})", "crosses_below(price, {b})",
         "price > {a} and price * 2 < {d}", "crosses_above(price, {a}) or price > {b}"]


@settings(max_examples=40, deadline=None)
@given(forms=st.lists(st.sampled_from(FORMS), min_size=1, max_size=6),
       moves=st.lists(st.tuples(st.integers(-4, 4), st.integers(0, 3), st.integers(0, 3)),
                      min_size=3, max_size=25),
       band=st.sampled_from([0.0, 0.0005, 0.002]), cooldown=st.sampled_from([0, 60, 180]),
       gap=st.sampled_from([1, 2, 3]))
def test_bar_path_vector_and_reference_fire_alike(forms, moves, band, cooldown, gap):
    """Random bars (opens, closes, wicks), random price triggers, checks every ``gap``
    minutes: the vector path (later points of a bar applied only where inputs changed)
    fires exactly as the reference path (every point applied to every trigger): same bars,
    same prices."""
    rows, close = [], 1.1000
    for step, up, down in moves:
        new = round(close + step * 0.0005, 4)
        rows.append((close, round(max(close, new) + up * 0.0005, 4),
                     round(min(close, new) - down * 0.0005, 4), new))
        close = new
    feed = MinuteFeed(rows)
    levels = {"a": 1.0995, "b": 1.1015, "d": 2 * 1.1015}
    fired = []
    for vectorize in (True, False):
        watcher = TriggerWatcher(feed, check_interval_seconds=60 * gap, vectorize=vectorize)
        for k, form in enumerate(forms):
            watcher.upsert(k, "price", PriceTriggerConfig(
                symbol="EURUSD", condition=form.format(**levels), rearm_band=band,
                cooldown_seconds=cooldown), START)
        got = []
        for m in range(gap, len(rows) + gap, gap):
            got += [(f.trigger_id, f.payload["bar_ts"], f.payload["price"])
                    for f in watcher.tick(START + timedelta(minutes=m, seconds=1))]
        fired.append(sorted(got))
    assert fired[0] == fired[1]


def test_one_fire_per_trigger_and_bar_each_with_its_bar_time():
    """A bar whose path crosses the level up, down and up again fires once; two crossing bars
    seen by one check fire twice, at their own bar closes (distinct dedupe keys)."""
    rows = [(1.1000, 1.1005, 1.0995, 1.1000)] * 3
    rows.append((1.1065, 1.1068, 1.1000, 1.1055))  # bar 3 (falling): high, low, close
    rows.append((1.1055, 1.1056, 1.1000, 1.1001))  # bar 4: back below
    rows.append((1.1001, 1.1070, 1.0999, 1.1002))  # bar 5: a spike
    feed = MinuteFeed(rows)
    watcher = TriggerWatcher(feed, check_interval_seconds=300)
    watcher.upsert(1, "price", PriceTriggerConfig(symbol="EURUSD", condition="price > 1.1050"),
                   START)
    watcher.tick(START + timedelta(minutes=3, seconds=1))  # bars 0..2: below, primed
    fires = watcher.tick(START + timedelta(minutes=6, seconds=1))  # bars 3..5 at once
    assert [(f.fired_at, f.payload["price"], f.payload["point"]) for f in fires] == [
        (START + timedelta(minutes=4), 1.1068, "high"),
        (START + timedelta(minutes=6), 1.1070, "high")]
    assert watcher.state(1).fire_count == 2
