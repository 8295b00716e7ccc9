"""Where outbound notification requests may go: the pure rules (no DNS, no sockets).

A notification target is an apprise URL. It is allowed when its scheme is in the
configured allowlist and, for schemes that connect to a host the user names
(``json://``, ``mailto://…?smtp=`` …), when that host is public: loopback, private,
link-local, shared, multicast, reserved, unspecified and cloud-metadata addresses are
refused in every spelling (IPv4, IPv6, IPv4-mapped / 6to4 / NAT64 IPv6, ``2130706433``,
``0x7f.1``, ``127.1``, ``0177.0.0.1``) and so are names that are local by definition
(``localhost``, ``*.internal`` …), unless the admin lists the host as an allowed private
host. DNS names are resolved and every connected address checked at send time by
:mod:`agentic_app.engine.executor.outbound`, which uses :func:`address_refusal` from here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

TARGET_REFUSED = "refused: target not allowed"
"""The one message every refusal starts with; it never carries what a remote host said."""

HOST_SCHEMES = frozenset({
    "json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "ntfy", "ntfys",
    "gotify", "gotifys", "mmost", "mmosts", "rocket", "rockets", "matrix", "matrixs",
    "apprise", "apprises", "nctalk", "nctalks", "ncloud", "nclouds", "syslog", "rsyslog",
    "mqtt", "mqtts", "signal", "signals", "kodi", "kodis", "xbmc", "xbmcs", "emby", "embys",
    "jellyfin", "jellyfins", "hassio", "hassios", "smpp", "smpps", "xmpp", "xmpps", "irc",
    "ircs",
})
"""Apprise schemes whose URL host (or ``smtp=``/``host=`` parameter) is a server the user
picks; other schemes talk to their service's fixed hosts (the connection is still checked
at send time)."""
HOST_PARAMS = ("smtp", "host")
"""Query parameters that name a server to connect to (``mailto://…?smtp=10.0.0.1``)."""

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                         "ip6-loopback", "metadata", "instance-data", "wpad"})
"""Host names that are local by definition (refused without asking DNS)."""
LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".home.arpa", ".lan",
                  ".intranet", ".corp", ".private")
"""Name suffixes reserved for or customary on private networks (``metadata.google.internal``)."""

METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "168.63.129.16", "100.100.100.200", "192.0.0.192",
    "fd00:ec2::254"))
"""Cloud metadata / wire-server endpoints (some of them look public, e.g. Azure's)."""
EXTRA_FORBIDDEN_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
    "64:ff9b:1::/48", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10"))
"""Non-public ranges refused even where a Python version's ``is_global`` disagrees."""
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")
"""Well-known NAT64 prefix: its last 32 bits are an IPv4 address (checked as such)."""

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefusedError(ValueError):
    """A notification target the policy refuses; the message starts with TARGET_REFUSED."""

    def __init__(self, reason: str = ""):
        super().__init__(f"{TARGET_REFUSED} ({reason})" if reason else TARGET_REFUSED)
        self.reason = reason


@dataclass(frozen=True)
class AllowedHost:
    """A private host the admin allows: a name or address, and optionally one port."""

    host: str
    port: int | None = None

    def matches(self, host: str, port: int | None) -> bool:
        """True when ``host`` (normalised) and ``port`` are this entry's."""
        return normalise_host(host) == self.host and self.port in (None, port)


@dataclass(frozen=True)
class OutboundPolicy:
    """Allowed apprise schemes and admin-listed private hosts (from settings ``OUTBOUND``)."""

    allowed_schemes: frozenset[str]
    allowed_private_hosts: tuple[AllowedHost, ...] = ()

    @classmethod
    def build(cls, schemes: Iterable[str], private_hosts: Iterable[str] = ()) -> OutboundPolicy:
        """A policy from the settings' lists (``"host"`` or ``"host:port"`` entries)."""
        return cls(frozenset(s.strip().lower() for s in schemes),
                   tuple(parse_host_entry(h) for h in private_hosts))

    def allows_private(self, host: str, port: int | None) -> bool:
        """True when the admin listed ``host`` (and this port) as an allowed private host."""
        return any(entry.matches(host, port) for entry in self.allowed_private_hosts)

    def allows_address(self, ip: IP, port: int | None) -> bool:
        """True when connecting to ``ip:port`` is allowed: public, or an address the admin
        listed literally (listed names are resolved by the engine and passed as literals)."""
        return address_refusal(ip) is None or self.allows_private(str(ip), port)


def parse_host_entry(entry: str) -> AllowedHost:
    """``"10.0.0.5"``, ``"mail.lan:25"``, ``"[::1]:8080"`` -> AllowedHost; ValueError if bad."""
    text = entry.strip()
    if not text:
        raise ValueError("empty host entry")
    try:
        parts = urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"bad host entry {entry!r}: {exc}") from None
    if not host or parts.path or parts.query or parts.username:
        raise ValueError(f"bad host entry {entry!r}: expected host or host:port")
    return AllowedHost(normalise_host(host), port)


def normalise_host(host: str) -> str:
    """Lower case, no brackets, no trailing dot; a numeric IPv4 spelling becomes dotted."""
    text = unquote(host).strip().strip("[]").rstrip(".").lower()
    ip = parse_ip(text)
    return str(ip) if ip is not None else text


def parse_ip(text: str) -> IP | None:
    """The address ``text`` denotes, in any spelling a resolver would accept, else None.

    Beyond the canonical forms this accepts what ``inet_aton`` accepts (``2130706433``,
    ``0x7f.1``, ``127.1``, ``0177.0.0.1``) and IPv6 with a zone (``fe80::1%eth0``).
    """
    text = unquote(text).strip().strip("[]").rstrip(".")
    if not text:
        return None
    try:
        return ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        pass
    return _inet_aton(text)


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """IPv4 in the classic BSD forms: 1-4 parts, each decimal, 0x hex or 0 octal."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part.lower().startswith("0x"):
                values.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                values.append(int(part[1:], 8))
            else:
                if not part.isdigit():
                    return None
                values.append(int(part))
        except ValueError:
            return None
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(number)


def embedded_ipv4(ip: IP) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64), else None."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IP) -> str | None:
    """Why connecting to ``ip`` is refused (not a public unicast address), or None."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        reason = address_refusal(inner)
        if reason is not None:
            return reason
        if ip.ipv4_mapped is not None:  # ::ffff:8.8.8.8 is 8.8.8.8
            return None
    if ip in METADATA_ADDRESSES:
        return "metadata address"
    for name in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{name}"):
            return f"{name.replace('_', '-')} address"
    if any(ip in net for net in EXTRA_FORBIDDEN_NETWORKS if net.version == ip.version):
        return "non-public address"
    if not ip.is_global:
        return "non-public address"
    return None


def host_refusal(host: str, port: int | None, policy: OutboundPolicy) -> str | None:
    """Why ``host`` is refused without resolving it (a literal non-public address, or a
    local name), or None; hosts the admin listed are allowed."""
    name = normalise_host(host)
    if not name:
        return "no host"
    if policy.allows_private(name, port):
        return None
    ip = parse_ip(name)
    if ip is not None:
        return address_refusal(ip)
    if name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES):
        return "local host name"
    return None


def url_scheme(url: str) -> str:
    """The lower-case scheme of an apprise URL ('' when it has none)."""
    head, sep, _rest = url.partition("://")
    return head.strip().lower() if sep else ""


def url_hosts(url: str) -> list[tuple[str, int | None]]:
    """(host, port) of the servers a host-taking apprise URL connects to: the URL's host
    and any ``smtp=``/``host=`` parameter (a ``port=`` parameter applies to those)."""
    parts = urlsplit(url.strip())
    query = parse_qs(parts.query, keep_blank_values=True)
    param_port = _port(query.get("port", [""])[0])
    try:
        port = parts.port
    except ValueError:
        port = None
    hosts: list[tuple[str, int | None]] = []
    if parts.hostname:
        hosts.append((parts.hostname, port))
    for key in HOST_PARAMS:
        for value in query.get(key, []):
            sub = urlsplit(f"//{unquote(value).strip()}")
            try:
                sub_port = sub.port
            except ValueError:
                sub_port = None
            if sub.hostname:
                hosts.append((sub.hostname, sub_port or param_port))
    return hosts


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def check_url(url: str, policy: OutboundPolicy) -> str:
    """The URL itself when the pure rules allow it; TargetRefusedError (saying why in our
    own words: scheme or host, never a secret of the URL) otherwise."""
    scheme = url_scheme(url)
    if not scheme:
        raise TargetRefusedError("not an apprise URL (scheme://...)")
    if scheme not in policy.allowed_schemes:
        raise TargetRefusedError(f"scheme {scheme!r} is not allowed (OUTBOUND__ALLOWED_SCHEMES)")
    if scheme in HOST_SCHEMES:
        try:
            hosts = url_hosts(url)
        except ValueError:
            raise TargetRefusedError("malformed URL") from None
        for host, port in hosts:
            reason = host_refusal(host, port, policy)
            if reason is not None:
                raise TargetRefusedError(f"{reason} {normalise_host(host)!r}")
    return url
