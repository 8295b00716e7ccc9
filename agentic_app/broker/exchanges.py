"""The exchanges the live broker trades on, and how their ccxt clients are built.

Each supported exchange id has fixed ccxt options (spot only, no private currency calls) and
its quote currency. The API base URL is never user-given: it is ccxt's own (or its
sandbox/testnet URL when the credential is a sandbox one). Only a test setting
(``BROKER__TEST_BASE_URL``, loopback only) may point every API URL of the client elsewhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from agentic_app.domain.errors import InvalidInputError
from agentic_app.domain.live_trading import check_test_base_url

RECV_WINDOW_MS = 5000
"""How long a signed request stays valid at the exchange: a request lost in flight can no
longer be accepted once this has passed since it was signed."""


@dataclass(frozen=True)
class ExchangeSpec:
    """What the live broker needs to know about one exchange."""

    id: str
    quote: str
    options: dict[str, Any]
    recv_window_ms: int = RECV_WINDOW_MS


SUPPORTED: dict[str, ExchangeSpec] = {
    "binance": ExchangeSpec(
        id="binance", quote="USDT",
        options={"defaultType": "spot", "fetchMarkets": {"types": ["spot"]},
                 "fetchCurrencies": False, "adjustForTimeDifference": False,
                 "recvWindow": RECV_WINDOW_MS,
                 "fetchOpenOrders": {"warnWithoutSymbol": False},
                 "warnOnFetchOpenOrdersWithoutSymbol": False},
    ),
}
"""Exchange id -> spec. Binance spot (``sandbox`` = testnet.binance.vision)."""


def spec_of(exchange_id: str) -> ExchangeSpec:
    """The spec of a supported exchange; InvalidInputError(field="exchange") otherwise."""
    spec = SUPPORTED.get(str(exchange_id).lower())
    if spec is None:
        raise InvalidInputError(f"exchange must be one of {sorted(SUPPORTED)}, got "
                                f"{exchange_id!r}", field="exchange")
    return spec


def client_order_id(exchange_id: str, idempotency_key: str) -> str:
    """The client order id sent with the order of ``idempotency_key``: the same on every retry.

    ``ag-`` + 32 hex characters of SHA-256 (35 characters, within Binance's 36 and its
    ``[.A-Z:/a-z0-9_-]`` alphabet)."""
    digest = hashlib.sha256(f"{exchange_id}:{idempotency_key}".encode()).hexdigest()
    return "ag-" + digest[:32]


def build_client(exchange_id: str, *, api_key: str, secret: str, sandbox: bool,
                 timeout_seconds: float, test_base_url: str = "") -> Any:
    """A ccxt client of ``exchange_id`` with the user's key; sandbox URLs when ``sandbox``.

    ``test_base_url`` (tests only, loopback) replaces the scheme and host of every API URL,
    keeping ccxt's paths. ccxt is imported lazily (workers that never trade live skip it).
    """
    import ccxt

    spec = spec_of(exchange_id)
    client = getattr(ccxt, spec.id)({
        "apiKey": api_key, "secret": secret, "enableRateLimit": True,
        "timeout": int(timeout_seconds * 1000), "options": dict(spec.options),
    })
    if sandbox:
        client.set_sandbox_mode(True)
    if test_base_url:
        base = check_test_base_url(test_base_url)
        api = client.urls["api"]
        for name, value in list(api.items()):
            if isinstance(value, str):
                api[name] = base + urlsplit(value).path
    return client
