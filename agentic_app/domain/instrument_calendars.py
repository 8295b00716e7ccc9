"""Which trading calendar an instrument follows: the one symbol -> calendar mapping.

Calendar names are ``FX`` (the FX week, Sunday 17:00 to Friday 17:00 New York time), ``24/7``
(crypto: always open) or an ``exchange_calendars`` ISO MIC code such as ``XNYS``, ``XLON``,
``XETR`` or ``XTKS`` (see :mod:`agentic_app.domain.sessions`). The simulated feed's symbols
are listed explicitly; other symbols are placed by their asset class or their shape.
"""

from __future__ import annotations

import re

FX = "FX"
"""The FX week calendar."""
ALWAYS = "24/7"
"""The always-open calendar (crypto)."""

SYMBOL_CALENDARS: dict[str, str] = {
    "EURUSD": FX,
    "GBPUSD": FX,
    "USDJPY": FX,
    "XAUUSD": FX,  # spot gold trades on the FX week
    "BTCUSDT": ALWAYS,
    "ETHUSDT": ALWAYS,
    "AAPL": "XNYS",
}
"""Known symbols (the simulated feed's catalogue) and their calendar."""

ASSET_CLASS_CALENDARS: dict[str, str] = {
    "fx": FX, "metal": FX, "crypto": ALWAYS, "synthetic": ALWAYS, "equity": "XNYS",
}
"""The calendar of an asset class when the symbol itself says nothing more."""

EQUITY_SUFFIXES: dict[str, str] = {
    ".L": "XLON", ".DE": "XETR", ".F": "XETR", ".T": "XTKS", ".PA": "XPAR", ".AS": "XAMS",
    ".HK": "XHKG", ".TO": "XTSE", ".AX": "XASX", ".SW": "XSWX",
}
"""Ticker suffixes (Yahoo style) and their exchange: ``VOD.L`` -> XLON, ``SAP.DE`` -> XETR."""

_CURRENCIES = {"USD", "EUR", "GBP", "JPY", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "XAU",
               "XAG"}
_CRYPTO_QUOTES = ("USDT", "USDC", "BTC", "ETH", "BUSD")


def calendar_for(symbol: str, asset_class: str | None = None) -> str:
    """The calendar name of ``symbol`` (e.g. 'EURUSD' -> 'FX', 'BTC/USDT' -> '24/7',
    'AAPL' -> 'XNYS', 'VOD.L' -> 'XLON'); unknown plain tickers are taken as NYSE stocks."""
    text = symbol.strip().upper()
    if text in SYMBOL_CALENDARS:
        return SYMBOL_CALENDARS[text]
    for suffix, name in EQUITY_SUFFIXES.items():
        if text.endswith(suffix):
            return name
    if "/" in text or text.endswith(_CRYPTO_QUOTES):
        return ALWAYS
    if re.fullmatch(r"[A-Z]{6}", text) and text[:3] in _CURRENCIES and text[3:] in _CURRENCIES:
        return FX
    if asset_class is not None and asset_class.lower() in ASSET_CLASS_CALENDARS:
        return ASSET_CLASS_CALENDARS[asset_class.lower()]
    return "XNYS"
