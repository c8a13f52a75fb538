"""Server-side request forgery guard for outbound URLs.

`check_url` runs when a tenant configures a URL; `check_address` runs again on every address a
connection is about to be made to (session.py), so a DNS answer that changes between the two
(DNS rebinding) is still refused.

Refused unless inside a CIDR of settings.FIXOPS_OUTBOUND_ALLOWLIST: every address that is not
globally routable — private, loopback, link-local (including the 169.254.169.254 cloud metadata
address), multicast, reserved, unspecified, shared/CGNAT — and IPv6 forms that embed such an
IPv4 address (IPv4-mapped, 6to4, NAT64 well-known prefix).
"""

from __future__ import annotations

import ipaddress
import socket
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOWED_SCHEMES = ("http", "https")
_METADATA = ipaddress.ip_address("169.254.169.254")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL (or the address it resolves to) may not be called."""


class Unresolvable(UnsafeURL):
    """The host name does not resolve (at connection time a DNS outage is transient)."""


@lru_cache(maxsize=16)
def _parse_allowlist(raw: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    networks = []
    for item in raw:
        cidr = item.strip()
        if cidr:
            networks.append(ipaddress.ip_network(cidr, strict=False))
    return tuple(networks)


def allowlist() -> tuple[IPNetwork, ...]:
    """The CIDRs of FIXOPS_OUTBOUND_ALLOWLIST (a list or a comma-separated string)."""
    raw = getattr(settings, "FIXOPS_OUTBOUND_ALLOWLIST", ()) or ()
    if isinstance(raw, str):
        raw = raw.split(",")
    return _parse_allowlist(tuple(str(x) for x in raw))


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _why_unsafe(ip: IPAddress) -> str | None:
    if ip == _METADATA:
        return "the cloud metadata address"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private address"),
    )
    for attr, label in checks:
        if getattr(ip, attr):
            return label
    if not ip.is_global:
        return "a non-public address"
    return None


def check_address(address: str | IPAddress) -> None:
    """Raise UnsafeURL unless the address is public or inside the outbound allowlist."""
    ip = ipaddress.ip_address(str(address).split("%", 1)[0])  # drop an IPv6 zone id
    allowed = allowlist()
    candidates = [ip]
    inner = _embedded_ipv4(ip)
    if inner is not None:
        candidates.append(inner)
    for candidate in candidates:
        if any(candidate.version == net.version and candidate in net for net in allowed):
            return
    # An address embedding an IPv4 one is judged by what it really reaches.
    reason = _why_unsafe(inner if inner is not None else ip)
    if reason:
        raise UnsafeURL(
            f"{ip} is {reason}; outbound calls there are refused "
            "(FIXOPS_OUTBOUND_ALLOWLIST can permit a CIDR)"
        )


def resolve(host: str, port: int | None) -> list[str]:
    """Every address (A and AAAA) the host resolves to."""
    try:
        infos = socket.getaddrinfo(host, port or 0, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unresolvable(f"host {host!r} does not resolve: {exc}") from exc
    addresses = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in addresses:
            addresses.append(addr)
    if not addresses:
        raise Unresolvable(f"host {host!r} does not resolve")
    return addresses


def check_host(host: str, port: int | None = None) -> list[str]:
    """Resolve `host` and check every address; the vetted addresses, in resolver order."""
    addresses = resolve(host, port)
    for addr in addresses:
        check_address(addr)
    return addresses


def check_url(url: str) -> None:
    """Refuse URLs FixOps must not call: non-http(s) schemes, credentials in the URL, and hosts
    resolving to any non-public address outside FIXOPS_OUTBOUND_ALLOWLIST."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeURL("a URL is required")
    if any(ch in url for ch in "\r\n\t\x00") or url != url.strip():
        raise UnsafeURL("the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"malformed URL: {exc}") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UnsafeURL(f"scheme {parts.scheme or '(none)'!r} is not allowed; use http or https")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL("credentials in the URL are not allowed; use the credentials field")
    host = parts.hostname
    if not host:
        raise UnsafeURL("the URL has no host")
    check_host(host, port)
