"""Tests for the shared OHLCV aggregation rule."""

import numpy as np

from agentic_app.market.aggregate import aggregate_arrays


def test_aggregate_buckets_by_aligned_time():
    """Open of first, max high, min low, close of last, summed volume, per aligned bucket."""
    ts = np.array([0, 60, 120, 300, 360], dtype=np.int64)
    o = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    h = np.array([1.5, 2.8, 3.1, 4.2, 5.9])
    lo = np.array([0.9, 1.7, 2.5, 3.9, 4.4])
    c = np.array([2.0, 3.0, 2.9, 5.0, 5.5])
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out_ts, out_o, out_h, out_l, out_c, out_v = aggregate_arrays(ts, o, h, lo, c, v, 300)
    assert out_ts.tolist() == [0, 300]
    assert out_o.tolist() == [1.0, 4.0]
    assert out_h.tolist() == [3.1, 5.9]
    assert out_l.tolist() == [0.9, 3.9]
    assert out_c.tolist() == [2.9, 5.5]
    assert out_v.tolist() == [6.0, 9.0]


def test_aggregate_empty():
    """Aggregating no bars gives empty arrays."""
    out = aggregate_arrays(*(np.empty(0) for _ in range(6)), 3600)
    assert all(a.size == 0 for a in out)
