"""Per stream and application: the scans with their counts (results received > findings
kept, so noise reduction has data), the stream row, one handled `finding.changed` platform event
per scan that opened or closed findings, and the gate's decisions over the last days. A mixin
of TenantGenerator (tenant.py)."""

from __future__ import annotations

import bisect
import hashlib
from datetime import timedelta

from apps.policies.inputs import empty_document
from fixops.management.dataset import vocabulary as v
from fixops.management.dataset.plan import StreamPlan
from fixops.management.dataset.text import EMPTY_LIST


class StreamHistory:
    """Rows per stream (scans, the stream, platform events) and per application (decisions)."""

    # --- per-stream rows: scans, the stream, finding.changed events --------------------------

    def _stream_rows(self, app_id: int, stream: StreamPlan) -> None:
        rng, ctx = self.rng, self.ctx
        live = 0
        for k, scan_id in enumerate(stream.scan_ids):
            live += stream.new[k] - stream.closed[k]
            kept = max(live, 0)
            duplicates = int(kept * rng.uniform(0.2, 1.6))
            suppressed = int(kept * rng.uniform(0.0, 0.12))
            lost = rng.randint(1, 3) if rng.random() < 0.01 else 0
            results = kept + duplicates + suppressed + lost
            counts = {
                "results": results,
                "findings_new": stream.new[k],
                "findings_existing": max(kept - stream.new[k], 0),
                "findings_closed": stream.closed[k],
                "findings_reopened": 0,
                "duplicates_collapsed": duplicates,
                "components": kept * 3 if stream.tool.kind in ("sca", "container") else 0,
                "lost": lost,
                "suppressed": suppressed,
                "skipped": lost,
                "warnings": 0,
            }
            noise = {
                "results": results - lost,
                "findings": kept + suppressed,
                "duplicates_collapsed": duplicates,
                "strategies": {stream.tool.strategy: results - lost},
                "notes": {"fingerprint_collision": 0, "fingerprint_placeholder": 0},
            }
            skipped = [
                {
                    "pointer": f"/runs/0/results/{n}",
                    "reason": "lost",
                    "message": "no location",
                    "lost": True,
                    "suppressed": False,
                    "lost_finding": True,
                }
                for n in range(lost)
            ]
            when = stream.times[k]
            ctx.files["scan"].add(
                (
                    scan_id,
                    self.tenant_id,
                    app_id,
                    f"{rng.getrandbits(256):064x}",
                    2_000 + results * 900,
                    stream.tool.format,
                    stream.tool.name,
                    stream.tool.version,
                    f"{rng.getrandbits(160):040x}",
                    stream.branch,
                    stream.target,
                    f"ci-{scan_id}",
                    "",
                    "done",
                    100,
                    counts,
                    noise,
                    skipped or EMPTY_LIST,
                    None,
                    "",
                    "",
                    None,
                    None,
                    0,
                    "token:ci",
                    when,
                    when + timedelta(seconds=rng.uniform(2, 90)),
                )
            )
            if stream.opened_ids[k] or stream.closed_ids[k]:
                ctx.files["platform_event"].add(
                    (
                        ctx.take_id("platform_event"),
                        self.tenant_id,
                        "finding.changed",
                        {
                            "cause": f"scan{scan_id}",
                            "actor": f"scan:{scan_id}",
                            "comment": f"FixOps scan {scan_id}: status changed by a new scan",
                            "opened": stream.opened_ids[k],
                            "reopened": [],
                            "closed": stream.closed_ids[k],
                            "activated": [],
                            "rescored": [],
                        },
                        when,
                        when + timedelta(seconds=2),
                        1,
                        "",
                    )
                )
        ctx.files["stream"].add(
            (
                ctx.take_id("stream"),
                self.tenant_id,
                app_id,
                stream.tool.name,
                stream.branch,
                stream.target,
                stream.scan_ids[0],
                stream.scan_ids[-1],
                stream.times[-1],
                None,
                "",
            )
        )

    # --- decisions --------------------------------------------------------------------------

    def _decisions(self, app_id: int, name: str, streams: list[StreamPlan], candidates: list[int]):
        rng, ctx = self.rng, self.ctx
        main = [s for s in streams if s.branch == "main"]
        since = ctx.now - timedelta(days=ctx.decision_days)
        for _ in range(rng.randint(2, 14)):
            when = since + timedelta(seconds=rng.uniform(0, ctx.decision_days * 86400))
            scans = []
            for stream in main:
                k = bisect.bisect_right(stream.times, when) - 1
                if k >= 0:
                    scans.append((stream.scan_ids[k], stream.tool))
            outcome = v.weighted(rng, (("ALLOW", 60), ("NEEDS_REVIEW", 25), ("BLOCK", 15)))
            self._decision(app_id, name, when, outcome=outcome, scans=scans, candidates=candidates)

    def _decision(self, app_id, name, when, *, outcome, scans, candidates) -> None:
        rng, ctx = self.rng, self.ctx
        decision_id = ctx.take_id("decision")
        named = (
            rng.sample(candidates, min(len(candidates), rng.randint(1, 5))) if candidates else []
        )
        reasons = []
        if outcome == "BLOCK":
            reasons.append(
                {
                    "level": "deny",
                    "rule": "FX-KEV",
                    "message": "A finding is in CISA KEV and still open",
                    "finding_ids": named[:2],
                }
            )
        if outcome in ("BLOCK", "NEEDS_REVIEW"):
            reasons.append(
                {
                    "level": "review",
                    "rule": "FX-SLA",
                    "message": "Critical findings past their SLA",
                    "finding_ids": named,
                }
            )
        reasons.append(
            {
                "level": "warn",
                "rule": "FX-EPSS",
                "message": "Findings with EPSS above 0.1",
                "finding_ids": named[-1:],
            }
        )
        factors = []
        confidence = 1.0
        if rng.random() < 0.3:
            factors.append(
                {
                    "name": "coverage",
                    "factor": 0.8,
                    "reason": "expected sast, sca, secret; missing secret",
                }
            )
            confidence *= 0.8
        if rng.random() < 0.2:
            factors.append({"name": "feed:epss", "factor": 0.9, "reason": "epss is 60 hours old"})
            confidence *= 0.9
        kinds = sorted({tool.kind for _, tool in scans})
        by_severity = {
            "critical": rng.randint(0, 4),
            "high": rng.randint(0, 30),
            "medium": rng.randint(5, 80),
        }
        open_total = sum(by_severity.values())
        commit = f"{rng.getrandbits(160):040x}"
        document = empty_document(when)
        document["application"].update(id=app_id, name=name)
        document["scope"].update(
            commit=commit,
            branch="main",
            pipeline_run=f"ci-{decision_id}",
            scans=[s for s, _ in scans],
        )
        document["context"].update(present_kinds=kinds)
        document["summary"].update(
            total=open_total, open=open_total, accepted=0, by_severity=by_severity
        )
        document["findings"] = [{"id": pk} for pk in named]
        document["omitted"]["count"] = max(open_total - len(named), 0)
        counts = {
            "open": open_total,
            "accepted": 0,
            "by_severity": by_severity,
            "in_input": len(named),
            "omitted": document["omitted"]["count"],
            **{
                level: sum(1 for r in reasons if r["level"] == level)
                for level in ("deny", "review", "warn")
            },
        }
        ctx.files["decision"].add(
            (
                decision_id,
                self.tenant_id,
                app_id,
                outcome,
                round(confidence, 3),
                {"factors": factors},
                reasons,
                counts,
                commit,
                "main",
                f"ci-{decision_id}",
                ctx.policy_version_id,
                "regopy",
                document,
                hashlib.sha256(repr(document).encode()).hexdigest(),
                {"outcome": outcome, "reasons": reasons},
                "",
                EMPTY_LIST,
                {"load": round(rng.uniform(5, 60), 1), "evaluate": round(rng.uniform(2, 40), 1)},
                "token:ci",
                when,
            )
        )
        for scan_id, _ in scans:
            ctx.files["decision_scans"].add((ctx.take_id("decision_scans"), decision_id, scan_id))
