"""OSV package keys and version ranges: how an advisory's affected package and ranges are
compared with a component's purl and version (univers does every version comparison)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from packageurl import PackageURL
from univers.version_range import RANGE_CLASS_BY_SCHEMES
from univers.versions import SemverVersion, Version

# OSV ecosystem (before any ":<release>" suffix, lower-cased) -> purl type.
ECOSYSTEM_PURL_TYPES = {
    "pypi": "pypi",
    "npm": "npm",
    "crates.io": "cargo",
    "go": "golang",
    "maven": "maven",
    "nuget": "nuget",
    "rubygems": "gem",
    "packagist": "composer",
    "hex": "hex",
    "pub": "pub",
    "conancenter": "conan",
    "hackage": "hackage",
    "cran": "cran",
    "swifturl": "swift",
    "github actions": "github",
    "debian": "deb",
    "ubuntu": "deb",
    "alpine": "apk",
    "wolfi": "apk",
    "chainguard": "apk",
    "almalinux": "rpm",
    "rocky linux": "rpm",
    "red hat": "rpm",
    "suse": "rpm",
    "opensuse": "rpm",
    "mageia": "rpm",
}
# purl types whose OSV package name includes the purl namespace, and the joining separator.
_NAMESPACE_IN_NAME = {"npm": "/", "golang": "/", "composer": "/", "github": "/", "swift": "/"}
_NAMESPACE_IN_NAME["maven"] = ":"
# Registries that compare names case-insensitively.
_CASELESS = frozenset({"pypi", "npm", "composer", "github", "nuget", "cargo", "deb", "apk", "hex"})
_GENERIC_VERSION = RANGE_CLASS_BY_SCHEMES["generic"].version_class
_PEP503_SEPARATORS = re.compile(r"[-_.]+")
_EVENT_RANK = {"introduced": 0, "fixed": 1, "last_affected": 2}


# --- keys ---------------------------------------------------------------------------------------


def ecosystem_purl_type(ecosystem: str) -> str:
    """The purl type of an OSV ecosystem ("Debian:11" -> "deb"); unknown ones lower-cased."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    return ECOSYSTEM_PURL_TYPES.get(base, base)


def normalise_package(purl_type: str, name: str) -> str:
    """A package name as its registry compares names (PEP 503 for PyPI)."""
    name = name.strip()
    if purl_type == "pypi":
        return _PEP503_SEPARATORS.sub("-", name.lower())
    return name.lower() if purl_type in _CASELESS else name


def affected_key(ecosystem: str, name: str) -> tuple[str, str]:
    """(purl type, normalised package) of an OSV affected package."""
    purl_type = ecosystem_purl_type(ecosystem)
    return purl_type, normalise_package(purl_type, name)


@lru_cache(maxsize=65536)
def component_key(purl: str) -> tuple[str, str, str] | None:
    """(purl type, normalised package, version) of a purl string; None if it does not parse."""
    try:
        parsed = PackageURL.from_string(purl)
    except ValueError:
        return None
    name = parsed.name
    separator = _NAMESPACE_IN_NAME.get(parsed.type)
    if separator and parsed.namespace:
        name = f"{parsed.namespace}{separator}{name}"
    return parsed.type, normalise_package(parsed.type, name), parsed.version or ""


# --- versions -----------------------------------------------------------------------------------


def version_class(purl_type: str, range_type: str) -> type[Version]:
    """The univers class that orders versions of this range."""
    if range_type == "SEMVER":
        return SemverVersion
    scheme = RANGE_CLASS_BY_SCHEMES.get(purl_type)
    return scheme.version_class if scheme else _GENERIC_VERSION


@lru_cache(maxsize=262144)
def parse_version(cls: type[Version], text: str) -> Version | None:
    """`cls(text)`, or None when the class cannot parse it (cached: SBOMs repeat versions)."""
    if not text:
        return None
    try:
        return cls(text)
    except (ValueError, TypeError, AttributeError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class CompiledRange:
    cls: type[Version]
    events: tuple[tuple[str, Version | None], ...]  # sorted; None is introduced "0"
    limits: tuple[Version, ...]

    def contains(self, version: Version) -> bool:
        """The OSV specification's evaluation of one range."""
        if self.limits and all(version >= limit for limit in self.limits):
            return False
        affected = False
        for kind, at in self.events:
            if kind == "introduced":
                if at is None or version >= at:
                    affected = True
            elif kind == "fixed":
                if at is not None and version >= at:
                    affected = False
            elif at is not None and version > at:  # last_affected
                affected = False
        return affected


def compile_ranges(purl_type: str, ranges: Iterable[Any], stats: Counter) -> list[CompiledRange]:
    """Parse a row's SEMVER/ECOSYSTEM ranges once; GIT and unparsable ranges are counted."""
    out: list[CompiledRange] = []
    for entry in ranges:
        if not isinstance(entry, dict):
            continue
        range_type = entry.get("type")
        if range_type == "GIT":
            stats["git_ranges_ignored"] += 1
            continue
        compiled = _compile(version_class(purl_type, str(range_type)), entry.get("events") or [])
        if compiled is None:
            stats["unparsable_ranges"] += 1
        else:
            out.append(compiled)
    return out


def _compile(cls: type[Version], events: Iterable[Any]) -> CompiledRange | None:
    points: list[tuple[str, Version | None]] = []
    limits: list[Version] = []
    for event in events:
        for kind, raw in event.items():
            text = str(raw)
            if kind == "introduced" and text == "0":
                points.append((kind, None))
            elif kind == "limit":
                if text != "*":
                    parsed = parse_version(cls, text)
                    if parsed is None:
                        return None
                    limits.append(parsed)
            elif kind in _EVENT_RANK:
                parsed = parse_version(cls, text)
                if parsed is None:
                    return None
                points.append((kind, parsed))
    try:
        points.sort(key=_event_order)
    except TypeError:
        return None
    return CompiledRange(cls, tuple(points), tuple(limits))


def _event_order(point: tuple[str, Version | None]) -> tuple:
    """Introduced "0" first, then by version; at one version, introduced before closings."""
    kind, at = point
    return (0, 0, 0) if at is None else (1, at, _EVENT_RANK[kind])


# --- matching -----------------------------------------------------------------------------------


# --- upgrade advice -----------------------------------------------------------------------------


def smallest_fix_above(purl: str, installed: str, fixed: Iterable[str]) -> str | None:
    """The smallest of the `fixed` versions above `installed`, compared as the purl's
    registry orders versions (generic ordering when the purl says nothing); None when none
    is above it or the versions do not parse. With no installed version: the smallest fix."""
    key = component_key(purl) if purl else None
    cls = version_class(key[0] if key else "", "ECOSYSTEM")
    current = parse_version(cls, installed) if installed else None
    candidates = []
    for text in fixed:
        parsed = parse_version(cls, str(text).strip())
        if parsed is not None and (current is None or parsed > current):
            candidates.append((parsed, str(text).strip()))
    if installed and current is None:
        return None
    try:
        return min(candidates)[1] if candidates else None
    except TypeError:  # versions of mixed schemes do not order
        return None
