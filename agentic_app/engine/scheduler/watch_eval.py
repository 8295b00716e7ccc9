"""One tick's evaluation of the market watcher's two books, given the data it fetched.

Vector-form triggers are evaluated for all slots at once (``Book.regions``/``Book.far``); the
others one by one with ``MarketRule.test``/``MarketRule.far``. The edge rules of every slot are
then applied together (``StateArrays.apply``). A trigger whose evaluation raises is reported in
``TickReport.errors`` and skipped; the others go on.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import numpy as np

from agentic_app.domain.errors import AgenticError, ConditionError
from agentic_app.domain.triggers.edge import StateArrays
from agentic_app.engine.scheduler.watch_book import (
    Book,
    IndicatorLayout,
    TickReport,
    TriggerFire,
)
from agentic_app.market import indicators
from agentic_app.market.base import Bars, Quote
from agentic_app.market.clock import from_epoch, to_epoch, to_utc

log = logging.getLogger(__name__)

Changed = list[tuple[StateArrays, np.ndarray]]


def evaluate_prices(book: Book, now: datetime, now_s: float, sym_px: np.ndarray,
                    quotes: dict[str, Quote], report: TickReport, changed: Changed) -> None:
    """Evaluate every price trigger on this tick's prices (one per symbol; NaN: unusable)."""
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
            rule = book.entries[slot].rule
            x = float(slot_px[slot])
            last = float(sa.last_price[slot])
            prev = None if math.isnan(last) else {"price": last}
            try:
                truth = rule.test({"price": x}, prev)
                if rule.band > 0 and not truth:
                    far[slot] = rule.far(x, prev)
            except ConditionError as exc:
                report.errors[book.entries[slot].trigger_id] = str(exc)
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
        symbol = entry.rule.config.symbol
        info = seen.get(symbol)
        if info is None:
            quote = quotes[symbol]
            info = seen[symbol] = (float(quote.price), to_utc(quote.ts).isoformat())
        report.fires.append(TriggerFire(entry.trigger_id, now, {
            "symbol": symbol,
            "price": info[0],
            "quote_ts": info[1],
            "condition": entry.rule.condition.canonical(),
        }))
    report.exhausted.extend(int(t) for t in sa.ids[result.exhausted])


def _compute_groups(book: Book, layout: IndicatorLayout, sym_px: np.ndarray,
                    sym_index: dict[str, int], bars: dict[int, Bars], report: TickReport,
                    ) -> tuple[np.ndarray, np.ndarray, dict[int, dict[str, np.ndarray]]]:
    """Each due group's indicator, once: current and previous value per source, and the
    series of groups with scalar-path slots. A group that cannot be computed is reported
    (``unavailable`` for data problems, ``errors`` of its triggers otherwise) and skipped."""
    cur = np.full(layout.n_src, np.nan)
    prev = np.full(layout.n_src, np.nan)
    series: dict[int, dict[str, np.ndarray]] = {}
    for gi, group in enumerate(layout.groups):
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
        except Exception as exc:  # one broken computation must not stop the other groups
            log.exception("indicator %s on %s failed", group.indicator, group.symbol)
            for slot in group.slots:
                report.errors[book.entries[slot].trigger_id] = f"{type(exc).__name__}: {exc}"
            continue
        values["close"] = data["close"]
        for out, src in group.output_sources.items():
            arr = values[out]
            cur[src] = arr[-1]
            if len(arr) > 1:
                prev[src] = arr[-2]
        if group.scalar:
            series[gi] = {name: values[out] for name, out in group.outputs.items()}
    return cur, prev, series


def evaluate_indicators(book: Book, layout: IndicatorLayout, now: datetime, now_s: float,
                        sym_px: np.ndarray, sym_index: dict[str, int],
                        quotes: dict[str, Quote], bars: dict[int, Bars], report: TickReport,
                        changed: Changed) -> None:
    """Compute each due group's indicator once, then evaluate its triggers."""
    sa = book.state
    if not len(sa) or not bars:
        return
    fg_close = np.full(len(layout.fgs), np.nan)
    for fg, b in bars.items():
        fg_close[fg] = to_epoch(b.end)
    cur, prev, series = _compute_groups(book, layout, sym_px, sym_index, bars, report)
    slot_close = fg_close[layout.slot_fg]
    tick_ok = layout.slot_tick & ~np.isnan(slot_close) & ~np.isnan(sym_px[layout.slot_sym])
    due = np.where(layout.slot_tick, tick_ok, slot_close > sa.last_bar) & ~sa.finished
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
            env = series.get(int(layout.slot_group[slot]))
            if env is None or any(math.isnan(env[n][-1]) for n in entry.rule.condition.names):
                valid[slot] = False
                continue
            try:
                truth = entry.rule.test(env)
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
        cfg = entry.rule.config
        group = layout.groups[int(layout.slot_group[slot])]
        quote = quotes.get(cfg.symbol)
        sym_price = sym_px[sym_index[cfg.symbol]]
        outs = {n: float(cur[group.sources[n]]) for n in group.payload_names}
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
            "condition": entry.rule.condition.canonical(),
            "evaluate_on": cfg.evaluate_on,
        }))
    report.exhausted.extend(int(t) for t in sa.ids[result.exhausted])
