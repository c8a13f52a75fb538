"""OSV package keys and version ranges: how an advisory's affected package and ranges are
compared with a component's purl and version (univers does every version comparison)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from univers.versions import Version

# Package keys and version ordering live with findings (connectors render upgrade advice too);
# re-exported here for the OSV matcher.
from apps.findings.versions import (  # noqa: F401
    component_key,
    normalise_package,
    parse_version,
    smallest_fix_above,
    version_class,
)

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
_EVENT_RANK = {"introduced": 0, "fixed": 1, "last_affected": 2}


# --- keys ---------------------------------------------------------------------------------------


def ecosystem_purl_type(ecosystem: str) -> str:
    """The purl type of an OSV ecosystem ("Debian:11" -> "deb"); unknown ones lower-cased."""
    base = ecosystem.split(":", 1)[0].strip().lower()
    return ECOSYSTEM_PURL_TYPES.get(base, base)


def affected_key(ecosystem: str, name: str) -> tuple[str, str]:
    """(purl type, normalised package) of an OSV affected package."""
    purl_type = ecosystem_purl_type(ecosystem)
    return purl_type, normalise_package(purl_type, name)


# --- versions -----------------------------------------------------------------------------------


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
