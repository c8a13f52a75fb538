"""Jira Cloud (v3) and Data Center (v2) connector against the fake Jira."""

from __future__ import annotations

import pytest

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.registry import validate_config
from fixops.platform.http.errors import PermanentError
from tests.fakes.fixtures import connector
from tests.fakes.jira import FakeJira

TICKET = Ticket(
    reference="fixops-f-101",
    title="CVE-2024-0001 in openssl",
    body="Found in *image* x.\n\n- first {code}\n- second",
    severity="high",
    labels=("fixops", "sca"),
    url="https://fixops.test/findings/101",
)


@pytest.fixture(params=["cloud", "datacenter"])
def fake(request):
    with FakeJira(deployment=request.param) as fake:
        yield fake


def test_create_update_transition_comment_find(fake):
    jira = connector(fake)
    ref = jira.create(TICKET)
    assert ref.key == "SEC-1" and ref.url == f"{fake.url}/browse/SEC-1"
    assert ref.status == "To Do"
    [issue] = fake.with_reference("fixops-f-101")
    assert issue["fields"]["labels"] == ["fixops-f-101", "fixops", "sca"]
    assert issue["fields"]["issuetype"] == {"name": "Bug"}
    description = issue["fields"]["description"]
    if fake.deployment == "cloud":
        assert fake.requests_to("POST", r"/rest/api/3/issue$")
        assert description["type"] == "doc"
        kinds = [node["type"] for node in description["content"]]
        assert kinds == ["paragraph", "bulletList", "paragraph"]
    else:
        assert fake.requests_to("POST", r"/rest/api/2/issue$")
        assert "\\*image\\*" in description and "* first \\{code\\}" in description
        assert fake.requests[-1].header("Authorization") == "Bearer jira-pat"

    found = jira.find_by_reference("fixops-f-101")
    assert found is not None and found.id == ref.id and found.key == "SEC-1"
    assert jira.find_by_reference("fixops-f-999") is None

    updated = jira.update(ref, Ticket(**{**TICKET.__dict__, "title": "Renamed"}))
    assert issue["fields"]["summary"] == "Renamed"
    assert updated.status == "To Do"

    closed = jira.transition(ref, "closed")
    assert closed.status == "Done" and closed.extra["fixops_status"] == "closed"
    assert issue["transitions"] == ["Done"]
    # Already closed: no second transition is attempted.
    jira.transition(ref, "closed")
    assert issue["transitions"] == ["Done"]
    reopened = jira.transition(ref, "open")
    assert reopened.status == "To Do" and issue["transitions"] == ["Done", "Reopen"]

    jira.comment(ref, "Fixed in 1.2.3")
    assert len(issue["comments"]) == 1
    assert len(fake.with_reference("fixops-f-101")) == 1


def test_create_closed_ticket_transitions_at_once(fake_jira):
    jira = connector(fake_jira)
    ref = jira.create(Ticket(**{**TICKET.__dict__, "status": "closed"}))
    assert ref.status == "Done"


def test_update_with_closed_status_closes(fake_jira):
    jira = connector(fake_jira)
    ref = jira.create(TICKET)
    ref = jira.update(ref, Ticket(**{**TICKET.__dict__, "status": "closed"}))
    assert ref.status == "Done"


def test_transition_names_come_from_settings(fake_jira):
    jira = connector(fake_jira, transitions={"closed": "Close issue"})
    ref = jira.create(TICKET)
    with pytest.raises(PermanentError, match="no transition named 'Close issue'.*'Done'"):
        jira.transition(ref, "closed")
    # A target status name works too.
    ref = connector(fake_jira, transitions={"closed": "done"}).transition(ref, "closed")
    assert ref.status == "Done"


def test_unknown_status_is_refused(fake_jira):
    jira = connector(fake_jira)
    with pytest.raises(PermanentError, match="unknown status 'resolved'"):
        jira.transition(RemoteRef(id="1", key="SEC-1"), "resolved")


def test_priority_map(fake_jira):
    jira = connector(fake_jira, priority_map={"high": "Highest"})
    jira.create(TICKET)
    [issue] = fake_jira.with_reference("fixops-f-101")
    assert issue["fields"]["priority"] == {"name": "Highest"}


def test_vendor_validation_text_is_kept(fake_jira):
    jira = connector(fake_jira)
    with pytest.raises(PermanentError) as err:
        jira.create(Ticket(reference="fixops-f-1", title="", body="x"))
    assert err.value.status == 400
    assert "summary: You must specify a summary of the issue." in str(err.value)


def test_missing_issue_is_permanent(fake_jira):
    jira = connector(fake_jira)
    with pytest.raises(PermanentError, match="Issue does not exist"):
        jira.comment(RemoteRef(id="999", key="SEC-999"), "x")


def test_cloud_search_lag_hides_new_issues(fake_jira):
    """Jira Cloud search is eventually consistent: the fake models the lag."""
    fake_jira.index_lag = 60
    jira = connector(fake_jira)
    jira.create(TICKET)
    assert jira.find_by_reference("fixops-f-101") is None
    fake_jira.index_lag = 0
    assert jira.find_by_reference("fixops-f-101") is not None


def test_search_paginates(fake_jira):
    jira = connector(fake_jira)
    for _ in range(3):
        jira.create(TICKET)
    session = jira.session
    first = session.post(
        f"{fake_jira.url}/rest/api/3/search/jql",
        json={"jql": 'project = "SEC" AND labels = "fixops-f-101"', "maxResults": 2},
    ).json()
    assert len(first["issues"]) == 2 and first["isLast"] is False
    second = session.post(
        f"{fake_jira.url}/rest/api/3/search/jql",
        json={
            "jql": 'project = "SEC" AND labels = "fixops-f-101"',
            "maxResults": 2,
            "nextPageToken": first["nextPageToken"],
        },
    ).json()
    assert len(second["issues"]) == 1 and second["isLast"] is True
    # Duplicates: the oldest one is the reference holder.
    assert jira.find_by_reference("fixops-f-101").key == "SEC-1"


def test_test_connection(fake):
    assert connector(fake).test_connection() == (
        "authenticated as jane@acme.test; project SEC reachable"
    )
    with pytest.raises(PermanentError, match="project 'NOPE' is not visible"):
        connector(fake, project_key="NOPE").test_connection()


def test_config_validation():
    assert validate_config("jira", {"email": "a@b", "api_token": "t"}, {"project_key": "SEC"}) == {}
    assert (
        validate_config("jira", {"token": "t"}, {"project_key": "S", "deployment": "datacenter"})
        == {}
    )
    errors = validate_config("jira", {"token": "t"}, {"deployment": "cloud"})
    assert "settings.project_key" in errors and "api_token" in errors["credentials"]
    errors = validate_config("jira", {}, {"project_key": "S", "deployment": "server"})
    assert "settings.deployment" in errors
    errors = validate_config(
        "jira",
        {"token": "t"},
        {
            "project_key": "S",
            "deployment": "datacenter",
            "transitions": {"gone": "x"},
            "priority_map": [],
        },
    )
    assert set(errors) == {"settings.transitions", "settings.priority_map"}
