"""Trigger evaluation benchmark: 100,000 price triggers and 10,000 indicator triggers per tick.

Builds a simulated feed of 100 synthetic symbols, registers random price triggers (``price > X``,
``price < X``, ``crosses_above(price, X)``, ``price < a or price > b``) and indicator triggers
(RSI(14) mostly, some SMA(20)/EMA(50), a few conditions that need the scalar path) on 1m bars,
then ticks a fixed clock one minute at a time (every tick is a bar close, the worst case).

Prints median and p95 milliseconds per tick for price evaluation, indicator evaluation (both
given the fetched data) and the full tick (fetch, evaluate, save states); the last line is one
JSON object. Run from the repo root: ``.venv/bin/python bench/trigger_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentic_app.domain.triggers import IndicatorTriggerConfig, PriceTriggerConfig
from agentic_app.engine.scheduler.market_watch import TriggerWatcher
from agentic_app.market.clock import FixedClock
from agentic_app.market.instruments import synthetic_instruments
from agentic_app.market.simulated import SimulatedFeed

PRICE_TRIGGERS = 100_000
INDICATOR_TRIGGERS = 10_000
SYMBOLS = 100
START = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def price_config(rng: random.Random, symbol: str, price: float) -> PriceTriggerConfig:
    """A random price trigger near ``price``."""
    level = round(price * (1 + rng.uniform(-0.01, 0.01)), 4)
    kind = rng.random()
    if kind < 0.4:
        condition = f"price > {level}"
    elif kind < 0.7:
        condition = f"price < {level}"
    elif kind < 0.9:
        condition = f"crosses_above(price, {level})"
    else:
        width = round(price * rng.uniform(0.002, 0.01), 4)
        condition = f"price < {level} or price > {round(level + width, 4)}"
    band = round(price * 0.001, 4) if rng.random() < 0.1 else 0.0
    cooldown = 300 if rng.random() < 0.1 else 0
    return PriceTriggerConfig(symbol=symbol, condition=condition, rearm_band=band,
                              cooldown_seconds=cooldown)


def indicator_config(rng: random.Random, symbol: str) -> IndicatorTriggerConfig:
    """A random indicator trigger: RSI(14) mostly, some SMA/EMA, a few scalar-path ones."""
    kind = rng.random()
    if kind < 0.8:
        level = rng.randint(20, 80)
        op = "<" if level < 50 else ">"
        if rng.random() < 0.2:
            cond = f"crosses_below(rsi, {level})" if op == "<" else f"crosses_above(rsi, {level})"
        else:
            cond = f"rsi {op} {level}"
        return IndicatorTriggerConfig(symbol=symbol, condition=cond, timeframe="1m",
                                      indicator="rsi", params={"period": 14})
    indicator, period = ("sma", 20) if kind < 0.9 else ("ema", 50)
    if rng.random() < 0.05:
        cond = f"crosses_above(price, {indicator})"  # two names: scalar path
    else:
        cond = f"{indicator} {rng.choice('<>')} {round(100 * rng.uniform(0.97, 1.03), 2)}"
    return IndicatorTriggerConfig(symbol=symbol, condition=cond, timeframe="1m",
                                  indicator=indicator, params={"period": period})


def summary(values: list[float]) -> tuple[float, float]:
    """Median and 95th percentile."""
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def main() -> None:
    """Run the benchmark and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks")
    parser.add_argument("--ticks", type=int, default=None, help="measured ticks")
    args = parser.parse_args()
    ticks = args.ticks or (8 if args.quick else 30)
    rng = random.Random(7)
    clock = FixedClock(START)
    feed = SimulatedFeed(seed=11, instruments=synthetic_instruments(SYMBOLS), clock=clock)
    symbols = feed.symbols()
    start_prices = {s: q.price for s, q in feed.prices(symbols, START).items()}
    watcher = TriggerWatcher(feed, check_interval_seconds=60)
    t0 = time.perf_counter()
    for tid in range(PRICE_TRIGGERS):
        sym = symbols[tid % SYMBOLS]
        watcher.upsert(tid, "price", price_config(rng, sym, start_prices[sym]), START)
    for k in range(INDICATOR_TRIGGERS):
        watcher.upsert(PRICE_TRIGGERS + k, "indicator", indicator_config(rng, symbols[k % SYMBOLS]),
                       START)
    setup_s = time.perf_counter() - t0
    for _ in range(2):  # warm-up: layout build, first evaluation primes every trigger
        watcher.tick_report(clock())
        clock.advance(60)
    price_ms, ind_ms, full_ms, fires, saved = [], [], [], 0, 0
    for _ in range(ticks):
        report = watcher.tick_report(clock())
        price_ms.append(report.price_eval_ms)
        ind_ms.append(report.indicator_eval_ms)
        full_ms.append(report.total_ms)
        fires += len(report.fires)
        saved += report.saved
        clock.advance(60)
    rows = [("price evaluation", price_ms), ("indicator evaluation", ind_ms),
            ("full tick (fetch + evaluate + save)", full_ms)]
    print(f"setup: {PRICE_TRIGGERS + INDICATOR_TRIGGERS} triggers registered in {setup_s:.1f} s; "
          f"{ticks} ticks of 60 s on 1m bars; {fires} fires, {saved} states saved")
    print(f"{'per tick':40} {'median ms':>10} {'p95 ms':>10}")
    for label, values in rows:
        med, p95 = summary(values)
        print(f"{label:40} {med:10.2f} {p95:10.2f}")
    print(json.dumps({
        "price_triggers": PRICE_TRIGGERS,
        "price_tick_ms": round(summary(price_ms)[0], 3),
        "indicator_triggers": INDICATOR_TRIGGERS,
        "indicator_symbols": SYMBOLS,
        "indicator_tick_ms": round(summary(ind_ms)[0], 3),
    }))


if __name__ == "__main__":
    main()
