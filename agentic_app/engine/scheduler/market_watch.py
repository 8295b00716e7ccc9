"""Price and indicator trigger evaluation: edge-triggered, vectorised, once per bar.

A :class:`TriggerWatcher` holds every active price/indicator trigger and evaluates all of them
in one :meth:`TriggerWatcher.tick`. Rules (edge state itself: see ``trigger_state``):

* **Edge-triggered.** A trigger fires when its condition *becomes* true, then stays disarmed
  until an evaluation finds it false again. The first evaluation of a new trigger never fires
  on a condition that is already true, unless ``fire_if_true_at_start``.
* **Re-arm band** (price triggers, ``rearm_band`` = b >= 0). After a fire the trigger re-arms
  only at an evaluation where the condition is false *and* the price is at least ``b`` away
  from the true region: for the band form (``price > X``, ``a < price <= c``, ``or`` of such),
  the distance to the nearest interval ``[lo, hi]`` is ``>= b`` (``price <= lo - b`` or
  ``price >= hi + b`` for every interval). For ``crosses_above(price, X)`` the true region is
  ``price > X`` (so re-arm needs ``price <= X - b``), for ``crosses_below`` it is ``price < X``.
  For other conditions (evaluated one by one) the condition must also be false at
  ``price - b`` and ``price + b``. ``b = 0`` means "condition false".
* **Crossings.** ``crosses_above(price, X)`` is ``previous <= X < current`` where previous is the
  price at the trigger's previous evaluation (the previous tick with a valid price); it is
  compiled to the region test ``price > X`` plus the persisted ``last_in`` bit. With no previous
  evaluation a crossing is false. Indicator crossings use the previous bar's value.
* **Cooldown.** No fire within ``cooldown_seconds`` of the last fire. A fire suppressed by the
  cooldown does not consume the edge: the trigger stays armed and fires at the first evaluation
  after the cooldown at which the condition is still true.
* **Expiry / max fires.** At ``now >= expires_at`` nothing fires and the trigger is reported once
  in :attr:`TickReport.expired`; after ``max_fires`` fires it is reported in
  :attr:`TickReport.exhausted`. Both stop being evaluated (the scheduler deactivates them).
* **Data.** One ``prices(symbols, now)`` call per tick for every symbol. A quote older than
  ``max_staleness_seconds`` (default 2 x ``check_interval_seconds``), missing, NaN, or a feed
  error fires nothing for that symbol; it is logged and listed in
  :attr:`TickReport.unavailable`.
* **Indicators.** Triggers are grouped by (symbol, timeframe, indicator, params, mode); each
  group's indicator is computed once per tick from one ``bars()`` call per (symbol, timeframe),
  with :func:`history_bars` bars. ``evaluate_on="bar_close"`` (default) evaluates once per
  closed bar (the newest closed bar must have closed less than one timeframe plus
  ``max_staleness_seconds`` ago); ``"tick"`` evaluates every tick on the closed bars plus a
  forming bar whose open/high/low/close are the current price. Condition names: the indicator
  name (``rsi``, ``sma``, ``ema``, ``atr``, ``macd``) is its latest value, multi-output
  indicators expose ``macd.signal``, ``macd.hist``, ``bbands.upper``, ``bbands.middle``
  (also plain ``bbands``), ``bbands.lower``; ``price`` is the close series (with the current
  price as last value in tick mode).
* **Speed.** Conditions that are a boolean combination of ``name <op> constant`` (via
  ``Condition.as_price_bands``) or a crossing of a name with a constant are stored as interval
  rows in numpy arrays and evaluated for every trigger at once; everything else falls back to
  ``Condition.test`` per trigger. Only fired triggers and changed states become Python objects.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from agentic_app.domain.conditions import Condition, parse
from agentic_app.domain.errors import AgenticError, ConditionError, UnknownSymbolError
from agentic_app.domain.triggers import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.engine.scheduler.trigger_state import (
    InMemoryTriggerStateStore,
    SlotSettings,
    StateArrays,
    TriggerState,
    TriggerStateStore,
)
from agentic_app.market import indicators
from agentic_app.market.base import TIMEFRAMES, Bars, MarketData, Quote
from agentic_app.market.clock import from_epoch, to_epoch, to_utc

log = logging.getLogger(__name__)

TriggerKind = Literal["price", "indicator"]

HISTORY_MIN_BARS = 250
"""Fewest bars fetched for an indicator (smoothed indicators such as RSI need a long warm-up)."""

_NO_ROW = (math.inf, -math.inf, False, False)  # an interval nothing is inside


@dataclass(frozen=True, slots=True)
class TriggerFire:
    """One trigger that fired: its id, the tick time and the JSON-friendly payload."""

    trigger_id: int
    fired_at: datetime
    payload: dict[str, Any]


@dataclass(slots=True)
class TickReport:
    """Everything one tick did: fires, finished triggers, data problems, timings (ms)."""

    at: datetime
    fires: list[TriggerFire] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    exhausted: list[int] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    errors: dict[int, str] = field(default_factory=dict)
    evaluated: int = 0
    saved: int = 0
    fetch_ms: float = 0.0
    price_eval_ms: float = 0.0
    indicator_eval_ms: float = 0.0
    save_ms: float = 0.0
    total_ms: float = 0.0


def indicator_params(indicator: str, params: dict[str, float]) -> dict[str, int | float]:
    """Trigger-config params as ``market.indicators`` params (bbands ``std_dev`` -> nbdev_*)."""
    out: dict[str, int | float] = {}
    for key, value in params.items():
        if indicator == "bbands" and key == "std_dev":
            out["nbdev_up"] = out["nbdev_dn"] = float(value)
        else:
            out[key] = int(value) if float(value).is_integer() else float(value)
    return out


def history_bars(indicator: str, params: dict[str, float]) -> int:
    """Bars fetched to compute ``indicator`` with trigger-config ``params``."""
    needed = indicators.spec(indicator).min_bars(**indicator_params(indicator, params))
    return max(HISTORY_MIN_BARS, 4 * needed)


def condition_names(indicator: str) -> dict[str, str]:
    """Names an indicator condition may use -> output of ``indicators.compute`` (or "close")."""
    outputs = indicators.spec(indicator).outputs
    names = {"price": "close"}
    if len(outputs) == 1:
        names[indicator] = outputs[0]
    else:
        for out in outputs:
            names[f"{indicator}.{out}"] = out
        names[indicator] = "middle" if indicator == "bbands" else outputs[0]
    return names


# --------------------------------------------------------------------------- compiling


@dataclass(slots=True)
class _Entry:
    """One registered trigger, compiled once at upsert."""

    trigger_id: int
    kind: TriggerKind
    config: PriceTriggerConfig | IndicatorTriggerConfig
    condition: Condition
    name: str
    bands: list[tuple[float, float, bool, bool]] | None
    cross: bool
    band: float
    fingerprint: str
    settings: SlotSettings
    state: TriggerState
    group: tuple | None = None


def _constant(text: str) -> float | None:
    """Value of a constant expression's text, or None if it is not one."""
    try:
        value = parse(text, names=()).evaluate({})
    except ConditionError:
        return None
    return None if isinstance(value, bool) else float(value)


def _crossing_bands(cond: Condition, name: str) -> list[tuple[float, float, bool, bool]] | None:
    """Region of ``crosses_above/below(name, const)`` (either argument order), else None."""
    text = cond.canonical()
    for func, above in (("crosses_above", True), ("crosses_below", False)):
        if not text.startswith(func + "(") or not text.endswith(")"):
            continue
        head, tail = f"{func}({name}, ", f", {name})"
        if text.startswith(head):
            value, up = _constant(text[len(head) : -1]), above
        elif text.endswith(tail):
            value, up = _constant(text[len(func) + 1 : -len(tail)]), not above
        else:
            continue
        if value is None or math.isnan(value):
            return None
        return [(value, math.inf, False, False)] if up else [(-math.inf, value, False, False)]
    return None


def _vector_form(cond: Condition, name: str) -> tuple[list | None, bool]:
    """(bands, is_crossing) for the vector path, or (None, False) for the scalar fallback."""
    if cond.names != frozenset({name}) or cond.indicator_refs:
        return None, False
    bands = cond.as_price_bands(name)
    if bands is not None:
        return bands, False
    cross = _crossing_bands(cond, name)
    return (cross, True) if cross is not None else (None, False)


def _far(entry: _Entry, x: float, prev: dict[str, float] | None) -> bool:
    """Scalar re-arm distance: exact for band/crossing forms, else the x +- band probe."""
    b = entry.band
    if entry.bands is not None:
        return all(x <= lo - b or x >= hi + b for lo, hi, _, _ in entry.bands)
    return not any(entry.condition.test({"price": x + d}, prev) for d in (-b, b))


def _fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.blake2b(json.dumps(parts, sort_keys=True).encode(), digest_size=8).hexdigest()


# --------------------------------------------------------------------------- vector book


class _Book:
    """Slots of one trigger kind: interval rows, state arrays and the scalar fallback list."""

    def __init__(self, entries: list[_Entry], slot_src: np.ndarray, vectorize: bool):
        self.entries = entries
        self.slot_src = slot_src
        self.slot_of = {e.trigger_id: slot for slot, e in enumerate(entries)}
        n = len(entries)
        self.state = StateArrays(
            [e.trigger_id for e in entries], [e.state for e in entries],
            [e.settings for e in entries],
        )
        lo, hi, raw_lo, raw_hi, row_src, starts = [], [], [], [], [], []
        fallback, cross, band = [], np.zeros(n, bool), np.zeros(n)
        for slot, entry in enumerate(entries):
            rows = entry.bands if vectorize else None
            if rows is None:
                fallback.append(slot)
                rows = [_NO_ROW]
            elif not rows:
                rows = [_NO_ROW]
            starts.append(len(lo))
            src = slot_src[slot]
            for r_lo, r_hi, lc, hc in rows:
                lo.append(math.nextafter(r_lo, -math.inf) if lc else r_lo)
                hi.append(math.nextafter(r_hi, math.inf) if hc else r_hi)
                raw_lo.append(r_lo)
                raw_hi.append(r_hi)
                row_src.append(src)
            cross[slot] = entry.cross and rows is entry.bands
            band[slot] = entry.band
        self.lo, self.hi = np.array(lo, float), np.array(hi, float)
        self.row_src = np.array(row_src, np.int64)
        self.starts = np.array(starts, np.int64)
        self.multi = len(lo) != n
        self.fallback = np.array(fallback, np.int64)
        self.is_fallback = np.zeros(n, bool)
        self.is_fallback[self.fallback] = True
        self.cross = cross
        self.any_cross = bool(cross.any())
        self.band = band
        band_slots = np.flatnonzero((band > 0) & ~self.is_fallback)
        self.band_slots = band_slots
        if band_slots.size:
            lengths = np.diff(np.append(self.starts, len(lo)))
            rows_of = [np.arange(self.starts[s], self.starts[s] + lengths[s]) for s in band_slots]
            idx = np.concatenate(rows_of)
            per_row_band = np.repeat(band[band_slots], lengths[band_slots])
            self.band_rows = idx
            self.band_lo = np.array(raw_lo)[idx] - per_row_band
            self.band_hi = np.array(raw_hi)[idx] + per_row_band
            self.band_starts = np.concatenate(([0], np.cumsum(lengths[band_slots])[:-1]))

    def regions(self, values: np.ndarray) -> np.ndarray:
        """Region test of every slot given one value per source (NaN: False)."""
        x = values[self.row_src]
        inside = (x > self.lo) & (x < self.hi)
        return np.logical_or.reduceat(inside, self.starts) if self.multi else inside

    def far(self, values: np.ndarray) -> np.ndarray | None:
        """Whether each slot's value is at least its re-arm band away (None: no bands)."""
        if not self.band_slots.size:
            return None
        x = values[self.row_src[self.band_rows]]
        away = (x <= self.band_lo) | (x >= self.band_hi)
        far = np.ones(len(self.entries), bool)
        far[self.band_slots] = np.logical_and.reduceat(away, self.band_starts)
        return far


# --------------------------------------------------------------------------- indicator layout


@dataclass(slots=True)
class _Group:
    """One (symbol, timeframe, indicator, params, mode): computed once per tick."""

    fg: int
    symbol: str
    indicator: str
    params: dict[str, int | float]
    tick_mode: bool
    sources: dict[str, int]  # condition name -> source index
    outputs: dict[str, str]  # condition name -> compute() output ("close" for price)
    scalar: bool = False  # has fallback slots: keep the series


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
        evaluates every trigger with ``Condition.test`` (the reference path, for tests).
        """
        self.feed = feed
        self.store = store if store is not None else InMemoryTriggerStateStore()
        self.max_staleness = float(
            max_staleness_seconds if max_staleness_seconds is not None
            else 2 * check_interval_seconds
        )
        self.vectorize = vectorize
        self._stored = self.store.load_all()
        self._entries: dict[int, _Entry] = {}
        self._dirty = True
        self._removed: set[int] = set()
        self._price: _Book | None = None
        self._ind: _Book | None = None
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
        """Register or replace a trigger; ConditionError if its condition is invalid.

        The stored state is kept when what the trigger watches (symbol, condition, timeframe,
        indicator, params, mode) is unchanged; otherwise it starts fresh. ``created_at``: the
        trigger is not evaluated before this time.
        """
        self._sync_states()
        entry = self._compile(int(trigger_id), kind, config, created_at)
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
        trigger_id: int,
        kind: TriggerKind,
        config: PriceTriggerConfig | IndicatorTriggerConfig,
        created_at: datetime | None,
    ) -> _Entry:
        """Parse and classify one trigger's condition; pick up its stored state."""
        if kind == "price":
            if not isinstance(config, PriceTriggerConfig):
                raise TypeError("a price trigger needs a PriceTriggerConfig")
            name, group = "price", None
            cond = parse(config.condition, names={"price"}, field="trigger_config.condition")
            watched: dict[str, Any] = {"kind": kind, "symbol": config.symbol}
        elif kind == "indicator":
            if not isinstance(config, IndicatorTriggerConfig):
                raise TypeError("an indicator trigger needs an IndicatorTriggerConfig")
            names = condition_names(config.indicator)
            cond = parse(config.condition, names=names, field="trigger_config.condition")
            used = sorted(cond.names)
            name = used[0] if len(used) == 1 else config.indicator
            params = indicator_params(config.indicator, config.params)
            group = (config.symbol, config.timeframe, config.indicator,
                     tuple(sorted(params.items())), config.evaluate_on == "tick")
            watched = {"kind": kind, "symbol": config.symbol, "timeframe": config.timeframe,
                       "indicator": config.indicator, "params": params,
                       "evaluate_on": config.evaluate_on}
        else:
            raise ValueError(f"unknown trigger kind {kind!r}")
        watched["condition"] = cond.canonical()
        bands, cross = _vector_form(cond, name)
        fingerprint = _fingerprint(watched)
        old = self._stored.get(trigger_id)
        current = self._entries.get(trigger_id)
        if current is not None and current.fingerprint == fingerprint:
            state = current.state
        elif old is not None and old.fingerprint == fingerprint:
            state = old
        else:
            state = TriggerState(trigger_id, fingerprint)
        settings = SlotSettings(
            cooldown_seconds=float(config.cooldown_seconds),
            expires_at=config.expires_at,
            max_fires=config.max_fires,
            fire_if_true_at_start=bool(getattr(config, "fire_if_true_at_start", False)),
            created_at=to_utc(created_at) if created_at is not None else None,
        )
        return _Entry(trigger_id, kind, config, cond, name, bands, cross,
                      float(getattr(config, "rearm_band", 0.0)), fingerprint, settings, state,
                      group)

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
        prices = [e for e in entries if e.kind == "price"]
        inds = [e for e in entries if e.kind == "indicator"]
        symbols = sorted({e.config.symbol for e in entries})
        self._symbols = symbols
        sym_index = {s: i for i, s in enumerate(symbols)}
        price_src = np.array([sym_index[e.config.symbol] for e in prices], np.int64)
        self._price = _Book(prices, price_src, self.vectorize)
        # indicator layout
        fg_index: dict[tuple[str, str], int] = {}
        group_index: dict[tuple, int] = {}
        self._groups: list[_Group] = []
        self._fg_count: list[int] = []
        n_src = 0
        slot_src, slot_fg = [], []
        for e in inds:
            cfg = e.config
            fgk = (cfg.symbol, cfg.timeframe)
            if fgk not in fg_index:
                fg_index[fgk] = len(fg_index)
                self._fg_count.append(0)
            fg = fg_index[fgk]
            self._fg_count[fg] = max(self._fg_count[fg], history_bars(cfg.indicator, cfg.params))
            gi = group_index.get(e.group)
            if gi is None:
                gi = group_index[e.group] = len(self._groups)
                outputs = condition_names(cfg.indicator)
                sources = {nm: n_src + k for k, nm in enumerate(outputs)}
                n_src += len(outputs)
                self._groups.append(_Group(fg, cfg.symbol, cfg.indicator,
                                           indicator_params(cfg.indicator, cfg.params),
                                           e.group[4], sources, outputs))
            group = self._groups[gi]
            if e.bands is None or not self.vectorize:
                group.scalar = True
            slot_src.append(group.sources[e.name])
            slot_fg.append(fg)
        self._fgs = list(fg_index)
        self._fg_seconds = np.array([TIMEFRAMES[tf] for _, tf in self._fgs], float)
        self._n_src = n_src
        self._ind = _Book(inds, np.array(slot_src, np.int64), self.vectorize)
        self._ind_group = np.array([group_index[e.group] for e in inds], np.int64)
        self._ind_fg = np.array(slot_fg, np.int64)
        self._ind_tick = np.array([e.group[4] for e in inds], bool)
        self._ind_sym = np.array([sym_index[e.config.symbol] for e in inds], np.int64)
        self._bars_cache = {k: v for k, v in self._bars_cache.items() if k in fg_index}
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
        bars = self._fetch_bars(now, now_s, report)
        report.fetch_ms = (time.perf_counter() - start) * 1000
        changed: list[tuple[StateArrays, np.ndarray]] = []
        t0 = time.perf_counter()
        self._evaluate_prices(now, now_s, sym_px, quotes, report, changed)
        t1 = time.perf_counter()
        self._evaluate_indicators(now, now_s, sym_px, quotes, bars, report, changed)
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
        """One ``prices()`` call; NaN for symbols that are missing, stale or NaN."""
        symbols = self._symbols
        px = np.full(len(symbols), np.nan)
        if not symbols:
            return px, {}
        try:
            quotes = self.feed.prices(symbols, now)
        except UnknownSymbolError:
            quotes = {}
            for sym in symbols:  # one unknown symbol must not blind the others
                try:
                    quotes[sym] = self.feed.price(sym, now)
                except AgenticError as exc:
                    report.unavailable[sym] = f"{type(exc).__name__}: {exc}"
        except AgenticError as exc:
            for sym in symbols:
                report.unavailable[sym] = f"{type(exc).__name__}: {exc}"
            return px, {}
        for i, sym in enumerate(symbols):
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
                px[i] = price
        return px, quotes

    def _fetch_bars(self, now: datetime, now_s: float, report: TickReport) -> dict[int, Bars]:
        """One ``bars()`` call per (symbol, timeframe) that has a trigger due; fresh ones only."""
        sa = self._ind.state
        if not len(sa):
            return {}
        expected = np.floor(now_s / self._fg_seconds) * self._fg_seconds
        need = ~sa.finished & (self._ind_tick | (sa.last_bar < expected[self._ind_fg]))
        wanted = np.flatnonzero(np.bincount(self._ind_fg[need], minlength=len(self._fgs)))
        out: dict[int, Bars] = {}
        for fg in wanted:
            symbol, timeframe = key = self._fgs[fg]
            seconds = float(self._fg_seconds[fg])
            bars = self._bars_cache.get(key)
            if bars is None or len(bars) < self._fg_count[fg] or (
                to_epoch(bars.end) < expected[fg]
            ):
                try:
                    bars = self.feed.bars(symbol, timeframe, self._fg_count[fg], now)
                except AgenticError as exc:
                    report.unavailable[f"{symbol} {timeframe}"] = f"{type(exc).__name__}: {exc}"
                    continue
                if not len(bars):
                    report.unavailable[f"{symbol} {timeframe}"] = "no bars"
                    continue
                self._bars_cache[key] = bars
            age = now_s - to_epoch(bars.end)
            if age >= seconds + self.max_staleness:
                report.unavailable[f"{symbol} {timeframe}"] = (
                    f"stale bars (last close {age:.0f} s ago)"
                )
                continue
            out[int(fg)] = bars
        return out

    def _evaluate_prices(
        self,
        now: datetime,
        now_s: float,
        sym_px: np.ndarray,
        quotes: dict[str, Quote],
        report: TickReport,
        changed: list[tuple[StateArrays, np.ndarray]],
    ) -> None:
        """Evaluate every price trigger on this tick's prices."""
        book = self._price
        sa = book.state
        if not len(sa):
            return
        slot_px = sym_px[book.slot_src]
        valid = ~np.isnan(slot_px)
        in_now = book.regions(sym_px)
        true_now = in_now
        if book.any_cross:
            true_now = in_now & ~(book.cross & (sa.last_in | ~sa.primed))
        far = book.far(sym_px)
        scalar = book.fallback[valid[book.fallback] & ~sa.finished[book.fallback]]
        if scalar.size:
            if far is None:
                far = np.ones(len(sa), bool)
            true_now = true_now.copy()
            for slot in scalar:
                entry = book.entries[slot]
                x = float(slot_px[slot])
                last = float(sa.last_price[slot])
                prev = None if math.isnan(last) else {"price": last}
                try:
                    truth = entry.condition.test({"price": x}, prev)
                    if entry.band > 0 and not truth:
                        far[slot] = _far(entry, x, prev)
                except ConditionError as exc:
                    report.errors[entry.trigger_id] = str(exc)
                    valid[slot] = False
                    continue
                in_now[slot] = true_now[slot] = truth
        result = sa.apply(now_s, valid, in_now, true_now, far)
        report.evaluated += int(valid.sum())
        slots = result.changed
        if scalar.size:
            sa.last_price[scalar] = slot_px[scalar]
            slots = np.union1d(slots, scalar[valid[scalar]])
        changed.append((sa, slots))
        seen: dict[str, tuple[float, str]] = {}
        for slot in result.fired.tolist():
            entry = book.entries[slot]
            symbol = entry.config.symbol
            info = seen.get(symbol)
            if info is None:
                quote = quotes[symbol]
                info = seen[symbol] = (float(quote.price), to_utc(quote.ts).isoformat())
            report.fires.append(TriggerFire(entry.trigger_id, now, {
                "symbol": symbol,
                "price": info[0],
                "quote_ts": info[1],
                "condition": entry.condition.canonical(),
            }))
        report.exhausted.extend(int(t) for t in sa.ids[result.exhausted])

    def _evaluate_indicators(
        self,
        now: datetime,
        now_s: float,
        sym_px: np.ndarray,
        quotes: dict[str, Quote],
        bars: dict[int, Bars],
        report: TickReport,
        changed: list[tuple[StateArrays, np.ndarray]],
    ) -> None:
        """Compute each due group's indicator once, then evaluate its triggers."""
        book = self._ind
        sa = book.state
        if not len(sa) or not bars:
            return
        n_fg = len(self._fgs)
        fg_close = np.full(n_fg, np.nan)
        for fg, b in bars.items():
            fg_close[fg] = to_epoch(b.end)
        cur = np.full(self._n_src, np.nan)
        prev = np.full(self._n_src, np.nan)
        series: dict[int, dict[str, np.ndarray]] = {}
        sym_index = {s: i for i, s in enumerate(self._symbols)}
        for gi, group in enumerate(self._groups):
            b = bars.get(group.fg)
            if b is None:
                continue
            if group.tick_mode:
                price = sym_px[sym_index[group.symbol]]
                if math.isnan(price):
                    continue
                data = {
                    "close": np.append(b.close, price),
                    "high": np.append(b.high, price),
                    "low": np.append(b.low, price),
                }
            else:
                data = {"close": b.close, "high": b.high, "low": b.low}
            try:
                values = indicators.compute(group.indicator, data, **group.params)
            except AgenticError as exc:
                report.unavailable[f"{group.symbol} {group.indicator}"] = str(exc)
                continue
            values["close"] = data["close"]
            for name, src in group.sources.items():
                arr = values[group.outputs[name]]
                cur[src] = arr[-1]
                if len(arr) > 1:
                    prev[src] = arr[-2]
            if group.scalar:
                series[gi] = {name: values[out] for name, out in group.outputs.items()}
        slot_close = fg_close[self._ind_fg]
        tick_ok = self._ind_tick & ~np.isnan(slot_close) & ~np.isnan(sym_px[self._ind_sym])
        due = np.where(self._ind_tick, tick_ok, slot_close > sa.last_bar) & ~sa.finished
        valid = due & ~np.isnan(cur[book.slot_src])
        in_now = book.regions(cur)
        true_now = in_now
        if book.any_cross:
            with np.errstate(invalid="ignore"):
                in_prev = book.regions(prev)
            prev_ok = ~np.isnan(prev[book.slot_src])
            true_now = in_now & ~(book.cross & ~(prev_ok & ~in_prev))
        scalar = book.fallback[due[book.fallback]]
        if scalar.size:
            true_now = true_now.copy()
            for slot in scalar:
                entry = book.entries[slot]
                env = series.get(int(self._ind_group[slot]))
                if env is None or any(math.isnan(env[n][-1]) for n in entry.condition.names):
                    valid[slot] = False
                    continue
                try:
                    truth = entry.condition.test(env)
                except ConditionError as exc:
                    report.errors[entry.trigger_id] = str(exc)
                    valid[slot] = False
                    continue
                valid[slot] = True
                in_now[slot] = true_now[slot] = truth
        result = sa.apply(now_s, valid, in_now, true_now, book.far(cur))
        sa.last_bar = np.where(due, slot_close, sa.last_bar)
        report.evaluated += int(valid.sum())
        changed.append((sa, result.changed))
        for slot in result.fired:
            entry = book.entries[slot]
            cfg = entry.config
            group = self._groups[int(self._ind_group[slot])]
            quote = quotes.get(cfg.symbol)
            sym_price = sym_px[sym_index[cfg.symbol]]
            outs = {n: float(cur[s]) for n, s in group.sources.items() if n != "price"}
            report.fires.append(TriggerFire(entry.trigger_id, now, {
                "symbol": cfg.symbol,
                "timeframe": cfg.timeframe,
                "indicator": cfg.indicator,
                "params": dict(cfg.params),
                "value": outs[cfg.indicator],
                "values": outs,
                "bar_close_ts": from_epoch(float(slot_close[slot])).isoformat(),
                "price": float(quote.price) if quote is not None and not math.isnan(sym_price)
                else float(cur[group.sources["price"]]),
                "condition": entry.condition.canonical(),
                "evaluate_on": cfg.evaluate_on,
            }))
        report.exhausted.extend(int(t) for t in sa.ids[result.exhausted])
