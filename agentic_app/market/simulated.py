"""Deterministic simulated feed: every price is a pure function of (symbol, time, seed).

Model (per symbol, ``m`` = minute index since the epoch, close of minute ``m`` at 60(m+1)):

* ``x(m)`` = multi-scale value noise (hashed values on knots every 4**k minutes, k = 0..8,
  linearly interpolated, amplitude ~ sqrt(4**k) so increments behave like a random walk from
  one minute to about a month; beyond that prices wander inside the band) + three slow
  sinusoids with symbol-seeded periods (1-40 days), sampled every 16 minutes and linearly
  interpolated.
* log close = log(centre of the band) + L * tanh(x / L): prices stay strictly inside the
  instrument's ``price_range`` for ever, whatever the date.
* 1m open = previous close; high/low = max/min(open, close) plus a hashed non-negative wick;
  volume is hashed. Prices are rounded to the instrument's decimals.
* Longer timeframes are exact aggregates of 1m bars (``aggregate.py``); 1h, 4h and 1d bars of
  whole UTC days are kept in a per-symbol LRU cache so repeated requests are cheap.
* ``price(t)`` equals the 1m close at a minute boundary; inside a minute it moves from open to
  close with hashed jitter, clamped to that minute's [low, high].

Hashes are splitmix64 on (seed, symbol, stream, index): no state, no call-order effects, O(1)
per point and vectorised over ranges. Markets are 24/7 (no weekends, no sessions).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable
from datetime import datetime

import numpy as np

from agentic_app.domain.errors import UnknownSymbolError
from agentic_app.market.aggregate import aggregate_arrays
from agentic_app.market.base import (
    Bars,
    Instrument,
    Quote,
    normalize_symbol,
    parse_timeframe,
    validate_count,
)
from agentic_app.market.clock import Clock, system_clock, to_epoch, to_utc
from agentic_app.market.instruments import DEFAULT_INSTRUMENTS

MINUTES_PER_YEAR = 525_600
NOISE_LEVELS = 9  # knots every 4**k minutes, k = 0..8 (up to about 45 days)
NOISE_GAIN = 0.62  # makes the 1-minute return std close to the instrument's per-minute vol
SQRT3 = math.sqrt(3.0)
DAY = 86_400
CACHED_MIN_SECONDS = 3600  # 1h, 4h and 1d bars are served from cached whole days
CACHE_DAYS = 512  # cached (timeframe, day) blocks per symbol
COARSE = 16  # minutes between knots of the slow part (noise levels k >= 2 and the waves)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def _mix(key: int, index: np.ndarray) -> np.ndarray:
    """64-bit hashes of int64 ``index`` values under ``key``."""
    x = np.ascontiguousarray(index, dtype=np.int64).view(np.uint64) * _GOLDEN ^ np.uint64(key)
    return splitmix64(x)


def _unit(key: int, index: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) floats (53 bits) hashed from a 64-bit ``key`` and int64 ``index`` values."""
    return (_mix(key, index) >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)


def _unit4(key: int, index: np.ndarray) -> list[np.ndarray]:
    """Four independent uniform [0, 1) arrays (16 bits each) from one hash per index."""
    h = _mix(key, index)
    mask = np.uint64(0xFFFF)
    return [
        ((h >> np.uint64(16 * i)) & mask).astype(np.float64) * (1.0 / 65536.0) for i in range(4)
    ]


def _knots(key: int, width: int, m: np.ndarray, amp: float) -> np.ndarray:
    """Value noise of one level at minutes ``m``: hashed values in [-amp, amp] on knots
    every ``width`` minutes, linearly interpolated."""
    j = m // width
    frac = (m - j * width).astype(np.float64) / width
    left = (_unit(key, j) * 2.0 - 1.0) * amp
    right = (_unit(key, j + 1) * 2.0 - 1.0) * amp
    return left + (right - left) * frac


def _ramp(values: np.ndarray, width: int, m0: int, m1: int) -> np.ndarray:
    """Linear interpolation at minutes m0..m1 of ``values`` given on knots every ``width``
    minutes, starting at knot ``m0 // width`` (needs ``m1 // width - m0 // width + 2`` values)."""
    left = values[:-1, None]
    ramp = np.arange(width, dtype=np.float64) / width
    full = (left + (values[1:, None] - left) * ramp).ravel()
    start = m0 - (m0 // width) * width
    return full[start : start + m1 - m0 + 1]


def _key(seed: int, symbol: str, stream: str) -> int:
    """A stable 64-bit key for one random stream of one symbol under one seed."""
    digest = hashlib.blake2b(f"{seed}|{symbol}|{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class _SymbolModel:
    """Precomputed keys and constants for one symbol; evaluates its 1m series."""

    def __init__(self, inst: Instrument, seed: int):
        self.inst = inst
        low, high = inst.band()
        self.log_centre = 0.5 * (math.log(low) + math.log(high))
        self.bound = 0.999 * 0.5 * (math.log(high) - math.log(low))
        self.sigma = inst.annual_vol / math.sqrt(MINUTES_PER_YEAR)
        self.noise_keys = [_key(seed, inst.symbol, f"noise{k}") for k in range(NOISE_LEVELS)]
        self.jitter_key = _key(seed, inst.symbol, "jitter")
        u = _unit(_key(seed, inst.symbol, "waves"), np.arange(6))
        periods = 1440.0 * np.exp(u[:3] * np.log(40.0))
        self.wave_omega = 2.0 * np.pi / periods
        self.wave_phase = 2.0 * np.pi * u[3:]
        self.wave_amp = 0.35 * self.sigma * np.sqrt(periods)
        self._cache: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def closes(self, m0: int, m1: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Unrounded closes of minutes m0..m1 inclusive, and the four per-minute uniforms
        (level-0 noise, upper wick, lower wick, volume) drawn from one hash per minute.

        Noise levels of width >= 16 and the waves are summed on a 16-minute grid and
        interpolated once (exact for the noise, whose knots all lie on that grid).
        """
        amps = [NOISE_GAIN * self.sigma * 2**k * SQRT3 for k in range(NOISE_LEVELS)]
        grid = np.arange(m0 // COARSE, m1 // COARSE + 2, dtype=np.int64) * COARSE
        coarse = np.zeros(grid.size, dtype=np.float64)
        for k in range(2, NOISE_LEVELS):
            coarse += _knots(self.noise_keys[k], 4**k, grid, amps[k])
        gf = grid.astype(np.float64)
        for omega, phase, amp in zip(self.wave_omega, self.wave_phase, self.wave_amp, strict=True):
            coarse += amp * np.sin(omega * gf + phase)
        x = _ramp(coarse, COARSE, m0, m1)
        minutes = np.arange(m0, m1 + 1, dtype=np.int64)
        uniforms = _unit4(self.noise_keys[0], minutes)
        x += (uniforms[0] * 2.0 - 1.0) * amps[0]
        fine = np.arange(m0 // 4, m1 // 4 + 2, dtype=np.int64)
        x += _ramp((_unit(self.noise_keys[1], fine) * 2.0 - 1.0) * amps[1], 4, m0, m1)
        return np.exp(self.log_centre + self.bound * np.tanh(x / self.bound)), uniforms

    def cached_bars(self, seconds: int, first_open: int, last_open: int) -> tuple[np.ndarray, ...]:
        """Aggregated bars opening in [first_open, last_open], built from whole UTC days kept
        in a per-symbol LRU cache (exact: the series is pure). ``seconds`` divides a day."""
        first_day, last_day = first_open // DAY, last_open // DAY
        blocks = [self._days(seconds, first_day, last_day - 1)] if last_day > first_day else []
        start = max(first_open, last_day * DAY)
        tail = self.minute_bars(start // 60, (last_open + seconds) // 60 - 1)
        blocks.append(np.vstack(aggregate_arrays(*tail, seconds)))
        out = np.concatenate(blocks, axis=1)
        out = out[:, np.searchsorted(out[0], first_open) :]
        return (out[0].astype(np.int64), *out[1:])

    def _days(self, seconds: int, d0: int, d1: int) -> np.ndarray:
        """A 6-row array of ``seconds`` bars for whole days d0..d1, from the cache or computed
        in one vectorised run per gap."""
        with self._lock:
            cached = {d: self._cache.get((seconds, d)) for d in range(d0, d1 + 1)}
            for d in range(d0, d1 + 1):
                if cached[d] is not None:
                    self._cache.move_to_end((seconds, d))
        missing = [d for d, block in cached.items() if block is None]
        runs: list[list[int]] = []
        for d in missing:
            if runs and runs[-1][-1] == d - 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        for run in runs:
            minutes = self.minute_bars(run[0] * 1440, (run[-1] + 1) * 1440 - 1)
            agg = np.vstack(aggregate_arrays(*minutes, seconds))
            per_day = DAY // seconds
            for i, d in enumerate(run):
                cached[d] = agg[:, i * per_day : (i + 1) * per_day]
        with self._lock:
            for d in missing:
                self._cache[(seconds, d)] = cached[d]
            while len(self._cache) > CACHE_DAYS:
                self._cache.popitem(last=False)
        return np.concatenate([cached[d] for d in range(d0, d1 + 1)], axis=1)

    def minute_bars(self, m0: int, m1: int) -> tuple[np.ndarray, ...]:
        """(ts, open, high, low, close, volume) of 1m bars m0..m1 inclusive, rounded."""
        dec = self.inst.decimals
        raw, (_, w_up, w_dn, u_vol) = self.closes(m0 - 1, m1)
        w_up, w_dn, u_vol = w_up[1:], w_dn[1:], u_vol[1:]
        close = np.round(raw[1:], dec)
        open_ = np.round(raw[:-1], dec)
        m = np.arange(m0, m1 + 1, dtype=np.int64)
        scale = self.sigma * raw[1:]
        high = np.round(np.maximum(open_, close) + w_up * w_up * scale, dec)
        low = np.round(np.minimum(open_, close) - w_dn * w_dn * scale, dec)
        move = np.abs(raw[1:] - raw[:-1]) / np.maximum(scale, 1e-300)
        volume = np.round(100.0 * (0.5 + u_vol) * (1.0 + move))
        return m * 60, open_, high, low, close, volume


class SimulatedFeed:
    """A reproducible, network-free ``MarketData`` over a catalogue of instruments."""

    def __init__(
        self,
        seed: int = 42,
        instruments: Iterable[Instrument] | None = None,
        clock: Clock | None = None,
    ):
        self.seed = int(seed)
        self.clock: Clock = clock or system_clock
        catalogue = list(instruments) if instruments is not None else list(DEFAULT_INSTRUMENTS)
        self._instruments = {normalize_symbol(i.symbol): i for i in catalogue}
        self._models: dict[str, _SymbolModel] = {}

    def symbols(self) -> list[str]:
        """Symbols of the catalogue, sorted."""
        return sorted(self._instruments)

    def instrument(self, symbol: str) -> Instrument:
        """Instrument of ``symbol``; UnknownSymbolError(field="symbol") if not in the catalogue."""
        sym = normalize_symbol(symbol)
        try:
            return self._instruments[sym]
        except KeyError:
            raise UnknownSymbolError(f"unknown symbol {symbol!r}", field="symbol") from None

    def _model(self, symbol: str) -> _SymbolModel:
        """The (cached, immutable) model of ``symbol``."""
        inst = self.instrument(symbol)
        model = self._models.get(inst.symbol)
        if model is None:
            model = self._models[inst.symbol] = _SymbolModel(inst, self.seed)
        return model

    def _now(self, at: datetime | None) -> datetime:
        """``at`` as aware UTC, or the clock's time."""
        return to_utc(at) if at is not None else to_utc(self.clock())

    def price(self, symbol: str, at: datetime | None = None) -> Quote:
        """Price at ``at`` (default: clock); the 1m close at minute boundaries."""
        model = self._model(symbol)
        when = self._now(at)
        t = to_epoch(when)
        m = math.floor(t / 60.0)
        offset = t - 60.0 * m
        _, o, h, lo, c, _ = model.minute_bars(m, m)
        dec = model.inst.decimals
        if offset <= 0.0:
            value = float(o[0])
        else:
            frac = offset / 60.0
            ms = np.array([round(t * 1000.0)], dtype=np.int64)
            jitter = (_unit(model.jitter_key, ms)[0] * 2.0 - 1.0) * (h[0] - lo[0]) * 0.5
            value = o[0] + (c[0] - o[0]) * frac + jitter * math.sin(math.pi * frac)
            value = float(np.clip(round(float(value), dec), lo[0], h[0]))
        half = model.inst.spread / 2.0
        bid = round(value - half, dec) if half else None
        ask = round(value + half, dec) if half else None
        return Quote(model.inst.symbol, value, when, bid=bid, ask=ask)

    def prices(self, symbols: Iterable[str], at: datetime | None = None) -> dict[str, Quote]:
        """Prices of several symbols at one instant (the clock is read once)."""
        when = self._now(at)
        return {normalize_symbol(s): self.price(s, when) for s in symbols}

    def bars(
        self, symbol: str, timeframe: str, count: int, end: datetime | None = None
    ) -> Bars:
        """The last ``count`` closed ``timeframe`` bars with close time <= ``end``."""
        model = self._model(symbol)
        seconds = parse_timeframe(timeframe)
        count = validate_count(count)
        end_s = math.floor(to_epoch(self._now(end)))
        last_open = (end_s // seconds) * seconds - seconds
        first_open = last_open - (count - 1) * seconds
        if seconds >= CACHED_MIN_SECONDS:
            arrays = model.cached_bars(seconds, first_open, last_open)
        else:
            arrays = model.minute_bars(first_open // 60, (last_open + seconds) // 60 - 1)
            if seconds != 60:
                arrays = aggregate_arrays(*arrays, seconds)
        return Bars(model.inst.symbol, timeframe.strip().lower(), *arrays)
