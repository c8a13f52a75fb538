"""Package keys and version ordering: a purl's (type, normalised name, version), the univers
class that orders a registry's versions, and upgrade advice (the smallest fixed version above
the installed one). Used by intel's OSV matcher, the finding page and ticket bodies."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from packageurl import PackageURL
from univers.version_range import RANGE_CLASS_BY_SCHEMES
from univers.versions import SemverVersion, Version

_GENERIC_VERSION = RANGE_CLASS_BY_SCHEMES["generic"].version_class
_PEP503_SEPARATORS = re.compile(r"[-_.]+")
# purl types whose OSV package name includes the purl namespace, and the joining separator.
_NAMESPACE_IN_NAME = {"npm": "/", "golang": "/", "composer": "/", "github": "/", "swift": "/"}
_NAMESPACE_IN_NAME["maven"] = ":"
# Registries that compare names case-insensitively.
_CASELESS = frozenset({"pypi", "npm", "composer", "github", "nuget", "cargo", "deb", "apk", "hex"})


def normalise_package(purl_type: str, name: str) -> str:
    """A package name as its registry compares names (PEP 503 for PyPI)."""
    name = name.strip()
    if purl_type == "pypi":
        return _PEP503_SEPARATORS.sub("-", name.lower())
    return name.lower() if purl_type in _CASELESS else name


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
