"""Bar semantics of market triggers: which prices a trigger sees, and when.

* **Price triggers** see every closed one-minute bar (:data:`PRICE_TIMEFRAME`) as the path
  ``first extreme -> second extreme -> close``: low then high for a rising bar
  (``close >= open``), high then low for a falling one (the usual OHLC path assumption). A
  touch between two checks is inside some bar's high or low, so it is seen even when no
  check happened at that instant. Every point of a bar is evaluated at the bar's close time
  (cooldowns count from there), and the fire records the bar and the price that crossed.
* **Indicator triggers** see one value per closed bar of their timeframe, evaluated at the
  bar's close time (``evaluate_on="bar_close"``), whatever the check interval is: a check
  that finds several new closed bars evaluates each of them, in order.

The live watcher (``engine.scheduler.market_watch``) and the backtest
(``engine.scheduler.backtest``) both build their evaluation points here, so they see the
same prices at the same times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRICE_TIMEFRAME = "1m"
"""Bars price triggers are evaluated on."""
PRICE_SECONDS = 60
"""Length of one :data:`PRICE_TIMEFRAME` bar."""
POINTS_PER_BAR = 3
"""Evaluation points of one bar on the price path: two extremes, then the close."""
POINT_NAMES = ("low", "high", "close")
"""Name of each kind of point (the index stored in :attr:`PricePath.kind`)."""
CHECK_SETTLE_SECONDS = 1.0
"""How long after a bar boundary the watcher checks (time for the feed to publish the bar)."""


@dataclass(frozen=True, slots=True)
class PricePath:
    """The evaluation points of a run of bars, in time order (all arrays the same length).

    ``at``: epoch seconds the point is evaluated at (its bar's close); ``price``: the value;
    ``bar``: index of its bar in the input; ``kind``: index into :data:`POINT_NAMES`."""

    at: np.ndarray
    price: np.ndarray
    bar: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        """Number of points."""
        return int(self.at.shape[0])


def price_path(ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
               close: np.ndarray, seconds: int = PRICE_SECONDS) -> PricePath:
    """The price path of bars opening at epoch ``ts`` (``seconds`` long): three points per
    bar, see the module docstring. Vectorised; bars must be in time order."""
    n = int(np.asarray(ts).shape[0])
    rising = np.asarray(close, float) >= np.asarray(open_, float)
    lo, hi = np.asarray(low, float), np.asarray(high, float)
    price = np.empty((n, POINTS_PER_BAR))
    price[:, 0] = np.where(rising, lo, hi)
    price[:, 1] = np.where(rising, hi, lo)
    price[:, 2] = np.asarray(close, float)
    kind = np.empty((n, POINTS_PER_BAR), np.int8)
    kind[:, 0] = np.where(rising, 0, 1)
    kind[:, 1] = np.where(rising, 1, 0)
    kind[:, 2] = 2
    closes = np.asarray(ts, float) + seconds
    return PricePath(at=np.repeat(closes, POINTS_PER_BAR), price=price.ravel(),
                     bar=np.repeat(np.arange(n), POINTS_PER_BAR), kind=kind.ravel())


def changes(*columns: np.ndarray) -> np.ndarray:
    """Indices where any of the equally long boolean ``columns`` differs from the previous
    position, and position 0: where evaluating a trigger can change its edge state.

    Between two such positions a trigger sees the same inputs again; the edge rules are
    idempotent on repeated inputs, except for a cooldown running out, which the caller
    handles (``StateArrays.apply`` reports cooling slots)."""
    n = int(columns[0].shape[0]) if columns else 0
    if n == 0:
        return np.empty(0, np.int64)
    moved = np.zeros(n, bool)
    moved[0] = True
    for col in columns:
        moved[1:] |= col[1:] != col[:-1]
    return np.flatnonzero(moved)


def next_check_delay(now_s: float, interval: float, settle: float = CHECK_SETTLE_SECONDS) -> float:
    """Seconds from ``now_s`` to the next check: checks run at multiples of ``interval``
    since the epoch plus ``settle``, so with an interval that divides a bar's length (60 s
    does every timeframe) each bar is evaluated about ``settle`` seconds after it closes,
    not up to one interval later."""
    delay = interval - ((now_s - settle) % interval)
    return delay if delay > 1e-3 else delay + interval
