"""CISA Known Exploited Vulnerabilities catalog: validate the JSON, then sync the kev columns.

The catalog is small (about 1,400 entries, 1.3 MB) and every entry matters, so validation is
strict about what the schema requires (catalogVersion, a `vulnerabilities` list, each entry's
cveID pattern and required fields, YYYY-MM-DD dates, a `count` that matches the list, no
duplicate CVE) and lenient about the rest: unknown fields (e.g. the newer `forensicTriage`)
are ignored, strings are stripped (`vendorProject` has carried trailing spaces, e.g.
"SimpleHelp "), `cwes` may be a list or the CSV's comma-joined string.

In one transaction, catalog CVEs get their kev columns (Vulnerability rows are created for
CVEs not known yet; only rows whose values differ are rewritten) and CVEs that left the
catalog lose theirs. Open findings on a CVE newly in the catalog get a `kev_added` event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.findings.models import Finding
from apps.intel.feeds import CVE_RE, OPEN_STATUSES, FeedRejected, FeedResult
from apps.intel.models import IntelEvent, Vulnerability
from apps.intel.notices import intel_recorded_emit
from fixops.platform import bulk

REQUIRED = (
    "cveID",
    "vendorProject",
    "product",
    "vulnerabilityName",
    "dateAdded",
    "shortDescription",
    "requiredAction",
    "dueDate",
)
KEV_FIELDS = (
    "kev",
    "kev_date_added",
    "kev_due_date",
    "kev_ransomware",
    "kev_required_action",
    "kev_vendor",
    "kev_product",
    "kev_name",
    "kev_cwes",
    "kev_notes",
)
CLEARED = {
    "kev": False,
    "kev_date_added": None,
    "kev_due_date": None,
    "kev_ransomware": None,
    "kev_required_action": "",
    "kev_vendor": "",
    "kev_product": "",
    "kev_name": "",
    "kev_cwes": [],
    "kev_notes": "",
}
RANSOMWARE = {"known": True, "unknown": False}
EVENT_FIELDS = ("tenant_id", "kind", "vuln_id", "finding_id", "details", "created_at")
BATCH = 500


@dataclass(frozen=True)
class KevEntry:
    """One validated catalog entry, in Vulnerability's terms."""

    cve: str
    description: str
    values: dict[str, Any]  # KEV_FIELDS -> value


@dataclass(frozen=True)
class KevCatalog:
    catalog_version: str
    entries: list[KevEntry]


# --- Parsing and validation -----------------------------------------------------------------


def kev_parse(path: Path) -> KevCatalog:
    """Read and validate the whole catalog; raises FeedRejected naming the bad entry."""
    try:
        with path.open("rb") as handle:
            doc = json.load(handle)
    except UnicodeDecodeError as exc:
        raise FeedRejected(f"the catalog is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise FeedRejected(f"not valid JSON: {exc}") from None
    except OSError as exc:
        raise FeedRejected(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if not isinstance(doc, dict):
        raise FeedRejected("the catalog is not a JSON object")
    version = doc.get("catalogVersion")
    if not isinstance(version, str) or not version.strip():
        raise FeedRejected("catalogVersion is missing")
    items = doc.get("vulnerabilities")
    if not isinstance(items, list) or not items:
        raise FeedRejected("`vulnerabilities` is missing or empty")
    count = doc.get("count")
    if isinstance(count, int) and count != len(items):
        raise FeedRejected(f"count says {count} entries but the list has {len(items)}")
    entries: list[KevEntry] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        entry = _entry(index, item)
        if entry.cve in seen:
            raise FeedRejected(f"vulnerabilities[{index}]: {entry.cve} appears twice")
        seen.add(entry.cve)
        entries.append(entry)
    return KevCatalog(catalog_version=version.strip()[:100], entries=entries)


def _entry(index: int, item: Any) -> KevEntry:
    where = f"vulnerabilities[{index}]"
    if not isinstance(item, dict):
        raise FeedRejected(f"{where}: not an object")
    text: dict[str, str] = {}
    for key in REQUIRED:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise FeedRejected(f"{where}: required field {key!r} is missing or empty")
        text[key] = value.strip()
    cve = text["cveID"]
    where = f"{where} ({cve})"
    if CVE_RE.fullmatch(cve) is None:
        raise FeedRejected(f"{where}: cveID does not match CVE-YYYY-NNNN")
    ransomware = item.get("knownRansomwareCampaignUse")
    notes = item.get("notes")
    return KevEntry(
        cve=cve,
        description=text["shortDescription"],
        values={
            "kev": True,
            "kev_date_added": _date(where, "dateAdded", text["dateAdded"]),
            "kev_due_date": _date(where, "dueDate", text["dueDate"]),
            "kev_ransomware": (
                RANSOMWARE.get(ransomware.strip().lower()) if isinstance(ransomware, str) else None
            ),
            "kev_required_action": text["requiredAction"],
            "kev_vendor": text["vendorProject"][:200],
            "kev_product": text["product"][:200],
            "kev_name": text["vulnerabilityName"][:500],
            "kev_cwes": _cwes(item.get("cwes")),
            "kev_notes": notes.strip() if isinstance(notes, str) else "",
        },
    )


def _date(where: str, key: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FeedRejected(f"{where}: {key} {value!r} is not a YYYY-MM-DD date") from None


def _cwes(value: Any) -> list[str]:
    """A list in the JSON feed, a comma-joined string in the CSV one; either is accepted."""
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, list):
        return []
    return [c.strip() for c in value if isinstance(c, str) and c.strip()]


# --- Loading ----------------------------------------------------------------------------------


def kev_load(path: Path, *, announce: bool = True) -> FeedResult:
    """Validate `path` and make the kev columns match the catalog, in one transaction.

    `announce=False` (the first load ever) skips events: without a previous catalog no CVE
    is "newly" in KEV.
    """
    catalog = kev_parse(path)
    now = timezone.now()
    by_cve = {e.cve: e for e in catalog.entries}
    with transaction.atomic():
        previously = dict(Vulnerability.objects.filter(kev=True).values_list("vuln_id", "id"))
        stored = {
            row[0]: dict(zip(KEV_FIELDS, row[1:], strict=True))
            for row in bulk.values_for_ids(
                Vulnerability.objects.all(), "vuln_id", sorted(by_cve), "vuln_id", *KEV_FIELDS
            )
        }
        writes = [
            Vulnerability(vuln_id=e.cve, summary=e.description, updated_at=now, **e.values)
            for e in catalog.entries
            if stored.get(e.cve) != e.values
        ]
        # Existing rows keep their summary (OSV's); new rows start with CISA's description.
        Vulnerability.objects.bulk_create(
            writes,
            batch_size=BATCH,
            update_conflicts=True,
            unique_fields=["vuln_id"],
            update_fields=[*KEV_FIELDS, "updated_at"],
        )
        removed = sorted(cve for cve in previously if cve not in by_cve)
        bulk.update_by_ids(
            Vulnerability, [previously[cve] for cve in removed], **CLEARED, updated_at=now
        )
        added = sorted(cve for cve in by_cve if cve not in previously)
        events = _added_events(added, by_cve, catalog.catalog_version, now) if announce else 0
    return FeedResult(
        row_count=len(catalog.entries),
        version=catalog.catalog_version,
        changed=sorted({*added, *removed}),
        events=events,
    )


def _added_events(added: list[str], by_cve: dict[str, KevEntry], catalog_version: str, now) -> int:
    """One `kev_added` event per open finding on a CVE that just entered the catalog."""
    findings = bulk.values_for_ids(
        Finding.objects.filter(status__in=OPEN_STATUSES),
        "vuln_id",
        added,
        "tenant_id",
        "id",
        "vuln_id",
    )
    rows = []
    for tenant_id, finding_id, cve in findings:
        values = by_cve[cve].values
        details = {
            "catalog_version": catalog_version,
            "date_added": values["kev_date_added"].isoformat(),
            "due_date": values["kev_due_date"].isoformat(),
            "ransomware": values["kev_ransomware"],
            "vendor": values["kev_vendor"],
            "product": values["kev_product"],
            "name": values["kev_name"],
            "required_action": values["kev_required_action"],
        }
        rows.append((tenant_id, IntelEvent.Kind.KEV_ADDED.value, cve, finding_id, details, now))
    inserted = bulk.insert_rows(IntelEvent, EVENT_FIELDS, rows)
    intel_recorded_emit(
        kind=IntelEvent.Kind.KEV_ADDED.value, tenant_ids=(r[0] for r in rows), now=now
    )
    return inserted
