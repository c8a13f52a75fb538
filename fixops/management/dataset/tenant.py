"""One tenant's findings, occurrences, scans, streams, events, acceptances and ticket links,
as rows spooled to the dataset's table files (text.py); nothing here touches the database.

Internally consistent by construction, per application and stream:
- each stream (tool, branch, target) has scans spread over the window, the last one recent;
- a finding is first seen at one of its stream's scans, and a fixed one is closed at a later
  scan of the same stream (`closed_at` >= `first_seen`; days drawn per severity, so MTTR
  differs by severity); its occurrences name those scans and are retracted when it closed;
- statuses move along the lifecycle's transitions, each step a FindingEvent in time order;
- `due_at` is computed by apps/findings/sla.py's own rule (`deadline_days`) from the tenant's
  SLA policy, severity, KEV and SSVC; risk scores and their explanations by the risk model
  (apps/intel/risk.py `assess`) and SSVC by CISA's table (apps/intel/ssvc.py);
- each scan's counts: results received > findings kept (duplicates collapsed, suppressed
  results, now and then a lost one), the figures noise reduction is computed from.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from datetime import timedelta
from functools import lru_cache

from apps.findings.models import SlaPolicy
from apps.findings.sla import deadline_days
from apps.intel import risk, ssvc
from fixops.management.dataset import vocabulary as v
from fixops.management.dataset.history import StreamHistory
from fixops.management.dataset.lifecycle import FindingHistory
from fixops.management.dataset.plan import Context, StreamPlan, accumulate
from fixops.management.dataset.text import EMPTY_DICT, EMPTY_LIST, Json

ACTIVE = ("open", "triaged", "in_progress", "reopened")


@lru_cache(maxsize=200_000)
def _assessment(key: tuple) -> tuple:
    """(score, explanation as COPY-ready JSON) from the risk model, for the combinations drawn:
    `key` is (kind, severity, epss, kev, exposed, criticality, data class, CVSS vector)."""
    kind, severity, epss, kev, exposed, criticality, data, vector = key
    result = risk.assess(
        risk.Context(
            kind=kind,
            severity=severity,
            internet_exposed=exposed,
            criticality=criticality,
            data_classification=data,
            has_vulnerability=epss is not None,
        ),
        risk.Intel(epss=epss, kev=kev, cvss_vectors=(vector,) if vector else ()),
    )
    return result.score, Json(result.explanation)


@lru_cache(maxsize=50_000)
def _json_list(value: str) -> Json:
    """[value] as JSON (an empty list for ""), serialised once per distinct value."""
    return Json([value] if value else [])


@lru_cache(maxsize=1_000)
def _cvss_json(vector: str) -> Json:
    """The finding's `cvss` as the parsers store it: [{version, vector, score, source}]."""
    best = risk.best_cvss((vector,)) if vector else None
    if best is None:
        return EMPTY_LIST
    version = vector.split("/", 1)[0].removeprefix("CVSS:")
    return Json([{"version": version, "vector": vector, "score": best[1], "source": "nvd"}])


@lru_cache(maxsize=10_000)
def _ssvc(kev: bool, epss: float | None, vector: str, criticality: str) -> str:
    inputs = ssvc.inputs_for(
        kev=kev, exploit_public=False, epss=epss, vector=vector, criticality=criticality
    )
    return ssvc.decide(inputs)


def _days_to_fix(rng: random.Random, severity: str) -> float:
    return rng.expovariate(1 / v.MTTR_DAYS[severity])


class TenantGenerator(FindingHistory, StreamHistory):
    """Generates one tenant's rows application by application (see the module docstring)."""

    def __init__(self, ctx: Context, *, tenant_id: int, slug: str, policy: SlaPolicy, people):
        self.ctx = ctx
        self.rng = ctx.rng
        self.tenant_id = tenant_id
        self.slug = slug
        self.policy = policy
        self.people = people
        self.deadlines: dict[tuple, int | None] = {}
        self.ticket_number = 100
        self.open_counts = {"findings": 0}

    # --- streams and scans ------------------------------------------------------------------

    def _streams(self, app_name: str) -> list[StreamPlan]:
        streams = []
        for tool, share in v.TOOL_SHARES:
            if self.rng.random() >= share:
                continue
            target = tool.target.format(app=app_name)
            streams.append(StreamPlan(tool, "main", target))
            if tool.kind in ("sast", "sca") and self.rng.random() < 0.25:
                streams.append(StreamPlan(tool, "release/2026.10", target))
        return streams

    def _schedule(self, stream: StreamPlan) -> None:
        """Scan times over the window, oldest first, the last one within two days of now."""
        count = self.rng.randint(18, 30) if stream.branch == "main" else self.rng.randint(3, 8)
        start = self.ctx.now - timedelta(days=self.ctx.days)
        step = timedelta(days=self.ctx.days) / count
        for k in range(count):
            jitter = timedelta(seconds=self.rng.randint(0, int(step.total_seconds() * 0.5)))
            when = start + step * (k + 1) - jitter
            stream.times.append(min(when, self.ctx.now - timedelta(minutes=5)))
            stream.scan_ids.append(self.ctx.take_id("scan"))
            stream.new.append(0)
            stream.closed.append(0)
            stream.opened_ids.append([])
            stream.closed_ids.append([])

    # --- applications -----------------------------------------------------------------------

    def application(self, app: tuple[int, str, str, bool, str], n_findings: int) -> None:
        """All rows of one application ((id, name, criticality, exposed, data class))."""
        app_id, name, criticality, exposed, data = app
        streams = self._streams(name)
        for stream in streams:
            self._schedule(stream)
        weights = [
            v.KIND_WEIGHT[s.tool.kind] * (1.0 if s.branch == "main" else 0.3) for s in streams
        ]
        cumulative = list(accumulate(weights))
        candidates: list[int] = []
        for i in range(n_findings):
            point = self.rng.random() * cumulative[-1]
            stream = streams[bisect.bisect_right(cumulative, point)]
            finding_id = self._finding(app, stream, streams, i)
            if len(candidates) < 30:
                candidates.append(finding_id)
        for stream in streams:
            self._stream_rows(app_id, stream)
        self._decisions(app_id, name, streams, candidates)

    # --- findings ---------------------------------------------------------------------------

    def _facts(self, app_name: str, stream: StreamPlan, i: int) -> dict:
        """What the scanner says: kind-specific identity, location and component."""
        rng, kind = self.rng, stream.tool.kind
        if kind in ("sca", "container"):
            vuln = self.ctx.catalogue[int(len(self.ctx.catalogue) * rng.random() ** 1.6)]
            purl = f"pkg:{vuln.ecosystem}/{vuln.package}@{vuln.version}"
            return {
                "severity": vuln.severity,
                "rule_id": vuln.cve,
                "title": f"{vuln.cve}: {vuln.package} {vuln.version} is vulnerable",
                "vuln_id": vuln.cve,
                "aliases": _json_list(vuln.ghsa),
                "purl": purl,
                "component": (vuln.package, vuln.version),
                "fixed": _json_list(vuln.fixed),
                "cvss": _cvss_json(vuln.vector),
                "path": "package-lock.json" if vuln.ecosystem == "npm" else "",
                "epss": vuln.epss,
                "kev": vuln.kev,
                "vector": vuln.vector,
                "key": f"{purl}|{vuln.cve}",
            }
        severity = v.weighted(rng, v.SEVERITY_BY_KIND[kind])
        facts = {"severity": severity, "epss": None, "kev": False, "vector": ""}
        if kind == "sast":
            rule, cwe, title = v.SAST_RULES[rng.randrange(len(v.SAST_RULES))]
            path = f"{rng.choice(v.SAST_DIRS)}/module_{i // 7}.py"
            facts.update(rule_id=rule, title=title, cwe=cwe, path=path, line=rng.randint(5, 900))
        elif kind == "secret":
            rule, title = v.SECRET_RULES[rng.randrange(len(v.SECRET_RULES))]
            path = f"config/settings_{i}.py"
            facts.update(rule_id=rule, title=title, cwe=798, path=path, line=rng.randint(1, 200))
        elif kind == "iac":
            rule, title, resource = v.IAC_RULES[rng.randrange(len(v.IAC_RULES))]
            path = f"infra/module_{i // 5}/main.tf"
            facts.update(rule_id=rule, title=title, path=path, resource=f"{resource}_{i}")
        else:
            rule, title, page = v.DAST_RULES[rng.randrange(len(v.DAST_RULES))]
            facts.update(rule_id=rule, title=title, path=f"{page}{i}")
        facts["key"] = f"{facts['rule_id']}|{facts['path']}|{facts.get('line')}|{i}"
        return facts

    def _deadline(self, severity: str, kev: bool, decision: str) -> int | None:
        key = (severity, kev, decision)
        if key not in self.deadlines:
            self.deadlines[key] = deadline_days(
                self.policy, severity=severity, kev=kev, ssvc=decision
            )
        return self.deadlines[key]

    def _finding(self, app: tuple, stream: StreamPlan, streams: list[StreamPlan], i: int) -> int:
        rng, ctx = self.rng, self.ctx
        app_id, app_name, criticality, exposed, data = app
        facts = self._facts(app_name, stream, i)
        severity, kind = facts["severity"], stream.tool.kind
        status = v.weighted(rng, v.STATUS_SHARES)
        last = len(stream.times) - 1
        # Findings still open were mostly seen recently; fixed ones earlier (they needed time).
        first_k = rng.randint(0, last) if status not in ACTIVE else int(last * rng.random() ** 0.6)
        first_seen = stream.times[first_k]
        closed_k = None
        if status in ("fixed", "verified", "reopened"):
            fix_days = _days_to_fix(rng, severity)
            closed_k = bisect.bisect_left(stream.times, first_seen + timedelta(days=fix_days))
            closed_k = min(max(closed_k, first_k + 1), last)
            if closed_k == first_k:  # a stream with one scan cannot close what it saw first
                status, closed_k = "open", None
        finding_id = ctx.take_id("finding")
        stream.new[first_k] += 1
        stream.opened_ids[first_k].append(finding_id)
        closed_at = closed_by = None
        if status in ("fixed", "verified"):
            closed_at, closed_by = stream.times[closed_k], stream.scan_ids[closed_k]
            stream.closed[closed_k] += 1
            stream.closed_ids[closed_k].append(finding_id)
        epss, kev, vector = facts["epss"], facts["kev"], facts["vector"]
        decision = _ssvc(kev, epss, vector, criticality) if facts.get("vuln_id") else ""
        score, explanation = _assessment(
            (kind, severity, epss, kev, exposed, criticality, data, vector)
        )
        days = self._deadline(severity, kev, decision)
        due_at = None if days is None else first_seen + timedelta(days=days)
        announced = due_at if status in ACTIVE and due_at and due_at < ctx.now else None
        last_k = closed_k if closed_at else last
        last_seen = stream.times[last_k]
        events = self._events(
            finding_id,
            status,
            first_seen=first_seen,
            closed_at=closed_at,
            stream=stream,
            closed_k=closed_k,
        )
        updated_at = max([last_seen, *(e[1] for e in events)])
        paused_at = None
        if status == "risk_accepted":
            paused_at = events[-1][1]
            self._acceptance(app_id, finding_id, facts, paused_at)
        owner_user = owner_team = None
        if status in ACTIVE and rng.random() < 0.35:
            if rng.random() < 0.6 or not self.people.teams:
                owner_user = rng.choice(self.people.users)[0]
            else:
                owner_team = rng.choice(self.people.teams)
        component = facts.get("component", ("", ""))
        ctx.files["finding"].add(
            (
                finding_id,
                self.tenant_id,
                app_id,
                hashlib.blake2b(
                    f"{app_id}|{i}|{facts['key']}".encode(), digest_size=32
                ).hexdigest(),
                stream.tool.strategy,
                kind,
                status,
                severity,
                stream.tool.name,
                facts["rule_id"],
                facts["title"],
                f"{facts['title']} ({stream.tool.name})",
                facts.get("cwe"),
                facts.get("vuln_id", ""),
                facts.get("aliases", EMPTY_LIST),
                facts.get("purl", ""),
                component[0],
                component[1],
                facts.get("fixed", EMPTY_LIST),
                facts.get("path", ""),
                facts.get("line"),
                facts.get("resource", ""),
                facts.get("cvss", EMPTY_LIST),
                "",
                "",
                first_seen,
                last_seen,
                stream.scan_ids[first_k],
                stream.scan_ids[last_k],
                closed_at,
                closed_by,
                1 if status == "reopened" else 0,
                None,
                due_at,
                paused_at,
                announced,
                score,
                explanation,
                decision,
                epss,
                kev,
                updated_at,
                owner_user,
                owner_team,
            )
        )
        self._occurrences(
            app_id,
            finding_id,
            facts,
            stream=stream,
            streams=streams,
            first_k=first_k,
            closed_k=closed_k,
            status=status,
        )
        if self.people.integration_id and severity in ("critical", "high") and rng.random() < 0.4:
            self._link(finding_id, status, first_seen)
        return finding_id

    def _occurrences(
        self, app_id, finding_id, facts, *, stream, streams, first_k, closed_k, status
    ):
        seen = [stream]
        # Some findings are reported by a second stream: the same tool on a release branch,
        # or a second tool of the same kind (cross-tool deduplication).
        siblings = [s for s in streams if s is not stream and s.tool.kind == stream.tool.kind]
        if siblings and self.rng.random() < 0.3:
            seen.append(self.rng.choice(siblings))
        retracted = status in ("fixed", "verified")
        for k, where in enumerate(seen):
            last = len(where.times) - 1
            if k == 0:
                first = first_k
                end = closed_k if retracted else last
            else:
                first = min(bisect.bisect_left(where.times, stream.times[first_k]), last)
                end = last
                if retracted:  # no stream reported it after it was fixed
                    end = max(bisect.bisect_right(where.times, stream.times[closed_k]) - 1, first)
            self.ctx.files["occurrence"].add(
                (
                    self.ctx.take_id("occurrence"),
                    self.tenant_id,
                    app_id,
                    finding_id,
                    where.tool.name,
                    where.branch,
                    where.target,
                    facts["rule_id"],
                    facts.get("path", ""),
                    "",
                    facts.get("line"),
                    EMPTY_DICT,
                    False,
                    "",
                    "",
                    where.scan_ids[first],
                    where.scan_ids[end],
                    where.times[end],
                    where.times[end] if retracted else None,
                    where.scan_ids[end] if retracted else None,
                )
            )
