"""ServiceNow Table API connector against the fake instance."""

from __future__ import annotations

import pytest

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.registry import validate_config
from fixops.platform.http.errors import PermanentError
from tests.fakes.fixtures import connector

TICKET = Ticket(
    reference="fixops-f-7",
    title="Log4Shell in billing",
    body="Upgrade log4j.",
    severity="critical",
    url="https://fixops.test/findings/7",
)


def test_round_trip(fake_servicenow):
    snow = connector(fake_servicenow)
    ref = snow.create(TICKET)
    assert ref.key == "INC0010001" and len(ref.id) == 32
    assert ref.status == "New" and ref.url.endswith(f"incident.do?sys_id={ref.id}")
    [incident] = fake_servicenow.with_reference("fixops-f-7")
    assert incident["correlation_display"] == "FixOps"
    assert (incident["urgency"], incident["impact"]) == ("1", "1")
    assert incident["description"] == "Upgrade log4j.\n\nFixOps: https://fixops.test/findings/7"

    assert snow.find_by_reference("fixops-f-7").id == ref.id
    assert snow.find_by_reference("fixops-f-8") is None

    ref = snow.update(ref, Ticket(**{**TICKET.__dict__, "title": "Log4Shell (billing)"}))
    assert incident["short_description"] == "Log4Shell (billing)" and ref.status == "New"

    ref = snow.transition(ref, "closed")
    assert ref.status == "Resolved"
    assert incident["close_code"] == "Solution provided" and incident["close_notes"]
    assert snow.transition(ref, "closed").status == "Resolved"  # no second write
    assert snow.transition(ref, "open").status == "In Progress"
    ref = snow.update(ref, Ticket(**{**TICKET.__dict__, "status": "closed"}))
    assert ref.status == "Resolved"

    snow.comment(ref, "Deployed fix")
    assert incident["work_notes_log"] == ["Deployed fix"]
    assert len(fake_servicenow.with_reference("fixops-f-7")) == 1


def test_create_closed_and_settings(fake_servicenow):
    snow = connector(
        fake_servicenow,
        close_code="Workaround provided",
        comment_field="comments",
        assignment_group="Security",
    )
    ref = snow.create(Ticket(**{**TICKET.__dict__, "status": "closed"}))
    [incident] = fake_servicenow.with_reference("fixops-f-7")
    assert ref.status == "Resolved" and incident["close_code"] == "Workaround provided"
    assert incident["assignment_group"] == "Security"
    snow.comment(ref, "visible")
    assert incident["comments_log"] == ["visible"]


def test_closed_incident_is_read_only(fake_servicenow):
    snow = connector(fake_servicenow)
    ref = snow.create(TICKET)
    fake_servicenow.with_reference("fixops-f-7")[0]["state"] = "7"
    assert snow.transition(ref, "closed").status == "Closed"
    with pytest.raises(PermanentError, match="Closed \\(read-only\\)"):
        snow.transition(ref, "open")
    with pytest.raises(PermanentError, match="ACL Exception Update Failed"):
        snow.comment(ref, "x")


def test_missing_record_and_bad_reference(fake_servicenow):
    snow = connector(fake_servicenow)
    with pytest.raises(PermanentError, match="No Record found"):
        snow.transition(RemoteRef(id="0" * 32), "closed")
    with pytest.raises(PermanentError, match="sysparm_query"):
        snow.find_by_reference("x^ORDERBYnumber")


def test_pagination_headers(fake_servicenow):
    snow = connector(fake_servicenow)
    for i in range(3):
        snow.create(Ticket(**{**TICKET.__dict__, "reference": f"fixops-f-{i}"}))
    response = snow.session.get(
        f"{fake_servicenow.url}/api/now/table/incident", params={"sysparm_limit": "2"}
    )
    assert response.headers["X-Total-Count"] == "3" and 'rel="next"' in response.headers["Link"]
    assert len(response.json()["result"]) == 2


def test_test_connection(fake_servicenow):
    assert connector(fake_servicenow).test_connection() == (
        "authenticated as fixops.integration (FixOps Integration); table incident readable"
    )


def test_config_validation():
    assert validate_config("servicenow", {"username": "u", "password": "p"}, {}) == {}
    errors = validate_config(
        "servicenow", {"username": "u"}, {"table": "x;y", "comment_field": "no"}
    )
    assert set(errors) == {"credentials", "settings.table", "settings.comment_field"}
