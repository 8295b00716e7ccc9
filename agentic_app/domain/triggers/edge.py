"""Edge logic of market triggers: the per-trigger state record and the vectorised rules.

One :class:`TriggerState` per price/indicator trigger holds what must survive a restart:

* ``armed``: the trigger may fire the next time its condition is true. It is disarmed by a fire
  (and by a first evaluation that finds the condition already true, unless the trigger asks for
  ``fire_if_true_at_start``) and re-armed by an evaluation that finds the condition false and,
  with a re-arm band, the value at least ``band`` away from the true region.
* ``primed``: the trigger has been evaluated at least once on valid data.
* ``last_in``: the condition's region test at the last evaluation (for a crossing
  ``crosses_above(price, X)`` the region is ``price > X``), so a crossing is detected across
  ticks and across restarts without storing the price of every trigger.
* ``last_price``: the last evaluated price, kept only for triggers evaluated one by one (their
  ``previous`` environment for crossings).
* ``fire_count``, ``last_fire_at``, ``last_bar_ts`` (close time of the last evaluated bar).
* ``fingerprint``: what the trigger watches (symbol, condition, timeframe, indicator, params,
  mode). A state whose fingerprint differs from the registered config is discarded.

:class:`StateArrays` keeps these fields as numpy arrays (one slot per trigger) and applies the
edge rules to all slots at once; only changed slots are turned back into :class:`TriggerState`
objects (to be saved). The watcher applies these rules to every trigger at once; the
backtest (``engine.scheduler.backtest``) replays one trigger over past bars with the same
rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

NO_LIMIT = np.iinfo(np.int64).max
"""``max_fires`` stored for triggers without a limit."""


@dataclass(slots=True)
class TriggerState:
    """Persisted edge state of one price or indicator trigger (see the module docstring)."""

    trigger_id: int
    fingerprint: str = ""
    armed: bool = True
    primed: bool = False
    last_in: bool = False
    last_price: float | None = None
    fire_count: int = 0
    last_fire_at: datetime | None = None
    last_bar_ts: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (datetimes as ISO-8601), e.g. for a DB JSON column."""
        return {
            "trigger_id": self.trigger_id,
            "fingerprint": self.fingerprint,
            "armed": self.armed,
            "primed": self.primed,
            "last_in": self.last_in,
            "last_price": self.last_price,
            "fire_count": self.fire_count,
            "last_fire_at": _iso(self.last_fire_at),
            "last_bar_ts": _iso(self.last_bar_ts),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TriggerState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            trigger_id=int(data["trigger_id"]),
            fingerprint=str(data.get("fingerprint", "")),
            armed=bool(data.get("armed", True)),
            primed=bool(data.get("primed", False)),
            last_in=bool(data.get("last_in", False)),
            last_price=data.get("last_price"),
            fire_count=int(data.get("fire_count", 0)),
            last_fire_at=_parse_iso(data.get("last_fire_at")),
            last_bar_ts=_parse_iso(data.get("last_bar_ts")),
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(slots=True)
class SlotSettings:
    """Per-trigger settings the edge rules need, in plain Python form."""

    cooldown_seconds: float = 0.0
    expires_at: datetime | None = None
    max_fires: int | None = None
    fire_if_true_at_start: bool = False
    created_at: datetime | None = None


@dataclass(slots=True)
class EdgeResult:
    """Outcome of :meth:`StateArrays.apply` for one evaluation pass (slot index arrays)."""

    fired: np.ndarray
    changed: np.ndarray
    exhausted: np.ndarray
    cooling: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    evaluated: np.ndarray | None = None


class StateArrays:
    """Edge state and settings of many triggers as numpy arrays, one slot per trigger."""

    def __init__(
        self,
        ids: list[int],
        states: list[TriggerState],
        settings: list[SlotSettings],
    ):
        """Build the arrays from per-trigger states and settings (same order as ``ids``)."""
        n = len(ids)
        self.ids = np.fromiter(ids, np.int64, n)
        self.fingerprints = [s.fingerprint for s in states]
        self.armed = np.fromiter((s.armed for s in states), bool, n)
        self.primed = np.fromiter((s.primed for s in states), bool, n)
        self.last_in = np.fromiter((s.last_in for s in states), bool, n)
        self.last_price = np.fromiter(
            (math.nan if s.last_price is None else s.last_price for s in states), float, n
        )
        self.fire_count = np.fromiter((s.fire_count for s in states), np.int64, n)
        self.last_fire = np.fromiter((_epoch(s.last_fire_at, math.nan) for s in states), float, n)
        self.last_bar = np.fromiter((_epoch(s.last_bar_ts, -math.inf) for s in states), float, n)
        self.cooldown = np.fromiter((c.cooldown_seconds for c in settings), float, n)
        self.expires = np.fromiter((_epoch(c.expires_at, math.inf) for c in settings), float, n)
        self.created = np.fromiter((_epoch(c.created_at, -math.inf) for c in settings), float, n)
        self.max_fires = np.fromiter(
            (NO_LIMIT if c.max_fires is None else c.max_fires for c in settings), np.int64, n
        )
        self.fire_at_start = np.fromiter((c.fire_if_true_at_start for c in settings), bool, n)
        self.finished = np.zeros(n, bool)
        self.any_cooldown = bool(self.cooldown.any()) if n else False

    def __len__(self) -> int:
        """Number of slots."""
        return int(self.ids.shape[0])

    def state(self, slot: int) -> TriggerState:
        """The :class:`TriggerState` of one slot."""
        last_price = float(self.last_price[slot])
        return TriggerState(
            trigger_id=int(self.ids[slot]),
            fingerprint=self.fingerprints[slot],
            armed=bool(self.armed[slot]),
            primed=bool(self.primed[slot]),
            last_in=bool(self.last_in[slot]),
            last_price=None if math.isnan(last_price) else last_price,
            fire_count=int(self.fire_count[slot]),
            last_fire_at=_from_epoch(float(self.last_fire[slot])),
            last_bar_ts=_from_epoch(float(self.last_bar[slot])),
        )

    def states(self, slots: np.ndarray) -> list[TriggerState]:
        """States of several slots (one vectorised gather, then one object per slot)."""
        slots = np.asarray(slots, np.int64)
        prices = self.last_price[slots]
        fires = self.last_fire[slots]
        bars = self.last_bar[slots]
        return [
            TriggerState(tid, self.fingerprints[slot], armed, primed, last_in,
                         None if price != price else price, count,
                         _from_epoch(fire), _from_epoch(bar))
            for tid, slot, armed, primed, last_in, price, count, fire, bar in zip(
                self.ids[slots].tolist(), slots.tolist(), self.armed[slots].tolist(),
                self.primed[slots].tolist(), self.last_in[slots].tolist(), prices.tolist(),
                self.fire_count[slots].tolist(), fires.tolist(), bars.tolist(), strict=True,
            )
        ]

    def expire(self, now_s: float) -> np.ndarray:
        """Mark and return the unfinished slots whose ``expires_at`` is at or before now."""
        hit = ~self.finished & (self.expires <= now_s)
        slots = np.flatnonzero(hit)
        self.finished[slots] = True
        return slots

    def exhaust_loaded(self) -> np.ndarray:
        """Mark and return slots that already reached ``max_fires`` (e.g. loaded from a store)."""
        slots = np.flatnonzero(~self.finished & (self.fire_count >= self.max_fires))
        self.finished[slots] = True
        return slots

    def apply(
        self,
        now_s: float | np.ndarray,
        evaluated: np.ndarray,
        in_now: np.ndarray,
        true_now: np.ndarray,
        far: np.ndarray | None,
        slots: np.ndarray | None = None,
    ) -> EdgeResult:
        """Apply the edge rules to every slot at once and return what fired and changed.

        ``evaluated``: slots evaluated on valid data this pass; ``in_now``: their region test;
        ``true_now``: their condition (differs from ``in_now`` for crossings); ``far``: re-arm
        distance reached (None: no re-arm band anywhere, i.e. all True). ``now_s``: the time
        of the evaluation (epoch seconds), one for all slots or one per slot. ``slots``: apply
        to these slots only (the other arguments then hold one entry per listed slot; the
        result's indices are slot numbers all the same).

        Rules: a slot fires iff it is evaluated, its condition is true, it is armed, it is
        primed or asks for ``fire_if_true_at_start``, and it is not within ``cooldown`` of its
        last fire. A cooldown-suppressed slot stays armed (the edge is not consumed): it fires
        at the first evaluation after the cooldown while its condition is still true. A fire
        disarms; a first evaluation finding the condition true disarms without firing (unless
        ``fire_if_true_at_start``); an evaluation finding it false (and ``far``) re-arms.
        """
        at = slice(None) if slots is None else slots
        armed, primed, last_in = self.armed[at], self.primed[at], self.last_in[at]
        fire_at_start = self.fire_at_start[at]
        ev = evaluated & ~self.finished[at] & (self.created[at] <= now_s)
        cand = ev & true_now & armed & (primed | fire_at_start)
        if self.any_cooldown:
            with np.errstate(invalid="ignore"):
                cooling = cand & (now_s < self.last_fire[at] + self.cooldown[at])
            fire = cand & ~cooling
        else:
            cooling = None
            fire = cand
        new_armed = armed & ~fire & ~(ev & true_now & ~primed & ~fire_at_start)
        rearm = ev & ~true_now
        if far is not None:
            rearm &= far
        new_armed |= rearm
        new_in = np.where(ev, in_now, last_in)
        changed = ev & ((new_armed != armed) | (new_in != last_in) | ~primed | fire)
        self.armed[at] = new_armed
        self.last_in[at] = new_in
        self.primed[at] = primed | ev
        hit = np.flatnonzero(fire)
        fired = hit if slots is None else slots[hit]
        exhausted = np.empty(0, np.int64)
        if fired.size:
            self.fire_count[fired] += 1
            self.last_fire[fired] = now_s if np.ndim(now_s) == 0 else now_s[hit]
            done = fired[self.fire_count[fired] >= self.max_fires[fired]]
            if done.size:
                self.finished[done] = True
                exhausted = done
        changed_at = np.flatnonzero(changed)
        cooling_at = np.flatnonzero(cooling) if cooling is not None else np.empty(0, np.int64)
        if slots is not None:
            changed_at, cooling_at = slots[changed_at], slots[cooling_at]
        return EdgeResult(fired=fired, changed=changed_at, exhausted=exhausted,
                          cooling=cooling_at)


def _epoch(value: datetime | None, default: float) -> float:
    """Epoch seconds of an aware datetime (naive is taken as UTC), or ``default`` for None."""
    if value is None:
        return default
    return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).timestamp()


def _from_epoch(value: float) -> datetime | None:
    """Aware UTC datetime of finite epoch seconds, else None."""
    return datetime.fromtimestamp(value, UTC) if math.isfinite(value) else None
