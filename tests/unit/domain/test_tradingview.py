"""TradingView rules (agentic_app.domain.tradingview): placeholders, sender address behind
proxies, the body's secret field."""

from __future__ import annotations

import pytest

from agentic_app.domain.tradingview import (
    client_address,
    networks,
    parse_body,
    sender_allowed,
    unresolved_placeholders,
)

PROXY = networks(["10.0.0.0/8", "192.0.2.1"])


def test_placeholders_found_once_in_order():
    """Each {{...}} left is named once, in order; filled values and lone braces are not."""
    text = '{"p": {{close}}, "t": "{{ timenow }}", "again": {{close}}, "x": "{a}", "y": 1}'
    assert unresolved_placeholders(text) == ["{{close}}", "{{ timenow }}"]
    assert unresolved_placeholders('{"price": 1.1, "set": {"a": {}}}') == []


@pytest.mark.parametrize(("peer", "xff", "expected"), [
    ("52.89.214.238", None, "52.89.214.238"),
    ("203.0.113.9", "52.89.214.238", "203.0.113.9"),           # untrusted peer: header ignored
    ("10.0.0.5", "52.89.214.238", "52.89.214.238"),
    ("10.0.0.5", "1.2.3.4, 52.89.214.238, 192.0.2.1", "52.89.214.238"),  # two proxies
    ("10.0.0.5", "52.89.214.238, 1.2.3.4", "1.2.3.4"),         # proxy saw 1.2.3.4
    ("10.0.0.5", "not-an-ip", None),
    ("::ffff:52.89.214.238", None, "52.89.214.238"),           # IPv4-mapped IPv6
    (None, None, None),
])
def test_client_address(peer, xff, expected):
    """The peer, or behind a trusted proxy the right-most untrusted X-Forwarded-For hop."""
    assert client_address(peer, xff, PROXY) == expected


def test_sender_allowed_and_bad_entries():
    """Allowed senders by address or block; a bad entry is a ValueError naming it."""
    allowed = networks(["52.89.214.238", "34.212.75.0/24"])
    assert sender_allowed("34.212.75.30", allowed)
    assert not sender_allowed("34.212.76.1", allowed) and not sender_allowed(None, allowed)
    with pytest.raises(ValueError, match="nope"):
        networks(["nope"])


def test_body_secret_taken_out():
    """A JSON object's "secret" is returned apart; text stays text."""
    assert parse_body('{"a": 1, "secret": "s"}') == ({"a": 1}, "s")
    assert parse_body("buy EURUSD") == ("buy EURUSD", None)
    assert parse_body('[1, 2]') == ([1, 2], None)
    assert parse_body('{"secret": 5}') == ({}, None)
