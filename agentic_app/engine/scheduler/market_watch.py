"""Price and indicator trigger evaluation: edge-triggered, vectorised, once per bar.

A :class:`TriggerWatcher` holds every active price/indicator trigger and evaluates all of them
in one :meth:`TriggerWatcher.tick`. What a trigger is and how it evaluates (condition names,
crossings, re-arm band) is the trigger model's (``domain.triggers.rules``); its edge rules
(edge-triggered, first evaluation, cooldown, max fires, expiry) are ``domain.triggers.edge``.
Here: registration, data and speed.

* **Expiry / max fires.** At ``now >= expires_at`` nothing fires and the trigger is reported once
  in :attr:`TickReport.expired`; after ``max_fires`` fires it is reported in
  :attr:`TickReport.exhausted`. Both stop being evaluated (the scheduler deactivates them).
* **Data (bar semantics, ``domain.triggers.bars``).** Price triggers are evaluated on the
  path (extremes, then close) of every one-minute bar closed since their last evaluated bar,
  so a touch between two checks fires, with the bar and the crossing price in the payload.
  Indicator triggers (``evaluate_on="bar_close"``, default) are evaluated once per closed bar
  of their timeframe, at every bar closed since their last one, whatever the check interval;
  ``"tick"`` evaluates every tick on the closed bars plus a forming bar whose
  open/high/low/close are the current price (one ``prices()`` call per tick for those).
  Catch-up is bounded: no bar that closed more than one timeframe plus
  ``max_staleness_seconds`` (default 2 x ``check_interval_seconds``) ago is evaluated. A
  feed whose newest bar is older than that (stale), that has no bars, NaN prices or an error
  fires nothing for that symbol: it is logged and listed in :attr:`TickReport.unavailable`.
* **Indicators.** Triggers are grouped by (symbol, timeframe, indicator, params, mode); each
  group's indicator is computed once per tick from one ``bars()`` call per (symbol, timeframe),
  with :func:`history_bars` bars plus the catch-up window. ``price`` is the close series
  (with the current price as last value in tick mode).
* **One evaluation.** Each point is evaluated by ``watch_eval.step_prices`` /
  ``watch_eval.step_indicators``, the functions the backtest (``backtest``) calls too.
* **Speed.** Vector-form conditions (``MarketRule.bands``) are stored as interval rows in numpy
  arrays and evaluated for every trigger at once; everything else falls back to
  ``MarketRule.test`` per trigger. Only fired triggers and changed states become Python objects.
* **Isolation.** A trigger whose evaluation fails is listed in :attr:`TickReport.errors`; the
  others are evaluated as usual.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime, timedelta

import numpy as np

from agentic_app.domain.errors import AgenticError, UnknownSymbolError
from agentic_app.domain.indicators import TIMEFRAMES
from agentic_app.domain.triggers.bars import (
    POINTS_PER_BAR,
    PRICE_SECONDS,
    PRICE_TIMEFRAME,
    PricePath,
    price_path,
)
from agentic_app.domain.triggers.edge import TriggerState
from agentic_app.domain.triggers.market import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.domain.triggers.rules import MarketRule, TriggerKind, compile_rule
from agentic_app.engine.scheduler.trigger_state import (
    InMemoryTriggerStateStore,
    TriggerStateStore,
)
from agentic_app.engine.scheduler.watch_book import (
    Book,
    Entry,
    IndicatorLayout,
    TickReport,
    TriggerFire,
    layout_indicators,
)
from agentic_app.engine.scheduler.watch_eval import Changed, evaluate_indicators, evaluate_prices
from agentic_app.market import indicators
from agentic_app.market.base import Bars, MarketData, Quote
from agentic_app.market.clock import to_epoch, to_utc

log = logging.getLogger(__name__)

HISTORY_MIN_BARS = 250
"""Fewest bars fetched for an indicator (smoothed indicators such as RSI need a long warm-up)."""


def history_bars(indicator: str, params: dict[str, float]) -> int:
    """Bars fetched to compute ``indicator`` with trigger-config ``params``."""
    needed = indicators.spec(indicator).min_bars(**params)
    return max(HISTORY_MIN_BARS, 4 * needed)


class TriggerWatcher:
    """Evaluates every registered price and indicator trigger once per :meth:`tick`."""

    def __init__(
        self,
        feed: MarketData,
        store: TriggerStateStore | None = None,
        *,
        check_interval_seconds: float = 60,
        max_staleness_seconds: float | None = None,
        vectorize: bool = True,
    ):
        """Watch triggers on ``feed``; states come from and go to ``store`` (default: memory).

        ``max_staleness_seconds`` defaults to ``2 * check_interval_seconds``. ``vectorize=False``
        evaluates every trigger with ``MarketRule.test`` (the reference path, for tests).
        """
        self.feed = feed
        self.store = store if store is not None else InMemoryTriggerStateStore()
        self.max_staleness = float(
            max_staleness_seconds if max_staleness_seconds is not None
            else 2 * check_interval_seconds
        )
        self.vectorize = vectorize
        self.scale = float(getattr(feed, "speed", 1.0) or 1.0)
        """Market seconds per wall second (an ``AcceleratedFeed`` demo market runs faster):
        a bar of ``T`` market seconds lasts ``T / scale`` seconds here."""
        self._stored = self.store.load_all()
        self._entries: dict[int, Entry] = {}
        self._dirty = True
        self._removed: set[int] = set()
        self._price: Book | None = None
        self._ind: Book | None = None
        self._layout: IndicatorLayout | None = None
        self._symbols: list[str] = []
        self._bars_cache: dict[tuple[str, str], Bars] = {}
        self.last_report: TickReport | None = None

    # ---------------------------------------------------------------- registration

    def upsert(
        self,
        trigger_id: int,
        kind: TriggerKind,
        config: PriceTriggerConfig | IndicatorTriggerConfig,
        created_at: datetime | None = None,
    ) -> None:
        """Register or replace a trigger; raises (leaving the watcher as it was) when its
        config cannot be compiled.

        The stored state is kept when what the trigger watches (symbol, condition, timeframe,
        indicator, params, mode) is unchanged; otherwise it starts fresh. ``created_at``: the
        trigger sees the newest bar closed at that time and later ones.
        """
        rule, history = self._compile(kind, config, created_at)
        self._sync_states()
        entry = Entry(int(trigger_id), rule, self._state_for(int(trigger_id), rule), history)
        self._entries[entry.trigger_id] = entry
        self._removed.discard(entry.trigger_id)
        self._dirty = True

    def remove(self, trigger_id: int) -> None:
        """Stop watching a trigger and forget its state (a re-added trigger starts fresh)."""
        self._sync_states()
        if self._entries.pop(int(trigger_id), None) is not None:
            self._removed.add(int(trigger_id))
            self._dirty = True
        self._stored.pop(int(trigger_id), None)

    def __len__(self) -> int:
        """Number of registered triggers."""
        return len(self._entries)

    def watches(self, trigger_id: int) -> bool:
        """Whether this trigger is registered."""
        return int(trigger_id) in self._entries

    def state(self, trigger_id: int) -> TriggerState:
        """Current state of a registered trigger (KeyError if unknown)."""
        entry = self._entries[int(trigger_id)]
        if not self._dirty:
            for book in (self._price, self._ind):
                slot = book.slot_of.get(entry.trigger_id)
                if slot is not None and book.entries[slot] is entry:
                    return book.state.state(slot)
        return entry.state

    def _compile(
        self,
        kind: TriggerKind,
        config: PriceTriggerConfig | IndicatorTriggerConfig,
        created_at: datetime | None,
    ) -> tuple[MarketRule, int]:
        """One trigger's compiled rule and the bars it needs (0 for a price trigger). A
        trigger watches from the newest bar closed when it was created on: its rule's
        ``created_at`` is one bar earlier."""
        if kind not in ("price", "indicator"):
            raise ValueError(f"unknown trigger kind {kind!r}")
        expected = PriceTriggerConfig if kind == "price" else IndicatorTriggerConfig
        if not isinstance(config, expected):
            raise TypeError(f"a {kind} trigger needs a {expected.__name__}")
        since = None
        if created_at is not None:
            bar = PRICE_SECONDS if kind == "price" else TIMEFRAMES[config.timeframe]
            since = to_utc(created_at) - timedelta(seconds=bar / self.scale)
        rule = compile_rule(config, since)
        history = 0
        if isinstance(config, IndicatorTriggerConfig):
            history = history_bars(config.indicator, config.params)
        return rule, history

    def _state_for(self, trigger_id: int, rule: MarketRule) -> TriggerState:
        """The trigger's current or stored state when it watches the same thing, else fresh."""
        old = self._stored.get(trigger_id)
        current = self._entries.get(trigger_id)
        if current is not None and current.rule.fingerprint == rule.fingerprint:
            return current.state
        if old is not None and old.fingerprint == rule.fingerprint:
            return old
        return TriggerState(trigger_id, rule.fingerprint)

    def _sync_states(self) -> None:
        """Copy array states back into the entries before the layout changes."""
        for book in (self._price, self._ind):
            if book is None:
                continue
            states = book.state.states(np.arange(len(book.entries)))
            for entry, state in zip(book.entries, states, strict=True):
                if self._entries.get(entry.trigger_id) is entry:
                    entry.state = state
        self._price = self._ind = None
        self._dirty = True

    def _rebuild(self) -> None:
        """Lay out symbols, groups, sources and both books from the entries."""
        entries = sorted(self._entries.values(), key=lambda e: e.trigger_id)
        prices = [e for e in entries if e.rule.kind == "price"]
        inds = [e for e in entries if e.rule.kind == "indicator"]
        symbols = sorted({e.rule.config.symbol for e in entries})
        self._symbols = symbols
        sym_index = {s: i for i, s in enumerate(symbols)}
        price_src = np.array([sym_index[e.rule.config.symbol] for e in prices], np.int64)
        self._price = Book(prices, price_src, self.vectorize)
        layout = self._layout = layout_indicators(inds, sym_index, self.vectorize)
        self._ind = Book(inds, layout.slot_src, self.vectorize)
        fetched = set(layout.fgs)
        self._bars_cache = {k: v for k, v in self._bars_cache.items() if k in fetched}
        self._pending_finished = [int(t) for b in (self._price, self._ind)
                                  for t in b.state.ids[b.state.exhaust_loaded()]]
        if self._removed:
            self.store.delete_many(self._removed)
            self._removed.clear()
        self._dirty = False

    # ---------------------------------------------------------------- ticking

    def tick(self, now: datetime) -> list[TriggerFire]:
        """Evaluate every trigger at ``now``; return the fires (details in ``last_report``)."""
        return self.tick_report(now).fires

    def tick_report(self, now: datetime) -> TickReport:
        """Evaluate every trigger at ``now`` and return the full :class:`TickReport`."""
        start = time.perf_counter()
        now = to_utc(now)
        if self._dirty:
            self._rebuild()
        report = TickReport(at=now, exhausted=list(self._pending_finished))
        self._pending_finished = []
        now_s = to_epoch(now)
        for book in (self._price, self._ind):
            report.expired.extend(int(t) for t in book.state.ids[book.state.expire(now_s)])
        sym_px, quotes = self._fetch_prices(now, now_s, report)
        closes, px, kinds = self._fetch_minutes(now, now_s, report)
        bars, oldest = self._fetch_bars(now, now_s, report)
        report.fetch_ms = (time.perf_counter() - start) * 1000
        changed: Changed = []
        t0 = time.perf_counter()
        evaluate_prices(self._price, now, closes, px, kinds, report, changed,
                        PRICE_SECONDS / self.scale)
        t1 = time.perf_counter()
        sym_index = {s: i for i, s in enumerate(self._symbols)}
        evaluate_indicators(self._ind, self._layout, now, now_s, sym_px, sym_index, quotes, bars,
                            report, changed, oldest, self.scale)
        t2 = time.perf_counter()
        states = [st for sa, slots in changed if slots.size for st in sa.states(slots)]
        if states:
            self.store.save_many(states)
        report.saved = len(states)
        report.price_eval_ms = (t1 - t0) * 1000
        report.indicator_eval_ms = (t2 - t1) * 1000
        report.save_ms = (time.perf_counter() - t2) * 1000
        report.total_ms = (time.perf_counter() - start) * 1000
        if report.unavailable:
            log.warning("trigger tick %s: no usable data for %s", now.isoformat(),
                        "; ".join(f"{k}: {v}" for k, v in sorted(report.unavailable.items())))
        self.last_report = report
        return report

    def _fetch_prices(
        self, now: datetime, now_s: float, report: TickReport
    ) -> tuple[np.ndarray, dict[str, Quote]]:
        """Current prices of the symbols of tick-mode indicator triggers (one ``prices()``
        call; NaN for the others and for missing, stale or NaN quotes)."""
        symbols = self._symbols
        px = np.full(len(symbols), np.nan)
        layout, sa = self._layout, self._ind.state
        wanted = sorted({symbols[i] for i in layout.slot_sym[layout.slot_tick & ~sa.finished]})
        if not wanted:
            return px, {}
        try:
            quotes = self.feed.prices(wanted, now)
        except UnknownSymbolError:
            quotes = {}
            for sym in wanted:  # one unknown symbol must not blind the others
                try:
                    quotes[sym] = self.feed.price(sym, now)
                except AgenticError as exc:
                    report.unavailable[sym] = f"{type(exc).__name__}: {exc}"
        except AgenticError as exc:
            for sym in wanted:
                report.unavailable[sym] = f"{type(exc).__name__}: {exc}"
            return px, {}
        index = {s: i for i, s in enumerate(symbols)}
        for sym in wanted:
            quote = quotes.get(sym)
            if quote is None:
                report.unavailable.setdefault(sym, "missing price")
                continue
            price = float(quote.price)
            age = now_s - to_epoch(quote.ts)
            if not math.isfinite(price):
                report.unavailable[sym] = "price is not a number"
            elif age > self.max_staleness:
                report.unavailable[sym] = (
                    f"stale price ({age:.0f} s old > {self.max_staleness:.0f} s)"
                )
            else:
                px[index[sym]] = price
        return px, quotes

    def _fetch_minutes(
        self, now: datetime, now_s: float, report: TickReport
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The price path of the one-minute bars closed since each symbol's price triggers
        last evaluated one (no bar older than one minute plus ``max_staleness``): bar close
        times, prices ``[bar, point, symbol]`` (NaN: none) and point kinds. One ``bars()``
        call per symbol with a bar due; a stale, missing or failing feed is reported in
        ``unavailable`` and that symbol evaluates nothing."""
        n_sym = len(self._symbols)
        sa = self._price.state
        empty = (np.empty(0), np.empty((0, POINTS_PER_BAR, n_sym)),
                 np.zeros((0, POINTS_PER_BAR, n_sym), np.int8))
        if not len(sa) or not n_sym:
            return empty
        minute = PRICE_SECONDS / self.scale
        newest = math.floor(now_s / minute) * minute
        oldest = now_s - minute - self.max_staleness
        last = np.full(n_sym, np.inf)
        live = ~sa.finished
        np.minimum.at(last, self._price.slot_src[live], sa.last_bar[live])
        paths: dict[int, tuple[np.ndarray, PricePath]] = {}
        for i, symbol in enumerate(self._symbols):
            if last[i] == math.inf:  # no live trigger on this symbol
                continue
            lower = max(float(last[i]), oldest)
            count = math.floor((newest - lower) / minute - 1e-9) + 1
            if count < 1:  # nothing new
                continue
            try:
                bars = self.feed.bars(symbol, PRICE_TIMEFRAME, min(count, 1000), now)
            except AgenticError as exc:
                report.unavailable[symbol] = f"{type(exc).__name__}: {exc}"
                continue
            if not len(bars):
                report.unavailable[symbol] = "no bars"
                continue
            closes = bars.ts.astype(float) + minute
            age = now_s - float(closes[-1])
            if age >= minute + self.max_staleness:
                report.unavailable[symbol] = f"stale bars (last close {age:.0f} s ago)"
                continue
            keep = (closes > lower) & np.isfinite(bars.high) & np.isfinite(bars.low) & (
                np.isfinite(bars.close) & np.isfinite(bars.open))
            if not keep.all() and not np.isfinite(bars.close[-1]):
                report.unavailable[symbol] = "price is not a number"
            if keep.any():
                path = price_path(bars.ts[keep], bars.open[keep], bars.high[keep],
                                  bars.low[keep], bars.close[keep])
                paths[i] = (closes[keep], path)
        if not paths:
            return empty
        times = np.unique(np.concatenate([c for c, _ in paths.values()]))
        px = np.full((len(times), POINTS_PER_BAR, n_sym), np.nan)
        kinds = np.zeros((len(times), POINTS_PER_BAR, n_sym), np.int8)
        for i, (closes, path) in paths.items():
            rows = np.searchsorted(times, closes)
            px[rows, :, i] = path.price.reshape(-1, POINTS_PER_BAR)
            kinds[rows, :, i] = path.kind.reshape(-1, POINTS_PER_BAR)
        return times, px, kinds

    def _fetch_bars(self, now: datetime, now_s: float,
                    report: TickReport) -> tuple[dict[int, Bars], np.ndarray]:
        """One ``bars()`` call per (symbol, timeframe) that has a trigger due; fresh ones only.
        Also returns, per (symbol, timeframe), the oldest bar close a trigger may still be
        evaluated on (one timeframe plus ``max_staleness`` ago: the catch-up window)."""
        sa = self._ind.state
        layout = self._layout
        tf_seconds = layout.fg_seconds / self.scale
        oldest = now_s - tf_seconds - self.max_staleness
        if not len(sa):
            return {}, oldest
        expected = np.floor(now_s / tf_seconds) * tf_seconds
        need = ~sa.finished & (layout.slot_tick | (sa.last_bar < expected[layout.slot_fg]))
        wanted = np.flatnonzero(np.bincount(layout.slot_fg[need], minlength=len(layout.fgs)))
        out: dict[int, Bars] = {}
        for fg in wanted:
            symbol, timeframe = key = layout.fgs[fg]
            seconds = float(tf_seconds[fg])
            count = layout.fg_count[fg] + int(self.max_staleness // seconds) + 1
            bars = self._bars_cache.get(key)
            if bars is None or len(bars) < count or bars.ts[-1] + seconds < expected[fg]:
                try:
                    bars = self.feed.bars(symbol, timeframe, count, now)
                except AgenticError as exc:
                    report.unavailable[f"{symbol} {timeframe}"] = f"{type(exc).__name__}: {exc}"
                    continue
                if not len(bars):
                    report.unavailable[f"{symbol} {timeframe}"] = "no bars"
                    continue
                self._bars_cache[key] = bars
            age = now_s - (float(bars.ts[-1]) + seconds)
            if age >= seconds + self.max_staleness:
                report.unavailable[f"{symbol} {timeframe}"] = (
                    f"stale bars (last close {age:.0f} s ago)"
                )
                continue
            out[int(fg)] = bars
        return out, oldest
