"""Re-score findings in bulk: the database side of the risk model (apps/intel/risk.py).

Findings are read in chunks with everything the model needs (their application's context,
their tenant's likelihood ratios, the intel of their vulnerability's alias group), scored in
Python and written back through the findings writer with one UPDATE ... FROM per chunk. No
query per finding.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.utils import timezone

from apps.findings.models import Application, Finding
from apps.findings.writer import FindingWriter
from apps.intel import ssvc
from apps.intel.models import RiskSettings, Vulnerability, VulnerabilityAlias
from apps.intel.risk import Context, Intel, assess
from fixops.platform import bulk

CHUNK = 10_000
FINDING_COLUMNS = (
    "id",
    "tenant_id",
    "application_id",
    "kind",
    "severity",
    "vuln_id",
    "aliases",
    "cvss",
    "vex_state",
)


def risk_refresh(
    *,
    finding_ids: Sequence[int] | None = None,
    application_id: int | None = None,
    vuln_ids: Sequence[str] | None = None,
) -> int:
    """Re-score the selected findings; returns how many were written."""
    ids = _select(finding_ids=finding_ids, application_id=application_id, vuln_ids=vuln_ids)
    written = 0
    for start in range(0, len(ids), CHUNK):
        written += _score_chunk(ids[start : start + CHUNK])
    return written


def _select(*, finding_ids, application_id, vuln_ids) -> list[int]:
    if finding_ids is not None:
        return sorted(set(finding_ids))
    if application_id is not None:
        return list(
            Finding.objects.filter(application_id=application_id)
            .order_by("id")
            .values_list("id", flat=True)
        )
    names = sorted(alias_group(vuln_ids or ()))
    if not names:
        return []
    return sorted(
        pk for (pk,) in bulk.values_for_ids(Finding.objects.all(), "vuln_id", names, "id")
    )


def alias_group(ids: Iterable[str]) -> set[str]:
    """The ids and every id a claim says is the same vulnerability (one hop each way)."""
    names = {i for i in ids if i}
    if not names:
        return set()
    ordered = sorted(names)
    claims = bulk.values_for_ids(VulnerabilityAlias.objects.all(), "alias", ordered, "vuln_id")
    claims += bulk.values_for_ids(VulnerabilityAlias.objects.all(), "vuln_id", ordered, "alias")
    return names | {value for (value,) in claims}


def _score_chunk(ids: list[int]) -> int:
    rows = bulk.values_for_ids(Finding.objects.all(), "id", ids, *FINDING_COLUMNS)
    findings = [dict(zip(FINDING_COLUMNS, row, strict=True)) for row in rows]
    apps = _applications({f["application_id"] for f in findings})
    ratios = _ratios({f["tenant_id"] for f in findings})
    intel = _intel(findings)
    now = timezone.now()
    updates = []
    for f in findings:
        app = apps.get(f["application_id"], {})
        info = intel.get(f["id"], Intel())
        vectors = tuple(c.get("vector", "") for c in f["cvss"] if c.get("vector"))
        info = Intel(
            epss=info.epss,
            kev=info.kev,
            exploit_public=info.exploit_public,
            cvss_vectors=vectors + info.cvss_vectors,
        )
        context = Context(
            kind=f["kind"],
            severity=f["severity"],
            vex_state=f["vex_state"],
            internet_exposed=app.get("internet_exposed", False),
            criticality=app.get("criticality", "medium"),
            data_classification=app.get("data_classification", "internal"),
            has_vulnerability=bool(f["vuln_id"]),
        )
        result = assess(context, info, ratios.get(f["tenant_id"]))
        outcome = ""
        if f["vuln_id"]:
            vector = result.explanation["impact"]["base"].get("vector", "")
            inputs = ssvc.inputs_for(
                kev=info.kev,
                exploit_public=info.exploit_public,
                epss=info.epss,
                vector=vector,
                criticality=context.criticality,
            )
            outcome = ssvc.decide(inputs)
            result.explanation["ssvc"] = {"outcome": outcome, **inputs.as_dict()}
        updates.append(
            (f["id"], result.score, result.explanation, outcome, info.epss, info.kev, now)
        )
    # Scores are derived from intel and the application: what changed them (feed.load,
    # scan.import, an application edit) is audited; a row per re-score chunk would only
    # hold every tenant's chain lock for the rest of the caller's transaction.
    writer = FindingWriter(cause="rescore", actor="intel:risk", now=now, audit=False)
    written = writer.risk(updates, tenant_of={f["id"]: f["tenant_id"] for f in findings})
    writer.finish()
    return written


def _applications(ids: set[int]) -> dict[int, dict]:
    return {
        row["id"]: row
        for row in Application.objects.filter(id__in=sorted(ids)).values(
            "id", "internet_exposed", "criticality", "data_classification"
        )
    }


def _ratios(tenant_ids: set[int]) -> dict[int, dict[str, float]]:
    return dict(
        RiskSettings.objects.filter(tenant_id__in=sorted(tenant_ids)).values_list(
            "tenant_id", "likelihood_ratios"
        )
    )


def _intel(findings: list[dict]) -> dict[int, Intel]:
    """Intel per finding id, merged over the alias group of its vulnerability ids."""
    wanted: dict[int, set[str]] = {
        f["id"]: {f["vuln_id"], *f["aliases"]} - {""} for f in findings if f["vuln_id"]
    }
    names = sorted(set().union(*wanted.values())) if wanted else []
    if not names:
        return {}
    canonical: dict[str, set[str]] = defaultdict(set)
    for alias, vuln_id in bulk.values_for_ids(
        VulnerabilityAlias.objects.all(), "alias", names, "alias", "vuln_id"
    ):
        canonical[alias].add(vuln_id)
    lookup = sorted(set(names) | {v for group in canonical.values() for v in group})
    vulns = {
        row[0]: row
        for row in bulk.values_for_ids(
            Vulnerability.objects.all(),
            "vuln_id",
            lookup,
            "vuln_id",
            "epss_score",
            "kev",
            "exploit_public",
            "cvss_v4_vector",
            "cvss_v3_vector",
        )
    }
    out = {}
    for finding_id, ids in wanted.items():
        group = set(ids) | {c for i in ids for c in canonical.get(i, ())}
        rows = [vulns[i] for i in sorted(group) if i in vulns]
        if not rows:
            continue
        epss_values = [r[1] for r in rows if r[1] is not None]
        out[finding_id] = Intel(
            epss=max(epss_values) if epss_values else None,
            kev=any(r[2] for r in rows),
            exploit_public=any(r[3] for r in rows),
            cvss_vectors=tuple(v for r in rows for v in (r[4], r[5]) if v),
        )
    return out
