"""The findings changelist at scale: its filters offer known values or a bounded list read
from the small streams table (no SELECT DISTINCT over the tenant's findings), and a
vulnerability id searched for is looked up exactly on the (tenant, vuln_id) index, other
terms as before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.findings.factories import FindingFactory
from tests.findings.test_owners_admin import CHANGELIST, staff

pytestmark = pytest.mark.django_db


def test_known_value_filters_and_vulnerability_search(acme):
    act = FindingFactory(tenant=acme, ssvc="Act", title="act one", vuln_id="CVE-2024-1234")
    track = FindingFactory(tenant=acme, ssvc="Track", title="track one", dedup_strategy="sca")
    client, _ = staff("ana", acme, "analyst")

    with CaptureQueriesContext(connection) as queries:
        page = client.get(CHANGELIST).content.decode()
    scans = [
        q["sql"]
        for q in queries.captured_queries
        if "DISTINCT" in q["sql"] and '"findings_finding"' in q["sql"]
    ]
    assert not scans
    assert 'data-filter="ssvc" data-value="Attend"' in page

    page = client.get(f"{CHANGELIST}?ssvc=Act").content.decode()
    assert "act one" in page and "track one" not in page

    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"{CHANGELIST}?q=cve-2024-1234").content.decode()
    assert "act one" in page and "track one" not in page
    assert not [q["sql"] for q in queries.captured_queries if "UPPER(" in q["sql"]]
    page = client.get(f"{CHANGELIST}?q=track").content.decode()  # free text as before
    assert "track one" in page and "act one" not in page
    assert act.pk and track.pk
