"""The findings writer: inserts, sightings, reopening, status changes and retraction, each with
its FindingEvents and one `finding.changed` event per tenant describing what changed."""

from __future__ import annotations

import pytest

from apps.findings.models import Finding, FindingEvent, Occurrence
from apps.findings.rows import NewFinding, SeenOccurrence
from apps.findings.writer import TOPIC, FindingWriter
from fixops.platform.models import Event
from tests.findings.factories import ApplicationFactory

pytestmark = pytest.mark.django_db


def _found(app, *keys: str) -> dict:
    return {
        (app.pk, key): NewFinding(
            tenant_id=app.tenant_id,
            application_id=app.pk,
            dedup_key=key,
            dedup_strategy="sast",
            kind="sast",
            severity="high",
            tool="semgrep",
            rule_id=f"rule-{key}",
            title="",
            path="src/app.py" + "x" * 3000,  # longer than the column: clipped in one place
        )
        for key in keys
    }


def _upsert(writer: FindingWriter, app, *keys: str, reason: str = "reported again") -> dict:
    found = _found(app, *keys)
    return writer.upsert(
        dict.fromkeys(found, app.tenant_id), build=found.__getitem__, reopen_reason=reason
    )


def _sightings(ids: dict) -> dict:
    return {(pk, "semgrep"): SeenOccurrence(rule_id="r", path="src/app.py") for pk in ids.values()}


def test_first_sighting_inserts_and_the_event_lists_the_new_findings(acme):
    app = ApplicationFactory(tenant=acme)
    writer = FindingWriter(cause="scan7", actor="scan:7")
    ids = _upsert(writer, app, "a", "b", reason="reported again")
    [event] = writer.finish(comment="first import")

    findings = Finding.objects.filter(pk__in=ids.values())
    assert {f.dedup_key for f in findings} == {"a", "b"}
    assert all(f.status == "open" and len(f.path) == 2000 for f in findings)
    assert f"{findings[0].title}" == f"rule-{findings[0].dedup_key}"  # title falls back to rule
    assert event.topic == TOPIC and event.tenant_id == acme.pk
    assert event.payload["cause"] == "scan7" and event.payload["comment"] == "first import"
    assert sorted(event.payload["opened"]) == sorted(ids.values())
    assert event.payload["closed"] == event.payload["reopened"] == []


def test_a_closed_finding_seen_again_is_reopened_with_its_event(acme):
    app = ApplicationFactory(tenant=acme)
    first = FindingWriter(cause="scan1", actor="scan:1")
    ids = _upsert(first, app, "a", reason="reported again")
    first.occurrences(
        _sightings(ids),
        tenant_id=acme.pk,
        application_of={ids[(app.pk, "a")]: app.pk},
        branch="main",
    )
    first.finish()
    occurrence = Occurrence.objects.get()

    second = FindingWriter(cause="scan2", actor="scan:2")
    assert second.retract([(occurrence.pk, occurrence.finding_id)], reason="gone") == 1
    third = FindingWriter(cause="scan3", actor="scan:3")
    again = _upsert(third, app, "a", reason="reported again")
    [closed_event] = second.finish()
    [reopened_event] = third.finish()

    finding = Finding.objects.get()
    assert again == ids and finding.status == "reopened" and finding.reopen_count == 1
    assert finding.closed_at is None
    assert closed_event.payload["closed"] == [finding.pk]
    assert reopened_event.payload["reopened"] == [finding.pk]
    history = list(
        FindingEvent.objects.order_by("id").values_list("from_status", "to_status", "actor")
    )
    assert history == [("open", "fixed", "scan:2"), ("fixed", "reopened", "scan:3")]


def test_retract_keeps_a_finding_another_stream_still_reports(acme):
    app = ApplicationFactory(tenant=acme)
    writer = FindingWriter(cause="scan1", actor="scan:1")
    ids = _upsert(writer, app, "a", reason="x")
    pk = ids[(app.pk, "a")]
    for branch in ("main", "dev"):
        writer.occurrences(
            _sightings(ids), tenant_id=acme.pk, application_of={pk: app.pk}, branch=branch
        )
    main = Occurrence.objects.get(branch="main")
    assert writer.retract([(main.pk, pk)], reason="gone from main") == 0
    assert Finding.objects.get().status == "open"


def test_status_changes_sort_into_closed_and_activated(acme):
    app = ApplicationFactory(tenant=acme)
    seed = FindingWriter(cause="seed", actor="scan:1")
    ids = list(_upsert(seed, app, "a", "b", reason="x").values())
    seed.finish()
    Finding.objects.filter(pk=ids[1]).update(status="risk_accepted")

    writer = FindingWriter(cause="", actor="user:alice")
    writer.set_status([(ids[0], "open")], "false_positive", reason="test code", tenant_id=acme.pk)
    writer.set_status([(ids[1], "risk_accepted")], "open", reason="expired", tenant_id=acme.pk)
    writer.set_status(
        [(ids[0], "false_positive")], "false_positive", reason="no-op", tenant_id=acme.pk
    )
    [event] = writer.finish()
    assert event.payload["closed"] == [ids[0]] and event.payload["activated"] == [ids[1]]
    assert FindingEvent.objects.filter(actor="user:alice").count() == 3


def test_nothing_changed_emits_nothing(acme):
    writer = FindingWriter(cause="idle", actor="scan:9")
    assert writer.finish() == [] and not Event.objects.exists()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"fp:a": "1"}, {"fp:a": "2"}),
        ({"fp:a": "1", "pfp:b": "2"}, {"pfp:b": "2"}),
        ({"fp:list": ["x"]}, {"fp:list": ["y"]}),  # not strings: compared as JSON text
    ],
)
def test_a_sighting_with_other_fingerprints_rewrites_the_occurrence(acme, before, after):
    app = ApplicationFactory(tenant=acme)
    writer = FindingWriter(cause="scan1", actor="scan:1")
    ids = _upsert(writer, app, "a")
    pk = ids[(app.pk, "a")]

    def sight(fingerprints, scan_id):
        seen = {(pk, "semgrep"): SeenOccurrence(rule_id="r", fingerprints=fingerprints)}
        FindingWriter(cause="s", actor="scan:s", scan_id=scan_id).occurrences(
            seen, tenant_id=acme.pk, application_of={pk: app.pk}, branch="main"
        )

    sight(before, None)
    sight(dict(reversed(list(before.items()))), None)  # the same, in another key order
    assert Occurrence.objects.get().fingerprints == before
    sight(after, None)
    assert Occurrence.objects.get().fingerprints == after


def test_occurrences_returns_the_live_ones_the_sighting_left_out(acme):
    app = ApplicationFactory(tenant=acme)
    writer = FindingWriter(cause="scan1", actor="scan:1")
    ids = _upsert(writer, app, "a", "b")
    application_of = dict.fromkeys(ids.values(), app.pk)
    writer.occurrences(
        _sightings(ids), tenant_id=acme.pk, application_of=application_of, branch="main"
    )
    a, b = ids[(app.pk, "a")], ids[(app.pk, "b")]
    only_a = {(a, "semgrep"): SeenOccurrence(rule_id="r", path="src/app.py")}

    unseen = writer.occurrences(
        only_a, tenant_id=acme.pk, application_of=application_of, branch="main"
    )
    b_occurrence = Occurrence.objects.get(finding_id=b)
    assert unseen == [(b_occurrence.pk, b, "semgrep")]
    writer.retract([(b_occurrence.pk, b)], reason="gone")
    # A retracted occurrence is not live: it is not offered for retraction again.
    assert (
        writer.occurrences(only_a, tenant_id=acme.pk, application_of=application_of, branch="main")
        == []
    )
