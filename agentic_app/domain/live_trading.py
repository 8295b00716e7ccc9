"""Rules of live trading that every caller shares: the safety limits and their overrides,
the loopback-only test URL of an exchange, and how an API key is shown (masked).

Pure: no I/O. The counters the limits are checked against live in Redis
(:mod:`agentic_app.broker.safety`); the settings hold the defaults (``BROKER__*``).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from agentic_app.domain.errors import InvalidInputError

LIMIT_FIELDS = ("max_order_notional", "max_orders_per_day", "max_turnover_per_day",
                "max_daily_loss")
"""The safety limits, in the order they are checked."""
KILL_SWITCH = "kill_switch"
"""The ``limit`` named by a refusal while the user's kill switch is engaged."""
MAX_SECRET_LENGTH = 256
"""Longest API key or secret accepted (the facade, the REST schema and the page)."""
MIN_SECRET_LENGTH = 8
"""Shortest API key or secret accepted."""
MAX_LABEL_LENGTH = 100
"""Longest credential label."""


@dataclass(frozen=True)
class TradingLimits:
    """Safety limits of one user's live orders; amounts in the exchange's quote currency."""

    max_order_notional: float
    max_orders_per_day: int
    max_turnover_per_day: float
    max_daily_loss: float

    def with_overrides(self, overrides: dict[str, Any]) -> TradingLimits:
        """These limits tightened by a user's overrides (None keeps the default; an override
        never loosens a default, which is the ceiling)."""
        values = asdict(self)
        for name in LIMIT_FIELDS:
            given = overrides.get(name)
            if given is not None:
                values[name] = min(values[name], type(values[name])(given))
        return TradingLimits(**values)

    def to_dict(self) -> dict[str, float]:
        """JSON-friendly form."""
        return asdict(self)


def validate_overrides(values: dict[str, Any], ceilings: TradingLimits) -> dict[str, Any]:
    """A user's overrides checked: each None or a positive number at most the default;
    InvalidInputError naming the field otherwise. Unknown names are refused."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name not in LIMIT_FIELDS:
            raise InvalidInputError(f"unknown limit {name!r}", field=name)
        if value is None:
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value <= 0:
            raise InvalidInputError(f"{name} must be a number greater than 0", field=name)
        if name == "max_orders_per_day" and int(value) != value:
            raise InvalidInputError(f"{name} must be a whole number", field=name)
        ceiling = getattr(ceilings, name)
        if value > ceiling:
            raise InvalidInputError(f"{name} may only tighten the default of {ceiling:g}",
                                    field=name)
        out[name] = int(value) if name == "max_orders_per_day" else float(value)
    return out


def order_refusal(limits: TradingLimits, notional: float,
                  loss_today: float) -> tuple[str, str] | None:
    """(limit, reason) when an order of ``notional`` may not go before counting it, else None."""
    if notional > limits.max_order_notional:
        return ("max_order_notional", f"order notional {notional:.2f} is over the limit of "
                f"{limits.max_order_notional:g} per order")
    if loss_today >= limits.max_daily_loss:
        return ("max_daily_loss", f"today's loss {loss_today:.2f} has reached the limit of "
                f"{limits.max_daily_loss:g}")
    return None


def counter_refusal(limits: TradingLimits, orders_today: int,
                    turnover_today: float) -> tuple[str, str] | None:
    """(limit, reason) when the day's counters, this order included, pass a limit, else None."""
    if orders_today > limits.max_orders_per_day:
        return ("max_orders_per_day", f"{limits.max_orders_per_day} orders today already "
                "(the daily limit)")
    if turnover_today > limits.max_turnover_per_day + 1e-9:
        return ("max_turnover_per_day", f"turnover today would be {turnover_today:.2f}, over "
                f"the limit of {limits.max_turnover_per_day:g}")
    return None


def check_test_base_url(url: str) -> str:
    """``url`` without a trailing slash when it is http(s) on a loopback address, else
    ValueError (an exchange URL override exists for tests against a local fake only)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if parts.hostname != "localhost":
        try:
            loopback = ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError("is for tests only and must point at a loopback address")
    return url.rstrip("/")


def mask_key(api_key: str) -> str:
    """How an API key is shown: its last four characters only (``…a1b2``)."""
    return "…" + api_key[-4:] if len(api_key) > 8 else "…"
