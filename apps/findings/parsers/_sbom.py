"""Normalisation shared by the SBOM and SCA parsers: purls, severities, CVSS, small coercions.

Severity mapping (every parser, to base.SEVERITIES):
- critical -> critical; high, important -> high; medium, moderate -> medium; low -> low;
- info, informational, none, negligible -> info (grype/Debian "Negligible" means "no real
  security impact", so it ranks below low);
- unknown, unspecified, empty -> no severity of its own: the best CVSS base score decides by
  the CVSS bands (9.0 critical, 7.0 high, 4.0 medium, 0.1 low, 0.0 info), and with no score
  either the finding is "info". The tool's own word is kept in properties["tool_severity"].

CVSS: a vector is parsed and re-scored with the `cvss` library; the recomputed base score is
stored, never the producer's. CVSS v3 vectors without their "CVSS:3.x/" prefix (some producers
strip it) get the prefix the rating's method implies. A vector the library rejects raises
InvalidVector; callers keep the producer's score alone and record a ParseIssue.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4, CVSSError
from packageurl import PackageURL

from apps.findings.vocabulary import severity_from_score

from .base import SEVERITIES, Cvss, ParseIssue

_SEVERITY_WORDS = {
    "critical": "critical",
    "high": "high",
    "important": "high",
    "medium": "medium",
    "moderate": "medium",
    "low": "low",
    "info": "info",
    "informational": "info",
    "none": "info",
    "negligible": "info",
    "off": "info",
}
_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}  # info 0 .. critical 4
_PREFIXES = {"3.0": "CVSS:3.0/", "3.1": "CVSS:3.1/", "4.0": "CVSS:4.0/"}
_VERSIONED_TOOL = re.compile(r"^(?P<name>.+?)-(?P<version>v?\d[\w.+~-]*)$")


class InvalidVector(ValueError):
    """A CVSS vector the `cvss` library rejects."""


# --- purls -----------------------------------------------------------------------------------


def canonical_purl(raw: str) -> str:
    """Canonical purl string (lower-cased type, PyPI name normalisation...); ValueError if bad."""
    return PackageURL.from_string(raw.strip()).to_string()


def purl_or_issue(raw: str, where: str, issues: list[ParseIssue], consequence: str) -> str:
    """The canonical purl, or "" plus a ParseIssue at `where` when `raw` is not a valid purl."""
    if not raw:
        return ""
    try:
        return canonical_purl(raw)
    except ValueError as exc:
        message = f"invalid purl {quoted(raw)} ({clip(str(exc))}); {consequence}"
        issues.append(ParseIssue(where, message, lost_finding=False))
        return ""


# --- severities ------------------------------------------------------------------------------


def severity_word(raw: object) -> str | None:
    """A tool's severity word mapped to base.SEVERITIES, None for unknown/unspecified."""
    if not isinstance(raw, str):
        return None
    return _SEVERITY_WORDS.get(raw.strip().lower())


def highest(severities: Iterable[str]) -> str | None:
    """The most severe of some base.SEVERITIES values, None when there are none."""
    ranked = [s for s in severities if s in _RANK]
    return max(ranked, key=_RANK.__getitem__) if ranked else None


def resolve_severity(stated: Iterable[str | None], scores: Sequence[Cvss]) -> str:
    """Highest stated severity; else the bands of the best CVSS score; else "info"."""
    best = highest(s for s in stated if s)
    if best:
        return best
    numbers = [c.score for c in scores if c.score is not None]
    return severity_from_score(max(numbers)) if numbers else "info"


# --- CVSS ------------------------------------------------------------------------------------


def cvss_version_of(vector: str, hint: str = "") -> str:
    """ "2.0", "3.0", "3.1" or "4.0" from a vector's prefix, else the caller's hint."""
    for version, prefix in _PREFIXES.items():
        if vector.startswith(prefix):
            return version
    if vector.startswith("CVSS:2.0/") or "Au:" in vector:
        return "2.0"
    return hint


@lru_cache(maxsize=4096)
def parse_cvss(vector: str, *, hint: str = "", source: str = "") -> Cvss:
    """Validate and score a vector; the base score is recomputed. Raises InvalidVector.

    Cached: real reports repeat a few hundred distinct vectors across thousands of findings.
    """
    text = vector.strip().strip("()")
    version = cvss_version_of(text, hint)
    if version in _PREFIXES and not text.startswith("CVSS:"):
        text = _PREFIXES[version] + text
    try:
        if version == "2.0":
            parsed: Any = CVSS2(text.removeprefix("CVSS:2.0/"))
        elif version in ("3.0", "3.1"):
            parsed = CVSS3(text)
        elif version == "4.0":
            parsed = CVSS4(text)
        else:
            raise InvalidVector(f"unrecognised CVSS vector {quoted(vector)}")
    except CVSSError as exc:
        reason = clip(str(exc))
        raise InvalidVector(f"invalid CVSS {version} vector {quoted(vector)}: {reason}") from None
    return Cvss(version, parsed.clean_vector(), float(parsed.base_score), source)


def as_score(raw: object) -> float | None:
    """A CVSS score from a number or numeric string; None when absent or out of 0..10."""
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        score = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return score if 0.0 <= score <= 10.0 else None


# --- small coercions ------------------------------------------------------------------------


def text(raw: object) -> str:
    """A string field, "" for anything that is not a string or number."""
    if type(raw) is str:
        return raw.strip()
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw)
    return ""


def as_list(raw: object) -> list[Any]:
    """A list field; null or a wrong type reads as empty."""
    return raw if isinstance(raw, list) else []


def as_dict(raw: object) -> dict[str, Any]:
    """An object field; null or a wrong type reads as empty."""
    return raw if isinstance(raw, dict) else {}


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """Non-empty values, first occurrence order."""
    return tuple(dict.fromkeys(v for v in values if v))


def relative_path(raw: object) -> str:
    """Repository/image-relative POSIX path: backslashes and leading "/" or "./" removed."""
    path = text(raw).replace("\\", "/")
    while path.startswith(("./", "/")):
        path = path[2:] if path.startswith("./") else path[1:]
    return path


def clip(message: str, limit: int = 120) -> str:
    """A message cut to `limit` characters: issue and error texts stay short whatever the input."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def quoted(value: object, limit: int = 100) -> str:
    """repr() of a report value for a message, clipped."""
    return clip(repr(value), limit)


def sha256_hex(value: str) -> str:
    """Hex sha256 of a string (secrets are only ever kept as this)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def split_tool(raw: str) -> tuple[str, str]:
    """SPDX creator "name-1.2.3" -> ("name", "1.2.3"); no version suffix -> (raw, "")."""
    match = _VERSIONED_TOOL.match(raw.strip())
    if match:
        return match.group("name"), match.group("version")
    return raw.strip(), ""


def positive_int(raw: object) -> int | None:
    """Line numbers: positive integers only (trivy writes 0 for "unknown")."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float) and raw >= 1:
        return int(raw)
    return None
