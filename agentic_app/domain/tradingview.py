"""TradingView alerts (pure rules): sender addresses, unresolved placeholders, the body's
optional secret field, and the alert message template the schedule page offers.

TradingView cannot sign a request. A ``tradingview`` webhook job is called at a secret URL
(``/webhooks/<token>/<secret>``, or ``/webhooks/<token>`` with ``"secret"`` in a JSON body);
its body is the alert message, plain text or JSON, where TradingView replaces ``{{close}}``
and the like before sending. A body still holding ``{{...}}`` was typed outside a placeholder
TradingView knows (or sent by hand) and is refused.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

TRADINGVIEW_SENDERS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")
"""The addresses TradingView publishes for its webhook requests (settings may change them)."""
SECRET_FIELD = "secret"
"""The JSON body field that may carry the job's secret (removed from the stored payload)."""
MAX_PLACEHOLDERS_NAMED = 5
"""Most unresolved placeholders a refusal names."""

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}\s][^{}]{0,80}?)\s*\}\}")

ALERT_TEMPLATE = {"ticker": "{{ticker}}", "exchange": "{{exchange}}", "action":
                  "{{strategy.order.action}}", "price": "{{close}}", "volume": "{{volume}}",
                  "time": "{{timenow}}", "interval": "{{interval}}"}
"""The message body the schedule page offers (TradingView fills each placeholder)."""


def unresolved_placeholders(text: str) -> list[str]:
    """The ``{{...}}`` placeholders left in ``text``, each once, in order of appearance."""
    found: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(0)
        if name not in found:
            found.append(name)
    return found


def parse_address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``value`` (IPv4-mapped IPv6 unmapped), or None when it is not one."""
    try:
        addr = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


Networks = list[ipaddress.IPv4Network | ipaddress.IPv6Network]


def networks(entries: list[str] | tuple[str, ...]) -> Networks:
    """Addresses or CIDR blocks as networks; ValueError naming a bad entry."""
    out: Networks = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or CIDR block: {entry!r}") from None
    return out


def _inside(addr: Any, nets: Networks) -> bool:
    return addr is not None and any(addr in net for net in nets)


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted_proxies: Networks) -> str | None:
    """The sender's address: the connection's peer, unless the peer is a trusted proxy; then
    the right-most ``X-Forwarded-For`` entry that is not a trusted proxy itself (entries
    further left were written by the client and prove nothing). None when unknown."""
    addr = parse_address(peer or "")
    if addr is None:
        return None
    if not forwarded_for or not _inside(addr, trusted_proxies):
        return str(addr)
    for hop in reversed(forwarded_for.split(",")):
        hop_addr = parse_address(hop)
        if hop_addr is None:
            return None  # a malformed chain proves nothing
        if not _inside(hop_addr, trusted_proxies):
            return str(hop_addr)
    return str(addr)


def sender_allowed(address: str | None, allowed: Networks) -> bool:
    """Whether ``address`` is one of the allowed senders."""
    return _inside(parse_address(address or ""), allowed)


def parse_body(text: str) -> tuple[Any, str | None]:
    """(payload, secret): a JSON object or array when the body is JSON, else the text; the
    JSON object's ``secret`` field is taken out and returned separately."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        return text, None
    if isinstance(payload, dict) and SECRET_FIELD in payload:
        secret = payload.pop(SECRET_FIELD)
        return payload, secret if isinstance(secret, str) else None
    return payload, None


def alert_message(*, with_secret: str | None = None) -> str:
    """The ready-to-paste alert message (JSON); with ``"secret"`` when ``with_secret`` is
    given (for a URL without the secret in its path)."""
    body = dict(ALERT_TEMPLATE)
    if with_secret is not None:
        body[SECRET_FIELD] = with_secret
    return json.dumps(body, indent=1)
