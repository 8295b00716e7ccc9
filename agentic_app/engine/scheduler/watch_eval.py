"""Evaluation of the market watcher's two books: one evaluation point at a time.

:func:`step_prices` evaluates every price trigger at one point of the price path (one
price per symbol), :func:`step_indicators` every indicator trigger at one closed bar (one
value per indicator output). These two functions are *the* trigger evaluation: the live
watcher calls them for the points of the bars closed since its previous check
(:func:`evaluate_prices`, :func:`evaluate_indicators`), the backtest
(``engine.scheduler.backtest``) for the points of the feed's history. Which points a trigger
sees is the bar semantics of ``domain.triggers.bars``.

Vector-form triggers are evaluated for all slots at once (``Book.regions``/``Book.far``); the
others one by one with ``MarketRule.test``/``MarketRule.far``. The edge rules of every slot are
then applied together (``StateArrays.apply``). A trigger whose evaluation raises is reported in
``TickReport.errors`` and skipped; the others go on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from agentic_app.domain.errors import AgenticError, ConditionError
from agentic_app.domain.triggers.bars import POINT_NAMES, PRICE_SECONDS
from agentic_app.domain.triggers.edge import EdgeResult, StateArrays
from agentic_app.engine.scheduler.watch_book import (
    Book,
    IndicatorLayout,
    TickReport,
    TriggerFire,
)
from agentic_app.market import indicators
from agentic_app.market.base import Bars, Quote
from agentic_app.market.clock import from_epoch

log = logging.getLogger(__name__)

Changed = list[tuple[StateArrays, np.ndarray]]
Errors = dict[int, str]
SeriesEnv = Callable[[int], Mapping[str, Any] | None]
"""For a scalar-path indicator slot: the series of each condition name up to the bar being
evaluated (None: not computable)."""


def step_prices(book: Book, at_s: float, sym_px: np.ndarray, due: np.ndarray,
                errors: Errors, previous: np.ndarray | None = None,
                ) -> tuple[EdgeResult, np.ndarray]:
    """Evaluate every ``due`` price trigger at one point: ``sym_px`` holds one price per
    symbol (NaN: none), ``at_s`` is the point's time. Returns the edge result and the slots
    evaluated on valid data (scalar-path errors go to ``errors``).

    ``previous``: the prices of the point just evaluated at the same time; then only the
    slots whose region test or re-arm distance differ from there are evaluated (and the
    scalar-path ones): the edge rules give the same result for the same inputs at the same
    time again, so a run of equal inputs is evaluated once, at its first point."""
    sa = book.state
    slot_px = sym_px[book.slot_src]
    valid = ~np.isnan(slot_px) & due & (sa.created <= at_s)
    in_now = book.regions(sym_px)
    far = book.far(sym_px)
    slots = None
    if previous is not None:
        moved = (in_now != book.regions(previous)) | book.is_fallback
        if far is not None:
            moved |= far != book.far(previous)
        valid &= moved
        slots = np.flatnonzero(valid)
    true_now = in_now
    if book.any_cross:
        true_now = in_now & ~(book.cross & (sa.last_in | ~sa.primed))
    scalar = book.fallback[valid[book.fallback] & ~sa.finished[book.fallback]]
    if scalar.size:
        if far is None:
            far = np.ones(len(sa), bool)
        true_now = true_now.copy()
        for slot in scalar:
            rule = book.entries[slot].rule
            x = float(slot_px[slot])
            last = float(sa.last_price[slot])
            prev = None if math.isnan(last) else {"price": last}
            try:
                truth = rule.test({"price": x}, prev)
                if rule.band > 0 and not truth:
                    far[slot] = rule.far(x, prev)
            except ConditionError as exc:
                errors[book.entries[slot].trigger_id] = str(exc)
                valid[slot] = False
                continue
            in_now[slot] = true_now[slot] = truth
    if slots is None:
        result = sa.apply(at_s, valid, in_now, true_now, far)
    else:
        result = sa.apply(at_s, valid[slots], in_now[slots], true_now[slots],
                          None if far is None else far[slots], slots=slots)
    if scalar.size:
        sa.last_price[scalar] = slot_px[scalar]
        result.changed = np.union1d(result.changed, scalar[valid[scalar]])
    return result, valid


def evaluate_prices(book: Book, now: datetime, closes: np.ndarray, px: np.ndarray,
                    kinds: np.ndarray, report: TickReport, changed: Changed,
                    bar_seconds: float = PRICE_SECONDS) -> None:
    """Evaluate every price trigger on the price path of the one-minute bars closed since
    its last evaluated bar: ``closes[t]`` is a bar close time, ``px[t, p, s]`` the price of
    point ``p`` of that bar of symbol ``s`` (NaN: no bar), ``kinds`` the point names' index.
    A trigger sees each bar once (``last_bar``) and fires at most once per bar; a fire's time
    is its bar's close (so two checks, or two schedulers, seeing the same bar fire under the
    same dedupe key) and it carries the bar and the crossing price."""
    sa = book.state
    if not len(sa) or not len(closes):
        return
    touched = np.zeros(len(sa), bool)
    fresh = np.isneginf(sa.last_bar)  # never evaluated: starts at the newest bar
    for t, close_s in enumerate(closes.tolist()):
        due = ~sa.finished & (sa.last_bar < close_s)
        if t < len(closes) - 1:
            due &= ~fresh
        seen = np.zeros(len(sa), bool)
        bar_ts = from_epoch(close_s - bar_seconds).isoformat()
        closed_at = from_epoch(close_s)
        close_ts = closed_at.isoformat()
        for p in range(px.shape[1]):
            previous = px[t, p - 1] if p else None
            result, valid = step_prices(book, close_s, px[t, p], due, report.errors, previous)
            seen |= valid
            touched[result.changed] = True
            if result.fired.size:  # at most one fire per trigger and bar
                due = due.copy()
                due[result.fired] = False
            for slot in result.fired.tolist():
                entry = book.entries[slot]
                s = int(book.slot_src[slot])
                report.fires.append(TriggerFire(entry.trigger_id, closed_at, {
                    "symbol": entry.rule.config.symbol,
                    "price": float(px[t, p, s]),
                    "point": POINT_NAMES[int(kinds[t, p, s])],
                    "bar_ts": bar_ts,
                    "bar_close_ts": close_ts,
                    "quote_ts": close_ts,
                    "condition": entry.rule.condition.canonical(),
                }))
            report.exhausted.extend(int(x) for x in sa.ids[result.exhausted])
        report.evaluated += int(seen.sum())
        sa.last_bar = np.where(seen, close_s, sa.last_bar)
    changed.append((sa, np.flatnonzero(touched)))


def compute_groups(book: Book, layout: IndicatorLayout, sym_px: np.ndarray,
                   sym_index: dict[str, int], bars: dict[int, Bars], report: TickReport,
                   ) -> dict[int, dict[str, np.ndarray]]:
    """Each due group's indicator series, once (every output, plus ``close``). A group that
    cannot be computed is reported (``unavailable`` for data problems, ``errors`` of its
    triggers otherwise) and left out."""
    out: dict[int, dict[str, np.ndarray]] = {}
    for gi, group in enumerate(layout.groups):
        b = bars.get(group.fg)
        if b is None:
            continue
        if group.tick_mode:
            price = sym_px[sym_index[group.symbol]]
            if math.isnan(price):
                continue
            data = {"close": np.append(b.close, price), "high": np.append(b.high, price),
                    "low": np.append(b.low, price)}
        else:
            data = {"close": b.close, "high": b.high, "low": b.low}
        try:
            values = indicators.compute(group.indicator, data, **group.params)
        except AgenticError as exc:
            report.unavailable[f"{group.symbol} {group.indicator}"] = str(exc)
            continue
        except Exception as exc:  # one broken computation must not stop the other groups
            log.exception("indicator %s on %s failed", group.indicator, group.symbol)
            for slot in group.slots:
                report.errors[book.entries[slot].trigger_id] = f"{type(exc).__name__}: {exc}"
            continue
        values["close"] = data["close"]
        out[gi] = values
    return out


def gather(layout: IndicatorLayout, values: dict[int, dict[str, np.ndarray]],
           index: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Current and previous value per source: group ``gi``'s series at position
    ``index[gi]`` (and the one before); NaN where a group has no value there."""
    cur = np.full(layout.n_src, np.nan)
    prev = np.full(layout.n_src, np.nan)
    for gi, series in values.items():
        i = index.get(gi)
        if i is None or i < 0:
            continue
        for out, src in layout.groups[gi].output_sources.items():
            arr = series[out]
            if i < len(arr):
                cur[src] = arr[i]
                if i > 0:
                    prev[src] = arr[i - 1]
    return cur, prev


def step_indicators(book: Book, at_s: np.ndarray, due: np.ndarray, cur: np.ndarray,
                    prev: np.ndarray, env_of: SeriesEnv, errors: Errors) -> EdgeResult:
    """Evaluate every ``due`` indicator trigger at one closed bar: ``cur``/``prev`` hold the
    value of each source at that bar and the one before, ``at_s`` each slot's bar close
    time. Scalar-path slots read their series from ``env_of(slot)``."""
    sa = book.state
    valid = due & ~np.isnan(cur[book.slot_src]) & (sa.created <= at_s)
    in_now = book.regions(cur)
    true_now = in_now
    if book.any_cross:
        with np.errstate(invalid="ignore"):
            in_prev = book.regions(prev)
        prev_ok = ~np.isnan(prev[book.slot_src])
        true_now = in_now & ~(book.cross & ~(prev_ok & ~in_prev))
    scalar = book.fallback[due[book.fallback] & (sa.created <= at_s)[book.fallback]]
    if scalar.size:
        true_now = true_now.copy()
        for slot in scalar.tolist():
            entry = book.entries[slot]
            env = env_of(slot)
            if env is None or any(math.isnan(env[n][-1]) for n in entry.rule.condition.names):
                valid[slot] = False
                continue
            try:
                truth = entry.rule.test(env)
            except ConditionError as exc:
                errors[entry.trigger_id] = str(exc)
                valid[slot] = False
                continue
            valid[slot] = True
            in_now[slot] = true_now[slot] = truth
    result = sa.apply(at_s, valid, in_now, true_now, book.far(cur))
    result.evaluated = valid
    return result


def indicator_payload(book: Book, layout: IndicatorLayout, slot: int, cur: np.ndarray,
                      close_s: float, price: float) -> dict[str, Any]:
    """What a fire of an indicator slot records: the bar, the price, the indicator values."""
    cfg = book.entries[slot].rule.config
    group = layout.groups[int(layout.slot_group[slot])]
    outs = {n: float(cur[group.sources[n]]) for n in group.payload_names}
    return {
        "symbol": cfg.symbol,
        "timeframe": cfg.timeframe,
        "indicator": cfg.indicator,
        "params": dict(cfg.params),
        "value": outs[cfg.indicator],
        "values": outs,
        "bar_close_ts": from_epoch(close_s).isoformat(),
        "price": price,
        "condition": book.entries[slot].rule.condition.canonical(),
        "evaluate_on": cfg.evaluate_on,
    }


def evaluate_indicators(book: Book, layout: IndicatorLayout, now: datetime, now_s: float,
                        sym_px: np.ndarray, sym_index: dict[str, int],
                        quotes: dict[str, Quote], bars: dict[int, Bars], report: TickReport,
                        changed: Changed, oldest_close: np.ndarray, scale: float = 1.0) -> None:
    """Compute each due group's indicator once, then evaluate its triggers at every bar
    closed since the trigger's last evaluated bar (oldest first, no bar closed before
    ``oldest_close[fg]``); tick-mode triggers once, on the forming bar. ``scale``: market
    seconds per second of ``now`` (a demo market running faster)."""
    sa = book.state
    if not len(sa) or not bars:
        return
    values = compute_groups(book, layout, sym_px, sym_index, bars, report)
    fg_close: dict[int, np.ndarray] = {
        fg: b.ts.astype(float) + b.seconds / scale for fg, b in bars.items()}
    slot_last = sa.last_bar.copy()
    depth = 0  # how many bars back the oldest due bar of any slot is
    for fg, closes in fg_close.items():
        recent = closes[closes >= oldest_close[fg]]
        mine = (layout.slot_fg == fg) & ~layout.slot_tick & ~sa.finished
        if recent.size and mine.any():
            depth = max(depth, int((recent > slot_last[mine].min()).sum()))
    touched = np.empty(0, np.int64)
    fresh = np.isneginf(sa.last_bar)  # never evaluated: starts at the newest bar
    tick_slots = layout.slot_tick & ~sa.finished
    for back in range(max(depth, 1 if tick_slots.any() else 0) - 1, -1, -1):
        index, slot_close = {}, np.full(len(sa), np.nan)
        for gi, group in enumerate(layout.groups):
            closes = fg_close.get(group.fg)
            if closes is None or gi not in values:
                continue
            i = len(closes) - 1 - back
            if i < 0 or closes[i] < oldest_close[group.fg]:
                continue
            index[gi] = i + (1 if group.tick_mode else 0)
            slot_close[group.slots] = closes[i]
        cur, prev = gather(layout, values, index)
        with np.errstate(invalid="ignore"):
            due = ~sa.finished & np.where(layout.slot_tick, back == 0, slot_close > sa.last_bar)
        due &= ~np.isnan(slot_close)
        if back:
            due &= ~fresh

        def env_of(slot: int, _index: dict[int, int] = index) -> Mapping[str, Any] | None:
            gi = int(layout.slot_group[slot])
            if gi not in _index:
                return None
            group, end = layout.groups[gi], _index[gi] + 1
            return {name: values[gi][out][:end] for name, out in group.outputs.items()}

        at_s = np.where(layout.slot_tick, now_s, np.nan_to_num(slot_close, nan=now_s))
        result = step_indicators(book, at_s, due, cur, prev, env_of, report.errors)
        sa.last_bar = np.where(due, slot_close, sa.last_bar)
        report.evaluated += int(result.evaluated.sum())
        touched = np.union1d(touched, result.changed)
        for slot in result.fired.tolist():
            cfg = book.entries[slot].rule.config
            quote = quotes.get(cfg.symbol)
            group = layout.groups[int(layout.slot_group[slot])]
            price = (float(quote.price) if quote is not None and back == 0
                     and not math.isnan(sym_px[sym_index[cfg.symbol]])
                     else float(cur[group.sources["price"]]))
            fired_at = now if layout.slot_tick[slot] else from_epoch(float(slot_close[slot]))
            report.fires.append(TriggerFire(book.entries[slot].trigger_id, fired_at,
                                            indicator_payload(book, layout, slot, cur,
                                                              float(slot_close[slot]), price)))
        report.exhausted.extend(int(t) for t in sa.ids[result.exhausted])
    changed.append((sa, touched))
