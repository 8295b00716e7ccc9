"""Which market schedules have no usable data: a stale feed never fires a trigger, and the
schedule says so ("data stale: ...", stored as its ``config_error`` until data is back).

The watcher reports problems per symbol (``TickReport.unavailable``: ``"EURUSD"`` for the
one-minute bars of price triggers, ``"EURUSD 15m"`` for an indicator's bars, ``"EURUSD rsi"``
for a computation); each price/indicator schedule on that symbol gets the first reason, in
a stable form (no ages, so the stored text changes only when the reason does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MARKET_TYPES = ("price", "indicator")


def reason_text(detail: str) -> str:
    """``'stale bars (last close 185 s ago)'`` -> ``'stale bars'``: the reason without the
    numbers that change from one check to the next."""
    return re.sub(r"\s*\(.*\)\s*$", "", detail).strip() or "no usable data"


def stale_reasons(unavailable: Mapping[str, str], rows: Iterable[tuple[int, str, Any]]
                  ) -> dict[int, str | None]:
    """For each market schedule ``(job id, trigger type, trigger config)``: why its data is
    unusable (``'EURUSD: stale bars'``), or None when its symbol had no problem."""
    by_symbol: dict[str, str] = {}
    for key, detail in sorted(unavailable.items()):
        symbol = key.split(" ", 1)[0].upper()
        by_symbol.setdefault(symbol, f"{key}: {reason_text(detail)}")
    out: dict[int, str | None] = {}
    for job_id, trigger_type, config in rows:
        if trigger_type not in MARKET_TYPES or not isinstance(config, dict):
            continue
        symbol = str(config.get("symbol") or "").strip().upper()
        out[job_id] = by_symbol.get(symbol) if symbol else None
    return out
