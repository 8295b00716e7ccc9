"""The pure outbound rules: every spelling of a non-public address is refused, public
targets and admin-listed private hosts pass, and only allowlisted schemes are accepted."""

from __future__ import annotations

import pytest

from agentic_app.domain.outbound import (
    TARGET_REFUSED,
    OutboundPolicy,
    TargetRefusedError,
    check_url,
    parse_ip,
)
from agentic_app.settings import DEFAULT_NOTIFY_SCHEMES, SettingsError, load_settings

POLICY = OutboundPolicy.build(DEFAULT_NOTIFY_SCHEMES)

REFUSED_HOSTS = [
    "127.0.0.1", "127.0.0.1.", "127.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1",
    "%31%32%37.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:0:0:1]",
    "0.0.0.0", "0", "[::]", "10.0.0.1", "172.16.5.4", "192.168.1.1", "100.64.0.1",
    "169.254.169.254", "[fe80::1%25eth0]", "[fd00:ec2::254]", "[fc00::1]", "224.0.0.1",
    "[ff02::1]", "239.255.255.250", "240.0.0.1", "255.255.255.255", "198.18.0.1",
    "168.63.129.16", "100.100.100.200", "192.0.0.192", "[2002:7f00:1::]", "[64:ff9b::a00:1]",
    "[2001:db8::1]", "localhost", "LOCALHOST.", "api.localhost", "metadata.google.internal",
    "printer.local", "router.home.arpa",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
@pytest.mark.parametrize("scheme", ["json", "xml", "form"])
def test_non_public_hosts_refused_in_every_spelling(scheme, host):
    """json/xml/form to a loopback, private, link-local, shared, multicast, reserved,
    unspecified or metadata address (numeric tricks included) or a local name: refused."""
    with pytest.raises(TargetRefusedError) as err:
        check_url(f"{scheme}://{host}:8080/hook", POLICY)
    assert str(err.value).startswith(TARGET_REFUSED)


@pytest.mark.parametrize("url", [
    "mailto://user:pw@example.com?smtp=127.0.0.1&port=2525",
    "mailto://user:pw@example.com?smtp=0x7f.1",
    "mailtos://user:pw@example.com?smtp=%5B::1%5D:465",
    "json://user@example.com@127.0.0.1/",
    "ntfy://user:pw@10.1.2.3/topic",
    "json://[::1",
])
def test_smtp_parameter_userinfo_and_malformed_urls_refused(url):
    """The ``smtp=`` server counts as a target, userinfo cannot hide the host, and a URL that
    cannot be parsed is refused."""
    with pytest.raises(TargetRefusedError):
        check_url(url, POLICY)


@pytest.mark.parametrize("url", [
    "json://hooks.example.com/x", "jsons://8.8.8.8:8443/a", "json://[2606:4700::1111]/",
    "json://[::ffff:8.8.8.8]/", "mailto://user:pw@example.com?smtp=smtp.example.com",
    "tgram://123456:ABCDEF/987", "discord://1234567890123/token", "ntfy://mytopic",
])
def test_public_targets_and_service_schemes_pass(url):
    """Public hosts and fixed-host service schemes pass the pure rules."""
    assert check_url(url, POLICY) == url


@pytest.mark.parametrize("url", ["syslog://127.0.0.1", "rsyslog://10.0.0.1", "windows://",
                                 "file:///etc/passwd", "https://example.com/", "nohost"])
def test_schemes_outside_the_allowlist_refused(url):
    """syslog, desktop, file, bare https and scheme-less targets are not in the default
    allowlist."""
    with pytest.raises(TargetRefusedError):
        check_url(url, POLICY)


def test_listed_private_host_allowed_only_on_its_port():
    """An admin-listed ``host:port`` is allowed on that port only; a listed bare host on any
    port; the listing also matches numeric spellings of the same address."""
    policy = OutboundPolicy.build(["json"], ["127.0.0.1:8025", "10.0.0.7"])
    check_url("json://127.0.0.1:8025/", policy)
    check_url("json://2130706433:8025/", policy)
    check_url("json://10.0.0.7:1/", policy)
    with pytest.raises(TargetRefusedError):
        check_url("json://127.0.0.1:8026/", policy)


def test_parse_ip_reads_resolver_spellings():
    """inet_aton spellings parse as the address a resolver would connect to."""
    assert str(parse_ip("2130706433")) == "127.0.0.1"
    assert str(parse_ip("0x7f.0.0.1")) == "127.0.0.1"
    assert str(parse_ip("10.1")) == "10.0.0.1"
    assert parse_ip("example.com") is None and parse_ip("1.2.3.4.5") is None
    assert parse_ip("256.1.1.1") is None


def test_settings_validate_outbound_entries(monkeypatch, tmp_path):
    """OUTBOUND settings come from the environment; a bad host entry or scheme names it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OUTBOUND__ALLOWED_SCHEMES", '["json", "MAILTO"]')
    monkeypatch.setenv("OUTBOUND__ALLOWED_PRIVATE_HOSTS", '["127.0.0.1:9000"]')
    policy = load_settings(data_dir=tmp_path).outbound.policy()
    assert policy.allowed_schemes == {"json", "mailto"}
    assert policy.allows_private("127.0.0.1", 9000)
    monkeypatch.setenv("OUTBOUND__ALLOWED_PRIVATE_HOSTS", '["http://x/y"]')
    with pytest.raises(SettingsError, match="OUTBOUND"):
        load_settings(data_dir=tmp_path)
    monkeypatch.setenv("OUTBOUND__ALLOWED_PRIVATE_HOSTS", "[]")
    monkeypatch.setenv("OUTBOUND__ALLOWED_SCHEMES", '["js on"]')
    with pytest.raises(SettingsError, match="OUTBOUND"):
        load_settings(data_dir=tmp_path)
