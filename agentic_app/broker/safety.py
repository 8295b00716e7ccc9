"""The safety check every live order passes before it is sent: kill switch, then the limits.

One place (:class:`SafetyGuard`, the ``guard`` of :class:`~agentic_app.broker.live.LiveBroker`):

* the user's kill switch (``trading_halts.engaged``) refuses everything;
* the order's notional and today's loss are checked (``domain.live_trading.order_refusal``);
  the loss is the drop of the account's equity since the first check of the UTC day;
* the day's order count and turnover are counted in Redis with one atomic MULTI (INCR and
  INCRBYFLOAT), then checked with this order included; a refusal takes the order back out.
  Of N concurrent orders at most the limit pass: each sees a distinct count.

The limits are the settings' defaults tightened by the user's overrides (``trading_limits``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis as redis_lib
import sqlalchemy as sa
from sqlmodel import Session

from agentic_app.broker.base import OrderRequest
from agentic_app.db.broker_models import TradingHalt, TradingLimitOverride
from agentic_app.db.engine import Database
from agentic_app.db.models import utcnow
from agentic_app.domain.errors import LimitExceededError
from agentic_app.domain.live_trading import (
    KILL_SWITCH,
    LIMIT_FIELDS,
    TradingLimits,
    counter_refusal,
    order_refusal,
)

KEY_PREFIX = "agentic:trading:"
"""Redis prefix of the day counters."""
COUNTER_TTL_S = 3 * 86400
"""Day counters expire after three days."""


def halted_subquery(user_id: Any) -> Any:
    """``trading_halts.engaged`` of ``user_id`` (a bind parameter or a column) as a scalar
    subquery: NULL (not halted) for a user who never engaged the switch. The enqueue's limit
    check and the worker's claim read it inside their own statement."""
    halts = TradingHalt.__table__
    return sa.select(halts.c.engaged).where(halts.c.user_id == user_id).scalar_subquery()


_HALTED = sa.select(halted_subquery(sa.bindparam("user_id")))


def is_halted(conn: Any, user_id: int) -> bool:
    """Whether the user's kill switch is engaged (``conn``: a Connection or Session)."""
    return bool(conn.execute(_HALTED, {"user_id": user_id}).scalar())


def effective_limits(db: Database, defaults: TradingLimits, user_id: int) -> TradingLimits:
    """The defaults tightened by the user's overrides."""
    with Session(db.engine) as session:
        row = session.get(TradingLimitOverride, user_id)
    if row is None:
        return defaults
    return defaults.with_overrides({name: getattr(row, name) for name in LIMIT_FIELDS})


def _keys(user_id: int, day: str) -> tuple[str, str, str]:
    base = f"{KEY_PREFIX}{user_id}:{day}:"
    return base + "orders", base + "turnover", base + "equity0"


def day_counters(redis: redis_lib.Redis, user_id: int, at: datetime) -> dict[str, float]:
    """Today's (UTC) order count, turnover and starting equity of the user's live orders."""
    orders, turnover, equity0 = redis.mget(*_keys(user_id, at.date().isoformat()))
    return {"orders": int(orders or 0), "turnover": float(turnover or 0),
            "starting_equity": float(equity0) if equity0 is not None else None}


class SafetyGuard:
    """Checks (and counts) one user's live orders; see the module docstring."""

    def __init__(self, db: Database, redis: Callable[[], redis_lib.Redis],
                 defaults: TradingLimits, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._redis = redis
        self.defaults = defaults
        self._clock = clock

    def __call__(self, order: OrderRequest, notional: float,
                 equity: Callable[[], float]) -> None:
        """Return when ``order`` may be sent; LimitExceededError(limit=...) otherwise."""
        with Session(self._db.engine) as session:
            if is_halted(session, order.user_id):
                raise LimitExceededError("the kill switch is engaged: re-arm it to trade",
                                         limit=KILL_SWITCH)
        limits = effective_limits(self._db, self.defaults, order.user_id)
        redis = self._redis()
        orders_key, turnover_key, equity_key = _keys(order.user_id,
                                                     self._clock().date().isoformat())
        now_equity = equity()
        redis.set(equity_key, repr(now_equity), nx=True, ex=COUNTER_TTL_S)
        start = float(redis.get(equity_key) or now_equity)
        refusal = order_refusal(limits, notional, max(0.0, start - now_equity))
        if refusal is None:
            pipe = redis.pipeline(transaction=True)
            pipe.incr(orders_key)
            pipe.incrbyfloat(turnover_key, notional)
            pipe.expire(orders_key, COUNTER_TTL_S)
            pipe.expire(turnover_key, COUNTER_TTL_S)
            count, turnover, *_ = pipe.execute()
            refusal = counter_refusal(limits, int(count), float(turnover))
            if refusal is not None:  # take this order back out of the day's counters
                pipe = redis.pipeline(transaction=True)
                pipe.decr(orders_key)
                pipe.incrbyfloat(turnover_key, -notional)
                pipe.execute()
        if refusal is not None:
            raise LimitExceededError(refusal[1], limit=refusal[0])
