"""GitLab issues connector against the fake GitLab."""

from __future__ import annotations

import pytest

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.registry import validate_config
from fixops.platform.http.errors import PermanentError
from tests.fakes.fixtures import connector

TICKET = Ticket(
    reference="fixops-f-3",
    title="Hard-coded secret",
    body="In config.py",
    labels=("security", "a,b"),
    url="https://fixops.test/f/3",
)


def test_round_trip(fake_gitlab):
    gl = connector(fake_gitlab, labels=["fixops"])
    ref = gl.create(TICKET)
    assert (ref.id, ref.key, ref.status) == ("1", "#1", "opened")
    assert ref.url == f"{fake_gitlab.url}/acme/app/-/issues/1"
    [issue] = fake_gitlab.with_reference("fixops-f-3")
    assert issue["labels"] == ["fixops-f-3", "fixops", "security", "a b"]
    assert issue["description"] == "In config.py\n\n[View in FixOps](https://fixops.test/f/3)"
    # The project path is URL-encoded in the request path.
    assert fake_gitlab.requests_to("POST", r"/projects/acme%2Fapp/issues$")

    assert gl.find_by_reference("fixops-f-3").id == "1"
    assert gl.find_by_reference("fixops-f-4") is None

    ref = gl.transition(ref, "closed")
    assert ref.status == "closed" and ref.extra["fixops_status"] == "closed"
    ref = gl.update(ref, Ticket(**{**TICKET.__dict__, "title": "Secret in config"}))
    assert issue["title"] == "Secret in config" and ref.status == "opened"
    assert issue["events"] == ["close", "reopen"]
    gl.comment(ref, "Rotated")
    assert issue["notes"][0]["body"] == "Rotated"
    assert len(fake_gitlab.with_reference("fixops-f-3")) == 1


def test_create_closed(fake_gitlab):
    ref = connector(fake_gitlab).create(Ticket(**{**TICKET.__dict__, "status": "closed"}))
    assert ref.status == "closed"


def test_find_returns_oldest_and_pagination(fake_gitlab):
    gl = connector(fake_gitlab)
    for _ in range(3):
        gl.create(TICKET)
    assert gl.find_by_reference("fixops-f-3").id == "1"
    response = gl.session.get(
        f"{fake_gitlab.url}/api/v4/projects/42/issues", params={"per_page": "2"}
    )
    assert response.headers["X-Total"] == "3" and response.headers["X-Next-Page"] == "2"
    assert response.headers["Link"].startswith(f"<{fake_gitlab.url}/")


def test_errors_carry_vendor_text(fake_gitlab):
    gl = connector(fake_gitlab)
    with pytest.raises(PermanentError, match="404 Issue Not Found"):
        gl.comment(RemoteRef(id="99"), "x")
    ref = gl.create(TICKET)
    with pytest.raises(PermanentError, match="title: can't be blank"):
        gl.update(ref, Ticket(**{**TICKET.__dict__, "title": ""}))
    with pytest.raises(PermanentError, match="404 Project Not Found"):
        connector(fake_gitlab, project="acme/other").create(TICKET)


def test_test_connection(fake_gitlab):
    assert connector(fake_gitlab).test_connection() == (
        "authenticated as fixops-bot; project acme/app reachable"
    )


def test_config_validation():
    assert validate_config("gitlab", {"token": "t"}, {"project": "a/b"}) == {}
    assert set(validate_config("gitlab", {}, {"labels": "x"})) == {
        "credentials",
        "settings.project",
        "settings.labels",
    }
