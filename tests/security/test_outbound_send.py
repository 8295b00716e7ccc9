"""Notification delivery at send time, against real listeners on 127.0.0.1: refused targets
receive nothing (not even a connection), through every layer and through the connection
guard alone; redirects and DNS answers that change are caught; the listed host receives."""

from __future__ import annotations

import socket

import pytest
import requests

from agentic_app.domain.outbound import TARGET_REFUSED, OutboundPolicy
from agentic_app.engine.executor import notifier as notifier_module
from agentic_app.engine.executor import outbound
from agentic_app.engine.executor.notifier import deliver
from agentic_app.engine.executor.outbound import OutboundRefusedError, guarded
from agentic_app.settings import DEFAULT_NOTIFY_SCHEMES
from tests.security.conftest import Listener

POLICY = OutboundPolicy.build(DEFAULT_NOTIFY_SCHEMES)


def _targets(port: int) -> list[str]:
    return [
        f"json://127.0.0.1:{port}/hook", f"xml://127.0.0.1:{port}/hook",
        f"form://127.0.0.1:{port}/hook", f"json://localhost:{port}/hook",
        f"json://2130706433:{port}/", f"json://0x7f.1:{port}/", f"json://127.1:{port}/",
        f"json://[::ffff:127.0.0.1]:{port}/",
        f"mailto://user:pw@example.com?smtp=127.0.0.1&port={port}&to=ops@example.com",
        f"mailto://user:pw@localhost:{port}?to=ops@example.com",
    ]


@pytest.fixture(params=["all layers", "connection guard only"])
def layers(request, monkeypatch) -> str:
    """Once with every check, once with the URL checks switched off (as if a URL parser
    had been fooled): the connection guard alone must still refuse."""
    if request.param == "connection guard only":
        monkeypatch.setattr(notifier_module, "check_target", lambda url, policy: None)
    return request.param


def test_loopback_targets_receive_nothing(listener: Listener, layers):
    """json, xml, form, mailto?smtp=, a name resolving to 127.0.0.1 and numeric spellings of
    loopback: each delivery reports "refused: target not allowed"; no connection arrives."""
    apprise_cannot_parse = {f"json://0x7f.1:{listener.port}/", f"json://127.1:{listener.port}/",
                            f"json://[::ffff:127.0.0.1]:{listener.port}/"}
    for url in _targets(listener.port):
        result = deliver(url, "title", "body", POLICY)
        assert result["ok"] is False, url
        if layers == "connection guard only" and url in apprise_cannot_parse:
            assert result["error"] == "not a valid apprise URL"
        else:
            assert result["error"] == TARGET_REFUSED, (url, result)
    assert listener.received_nothing, listener.requests


def test_listed_private_host_receives_and_others_do_not(listener: Listener,
                                                        second_listener: Listener):
    """With one loopback port listed by the admin, that listener gets the notification (the
    JSON body carries the title); the other loopback port still receives nothing."""
    policy = OutboundPolicy.build(["json"], [f"127.0.0.1:{second_listener.port}"])
    result = deliver(f"json://127.0.0.1:{second_listener.port}/hook", "Alert", "EURUSD up",
                     policy)
    assert result == {"schema": "json", "ok": True}
    assert second_listener.json_bodies()[0]["title"] == "Alert"
    refused = deliver(f"json://127.0.0.1:{listener.port}/hook", "Alert", "x", policy)
    assert refused["error"] == TARGET_REFUSED
    assert listener.received_nothing


def test_redirect_from_allowed_host_to_forbidden_one_is_not_followed(listener: Listener):
    """An allowed host answering 307 towards another loopback port: the redirect is not
    followed even when the URL asks for redirects (``?redirect=yes``)."""
    redirector = Listener(status=307, redirect_to=f"http://127.0.0.1:{listener.port}/stolen")
    try:
        policy = OutboundPolicy.build(["json"], [f"127.0.0.1:{redirector.port}"])
        for url in (f"json://127.0.0.1:{redirector.port}/",
                    f"json://127.0.0.1:{redirector.port}/?redirect=yes"):
            result = deliver(url, "t", "b", policy)
            assert result["ok"] is False and result["error"] == "delivery failed"
        assert len(redirector.requests) == 2
        assert listener.received_nothing
    finally:
        redirector.close()


def test_connection_guard_refuses_redirect_followed_by_a_library(listener: Listener):
    """Even a library that follows redirects (requests with allow_redirects) cannot reach a
    forbidden address while a delivery is guarded; the refusal is recorded."""
    redirector = Listener(status=307, redirect_to=f"http://127.0.0.1:{listener.port}/")
    try:
        policy = OutboundPolicy.build(["json"], [f"127.0.0.1:{redirector.port}"])
        with guarded(policy) as guard:
            with pytest.raises(requests.ConnectionError):
                requests.post(f"http://127.0.0.1:{redirector.port}/", data=b"x", timeout=5,
                              allow_redirects=True)
        assert len(redirector.requests) == 1 and listener.received_nothing
        assert guard.refused == ["loopback address"]
    finally:
        redirector.close()


def test_connection_guard_covers_udp_and_unix_sockets():
    """sendto a loopback UDP port and connecting a Unix socket are refused while guarded;
    outside a guard the same socket calls are untouched."""
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.3)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with guarded(POLICY) as guard:
            with pytest.raises(OutboundRefusedError):
                sender.sendto(b"x", receiver.getsockname())
            with socket.socket(socket.AF_UNIX) as unix, pytest.raises(OutboundRefusedError):
                unix.connect("/nonexistent/agentic.sock")
        assert len(guard.refused) == 2
        with pytest.raises(TimeoutError):
            receiver.recv(10)
        sender.sendto(b"ok", receiver.getsockname())  # no guard: allowed
        assert receiver.recv(10) == b"ok"
    finally:
        sender.close()
        receiver.close()


def _fake_dns(monkeypatch, name: str, *, checked_answer: str) -> None:
    """Resolve ``name``: ``checked_answer`` when the outbound check asks, 127.0.0.1 when
    anyone else does (the connection). Other names resolve as usual."""
    real = socket.getaddrinfo
    check_code = outbound.resolve.__code__

    def fake(host, port, *args, **kwargs):
        if host != name:
            return real(host, port, *args, **kwargs)
        import sys

        asked_by_check = sys._getframe(1).f_code is check_code
        address = checked_answer if asked_by_check else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "",
                 (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_dns_name_resolving_to_loopback_is_refused(listener: Listener, monkeypatch):
    """A public-looking name whose DNS answer is 127.0.0.1 is refused before sending."""
    _fake_dns(monkeypatch, "alerts.example.net", checked_answer="127.0.0.1")
    result = deliver(f"json://alerts.example.net:{listener.port}/", "t", "b", POLICY)
    assert result["error"] == TARGET_REFUSED
    assert listener.received_nothing


def test_dns_rebinding_is_caught_at_connect(listener: Listener, monkeypatch):
    """The check sees a public address, the connection then resolves to 127.0.0.1 (DNS
    rebinding): the connection guard refuses it and nothing arrives."""
    _fake_dns(monkeypatch, "rebind.example.net", checked_answer="93.184.216.34")
    result = deliver(f"json://rebind.example.net:{listener.port}/", "t", "b", POLICY)
    assert result["error"] == TARGET_REFUSED
    assert listener.received_nothing
