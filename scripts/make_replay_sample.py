"""Regenerate agentic_app/market/data/sample_bars.csv from the simulated feed (seed 42).

Two symbols (EURUSD, BTCUSDT), two days of 1m bars ending 2025-01-03 00:00 UTC, ts as epoch
seconds. Run: ``python scripts/make_replay_sample.py``.
"""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from agentic_app.market.replay import SAMPLE_CSV
from agentic_app.market.simulated import SimulatedFeed

SYMBOLS = ("EURUSD", "BTCUSDT")
END = datetime(2025, 1, 3, tzinfo=UTC)
MINUTES = 2 * 1440


def main() -> None:
    """Write the sample CSV."""
    feed = SimulatedFeed(seed=42)
    SAMPLE_CSV.parent.mkdir(parents=True, exist_ok=True)
    with SAMPLE_CSV.open("w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["ts", "symbol", "open", "high", "low", "close", "volume"])
        for sym in SYMBOLS:
            dec = feed.instrument(sym).decimals
            bars = feed.bars(sym, "1m", MINUTES, END)
            for t, o, h, lo, c, v in zip(
                bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume, strict=True
            ):
                out.writerow(
                    [int(t), sym, f"{o:.{dec}f}", f"{h:.{dec}f}", f"{lo:.{dec}f}", f"{c:.{dec}f}",
                     int(v)]
                )
    print(f"wrote {SAMPLE_CSV}")


if __name__ == "__main__":
    main()
