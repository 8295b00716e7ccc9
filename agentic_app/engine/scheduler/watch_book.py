"""Data structures of the market watcher: fires and tick reports, registered triggers, the
vector book of one trigger kind, and the layout of indicator groups.

A :class:`Book` holds one kind's triggers as numpy arrays: every trigger's vector form
(``MarketRule.bands``) as interval rows, its edge state (``StateArrays``) and the list of
triggers evaluated one by one (the scalar path). An :class:`IndicatorLayout` says which
(symbol, timeframe) bars each indicator trigger needs and which computed series it reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from agentic_app.domain.indicators import TIMEFRAMES
from agentic_app.domain.triggers.edge import StateArrays, TriggerState
from agentic_app.domain.triggers.rules import MarketRule

_NO_ROW = (math.inf, -math.inf, False, False)  # an interval nothing is inside


@dataclass(frozen=True, slots=True)
class TriggerFire:
    """One trigger that fired: its id, when (the close of the bar it fired on; the check time
    for tick-mode indicator triggers) and the JSON-friendly payload."""

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


@dataclass(slots=True)
class Entry:
    """One registered trigger: its compiled rule, its edge state and the bars it needs."""

    trigger_id: int
    rule: MarketRule
    state: TriggerState
    history: int = 0


class Book:
    """Slots of one trigger kind: interval rows, state arrays and the scalar fallback list."""

    def __init__(self, entries: list[Entry], slot_src: np.ndarray, vectorize: bool):
        self.entries = entries
        self.slot_src = slot_src
        self.slot_of = {e.trigger_id: slot for slot, e in enumerate(entries)}
        n = len(entries)
        self.state = StateArrays(
            [e.trigger_id for e in entries], [e.state for e in entries],
            [e.rule.settings for e in entries],
        )
        lo, hi, raw_lo, raw_hi, row_src, starts = [], [], [], [], [], []
        fallback, cross, band = [], np.zeros(n, bool), np.zeros(n)
        for slot, entry in enumerate(entries):
            rows = entry.rule.bands if vectorize else None
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
            cross[slot] = entry.rule.cross and rows is entry.rule.bands
            band[slot] = entry.rule.band
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
        """Region test of every slot given one value per source (NaN: False); ``values``
        may also be a series per source (shape (sources, points)), giving (slots, points)."""
        x = values[self.row_src]
        lo, hi = _column(self.lo, x), _column(self.hi, x)
        inside = (x > lo) & (x < hi)
        return np.logical_or.reduceat(inside, self.starts, axis=0) if self.multi else inside

    def far(self, values: np.ndarray) -> np.ndarray | None:
        """Whether each slot's value is at least its re-arm band away (None: no bands);
        per point like :meth:`regions` for a series per source."""
        if not self.band_slots.size:
            return None
        x = values[self.row_src[self.band_rows]]
        away = (x <= _column(self.band_lo, x)) | (x >= _column(self.band_hi, x))
        far = np.ones((len(self.entries), *x.shape[1:]), bool)
        far[self.band_slots] = np.logical_and.reduceat(away, self.band_starts, axis=0)
        return far


def _column(bounds: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``bounds`` shaped to compare with ``x`` (one row per bound, points along axis 1)."""
    return bounds if x.ndim == 1 else bounds[:, None]


@dataclass(slots=True)
class IndicatorGroup:
    """One (symbol, timeframe, indicator, params, mode): computed once per tick."""

    fg: int
    symbol: str
    indicator: str
    params: dict[str, int | float]
    tick_mode: bool
    sources: dict[str, int]  # condition name -> source index
    outputs: dict[str, str]  # condition name -> compute() output ("close" for price)
    output_sources: dict[str, int]  # compute() output -> source index (names share it)
    scalar: bool = False  # has fallback slots: keep the series
    slots: list[int] = field(default_factory=list)  # indicator slots of the group

    @property
    def payload_names(self) -> list[str]:
        """Names whose values a fire reports: the indicator, and ``indicator.output`` for each
        output of a multi-output indicator."""
        prefix = self.indicator + "."
        dotted = [n for n in self.sources if n.startswith(prefix)]
        return [self.indicator, *(dotted if len(dotted) > 1 else [])]


@dataclass(slots=True)
class IndicatorLayout:
    """Where each indicator slot's data comes from: its (symbol, timeframe) fetch group
    ``fg``, its computation group and the source index of the name it reads."""

    groups: list[IndicatorGroup]
    fgs: list[tuple[str, str]]
    fg_count: list[int]
    fg_seconds: np.ndarray
    n_src: int
    slot_src: np.ndarray
    slot_group: np.ndarray
    slot_fg: np.ndarray
    slot_tick: np.ndarray
    slot_sym: np.ndarray


def layout_indicators(entries: list[Entry], sym_index: dict[str, int],
                      vectorize: bool) -> IndicatorLayout:
    """Group indicator entries by what they fetch and compute (in slot order)."""
    fg_index: dict[tuple[str, str], int] = {}
    group_index: dict[tuple, int] = {}
    groups: list[IndicatorGroup] = []
    fg_count: list[int] = []
    n_src = 0
    slot_src, slot_fg, slot_group = [], [], []
    for slot, e in enumerate(entries):
        rule = e.rule
        cfg = rule.config
        fgk = (cfg.symbol, cfg.timeframe)
        if fgk not in fg_index:
            fg_index[fgk] = len(fg_index)
            fg_count.append(0)
        fg = fg_index[fgk]
        fg_count[fg] = max(fg_count[fg], e.history)
        key = rule.group
        gi = group_index.get(key)
        if gi is None:
            gi = group_index[key] = len(groups)
            outputs = dict(rule.names)
            by_output: dict[str, int] = {}
            for out in outputs.values():
                if out not in by_output:
                    by_output[out] = n_src
                    n_src += 1
            sources = {nm: by_output[out] for nm, out in outputs.items()}
            groups.append(IndicatorGroup(fg, cfg.symbol, cfg.indicator, dict(cfg.params),
                                         key[4], sources, outputs, by_output))
        group = groups[gi]
        group.slots.append(slot)
        if rule.bands is None or not vectorize:
            group.scalar = True
        slot_src.append(group.sources[rule.name])
        slot_fg.append(fg)
        slot_group.append(gi)
    fgs = list(fg_index)
    return IndicatorLayout(
        groups=groups, fgs=fgs, fg_count=fg_count,
        fg_seconds=np.array([TIMEFRAMES[tf] for _, tf in fgs], float), n_src=n_src,
        slot_src=np.array(slot_src, np.int64), slot_group=np.array(slot_group, np.int64),
        slot_fg=np.array(slot_fg, np.int64),
        slot_tick=np.array([e.rule.group[4] for e in entries], bool),
        slot_sym=np.array([sym_index[e.rule.config.symbol] for e in entries], np.int64),
    )
