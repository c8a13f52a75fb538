"""The SSRF guard: configuration-time check_url and the connection-time check in session.py."""

from __future__ import annotations

import socket

import pytest

from fixops.platform.http import ssrf
from fixops.platform.http.errors import PermanentError, TransientError
from fixops.platform.http.session import build_session
from fixops.platform.http.ssrf import UnsafeURL, check_address, check_url
from tests.fakes.base import FakeServer, json_response


@pytest.fixture
def no_allowlist(settings):
    settings.FIXOPS_OUTBOUND_ALLOWLIST = []
    return settings


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8000/", "loopback"),
        ("http://localhost/", "loopback"),  # a DNS name resolving to 127.0.0.1
        ("http://LOCALHOST/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped IPv6
        ("http://[::ffff:7f00:1]/", "loopback"),
        ("http://2130706433/", "loopback"),  # decimal
        ("http://0x7f000001/", "loopback"),  # hexadecimal
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://127.1/", "loopback"),  # short form
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[::ffff:169.254.169.254]/", "cloud metadata"),
        ("http://169.254.1.1/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://10.1.2.3/", "private"),
        ("http://172.16.0.1/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://[fd12:3456::1]/", "private"),
        ("http://100.64.0.1/", "non-public"),  # carrier-grade NAT
        ("http://224.0.0.1/", "multicast"),
        ("http://[ff02::1]/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 around 127.0.0.1
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 around 10.0.0.1
    ],
)
def test_private_addresses_are_refused(no_allowlist, url, reason):
    with pytest.raises(UnsafeURL, match=reason):
        check_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/", "scheme 'ftp'"),
        ("file:///etc/passwd", "scheme 'file'"),
        ("gopher://127.0.0.1:25/", "scheme 'gopher'"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("example.com/path", "scheme '\\(none\\)'"),
        ("https://user:pass@example.com/", "credentials in the URL"),
        ("https://token@example.com/", "credentials in the URL"),
        ("https:///path", "no host"),
        ("http://[::1/", "malformed"),
        ("http://example.com:99999/", "malformed"),
        (" https://example.com/", "whitespace"),
        ("https://example.com/\r\nHost: x", "whitespace"),
        ("", "required"),
        ("https://nonexistent.invalid/", "does not resolve"),
    ],
)
def test_bad_urls_are_refused(no_allowlist, url, message):
    with pytest.raises(UnsafeURL, match=message):
        check_url(url)


@pytest.mark.parametrize(
    "url",
    ["https://93.184.216.34/", "https://[2606:4700:4700::1111]/rest", "HTTP://8.8.8.8:8443/x"],
)
def test_public_addresses_pass(no_allowlist, url):
    check_url(url)


def test_allowlist_permits_cidrs(settings):
    settings.FIXOPS_OUTBOUND_ALLOWLIST = "10.0.0.0/8, fd00::/8"  # the env string form
    check_url("http://10.20.30.40/")
    check_address("fd00::5")
    check_address("::ffff:10.0.0.1")  # mapped form of an allowed address
    with pytest.raises(UnsafeURL, match="private"):
        check_url("http://192.168.1.1/")
    with pytest.raises(UnsafeURL, match="loopback"):
        check_url("http://127.0.0.1/")


def test_test_settings_allow_only_ipv4_loopback():
    check_url("http://127.0.0.1:9/")
    check_url("http://localhost:9/")
    with pytest.raises(UnsafeURL, match="::1 is a loopback"):
        check_url("http://[::1]:9/")
    with pytest.raises(UnsafeURL, match="metadata"):
        check_url("http://169.254.169.254/")


def test_every_resolved_address_must_pass(no_allowlist, monkeypatch):
    real = socket.getaddrinfo

    def fake_dns(host, *args, **kwargs):
        if host == "mixed.example":
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", 443)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake_dns)
    with pytest.raises(UnsafeURL, match="10.0.0.7 is a private address"):
        check_url("https://mixed.example/")


class _Hello(FakeServer):
    routes = (("GET", r"/hello", "hello"), ("GET", r"/redirect", "redirect"))

    def hello(self, req):
        return json_response(200, {"hello": "world"})

    def redirect(self, req):
        return json_response(302, {}, Location="http://169.254.169.254/latest/meta-data/")


def test_dns_rebinding_is_caught_at_connection_time(monkeypatch):
    """check_url saw a public address; at connection time the name points at loopback."""
    with _Hello() as fake:
        answers = iter(
            [[(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", fake.port))]]
        )
        real = socket.getaddrinfo

        def rebinding(host, port, *args, **kwargs):
            if host == "rebind.example":
                try:
                    return next(answers)
                except StopIteration:
                    return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(ssrf.socket, "getaddrinfo", rebinding)
        check_url(f"http://rebind.example:{fake.port}/")
        session = build_session(label="test", timeout=(1, 1))
        with pytest.raises(PermanentError, match="SSRF guard.*::1 is a loopback address"):
            session.get(f"http://rebind.example:{fake.port}/hello")
        assert fake.requests == []


def test_connection_goes_to_the_vetted_address():
    with _Hello() as fake:
        session = build_session(label="test", timeout=(1, 1))
        assert session.get(f"http://localhost:{fake.port}/hello").json() == {"hello": "world"}


def test_redirects_are_not_followed():
    with _Hello() as fake:
        session = build_session(label="test", timeout=(1, 1))
        with pytest.raises(
            PermanentError, match="unexpected redirect \\(HTTP 302\\).*169.254.169.254"
        ):
            session.get(f"{fake.url}/redirect")
        assert [r.path for r in fake.requests] == ["/redirect"]


def test_unresolvable_host_at_connection_time_is_transient():
    session = build_session(label="test", timeout=(1, 1))
    with pytest.raises(TransientError, match="does not resolve"):
        session.get("http://nonexistent.invalid/")
