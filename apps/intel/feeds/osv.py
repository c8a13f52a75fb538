"""OSV feed: read an export, validate it, store what changed and re-match the components.

Input: an OSV zip export (`<ECOSYSTEM>/all.zip`: one JSON record per advisory), a directory of
OSV JSON files (searched recursively), or a single JSON record. The export is read and
validated whole before anything is written, and everything is written in one transaction, so
a bad export leaves the current data as it was:

- a corrupt or truncated archive (bad central directory, CRC error, cut-off stream) rejects
  the whole load with OsvFeedError naming the file and the member;
- zip-bomb guard: the declared uncompressed total and each member's size are capped before
  decompressing, and each member is read with a bound (zipfile stops at the declared size and
  fails the CRC if a member lies about it); a breach rejects the whole load, as an archive
  that large is hostile or not an OSV export;
- a single record that is not valid JSON or misses the OSV essentials (id, modified,
  affected[].package.{ecosystem,name}, ranges[].type/events) is skipped, counted and named in
  the result; the others load. An export with no valid record at all is rejected.

After storing, `match_components(advisory_ids=<new or modified ids>)` re-matches, so a new
advisory produces findings without a new upload and a withdrawn one closes its findings; then
the findings of vulnerabilities whose CVSS the load changed are re-scored (apps.intel.scoring),
whichever tool reported them.
"""

from __future__ import annotations

import logging
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.dateparse import parse_datetime

from apps.findings.vocabulary import cwe_number
from apps.intel.osv_match import match_components
from apps.intel.osv_store import Advisory, AffectedPackage, osv_advisories_store
from apps.intel.osv_versions import affected_key
from apps.intel.scoring import risk_refresh
from fixops.platform import jsondepth

logger = logging.getLogger(__name__)

DEFAULT_MAX_TOTAL_BYTES = 2 * 1024**3  # PyPI's all.zip is ~0.1 GB unpacked; npm's ~1 GB
DEFAULT_MAX_MEMBER_BYTES = 16 * 1024**2  # the largest real records are a few hundred KB
SKIPPED_SHOWN = 200  # names of skipped records kept in the result; the count is exact
RANGE_TYPES = frozenset({"SEMVER", "ECOSYSTEM", "GIT"})
EVENT_KINDS = frozenset({"introduced", "fixed", "last_affected", "limit"})


class OsvFeedError(ValueError):
    """The export as a whole is unusable; nothing was written."""


class InvalidRecord(ValueError):
    """One record lacks the OSV essentials; it is skipped."""


@dataclass
class OsvLoadResult:
    advisories: int = 0  # valid records in the export
    new: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    unchanged: int = 0
    withdrawn: list[str] = field(default_factory=list)
    skipped_count: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"name", "reason"}
    match: dict[str, int] = field(default_factory=dict)
    rescored: int = 0  # findings re-scored because their vulnerability's CVSS changed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_osv(path: str) -> int:
    """Load an OSV export (zip, directory or JSON file); returns the valid advisory count."""
    return osv_feed_load(path=path).advisories


def osv_feed_load(
    *, path: str, max_total_bytes: int | None = None, max_member_bytes: int | None = None
) -> OsvLoadResult:
    """Validate an export whole, store new and modified advisories, re-match their packages."""
    limits = _Limits(
        total=max_total_bytes
        or getattr(settings, "FIXOPS_OSV_MAX_TOTAL_BYTES", DEFAULT_MAX_TOTAL_BYTES),
        member=max_member_bytes
        or getattr(settings, "FIXOPS_OSV_MAX_MEMBER_BYTES", DEFAULT_MAX_MEMBER_BYTES),
    )
    result = OsvLoadResult()
    advisories: dict[str, tuple[str, Advisory]] = {}
    records = 0
    for name, raw in read_export(Path(path), limits):
        records += 1
        try:
            advisory = parse_record(raw)
        except InvalidRecord as exc:
            _skip(result, name, str(exc))
            continue
        previous = advisories.get(advisory.osv_id)
        if previous is not None:
            # One record per id: the latest `modified` wins, the other is reported.
            if previous[1].modified >= advisory.modified:
                _skip(result, name, f"duplicate of {previous[0]} ({advisory.osv_id})")
                continue
            _skip(result, previous[0], f"duplicate of {name} ({advisory.osv_id})")
        advisories[advisory.osv_id] = (name, advisory)
    if not advisories:
        raise OsvFeedError(
            f"{path}: no valid OSV advisory among {records} record(s); current data kept"
        )
    result.advisories = len(advisories)
    with transaction.atomic():
        stored = osv_advisories_store(advisories=[a for _, a in advisories.values()])
        if stored.changed:
            result.match = match_components(advisory_ids=stored.changed).stats
        if stored.vulnerabilities:
            # Findings any tool reported for these vulnerabilities score from their CVSS.
            result.rescored = risk_refresh(vuln_ids=stored.vulnerabilities)
    result.new, result.modified = stored.new, stored.modified
    result.unchanged, result.withdrawn = stored.unchanged, stored.withdrawn
    logger.info(
        "osv feed %s: %d advisories, %d new, %d modified, %d skipped; matching %s",
        path,
        result.advisories,
        len(result.new),
        len(result.modified),
        result.skipped_count,
        result.match,
    )
    return result


def _skip(result: OsvLoadResult, name: str, reason: str) -> None:
    result.skipped_count += 1
    if len(result.skipped) < SKIPPED_SHOWN:
        result.skipped.append({"name": name, "reason": reason})


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    total: int
    member: int


def read_export(path: Path, limits: _Limits) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each JSON record of the export; OsvFeedError if it is unusable."""
    if path.is_dir():
        yield from _read_directory(path, limits)
    elif path.suffix.lower() == ".json" and path.is_file():
        yield from _read_directory_files(path.parent, [path], limits)
    elif path.is_file():
        yield from _read_zip(path, limits)
    else:
        raise OsvFeedError(f"{path}: no such file or directory")


def _read_directory(root: Path, limits: _Limits) -> Iterator[tuple[str, bytes]]:
    files = sorted(p for p in root.rglob("*.json") if p.is_file())
    yield from _read_directory_files(root, files, limits)


def _read_directory_files(
    root: Path, files: list[Path], limits: _Limits
) -> Iterator[tuple[str, bytes]]:
    total = 0
    for file in files:
        size = file.stat().st_size
        total += size
        name = str(file.relative_to(root))
        _check_size(root, name, size, total, limits)
        yield name, file.read_bytes()


def _read_zip(path: Path, limits: _Limits) -> Iterator[tuple[str, bytes]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise OsvFeedError(f"{path}: corrupt or truncated zip archive ({exc})") from exc
    with archive:
        members = [
            m for m in archive.infolist() if not m.is_dir() and m.filename.lower().endswith(".json")
        ]
        total = 0
        for member in members:  # declared sizes first: refuse before inflating anything
            total += member.file_size
            _check_size(path, member.filename, member.file_size, total, limits)
        for member in members:
            try:
                with archive.open(member) as stream:
                    data = stream.read(limits.member + 1)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
                raise OsvFeedError(
                    f"{path}: corrupt or truncated zip archive at member {member.filename} ({exc})"
                ) from exc
            if len(data) > limits.member:
                raise OsvFeedError(
                    f"{path}: member {member.filename} inflates past {limits.member} bytes"
                )
            yield member.filename, data


def _check_size(path: Path, name: str, size: int, total: int, limits: _Limits) -> None:
    if size > limits.member:
        raise OsvFeedError(
            f"{path}: member {name} is {size} bytes, over the {limits.member}-byte cap per record"
        )
    if total > limits.total:
        raise OsvFeedError(
            f"{path}: export unpacks to more than {limits.total} bytes (at member {name}); "
            "refused as a possible zip bomb"
        )


# --- validation ---------------------------------------------------------------------------------


def parse_record(raw: bytes) -> Advisory:
    """One OSV JSON record as an Advisory; InvalidRecord when the essentials are missing."""
    try:
        doc = jsondepth.loads(raw)
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, TooDeepJSON
        raise InvalidRecord(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidRecord("not a JSON object")
    osv_id = doc.get("id")
    if not isinstance(osv_id, str) or not osv_id.strip() or len(osv_id) > 100:
        raise InvalidRecord("missing or invalid `id`")
    osv_id = osv_id.strip()
    modified = _timestamp(doc, "modified")
    if modified is None:
        raise InvalidRecord("missing `modified`")
    summary = _text(doc.get("summary")) or _text(doc.get("details"))
    database_specific = doc.get("database_specific")
    cwe_ids = database_specific.get("cwe_ids") if isinstance(database_specific, dict) else None
    return Advisory(
        osv_id=osv_id,
        modified=modified,
        published=_timestamp(doc, "published"),
        withdrawn=_timestamp(doc, "withdrawn"),
        aliases=_strings(doc, "aliases"),
        summary=summary,
        severity=[
            {"type": e["type"], "score": e["score"]}
            for e in _objects(doc, "severity")
            if isinstance(e.get("type"), str) and isinstance(e.get("score"), str)
        ],
        cwes=sorted(
            {n for n in (cwe_number(c) for c in cwe_ids or ()) if n is not None}
            if isinstance(cwe_ids, list)
            else set()
        ),
        references=[
            {"type": str(r.get("type", "")), "url": r["url"]}
            for r in _objects(doc, "references")
            if isinstance(r.get("url"), str)
        ],
        affected=[_affected(entry, i) for i, entry in enumerate(_list(doc, "affected"))],
    )


def _affected(entry: Any, index: int) -> AffectedPackage:
    where = f"affected[{index}]"
    if not isinstance(entry, dict):
        raise InvalidRecord(f"{where} is not an object")
    package = entry.get("package")
    if not isinstance(package, dict):
        raise InvalidRecord(f"{where}.package is missing")
    ecosystem, name = package.get("ecosystem"), package.get("name")
    if not isinstance(ecosystem, str) or not ecosystem.strip():
        raise InvalidRecord(f"{where}.package.ecosystem is missing")
    if not isinstance(name, str) or not name.strip():
        raise InvalidRecord(f"{where}.package.name is missing")
    ranges = [_range(r, f"{where}.ranges[{i}]") for i, r in enumerate(_list(entry, "ranges"))]
    versions = _strings(entry, "versions")
    purl_type, normalised = affected_key(ecosystem, name)
    fixed = [e["fixed"] for r in ranges if r["type"] != "GIT" for e in r["events"] if "fixed" in e]
    return AffectedPackage(
        ecosystem=ecosystem.strip()[:100],
        purl_type=purl_type[:50],
        package=normalised[:500],
        ranges=ranges,
        versions=versions,
        fixed=fixed,
    )


def _range(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict) or entry.get("type") not in RANGE_TYPES:
        raise InvalidRecord(f"{where}.type must be one of {', '.join(sorted(RANGE_TYPES))}")
    events = entry.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidRecord(f"{where}.events must be a non-empty list")
    for i, event in enumerate(events):
        if (
            not isinstance(event, dict)
            or len(event) != 1
            or not EVENT_KINDS.issuperset(event)
            or not all(isinstance(v, str) and v for v in event.values())
        ):
            raise InvalidRecord(
                f"{where}.events[{i}] must be one of {{introduced|fixed|last_affected|limit}}"
            )
    out: dict[str, Any] = {"type": entry["type"], "events": events}
    if isinstance(entry.get("repo"), str):
        out["repo"] = entry["repo"]
    return out


def _timestamp(doc: dict, key: str) -> datetime | None:
    raw = doc.get(key)
    if raw is None:
        return None
    try:
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidRecord(f"missing or invalid `{key}` (RFC 3339 expected)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _list(doc: dict, key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRecord(f"`{key}` must be a list")
    return value


def _objects(doc: dict, key: str) -> list[dict]:
    return [v for v in _list(doc, key) if isinstance(v, dict)]


def _strings(doc: dict, key: str) -> list[str]:
    return [v for v in _list(doc, key) if isinstance(v, str) and v]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
