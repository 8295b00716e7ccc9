"""The one OHLCV aggregation rule, shared by every feed that builds long bars from short ones.

A bucket's open is its first bar's open, close its last bar's close, high the max of highs,
low the min of lows, volume the sum. Buckets are aligned to multiples of the target length
since the epoch.
"""

from __future__ import annotations

import numpy as np

from agentic_app.market.base import Bars


def aggregate_arrays(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    seconds: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate time-sorted bars (open times ``ts``) into buckets of ``seconds``.

    Returns (ts, open, high, low, close, volume) with one entry per non-empty bucket.
    """
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        empty = np.empty(0, dtype=np.float64)
        return np.empty(0, dtype=np.int64), empty, empty, empty, empty, empty
    bucket = (ts // seconds) * seconds
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], ts.size] - 1
    return (
        bucket[starts],
        np.asarray(open_, dtype=np.float64)[starts],
        np.maximum.reduceat(np.asarray(high, dtype=np.float64), starts),
        np.minimum.reduceat(np.asarray(low, dtype=np.float64), starts),
        np.asarray(close, dtype=np.float64)[ends],
        np.add.reduceat(np.asarray(volume, dtype=np.float64), starts),
    )


def aggregate(bars: Bars, timeframe: str, seconds: int) -> Bars:
    """Aggregate ``bars`` into ``timeframe`` (``seconds`` long) bars of the same symbol."""
    ts, o, h, lo, c, v = aggregate_arrays(
        bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, seconds
    )
    return Bars(bars.symbol, timeframe, ts, o, h, lo, c, v)
