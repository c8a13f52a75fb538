"""FIRST EPSS daily file: validate it whole, then load it in one set-based transaction.

The file (about 300,000 rows, a few MB gzipped) is
    #model_version:v2025.03.14,score_date:2026-04-10T00:00:00+0000
    cve,epss,percentile
    CVE-1999-0001,0.0142,0.7991
Samples in the wild also carry `score_date:2026-04-10` or `...T12:55:00Z`, so the comment is
split on "," and then on the first ":", and only the date part of score_date is kept.

Validation runs before any write: a truncated gzip (EOFError or a CRC error at the end), an
empty file, a row that is not `CVE-id,0..1,0..1`, a duplicate CVE or fewer rows than
FIXOPS_EPSS_MIN_ROWS reject the whole file, naming the line, and the loaded scores stay.

Loading: COPY into a temporary staging table (batched inserts on SQLite), then in the same
transaction
- find the CVEs some finding could refer to (by vuln_id or an alias claim) whose score changes
  or disappears: those findings are re-scored after commit, nobody else's;
- write an IntelEvent per open finding whose tenant's threshold the score crosses;
- write every row into Vulnerability (UPDATE ... FROM staging for rows whose EPSS columns
  differ, INSERT of new CVEs; one INSERT ... ON CONFLICT DO UPDATE on SQLite) and clear the
  EPSS of CVEs no longer in the file;
- append (or, for a re-load of the same day, overwrite) EpssHistory for CVEs in findings.
Statement count is constant; the work is done by the database in a few set operations.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from apps.findings.models import Finding
from apps.intel.feeds import CVE_RE, OPEN_STATUSES, FeedRejected, FeedResult
from apps.intel.models import (
    EpssHistory,
    IntelEvent,
    RiskSettings,
    Vulnerability,
    VulnerabilityAlias,
)
from apps.intel.notices import intel_recorded_emit
from fixops.platform import bulk

STAGING = "_fixops_epss"
WATCHED = "_fixops_epss_watched"
GZIP_MAGIC = b"\x1f\x8b"
COPY_BATCH = 20_000  # rows per COPY write (or per executemany on SQLite)
EPSS_FIELDS = ("epss_score", "epss_percentile", "epss_date", "epss_model_version")
EVENT_FIELDS = ("tenant_id", "kind", "vuln_id", "finding_id", "details", "created_at")


@dataclass(frozen=True)
class EpssFile:
    """A validated EPSS file: its provenance and rows (cve, score, percentile)."""

    model_version: str
    score_date: date
    rows: list[tuple[str, float, float]]


# --- Parsing and validation -----------------------------------------------------------------


def epss_parse(path: Path, *, min_rows: int = 1) -> EpssFile:
    """Read and validate a whole EPSS file (gzip or plain CSV); raises FeedRejected."""
    try:
        with _open_text(path) as lines:
            return _parse_lines(lines, min_rows=min_rows)
    except EOFError:
        raise FeedRejected("the gzip stream ends early: the file is truncated") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FeedRejected(f"the gzip stream is corrupt ({exc})") from None
    except UnicodeDecodeError as exc:
        raise FeedRejected(f"the file is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise FeedRejected(f"cannot read {path.name}: {exc.strerror or exc}") from None


def _open_text(path: Path) -> io.TextIOBase:
    """gzip is recognised by its magic bytes, not the name: a mirror or proxy may have
    decompressed it already."""
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == GZIP_MAGIC:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def parse_comment(line: str) -> dict[str, str]:
    """`#model_version:v2025.03.14,score_date:2026-04-10T00:00:00+0000` -> a dict."""
    meta: dict[str, str] = {}
    for part in line.lstrip("#").split(","):
        key, sep, value = part.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip()
    return meta


def parse_score_date(value: str) -> date:
    """Date-only, `+0000` and `Z` forms all start with the ISO date: keep that part."""
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise FeedRejected(f"line 1: score_date {value!r} is not a date") from None


def _parse_lines(lines: Iterator[str], *, min_rows: int) -> EpssFile:
    first = next(lines, "").strip()
    if not first:
        raise FeedRejected("the file is empty")
    if not first.startswith("#"):
        raise FeedRejected(
            "line 1: expected the '#model_version:...,score_date:...' comment line, "
            f"got {first[:80]!r}"
        )
    meta = parse_comment(first)
    if "score_date" not in meta:
        raise FeedRejected(f"line 1: no score_date in {first[:120]!r}")
    score_date = parse_score_date(meta["score_date"])
    model_version = meta.get("model_version", "")[:40]

    header = [h.strip().lower() for h in next(lines, "").strip().split(",")]
    if not {"cve", "epss", "percentile"} <= set(header):
        raise FeedRejected(f"line 2: expected the header 'cve,epss,percentile', got {header!r}")
    width = len(header)
    at_cve, at_epss, at_pct = header.index("cve"), header.index("epss"), header.index("percentile")

    rows: list[tuple[str, float, float]] = []
    seen: set[str] = set()
    fullmatch = CVE_RE.fullmatch
    for number, raw in enumerate(lines, start=3):
        line = raw.rstrip("\r\n")
        if not line:
            continue
        fields = line.split(",")
        if len(fields) != width:
            raise FeedRejected(
                f"line {number}: expected {width} fields, got {len(fields)}: {line[:80]!r}"
            )
        cve = fields[at_cve]
        if fullmatch(cve) is None:
            raise FeedRejected(f"line {number}: {cve[:40]!r} is not a CVE id")
        try:
            score, pct = float(fields[at_epss]), float(fields[at_pct])
        except ValueError:
            raise FeedRejected(f"line {number}: epss and percentile must be numbers") from None
        # Written so that NaN (every comparison false) fails too.
        if not (0.0 <= score <= 1.0 and 0.0 <= pct <= 1.0):
            raise FeedRejected(f"line {number}: epss and percentile must be within 0..1")
        if cve in seen:
            raise FeedRejected(f"line {number}: {cve} appears twice")
        seen.add(cve)
        rows.append((cve, score, pct))
    if len(rows) < max(min_rows, 1):
        raise FeedRejected(f"{len(rows)} rows, fewer than the minimum of {max(min_rows, 1)}")
    return EpssFile(model_version=model_version, score_date=score_date, rows=rows)


# --- Loading ----------------------------------------------------------------------------------


def epss_load(path: Path, *, announce: bool = True) -> FeedResult:
    """Validate `path` and replace the EPSS columns with its scores, in one transaction.

    `announce=False` (the first load ever) skips events: with no previous scores, nothing
    has "crossed" anything yet.
    """
    data = epss_parse(path, min_rows=getattr(settings, "FIXOPS_EPSS_MIN_ROWS", 1))
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
        cursor.execute(f"DROP TABLE IF EXISTS {WATCHED}")
        _stage(cursor, data.rows)
        _stage_watched(cursor)
        changed = _changed_watched(cursor)
        events = _crossing_events(cursor, data, now) if announce else 0
        _upsert(cursor, data, now)
        _clear_missing(cursor, now)
        _append_history(cursor, data)
        cursor.execute(f"DROP TABLE {STAGING}")
        cursor.execute(f"DROP TABLE {WATCHED}")
    return FeedResult(
        row_count=len(data.rows),
        version=data.score_date.isoformat(),
        changed=changed,
        events=events,
    )


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model: type[models.Model]) -> str:
    return _q(model._meta.db_table)


def _col(model: type[models.Model], field: str) -> str:
    return _q(model._meta.get_field(field).column)


def _stage(cursor, rows: list[tuple[str, float, float]]) -> None:
    """Fill the staging table: COPY on PostgreSQL, batched executemany elsewhere."""
    if bulk._is_postgres():
        cursor.execute(
            f"CREATE TEMP TABLE {STAGING} (cve varchar(64) NOT NULL, "
            "epss double precision NOT NULL, percentile double precision NOT NULL) "
            "ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {STAGING} (cve, epss, percentile) FROM STDIN") as copy:
            # Text lines built here are several times faster than write_row per row; the
            # values are validated CVE ids and Python floats, nothing needs escaping.
            for start in range(0, len(rows), COPY_BATCH):
                copy.write(
                    "".join(
                        f"{cve}\t{score!r}\t{pct!r}\n"
                        for cve, score, pct in rows[start : start + COPY_BATCH]
                    )
                )
        # Temporary tables are never auto-analysed; without statistics the planner guesses
        # a handful of rows and picks nested loops over 300,000.
        cursor.execute(f"ANALYZE {STAGING}")
        return
    cursor.execute(
        f"CREATE TEMP TABLE {STAGING} (cve TEXT NOT NULL PRIMARY KEY, "
        "epss REAL NOT NULL, percentile REAL NOT NULL)"
    )
    insert = f"INSERT INTO {STAGING} (cve, epss, percentile) VALUES (%s, %s, %s)"  # noqa: S608 - fixed table name
    for start in range(0, len(rows), COPY_BATCH):
        cursor.executemany(insert, rows[start : start + COPY_BATCH])


def _stage_watched(cursor) -> None:
    """CVEs a finding could refer to: its vuln_id, or either side of an alias claim
    (apps.intel.scoring expands alias groups the same way). A table rather than ORed IN
    subqueries, which PostgreSQL cannot turn into joins and evaluates row by row."""
    finding, alias = _table(Finding), _table(VulnerabilityAlias)
    a_alias, a_vuln = _col(VulnerabilityAlias, "alias"), _col(VulnerabilityAlias, "vuln_id")
    f_vuln = _col(Finding, "vuln_id")
    temp = "ON COMMIT DROP" if bulk._is_postgres() else ""
    cursor.execute(f"CREATE TEMP TABLE {WATCHED} (cve varchar(100) PRIMARY KEY) {temp}")
    cursor.execute(
        f"INSERT INTO {WATCHED} (cve) SELECT {f_vuln} FROM {finding} WHERE {f_vuln} <> '' "  # noqa: S608 - SQL from model metadata
        f"UNION SELECT {a_alias} FROM {alias} UNION SELECT {a_vuln} FROM {alias}"
    )
    if bulk._is_postgres():
        cursor.execute(f"ANALYZE {WATCHED}")


def _changed_watched(cursor) -> list[str]:
    """Watched CVEs whose score changes with this file, or that leave it (read before the
    upsert, while the old scores are still there)."""
    vuln, vid = _table(Vulnerability), _col(Vulnerability, "vuln_id")
    score = _col(Vulnerability, "epss_score")
    cursor.execute(
        f"SELECT s.cve FROM {STAGING} s JOIN {WATCHED} w ON w.cve = s.cve "  # noqa: S608 - SQL from model metadata
        f"LEFT JOIN {vuln} v ON v.{vid} = s.cve "
        f"WHERE v.{score} IS NULL OR v.{score} <> s.epss"
    )
    changed = [cve for (cve,) in cursor.fetchall()]
    cursor.execute(
        f"SELECT v.{vid} FROM {vuln} v JOIN {WATCHED} w ON w.cve = v.{vid} "  # noqa: S608 - SQL from model metadata
        f"WHERE v.{score} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {STAGING} s WHERE s.cve = v.{vid})"
    )
    changed.extend(cve for (cve,) in cursor.fetchall())
    return sorted(changed)


def _crossing_events(cursor, data: EpssFile, now: datetime) -> int:
    """One IntelEvent per open finding whose score crosses its tenant's alert threshold
    (either way; a CVE new to EPSS counts as coming from 0)."""
    default = RiskSettings._meta.get_field("epss_alert_threshold").get_default()
    finding, vuln, risk = _table(Finding), _table(Vulnerability), _table(RiskSettings)
    f_vuln, f_tenant = _col(Finding, "vuln_id"), _col(Finding, "tenant_id")
    threshold = f"COALESCE(r.{_col(RiskSettings, 'epss_alert_threshold')}, %s)"
    placeholders = ", ".join(["%s"] * len(OPEN_STATUSES))
    cursor.execute(
        f"SELECT f.{f_tenant}, f.id, f.{f_vuln}, v.{_col(Vulnerability, 'epss_score')}, "  # noqa: S608 - SQL from model metadata
        f"s.epss, {threshold} "
        f"FROM {finding} f JOIN {STAGING} s ON s.cve = f.{f_vuln} "
        f"LEFT JOIN {vuln} v ON v.{_col(Vulnerability, 'vuln_id')} = f.{f_vuln} "
        f"LEFT JOIN {risk} r ON r.{_col(RiskSettings, 'tenant_id')} = f.{f_tenant} "
        f"WHERE f.{_col(Finding, 'status')} IN ({placeholders}) "
        f"AND (COALESCE(v.{_col(Vulnerability, 'epss_score')}, 0) >= {threshold}) "
        f"<> (s.epss >= {threshold})",
        [default, *OPEN_STATUSES, default, default],
    )
    rows = []
    for tenant_id, finding_id, cve, old, new, limit in cursor.fetchall():
        details = {
            "from": old,
            "to": new,
            "threshold": limit,
            "direction": "up" if new >= limit else "down",
            "score_date": data.score_date.isoformat(),
            "model_version": data.model_version,
        }
        rows.append((tenant_id, IntelEvent.Kind.EPSS_CROSSED.value, cve, finding_id, details, now))
    inserted = bulk.insert_rows(IntelEvent, EVENT_FIELDS, rows)
    intel_recorded_emit(
        kind=IntelEvent.Kind.EPSS_CROSSED.value, tenant_ids=(r[0] for r in rows), now=now
    )
    return inserted


def _typed_param(field: models.Field) -> str:
    """PostgreSQL infers `text` for an untyped value in a SELECT list; cast to the column."""
    if bulk._is_postgres():
        return f"CAST(%s AS {field.db_type(connection)})"
    return "%s"


def _upsert(cursor, data: EpssFile, now: datetime) -> None:
    """Insert or update every CVE of the file; unchanged rows are not rewritten.

    PostgreSQL: UPDATE ... FROM for the rows that exist, then a plain INSERT of the missing
    ones, under a lock that keeps other writers (KEV, OSV) from inserting the same ids in
    between. Measured on 300,000 rows, that is about a third faster than INSERT ... ON
    CONFLICT DO UPDATE, which pays a speculative insertion and a conflict check per row.
    Elsewhere: the single portable INSERT ... ON CONFLICT statement.
    """
    from_staging = {"vuln_id": "s.cve", "epss_score": "s.epss", "epss_percentile": "s.percentile"}
    given = {"epss_date": data.score_date, "epss_model_version": data.model_version}
    given["updated_at"] = now
    columns, exprs, params = [], [], []
    for field in Vulnerability._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(_q(field.column))
        if field.name in from_staging:
            exprs.append(from_staging[field.name])
        elif field.null and field.name not in given:
            exprs.append("NULL")
        else:
            value = given[field.name] if field.name in given else field.get_default()
            exprs.append(_typed_param(field))
            params.append(field.get_db_prep_save(value, connection))
    table, vid = _table(Vulnerability), _col(Vulnerability, "vuln_id")
    insert = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {STAGING} s"  # noqa: S608 - SQL from model metadata
    )
    if bulk._is_postgres():
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
        _update_existing(cursor, data, now)
        # Sorted, new ids fill the unique index's pages in order instead of at random.
        cursor.execute(
            f"{insert} WHERE NOT EXISTS (SELECT 1 FROM {table} v WHERE v.{vid} = s.cve) "  # noqa: S608 - SQL from model metadata
            "ORDER BY s.cve",
            params,
        )
        return
    assign = ", ".join(
        f"{_col(Vulnerability, name)} = excluded.{_col(Vulnerability, name)}"
        for name in (*EPSS_FIELDS, "updated_at")
    )
    differs = " OR ".join(
        f"{table}.{_col(Vulnerability, name)} IS DISTINCT FROM excluded.{_col(Vulnerability, name)}"
        for name in EPSS_FIELDS
    )
    # `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint.
    cursor.execute(
        f"{insert} WHERE true ON CONFLICT ({vid}) DO UPDATE SET {assign} WHERE {differs}",
        params,
    )


def _update_existing(cursor, data: EpssFile, now: datetime) -> None:
    """UPDATE ... FROM the staging table, only where an EPSS column differs."""
    meta = Vulnerability._meta
    values = {
        "epss_score": ("s.epss", None),
        "epss_percentile": ("s.percentile", None),
        "epss_date": (_typed_param(meta.get_field("epss_date")), data.score_date),
        "epss_model_version": ("%s", data.model_version),
    }
    sets, differs, set_params, differ_params = [], [], [], []
    for name, (expr, value) in values.items():
        column = _col(Vulnerability, name)
        sets.append(f"{column} = {expr}")
        differs.append(f"v.{column} IS DISTINCT FROM {expr}")
        if value is not None:
            prepared = meta.get_field(name).get_db_prep_save(value, connection)
            set_params.append(prepared)
            differ_params.append(prepared)
    sets.append(
        f"{_col(Vulnerability, 'updated_at')} = {_typed_param(meta.get_field('updated_at'))}"
    )
    set_params.append(meta.get_field("updated_at").get_db_prep_save(now, connection))
    cursor.execute(
        f"UPDATE {_table(Vulnerability)} v SET {', '.join(sets)} FROM {STAGING} s "  # noqa: S608 - SQL from model metadata
        f"WHERE v.{_col(Vulnerability, 'vuln_id')} = s.cve AND ({' OR '.join(differs)})",
        [*set_params, *differ_params],
    )


def _clear_missing(cursor, now: datetime) -> None:
    """CVEs no longer scored (rejected CVEs leave the file) lose their EPSS columns."""
    table, vid = _table(Vulnerability), _col(Vulnerability, "vuln_id")
    sets = ", ".join(
        f"{_col(Vulnerability, name)} = NULL"
        for name in ("epss_score", "epss_percentile", "epss_date")
    )
    cursor.execute(
        f"UPDATE {table} SET {sets}, {_col(Vulnerability, 'epss_model_version')} = '', "  # noqa: S608 - SQL from model metadata
        f"{_col(Vulnerability, 'updated_at')} = %s "
        f"WHERE {_col(Vulnerability, 'epss_score')} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {STAGING} s WHERE s.cve = {table}.{vid})",
        [Vulnerability._meta.get_field("updated_at").get_db_prep_save(now, connection)],
    )


def _append_history(cursor, data: EpssFile) -> None:
    """The day's score of every CVE that appears in a finding (the rest would be 300,000
    rows a day nobody reads); re-loading a day overwrites that day."""
    table = _table(EpssHistory)
    cols = {name: _col(EpssHistory, name) for name in ("cve", "date", "score", "percentile")}
    mv = _col(EpssHistory, "model_version")
    date_field = EpssHistory._meta.get_field("date")
    cursor.execute(
        f"INSERT INTO {table} ({cols['cve']}, {cols['date']}, {cols['score']}, "  # noqa: S608 - SQL from model metadata
        f"{cols['percentile']}, {mv}) "
        f"SELECT s.cve, {_typed_param(date_field)}, s.epss, s.percentile, "
        f"{_typed_param(EpssHistory._meta.get_field('model_version'))} FROM {STAGING} s "
        f"WHERE s.cve IN (SELECT {_col(Finding, 'vuln_id')} FROM {_table(Finding)}) "
        f"ON CONFLICT ({cols['cve']}, {cols['date']}) DO UPDATE SET "
        f"{cols['score']} = excluded.{cols['score']}, "
        f"{cols['percentile']} = excluded.{cols['percentile']}, {mv} = excluded.{mv}",
        [date_field.get_db_prep_save(data.score_date, connection), data.model_version],
    )
