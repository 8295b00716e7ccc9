"""The three workflow templates of the plan, shipped with the product and seeded for the demo user.

Each template is a workflow definition (``nodes`` + ``edges``) in the JSON form
that ``domain.workflow`` validates.
"""

from __future__ import annotations

import copy

RSI_OVERSOLD = {
    "name": "RSI Oversold Strategy",
    "description": "Every day at 09:00 UTC: EURUSD 1h bars -> RSI(14); if RSI < 30, size a "
                   "1%-risk position and buy at market.",
    "definition": {
        "nodes": [
            {"id": "trigger", "type": "schedule_trigger",
             "params": {"cron_expression": "0 9 * * *", "timezone": "UTC"}},
            {"id": "bars", "type": "bars", "params": {"symbol": "EURUSD", "timeframe": "1h",
                                                      "count": 100}},
            {"id": "rsi", "type": "rsi", "params": {"period": 14}},
            {"id": "oversold", "type": "condition", "params": {"expression": "rsi < 30"}},
            {"id": "size", "type": "position_size",
             "params": {"symbol": "EURUSD", "risk_pct": 1.0, "atr_multiple": 2.0,
                        "atr_period": 14, "max_position": 5}},
            {"id": "buy", "type": "market_order", "params": {"symbol": "EURUSD", "side": "buy"}},
        ],
        "edges": [
            {"from": "trigger", "to": "bars"},
            {"from": "bars", "to": "rsi"},
            {"from": "rsi", "to": "oversold"},
            {"from": "oversold", "to": "size", "branch": "true"},
            {"from": "size", "to": "buy"},
        ],
    },
}

EURUSD_PRICE_ALERT = {
    "name": "EURUSD Price Alert",
    "description": "When EURUSD crosses above 1.10: notify and buy 0.1 lot (10,000 EUR) at "
                   "market, in parallel.",
    "definition": {
        "nodes": [
            {"id": "trigger", "type": "price_trigger",
             "params": {"symbol": "EURUSD", "condition": "price > 1.10"}},
            {"id": "notify", "type": "notification",
             "params": {"title": "EURUSD above 1.10",
                        "message": "EURUSD traded at {trigger.price}", "level": "info"}},
            {"id": "buy", "type": "market_order",
             "params": {"symbol": "EURUSD", "side": "buy", "quantity": 0.1}},
        ],
        "edges": [
            {"from": "trigger", "to": "notify"},
            {"from": "trigger", "to": "buy"},
        ],
    },
}

RSI_SIGNAL_AUTOTRADE = {
    "name": "RSI Signal Auto-trade",
    "description": "When RSI(14) on BTCUSDT 15m closes below 30: size a 0.5%-risk position and "
                   "buy at market.",
    "definition": {
        "nodes": [
            {"id": "trigger", "type": "indicator_trigger",
             "params": {"symbol": "BTCUSDT", "timeframe": "15m", "indicator": "rsi",
                        "params": {"period": 14}, "condition": "rsi < 30"}},
            {"id": "size", "type": "position_size",
             "params": {"symbol": "BTCUSDT", "risk_pct": 0.5, "stop_pct": 2.0,
                        "max_position": 2}},
            {"id": "buy", "type": "market_order", "params": {"symbol": "BTCUSDT", "side": "buy"}},
        ],
        "edges": [
            {"from": "trigger", "to": "size"},
            {"from": "size", "to": "buy"},
        ],
    },
}

TEMPLATES = {t["name"]: t for t in (RSI_OVERSOLD, EURUSD_PRICE_ALERT, RSI_SIGNAL_AUTOTRADE)}
"""Templates by name."""


def get_template(name: str) -> dict:
    """A deep copy of the template called ``name`` (case-insensitive); KeyError when unknown."""
    for key, value in TEMPLATES.items():
        if key.lower() == name.lower():
            return copy.deepcopy(value)
    raise KeyError(name)
