"""Tests of engine.trigger_watch: edge-triggered price and indicator triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from agentic_app.domain.conditions import parse
from agentic_app.domain.errors import MarketDataUnavailableError
from agentic_app.domain.triggers import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.engine.scheduler.market_watch import TriggerWatcher, history_bars
from agentic_app.engine.scheduler.trigger_state import InMemoryTriggerStateStore
from agentic_app.market.base import Bars, Quote
from agentic_app.market.clock import FixedClock
from agentic_app.market.simulated import SimulatedFeed

START = datetime(2024, 5, 6, 12, 0, tzinfo=UTC)
STEP = 60


def at(i: int) -> datetime:
    """Time of scripted tick ``i``."""
    return START + timedelta(seconds=STEP * i)


class ScriptedFeed:
    """A MarketData stand-in replaying one price per symbol per tick (None: no quote)."""

    def __init__(self, path: dict[str, list[float | None]], stale: set[int] = frozenset(),
                 down: set[int] = frozenset()):
        self.path = path
        self.stale = stale
        self.down = down
        self.prices_calls = 0

    def prices(self, symbols: list[str], at_: datetime | None = None) -> dict[str, Quote]:
        """Quotes of tick ``(at_ - START) / STEP``; stale ticks carry a 10-minute-old ts."""
        self.prices_calls += 1
        i = round((at_ - START).total_seconds() / STEP)
        if i in self.down:
            raise MarketDataUnavailableError("feed down")
        ts = at_ - timedelta(minutes=10) if i in self.stale else at_
        out = {}
        for sym in symbols:
            price = self.path[sym][i]
            if price is not None:
                out[sym] = Quote(sym, price, ts)
        return out

    def price(self, symbol: str, at_: datetime | None = None) -> Quote:
        """One quote (via prices)."""
        return self.prices([symbol], at_)[symbol]

    def bars(self, symbol: str, timeframe: str, count: int, end: datetime | None = None) -> Bars:
        """Flat one-minute bars, one per tick (closing at the tick); a stale tick's newest bar
        closed 10 minutes earlier; a down tick raises."""
        assert timeframe == "1m"
        i = int((end - START).total_seconds() // STEP)
        if i in self.down:
            raise MarketDataUnavailableError("feed down")
        ticks = [k for k in range(max(0, i - count + 1), i + 1)
                 if k < len(self.path[symbol]) and self.path[symbol][k] is not None]
        prices = np.array([self.path[symbol][k] for k in ticks], float)
        ts = np.array([int(at(k).timestamp()) - 60 for k in ticks], np.int64)
        if i in self.stale:  # the feed stopped 10 minutes ago
            ts = ts[-1:] - 600
        return Bars(symbol, "1m", ts, prices, prices, prices, prices, np.ones(len(ticks)))


class CountingFeed:
    """Wraps a real feed and counts prices()/bars() calls per argument."""

    def __init__(self, feed: SimulatedFeed):
        self.feed = feed
        self.prices_calls = 0
        self.bars_calls: list[tuple[str, str]] = []

    def prices(self, symbols: list[str], at_: datetime | None = None) -> dict[str, Quote]:
        """Delegate and count."""
        self.prices_calls += 1
        return self.feed.prices(symbols, at_)

    def price(self, symbol: str, at_: datetime | None = None) -> Quote:
        """Delegate."""
        return self.feed.price(symbol, at_)

    def bars(self, symbol: str, timeframe: str, count: int, end: datetime | None = None) -> Bars:
        """Delegate and count."""
        self.bars_calls.append((symbol, timeframe))
        return self.feed.bars(symbol, timeframe, count, end)


def price_cfg(condition: str, **kw) -> PriceTriggerConfig:
    """A EURUSD price trigger config."""
    return PriceTriggerConfig(symbol="EURUSD", condition=condition, **kw)


def run(path: list[float | None], configs: dict[int, PriceTriggerConfig], *,
        store: InMemoryTriggerStateStore | None = None, restart_at: set[int] = frozenset(),
        vectorize: bool = True, **feed_kw) -> tuple[dict[int, list[int]], list]:
    """Tick the path; return fire tick indices per trigger id and the reports."""
    feed = ScriptedFeed({"EURUSD": path}, **feed_kw)
    store = store or InMemoryTriggerStateStore()

    def build() -> TriggerWatcher:
        w = TriggerWatcher(feed, store, check_interval_seconds=STEP, vectorize=vectorize)
        for tid, cfg in configs.items():
            w.upsert(tid, "price", cfg, START)
        return w

    watcher = build()
    fires: dict[int, list[int]] = {tid: [] for tid in configs}
    reports = []
    for i in range(len(path)):
        if i in restart_at:
            watcher = build()
        report = watcher.tick_report(at(i))
        reports.append(report)
        for fire in report.fires:
            fires[fire.trigger_id].append(i)
    return fires, reports


def test_fires_once_per_upward_edge():
    """`price > X` fires at each tick where it becomes true, never while it stays true."""
    fires, _ = run([1.09, 1.11, 1.12, 1.09, 1.11, 1.105, 1.09], {1: price_cfg("price > 1.10")})
    assert fires[1] == [1, 4]


def test_flapping_with_and_without_rearm_band():
    """Flapping re-fires without a band; a band needs the price to move band-far away first."""
    path = [1.099, 1.101, 1.099, 1.101, 1.0979, 1.101, 1.0981, 1.101]
    fires, _ = run(path, {1: price_cfg("price > 1.10"),
                          2: price_cfg("price > 1.10", rearm_band=0.002)})
    assert fires[1] == [1, 3, 5, 7]
    assert fires[2] == [1, 5]


def test_already_true_at_creation():
    """A condition true at creation fires only after it was false, unless asked to."""
    path = [1.2, 1.2, 1.05, 1.2]
    fires, _ = run(path, {1: price_cfg("price > 1.10"),
                          2: price_cfg("price > 1.10", fire_if_true_at_start=True)})
    assert fires[1] == [3]
    assert fires[2] == [0, 3]


def test_crosses_above_differs_from_greater_than():
    """A crossing needs the previous tick below; `>` with a cooldown fires once it ends."""
    path = [1.12, 1.13, 1.09, 1.11, 1.09, 1.11, 1.12, 1.13]
    fires, _ = run(path, {
        1: price_cfg("price > 1.10", fire_if_true_at_start=True),
        2: price_cfg("crosses_above(price, 1.10)", fire_if_true_at_start=True),
        3: price_cfg("price > 1.10", cooldown_seconds=150),
        4: price_cfg("crosses_above(price, 1.10)", cooldown_seconds=150),
    })
    assert fires[1] == [0, 3, 5]
    assert fires[2] == [3, 5]
    assert fires[3] == [3, 6]  # tick 5 suppressed by the cooldown, edge kept: fires at 6
    assert fires[4] == [3]  # the crossing at 5 is in the cooldown and is gone by 6


def test_crossing_below_and_reversed_arguments():
    """crosses_below(price, X) and crosses_above(X, price) are the same downward crossing."""
    path = [1.11, 1.09, 1.12, 1.10, 1.099]
    fires, _ = run(path, {1: price_cfg("crosses_below(price, 1.10)"),
                          2: price_cfg("crosses_above(1.10, price)")})
    assert fires[1] == fires[2] == [1, 4]


def test_or_condition_is_one_edge():
    """`a or b` fires when the whole condition becomes true; jumping between parts is no edge."""
    path = [1.10, 1.16, 1.10, 1.04, 1.03, 1.16, 1.10, 1.16]
    fires, _ = run(path, {1: price_cfg("price < 1.05 or price > 1.15")})
    assert fires[1] == [1, 3, 7]


def test_expiry_reports_and_stops():
    """Nothing fires at or after expires_at and the trigger is reported expired once."""
    cfg = price_cfg("price > 1.10", expires_at=at(3))
    fires, reports = run([1.0, 1.2, 1.0, 1.2, 1.0, 1.2], {1: cfg})
    assert fires[1] == [1]
    assert [i for i, r in enumerate(reports) if r.expired] == [3]
    assert reports[3].expired == [1]


def test_max_fires_exhausts():
    """After max_fires fires the trigger is reported exhausted and never fires again."""
    fires, reports = run([1.0, 1.2, 1.0, 1.2, 1.0, 1.2], {1: price_cfg("price > 1.1",
                                                                       max_fires=2)})
    assert fires[1] == [1, 3]
    assert [i for i, r in enumerate(reports) if r.exhausted] == [3]


def test_restart_continues_without_duplicate_or_miss():
    """A watcher rebuilt from the saved store at any tick fires exactly as an uninterrupted one."""
    path = [1.099, 1.101, 1.102, 1.099, 1.101, 1.0979, 1.101, 1.101, 1.09, 1.11, 1.2, 1.0]
    configs = {
        1: price_cfg("price > 1.10"),
        2: price_cfg("price > 1.10", rearm_band=0.002),
        3: price_cfg("crosses_above(price, 1.10)"),
        4: price_cfg("price > 1.10", cooldown_seconds=150),
        5: price_cfg("abs(price - 1.1) > 0.0005"),  # scalar path
        6: price_cfg("crosses_above(price * 2, 2.2)"),  # scalar path with a crossing
        7: price_cfg("price > 1.10", max_fires=2),
    }
    expected, _ = run(path, configs)
    assert expected[1] and expected[3] and expected[6]
    for restart in range(1, len(path)):
        got, _ = run(path, configs, restart_at={restart})
        assert got == expected, restart
    got, _ = run(path, configs, restart_at=set(range(1, len(path))))
    assert got == expected


def test_state_saving_is_incremental():
    """Only triggers whose state changed are written to the store on a tick."""
    store = InMemoryTriggerStateStore()
    configs = {tid: price_cfg(f"price > {1.0 + tid / 100}") for tid in range(1, 21)}
    _, reports = run([1.055, 1.055, 1.055, 1.065], configs, store=store)
    assert reports[0].saved == 20  # first evaluation primes every trigger
    assert reports[1].saved == reports[2].saved == 0
    assert reports[3].saved == 1  # only "price > 1.06" became true (and fired)


def test_stale_missing_or_unavailable_price_fires_nothing():
    """Missing, stale or failing data fires nothing and is reported; bars closed meanwhile
    are evaluated at the next check."""
    path = [1.09, None, 1.11, 1.12, 1.09, 1.12, 1.09, 1.12]
    configs = {1: price_cfg("crosses_above(price, 1.10)"), 2: price_cfg("price > 1.10")}
    fires, reports = run(path, configs, stale={2}, down={5})
    assert "EURUSD" in reports[1].unavailable and "no bars" in reports[1].unavailable["EURUSD"]
    assert "stale" in reports[2].unavailable["EURUSD"]
    assert "MarketDataUnavailableError" in reports[5].unavailable["EURUSD"]
    assert reports[1].evaluated == reports[2].evaluated == reports[5].evaluated == 0
    # nothing is lost either: the next check evaluates the bars it could not see (within the
    # staleness window), so the crossing of bar 2 fires at tick 3, the one of bar 5 at tick 6
    assert fires[1] == [3, 6, 7]
    assert fires[2] == [3, 6, 7]


def _ind_watcher(feed, configs: dict[int, IndicatorTriggerConfig], **kw) -> TriggerWatcher:
    watcher = TriggerWatcher(feed, check_interval_seconds=60, **kw)
    for tid, cfg in configs.items():
        watcher.upsert(tid, "indicator", cfg, None)
    return watcher


def test_indicator_evaluated_once_per_bar():
    """Many ticks inside one 5m bar give one bars() call and one evaluation per bar close."""
    clock = FixedClock(START)
    feed = CountingFeed(SimulatedFeed(seed=3, clock=clock))
    cfg = IndicatorTriggerConfig(symbol="EURUSD", condition="rsi > 0", timeframe="5m",
                                 indicator="rsi")
    watcher = _ind_watcher(feed, {1: cfg})
    evaluated = []
    for k in range(61):  # every 10 s from 12:00:05 to 12:10:05
        evaluated.append(watcher.tick_report(START + timedelta(seconds=10 * k + 5)).evaluated)
    assert [i for i, e in enumerate(evaluated) if e] == [0, 30, 60]  # first tick, 12:05, 12:10
    assert sum(evaluated) == 3
    assert len(feed.bars_calls) == 3
    assert feed.prices_calls == 0  # bar-close triggers need no live quote


def test_indicator_fires_where_talib_rsi_drops_below_30():
    """RSI(14) < 30 fires exactly at the bar closes where an independent TA-Lib RSI crosses it."""
    feed = SimulatedFeed(seed=5)
    count = history_bars("rsi", {"period": 14})
    minutes = 360
    for symbol in feed.symbols():
        rsi_at = []
        for m in range(minutes):
            bars = feed.bars(symbol, "1m", count, START + timedelta(minutes=m))
            rsi_at.append(float(talib.RSI(bars.close, timeperiod=14)[-1]))
        below = [v < 30 for v in rsi_at]
        expected = [m for m in range(1, minutes) if below[m] and not below[m - 1]]
        if expected:
            break
    assert expected, "no RSI < 30 episode found in the window"
    cfg = IndicatorTriggerConfig(symbol=symbol, condition="rsi < 30", timeframe="1m",
                                 indicator="rsi", params={"period": 14})
    watcher = _ind_watcher(feed, {1: cfg})
    got = {}
    for m in range(minutes):
        for s in (0, 20, 40):  # three ticks per bar
            for fire in watcher.tick(START + timedelta(minutes=m, seconds=s)):
                got[m] = fire
    assert sorted(got) == expected
    for m, fire in got.items():
        # the watcher reads a few more bars (its catch-up window): RSI's smoothing has
        # converged to ~1e-7 after 250 bars
        assert fire.payload["value"] == pytest.approx(rsi_at[m], abs=1e-6)
        assert fire.payload["bar_close_ts"] == (START + timedelta(minutes=m)).isoformat()
        assert fire.payload["symbol"] == symbol and fire.payload["indicator"] == "rsi"


def test_shared_fetch_and_computation_groups():
    """One prices() per tick and one bars() per (symbol, timeframe), whatever the trigger count."""
    clock = FixedClock(START)
    feed = CountingFeed(SimulatedFeed(seed=3, clock=clock))
    watcher = TriggerWatcher(feed, check_interval_seconds=60)
    for tid in range(10):
        watcher.upsert(tid, "price", PriceTriggerConfig(
            symbol=("EURUSD", "GBPUSD")[tid % 2], condition=f"price > {1 + tid / 10}"))
    specs = [("EURUSD", "1m", "rsi", "rsi < 30"), ("EURUSD", "1m", "sma", "sma > 1"),
             ("EURUSD", "1m", "rsi", "rsi > 70"), ("EURUSD", "5m", "rsi", "rsi < 30"),
             ("GBPUSD", "1m", "macd", "crosses_above(macd, macd.signal)"),
             ("GBPUSD", "1m", "bbands", "price > bbands.upper")]
    for k, (sym, tf, ind, cond) in enumerate(specs):
        watcher.upsert(100 + k, "indicator", IndicatorTriggerConfig(
            symbol=sym, condition=cond, timeframe=tf, indicator=ind))
    report = watcher.tick_report(START)
    assert feed.prices_calls == 0  # price triggers read one-minute bars, one call per symbol
    assert sorted(feed.bars_calls) == [("EURUSD", "1m"), ("EURUSD", "1m"), ("EURUSD", "5m"),
                                       ("GBPUSD", "1m"), ("GBPUSD", "1m")]
    assert report.evaluated == 16 and not report.errors
    watcher.tick_report(START + timedelta(seconds=30))  # same bars: nothing fetched
    assert feed.prices_calls == 0 and len(feed.bars_calls) == 5


def test_indicator_tick_mode_uses_current_price():
    """evaluate_on="tick" evaluates every tick with the current price as the forming close."""
    feed = SimulatedFeed(seed=3)
    cfg = IndicatorTriggerConfig(symbol="EURUSD", condition="rsi > 0", timeframe="5m",
                                 indicator="rsi", evaluate_on="tick")
    watcher = _ind_watcher(feed, {1: cfg})
    evaluated = [watcher.tick_report(START + timedelta(seconds=20 * k + 1)).evaluated
                 for k in range(6)]
    assert evaluated == [1] * 6
    now = START + timedelta(seconds=121)
    bars = feed.bars("EURUSD", "5m", history_bars("rsi", {"period": 14}), now)
    closes = np.append(bars.close, feed.price("EURUSD", now).price)
    expected = float(talib.RSI(closes, timeperiod=14)[-1])
    low = IndicatorTriggerConfig(symbol="EURUSD", condition=f"rsi > {expected - 1e-6}",
                                 timeframe="5m", indicator="rsi", evaluate_on="tick")
    high = IndicatorTriggerConfig(symbol="EURUSD", condition=f"rsi > {expected + 1e-6}",
                                  timeframe="5m", indicator="rsi", evaluate_on="tick")
    watcher2 = _ind_watcher(feed, {1: low, 2: high})
    report = watcher2.tick_report(now)
    assert report.evaluated == 2
    assert watcher2.state(1).last_in and not watcher2.state(2).last_in


PRICE_FORMS = [
    "price > {a}", "price >= {a}", "price < {a}", "price <= {a}", "price == {a}",
    "price != {a}", "{a} < price <= {b}", "price < {a} or price > {b}",
    "not (price > {a}) and price > {c}", "crosses_above(price, {a})",
    "crosses_below(price, {b})", "crosses_above({a}, price)",
    "price > {a} and price * 2 < {d}",  # scalar path
    "crosses_above(price, {a}) or price > {b}",  # scalar path
]


@settings(max_examples=60, deadline=None)
@given(
    forms=st.lists(st.sampled_from(PRICE_FORMS), min_size=1, max_size=8),
    levels=st.lists(st.sampled_from([1.0, 1.05, 1.1, 1.15, 1.2]), min_size=4, max_size=4),
    path=st.lists(st.sampled_from([0.95, 1.0, 1.05, 1.07, 1.1, 1.12, 1.15, 1.2, 1.3, None]),
                  min_size=2, max_size=12),
    bands=st.lists(st.sampled_from([0.0, 0.0, 0.03, 0.06]), min_size=8, max_size=8),
    at_start=st.booleans(),
)
def test_vectorized_path_agrees_with_condition_test(forms, levels, path, bands, at_start):
    """Random triggers on a random path fire identically on the vector and scalar paths."""
    a, b, c, _ = sorted(levels)
    configs = {}
    for k, form in enumerate(forms):
        text = form.format(a=a, b=b, c=c, d=2 * b)
        configs[k] = price_cfg(text, rearm_band=bands[k], fire_if_true_at_start=at_start)
    vec, vec_reports = run(path, configs)
    ref, ref_reports = run(path, configs, vectorize=False)
    assert vec == ref
    for vr, rr in zip(vec_reports, ref_reports, strict=True):
        assert vr.evaluated == rr.evaluated


@settings(max_examples=200, deadline=None)
@given(
    form=st.sampled_from(PRICE_FORMS[:9]),
    a=st.floats(0.5, 2.0), b=st.floats(0.5, 2.0), c=st.floats(0.5, 2.0),
    x=st.floats(0.4, 2.1),
)
def test_vector_regions_match_condition_test(form, a, b, c, x):
    """The interval rows of a band condition say true exactly where Condition.test does."""
    text = form.format(a=repr(a), b=repr(b), c=repr(c), d=repr(2 * b))
    feed = ScriptedFeed({"EURUSD": [x]})
    watcher = TriggerWatcher(feed, check_interval_seconds=STEP)
    watcher.upsert(1, "price", price_cfg(text))
    watcher.tick_report(at(0))
    assert watcher.state(1).last_in == parse(text).test({"price": x})


def test_upsert_keeps_state_unless_watch_changes_and_remove_forgets():
    """Re-upserting the same watch keeps the edge; a new condition or a removal starts fresh."""
    feed = ScriptedFeed({"EURUSD": [1.0, 1.2, 1.2, 1.2, 1.2, 1.2]})
    store = InMemoryTriggerStateStore()
    watcher = TriggerWatcher(feed, store, check_interval_seconds=STEP)
    watcher.upsert(1, "price", price_cfg("price > 1.1"))
    watcher.upsert(2, "price", price_cfg("price > 1.1"))
    assert [f.trigger_id for f in watcher.tick(at(0))] == []
    assert sorted(f.trigger_id for f in watcher.tick(at(1))) == [1, 2]
    watcher.upsert(1, "price", price_cfg("price > 1.1", cooldown_seconds=5))  # same watch
    watcher.upsert(2, "price", price_cfg("price > 1.15", fire_if_true_at_start=True))
    watcher.upsert(3, "price", price_cfg("price > 1.1"))
    assert [f.trigger_id for f in watcher.tick(at(2))] == [2]
    assert watcher.state(1).fire_count == 1 and not watcher.state(1).armed
    watcher.remove(1)
    watcher.tick(at(3))
    assert 1 not in store.load_all() and len(watcher) == 2
    watcher.upsert(1, "price", price_cfg("price > 1.1"))
    assert watcher.tick(at(4)) == []  # fresh and already true: no fire
    assert watcher.state(1).fire_count == 0


REPLAY_PATH = [1.09, 1.11, 1.12, 1.09, 1.11, 1.105, 1.095, 1.111, 1.08, 1.13, 1.14, 1.07, 1.12,
               None, 1.121, 1.09, 1.115]
REPLAY_CONFIGS = {
    1: price_cfg("price > 1.10"),
    2: price_cfg("price > 1.10", rearm_band=0.012),
    3: price_cfg("price > 1.10", cooldown_seconds=4 * STEP),
    4: price_cfg("price > 1.10", max_fires=2),
    5: price_cfg("crosses_above(price, 1.10)", fire_if_true_at_start=True),
    6: price_cfg("price < 1.10 or price > 1.12", rearm_band=0.005, cooldown_seconds=2 * STEP),
    7: price_cfg("abs(price - 1.10) * 100 > 1", rearm_band=0.002),  # scalar path
    8: price_cfg("price > 1.10", expires_at=at(9)),
}


@pytest.mark.parametrize("vectorize", [True, False])
def test_backtest_fires_where_the_watcher_fires(vectorize):
    """The backtest of one trigger (engine.scheduler.backtest) fires at exactly the ticks the
    watcher fires: same first evaluation, crossing, re-arm band, cooldown, max fires, expiry,
    and a missing bar is skipped by both."""
    from agentic_app.engine.scheduler.backtest import backtest

    fires, _ = run(REPLAY_PATH, REPLAY_CONFIGS, vectorize=vectorize)
    feed = ScriptedFeed({"EURUSD": REPLAY_PATH})
    end = at(len(REPLAY_PATH) - 1)
    for tid, cfg in REPLAY_CONFIGS.items():
        result = backtest(feed, cfg, start=at(-1), end=end)
        ticks = [round((datetime.fromisoformat(f["time"]) - START).total_seconds() / STEP)
                 for f in result.fires]
        assert ticks == fires[tid], tid
    assert fires[4] == [1, 4] and fires[3] == [1, 5, 9, 14] and fires[8] == [1, 4, 7]


def _every_name_config() -> list[IndicatorTriggerConfig]:
    """One accepted config per (indicator, condition name), at default and at extreme params."""
    from agentic_app.domain.indicators import INDICATOR_SCHEMAS
    from agentic_app.domain.triggers import condition_names, parse_trigger_config

    configs = []
    for name, schema in INDICATOR_SCHEMAS.items():
        extremes = [{}, {p.name: p.minimum for p in schema.params}]
        if name == "macd":
            extremes[1] = {"fast": 2, "slow": 3, "signal": 1}
        for params in extremes:
            for cond_name in condition_names(name):
                configs.append(parse_trigger_config("indicator", {
                    "symbol": "EURUSD", "timeframe": "1m", "indicator": name,
                    "params": params, "condition": f"{cond_name} > price or {cond_name} <= 0"}))
    return configs


def test_every_accepted_indicator_config_is_evaluated():
    """Every condition name the trigger model accepts, for every indicator, at default and at
    minimum params, is registered and evaluated by the watcher without an error."""
    configs = _every_name_config()
    feed = SimulatedFeed(seed=4)
    watcher = _ind_watcher(feed, dict(enumerate(configs)))
    report = watcher.tick_report(START)
    assert report.errors == {} and report.unavailable == {}
    assert report.evaluated == len(configs) >= 50


def test_bbands_price_above_upper_band():
    """'price > upper' on bbands (accepted by the API) evaluates against TA-Lib's upper band."""
    feed = SimulatedFeed(seed=2)
    cfg = IndicatorTriggerConfig(symbol="EURUSD", condition="price > upper", timeframe="5m",
                                 indicator="bbands", params={"std_dev": 0.5})
    assert cfg.params == {"period": 20, "nbdev_up": 0.5, "nbdev_dn": 0.5}
    watcher = _ind_watcher(feed, {1: cfg})
    checked = []
    for k in range(40):
        now = START + timedelta(minutes=5 * k)
        report = watcher.tick_report(now)
        assert report.evaluated == 1 and not report.errors
        bars = feed.bars("EURUSD", "5m", history_bars("bbands", cfg.params), now)
        upper = talib.BBANDS(bars.close, timeperiod=20, nbdevup=0.5, nbdevdn=0.5)[0][-1]
        checked.append(bool(bars.close[-1] > upper))
        assert watcher.state(1).last_in == checked[-1]
    assert any(checked) and not all(checked)
