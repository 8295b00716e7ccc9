"""Trigger backtest: one price or indicator trigger replayed over the feed's history by the
live watcher's own evaluation.

Every point the live watcher would evaluate (the bar semantics of ``domain.triggers.bars``:
the price path of each one-minute bar, or each closed bar of an indicator's timeframe) is
evaluated with ``watch_eval.step_prices`` / ``watch_eval.step_indicators`` on a one-slot
``Book``, exactly as a tick of ``TriggerWatcher`` does for many slots: same regions, same
scalar path, same edge rules (first evaluation, crossings, re-arm band, cooldown, max fires,
expiry). So a backtest fires at the bars where the live watcher fires on the same feed. A
fire at a time the trigger's trading session (``domain.triggers.session``) is closed is
counted in ``market_closed`` instead, as the scheduler records it skipped ("market closed").

Speed: the inputs of the edge rules (region test, condition, re-arm distance, valid data)
are first computed for the whole history at once (``Book.regions``/``Book.far`` take a series
per source). Between two positions where none of them changes, the rules are idempotent, so
only those positions (``domain.triggers.bars.changes``) and the end of a cooldown are
stepped. 90 days of one-minute bars take well under a second (``bench/backtest_bench.py``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from agentic_app.domain.errors import InvalidInputError, MarketDataUnavailableError
from agentic_app.domain.triggers.bars import (
    POINT_NAMES,
    POINTS_PER_BAR,
    PRICE_SECONDS,
    PRICE_TIMEFRAME,
    changes,
    price_path,
)
from agentic_app.domain.triggers.edge import TriggerState
from agentic_app.domain.triggers.market import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.domain.triggers.rules import MarketRule, compile_rule
from agentic_app.domain.triggers.session import allows
from agentic_app.engine.scheduler.market_watch import history_bars
from agentic_app.engine.scheduler.watch_book import Book, Entry, layout_indicators
from agentic_app.engine.scheduler.watch_eval import (
    indicator_payload,
    step_indicators,
    step_prices,
)
from agentic_app.market import indicators
from agentic_app.market.base import Bars, MarketData, parse_timeframe
from agentic_app.market.clock import from_epoch, to_epoch

MAX_DAYS = 90
"""Longest backtest window."""
MAX_LISTED_FIRES = 1000
"""Most fires a result lists (``count`` is always the full number)."""
CHART_POINTS = 400
"""Most points of the price chart a result carries."""
FETCH_CHUNK = 50_000
"""Bars per ``bars()`` call when reading a long history."""


@dataclass(slots=True)
class BacktestResult:
    """Every would-be fire of one trigger over ``[start, end]`` and a chart of the window."""

    start: datetime
    end: datetime
    fires: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    market_closed: int = 0
    bars: int = 0
    steps: int = 0
    errors: list[str] = field(default_factory=list)
    chart: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (what the API returns)."""
        return {
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "days": round((self.end - self.start).total_seconds() / 86400, 3),
            "count": self.count, "market_closed": self.market_closed, "fires": self.fires,
            "truncated": self.count > len(self.fires), "bars": self.bars,
            "steps": self.steps, "errors": self.errors, "chart": self.chart,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def history(feed: MarketData, symbol: str, timeframe: str, first_close: float,
            last_close: float) -> Bars:
    """The feed's ``timeframe`` bars closing in ``[first_close, last_close]`` (epoch s),
    read in chunks; ``MarketDataUnavailableError`` when there are none."""
    seconds = parse_timeframe(timeframe)
    wanted = int((last_close - first_close) // seconds) + 1
    parts: list[Bars] = []
    end = last_close
    while wanted > 0:
        count = min(wanted, FETCH_CHUNK)
        part = feed.bars(symbol, timeframe, count, from_epoch(end))
        if not len(part):
            break
        parts.append(part)
        wanted -= len(part)
        end = float(part.ts[0])  # the close of the bar before the oldest one read
        if len(part) < count:
            break
    if not parts:
        raise MarketDataUnavailableError(f"no {timeframe} history for {symbol}")
    parts.reverse()
    cols = [np.concatenate([getattr(p, name) for p in parts])
            for name in ("ts", "open", "high", "low", "close", "volume")]
    keep = cols[0] + seconds >= first_close
    return Bars(parts[0].symbol, timeframe, *(c[keep] for c in cols))


def _book(rule: MarketRule) -> Book:
    """A one-slot book of ``rule``, as the watcher builds it."""
    entry = Entry(0, rule, TriggerState(0, rule.fingerprint))
    if rule.kind == "price":
        return Book([entry], np.zeros(1, np.int64), True)
    layout = layout_indicators([entry], {rule.config.symbol: 0}, True)
    book = Book([entry], layout.slot_src, True)
    book.layout = layout  # type: ignore[attr-defined]
    return book


def _steps(events: np.ndarray, at: np.ndarray, book: Book, step, per_bar: int = 1) -> int:
    """Run ``step(i)`` at each event position, where a cooldown runs out inside a run of
    unchanged inputs and, after a fire, at the first point of the next bar (a trigger fires
    at most once per bar: the rest of its bar is not evaluated, as live); stop when the
    trigger is finished. ``per_bar``: points per bar. Returns the number of steps."""
    sa = book.state
    done, k, n = 0, 0, len(at)
    marks = events.tolist()
    expiring = math.isfinite(float(sa.expires[0]))
    i = marks[0] if marks else n
    while i < n:
        if expiring:
            sa.expire(float(at[i]))
        if sa.finished[0]:
            break
        result = step(i)
        done += 1
        if sa.finished[0]:
            break
        while k < len(marks) and marks[k] <= i:
            k += 1
        if result.fired.size and per_bar > 1:
            i = (i // per_bar + 1) * per_bar  # the next bar's first point
            while k < len(marks) and marks[k] < i:
                k += 1
            continue
        following = marks[k] if k < len(marks) else n
        if result.cooling.size and not math.isnan(float(sa.last_fire[0])):
            ready = float(sa.last_fire[0] + sa.cooldown[0])
            j = max(i + 1, int(np.searchsorted(at, ready, side="left")))
            if j < following:
                i = j
                continue
        i = following
    return done


def _counted(result: BacktestResult, config: Any, at_s: float) -> bool:
    """Count a fire at ``at_s``: a run, or a skip when the trigger's trading session is
    closed then (the edge is used up either way, as live); True when it is to be listed."""
    if not allows(config, from_epoch(at_s)):
        result.market_closed += 1
        return False
    result.count += 1
    return len(result.fires) < MAX_LISTED_FIRES


def _price(bars: Bars, config: PriceTriggerConfig, result: BacktestResult) -> tuple[Bars, None]:
    """Backtest a price trigger on the price path of every one-minute bar."""
    path = price_path(bars.ts, bars.open, bars.high, bars.low, bars.close)
    rule = compile_rule(config)
    book = _book(rule)
    px = path.price
    if rule.bands is not None:
        columns = [book.regions(px[None, :])[0]]
        far = book.far(px[None, :])
        if far is not None:
            columns.append(far[0])
    else:  # the scalar path: its truth and re-arm distance, point by point
        truth = np.zeros(len(px), bool)
        far_col = np.ones(len(px), bool)
        crossing = "crosses_" in rule.condition.canonical()  # reads the previous price
        seen: dict[tuple[float, float | None], tuple[bool, bool]] = {}
        last = None
        for j, x in enumerate(px.tolist()):
            key = (x, last if crossing else None)
            hit = seen.get(key)
            if hit is None:
                prev = None if last is None else {"price": last}
                yes = rule.test({"price": x}, prev)
                hit = seen[key] = (yes, yes or rule.band <= 0 or rule.far(x, prev))
            truth[j], far_col[j] = hit
            last = x
        columns = [truth, far_col]
    valid = ~np.isnan(px)
    events = changes(valid, *columns)
    due = np.ones(1, bool)
    errors: dict[int, str] = {}

    def step(i: int):
        if i > 0:
            book.state.last_price[0] = px[i - 1]  # the previous point, as live sees it
        res, _ = step_prices(book, float(path.at[i]), px[i : i + 1], due, errors)
        if res.fired.size and _counted(result, config, float(path.at[i])):
            close = float(path.at[i])
            result.fires.append({
                "time": from_epoch(close).isoformat(),
                "bar_ts": from_epoch(close - PRICE_SECONDS).isoformat(),
                "price": float(px[i]), "point": POINT_NAMES[int(path.kind[i])],
                "values": {"price": float(px[i])}})
        return res

    result.steps = _steps(events, path.at, book, step, POINTS_PER_BAR)
    result.errors = sorted(set(errors.values()))
    return bars, None


def _indicator(bars: Bars, config: IndicatorTriggerConfig, start_s: float,
               result: BacktestResult) -> tuple[Bars, np.ndarray]:
    """Backtest an indicator trigger at every closed bar of its timeframe."""
    seconds = parse_timeframe(config.timeframe)
    rule = compile_rule(config)
    book = _book(rule)
    layout = book.layout  # type: ignore[attr-defined]
    group = layout.groups[0]
    data = {"close": bars.close, "high": bars.high, "low": bars.low}
    values = indicators.compute(config.indicator, data, **config.params)
    values["close"] = bars.close
    cur = np.full((layout.n_src, len(bars)), np.nan)
    for out, src in group.output_sources.items():
        cur[src] = values[out]
    prev = np.full_like(cur, np.nan)
    prev[:, 1:] = cur[:, :-1]
    closes = bars.ts.astype(float) + seconds
    first = int(np.searchsorted(closes, start_s + seconds, side="left"))
    src = int(book.slot_src[0])
    valid = ~np.isnan(cur[src])
    if rule.bands is not None:
        in_now = book.regions(cur)[0]
        columns = [in_now]
        if book.any_cross:
            with np.errstate(invalid="ignore"):
                in_prev = book.regions(prev)[0]
            columns.append(~np.isnan(prev[src]) & ~in_prev)
        far = book.far(cur)
        if far is not None:
            columns.append(far[0])
    else:
        truth = np.zeros(len(bars), bool)
        for j in range(first, len(bars)):
            env = {name: values[out][: j + 1] for name, out in group.outputs.items()}
            if not any(math.isnan(env[n][-1]) for n in rule.condition.names):
                truth[j] = rule.test(env)
        columns = [truth]
    events = first + changes(*(c[first:] for c in (valid, *columns)))
    due = np.ones(1, bool)
    errors: dict[int, str] = {}

    def step(i: int):
        def env_of(_slot: int) -> dict[str, np.ndarray]:
            return {name: values[out][: i + 1] for name, out in group.outputs.items()}

        at = closes[i : i + 1]
        res = step_indicators(book, at, due, cur[:, i], prev[:, i], env_of, errors)
        if res.fired.size and _counted(result, config, float(at[0])):
            payload = indicator_payload(book, layout, 0, cur[:, i], float(at[0]),
                                        float(bars.close[i]))
            result.fires.append({
                "time": payload["bar_close_ts"],
                "bar_ts": from_epoch(float(bars.ts[i])).isoformat(),
                "price": payload["price"], "point": "close",
                "values": payload["values"]})
        return res

    result.steps = _steps(events, closes, book, step)
    result.errors = sorted(set(errors.values()))
    window_bars = Bars(bars.symbol, bars.timeframe, *(a[first:] for a in (
        bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume)))
    return window_bars, values[rule.names[config.indicator]][first:]


def _chart(bars: Bars, result: BacktestResult, series: np.ndarray | None) -> None:
    """At most :data:`CHART_POINTS` points of the window (last close of each bucket, the
    indicator value) with the fires of each bucket marked at the fire's price."""
    n = len(bars)
    if not n:
        return
    size = max(1, math.ceil(n / CHART_POINTS))
    ends = np.minimum(np.arange(size, n + size, size), n) - 1
    closes = bars.ts[ends].astype(float) + bars.seconds
    marks: dict[int, float] = {}
    for fire in result.fires:
        k = int(np.searchsorted(closes, datetime.fromisoformat(fire["time"]).timestamp()))
        marks.setdefault(min(k, len(ends) - 1), fire["price"])
    for k, e in enumerate(ends.tolist()):
        value = float(series[e]) if series is not None else math.nan
        result.chart.append({
            "t": from_epoch(float(closes[k])).strftime("%m-%d %H:%M"),
            "close": round(float(bars.close[e]), 6),
            "value": None if math.isnan(value) else round(value, 4),
            "fire": marks.get(k)})


def read_history(feed: MarketData, config: PriceTriggerConfig | IndicatorTriggerConfig, *,
                 start: datetime, end: datetime) -> Bars:
    """The bars a backtest of ``config`` between ``start`` and ``end`` reads (at most
    :data:`MAX_DAYS` apart; ``InvalidInputError`` naming ``days`` otherwise): I/O only."""
    start_s, end_s = to_epoch(start), to_epoch(end)
    if end_s <= start_s:
        raise InvalidInputError("the window must end after it starts", field="days")
    if end_s - start_s > MAX_DAYS * 86400 + 1e-6:
        raise InvalidInputError(f"a backtest covers at most {MAX_DAYS} days", field="days")
    if isinstance(config, PriceTriggerConfig):
        return history(feed, config.symbol, PRICE_TIMEFRAME, start_s + PRICE_SECONDS, end_s)
    if isinstance(config, IndicatorTriggerConfig):
        seconds = parse_timeframe(config.timeframe)
        warmup = history_bars(config.indicator, config.params)
        return history(feed, config.symbol, config.timeframe,
                       start_s + seconds - warmup * seconds, end_s)
    raise InvalidInputError("only price and indicator triggers can be backtested",
                            field="trigger_type")


def replay_bars(bars: Bars, config: PriceTriggerConfig | IndicatorTriggerConfig, *,
                start: datetime, end: datetime) -> BacktestResult:
    """Where ``config`` would have fired on ``bars`` (from :func:`read_history`) between
    ``start`` and ``end``: CPU only, plain data in and out (runs in a worker process)."""
    t0 = time.perf_counter()
    start_s, end_s = to_epoch(start), to_epoch(end)
    result = BacktestResult(from_epoch(start_s), from_epoch(end_s))
    if isinstance(config, PriceTriggerConfig):
        bars, series = _price(bars, config, result)
    else:
        bars, series = _indicator(bars, config, start_s, result)
    result.bars = len(bars)
    _chart(bars, result, series)
    result.elapsed_ms = (time.perf_counter() - t0) * 1000
    return result


def replay_to_dict(bars: Bars, kind: str, config: dict, start: datetime,
                   end: datetime) -> dict:
    """:func:`replay_bars` of the ``kind`` trigger ``config`` (a plain dict, already checked
    by the caller: typed configs do not pickle) as the API's plain dict, for a worker
    process."""
    from agentic_app.domain.triggers import parse_trigger_config

    typed = parse_trigger_config(kind, config)
    return replay_bars(bars, typed, start=start, end=end).to_dict()


def backtest(feed: MarketData, config: PriceTriggerConfig | IndicatorTriggerConfig, *,
             start: datetime, end: datetime) -> BacktestResult:
    """Where ``config`` would have fired on ``feed`` between ``start`` and ``end`` (at most
    :data:`MAX_DAYS` apart; ``InvalidInputError`` naming ``days`` otherwise), by the live
    watcher's evaluation; see the module docstring. In this thread: the web process reads
    with :func:`read_history` and replays with :func:`replay_to_dict` in a worker process."""
    bars = read_history(feed, config, start=start, end=end)
    return replay_bars(bars, config, start=start, end=end)


def window(end: datetime, days: float) -> tuple[datetime, datetime]:
    """(start, end) of a ``days`` long window ending at ``end``."""
    return end - timedelta(days=days), end
