"""The default instrument catalogue and a maker of synthetic instruments for benchmarks."""

from __future__ import annotations

from agentic_app.market.base import Instrument

DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("EURUSD", "fx", 1.10, 0.07, decimals=5, lot_step=0.01, min_lot=0.01,
               contract_size=100_000, spread=0.00008, price_range=(1.0, 1.2)),
    Instrument("GBPUSD", "fx", 1.27, 0.08, decimals=5, lot_step=0.01, min_lot=0.01,
               contract_size=100_000, spread=0.0001, price_range=(1.2, 1.35)),
    Instrument("USDJPY", "fx", 150.0, 0.09, decimals=3, lot_step=0.01, min_lot=0.01,
               contract_size=100_000, spread=0.01, price_range=(140.0, 160.0)),
    Instrument("XAUUSD", "metal", 2300.0, 0.15, decimals=2, lot_step=0.01, min_lot=0.01,
               contract_size=100, spread=0.3, price_range=(2000.0, 2600.0)),
    Instrument("BTCUSDT", "crypto", 60_000.0, 0.60, decimals=2, lot_step=0.0001,
               min_lot=0.0001, contract_size=1, spread=1.0, price_range=(30_000.0, 120_000.0)),
    Instrument("ETHUSDT", "crypto", 3000.0, 0.75, decimals=2, lot_step=0.001, min_lot=0.001,
               contract_size=1, spread=0.1, price_range=(1500.0, 5000.0)),
    Instrument("AAPL", "equity", 195.0, 0.28, decimals=2, lot_step=1, min_lot=1,
               contract_size=1, spread=0.02, price_range=(150.0, 250.0)),
)
"""Symbols the simulated feed offers by default, with realistic levels and volatilities."""

DEFAULT_BY_SYMBOL: dict[str, Instrument] = {i.symbol: i for i in DEFAULT_INSTRUMENTS}
"""The default catalogue keyed by symbol."""


def synthetic_instruments(n: int, *, prefix: str = "SYN") -> list[Instrument]:
    """``n`` synthetic instruments (SYN0000, SYN0001 ...) around 100 with 30 % volatility."""
    return [
        Instrument(f"{prefix}{i:04d}", "synthetic", 100.0, 0.30, decimals=4,
                   lot_step=1, min_lot=1, contract_size=1, spread=0.01)
        for i in range(n)
    ]
