"""Outbound requests at send time: resolve targets and check every address connected to.

Two layers, both applying :class:`~agentic_app.domain.outbound.OutboundPolicy`:

* :func:`check_target` - the pure URL rules, then each user-given host resolved: any
  address that is not public (and not an admin-listed private host) refuses the target.
* :func:`guarded` - while a delivery runs, an audit hook checks the address of every
  ``socket.connect`` / ``sendto`` / ``sendmsg`` made in this context (apprise copies the
  context into its worker threads). This catches what URL parsing cannot see: redirects,
  DNS rebinding between the check and the connection, a plugin that parses the URL
  differently, numeric host spellings. A refused connection raises
  :class:`OutboundRefusedError` (a PermissionError, so libraries treat it as a failed
  connection) and is recorded on the guard.
"""

from __future__ import annotations

import contextvars
import ipaddress
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from agentic_app.domain.outbound import (
    HOST_SCHEMES,
    IP,
    AllowedHost,
    OutboundPolicy,
    TargetRefusedError,
    check_url,
    host_refusal,
    normalise_host,
    parse_ip,
    url_hosts,
    url_scheme,
)

WATCHED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
"""Audit events whose address argument is checked while a guard is active."""

_active: contextvars.ContextVar[OutboundGuard | None] = contextvars.ContextVar(
    "agentic_outbound_guard", default=None)
_hook_lock = threading.Lock()
_hook_installed = False


class OutboundRefusedError(PermissionError):
    """A connection the outbound policy refused (raised inside the library that tried)."""


def resolve(host: str, port: int | None) -> list[IP]:
    """Every address ``host`` resolves to (a literal address in any spelling is itself)."""
    literal = parse_ip(host)
    if literal is not None:
        return [literal]
    infos = socket.getaddrinfo(normalise_host(host), port or 0, proto=socket.IPPROTO_TCP)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _listed_addresses(policy: OutboundPolicy) -> OutboundPolicy:
    """The policy with each listed private host name also listed as its addresses."""
    extra = []
    for entry in policy.allowed_private_hosts:
        if parse_ip(entry.host) is None:
            try:
                extra += [AllowedHost(str(ip), entry.port) for ip in resolve(entry.host, None)]
            except OSError:
                continue
    if not extra:
        return policy
    return OutboundPolicy(policy.allowed_schemes, policy.allowed_private_hosts + tuple(extra))


def check_target(url: str, policy: OutboundPolicy) -> None:
    """TargetRefusedError unless ``url`` passes the pure rules and every address its
    user-given hosts resolve to is allowed. A name that does not resolve is left to the
    connection guard (apprise reads some URL hosts as topics, e.g. ``ntfy://topic``)."""
    check_url(url, policy)
    if url_scheme(url) not in HOST_SCHEMES:
        return
    listed = _listed_addresses(policy)
    for host, port in url_hosts(url):
        if policy.allows_private(host, port):
            continue
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            continue
        for ip in addresses:
            if not listed.allows_address(ip, port):
                raise TargetRefusedError(f"{normalise_host(host)!r} resolves to a non-public "
                                         f"address")


@dataclass
class OutboundGuard:
    """The policy applied to connections made while it is active, and what it refused."""

    policy: OutboundPolicy
    refused: list[str] = field(default_factory=list)

    def check(self, address: object) -> None:
        """OutboundRefusedError unless ``address`` (a socket address) is allowed."""
        reason = self._refusal(address)
        if reason is not None:
            self.refused.append(reason)
            raise OutboundRefusedError(f"refused: target not allowed ({reason})")

    def _refusal(self, address: object) -> str | None:
        if address is None:  # sendmsg on a connected socket: checked at connect
            return None
        if not isinstance(address, tuple) or len(address) < 2:
            return "not an internet address"
        host, port = str(address[0]), address[1] if isinstance(address[1], int) else None
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError):
            return "unresolvable host"
        for ip in addresses:
            if not self.policy.allows_address(ip, port):
                return host_refusal(str(ip), port, self.policy) or "not allowed"
        return None


def _audit(event: str, args: tuple) -> None:
    if event not in WATCHED_EVENTS:
        return
    guard = _active.get()
    if guard is not None:
        guard.check(args[1] if len(args) > 1 else None)


def _install_hook() -> None:
    global _hook_installed
    with _hook_lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True


@contextmanager
def guarded(policy: OutboundPolicy) -> Iterator[OutboundGuard]:
    """Check every connection made in this context (and contexts copied from it)."""
    _install_hook()
    guard = OutboundGuard(_listed_addresses(policy))
    token = _active.set(guard)
    try:
        yield guard
    finally:
        _active.reset(token)
