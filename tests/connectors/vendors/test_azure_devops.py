"""Azure DevOps work items against the fake organisation."""

from __future__ import annotations

import pytest

from apps.connectors.base import RemoteRef, Ticket
from apps.connectors.registry import connector_for, validate_config
from fixops.platform.http.errors import PermanentError
from tests.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.fixtures import connector

TICKET = Ticket(
    reference="fixops-f-11",
    title="SQL injection",
    body="In <login> handler",
    severity="high",
    labels=("fixops", "a;b"),
    url="https://fixops.test/f/11",
)


def test_round_trip(fake_azure_devops):
    ado = connector(fake_azure_devops, priority_map={"high": 1}, area_path="Security\\AppSec")
    ref = ado.create(TICKET)
    assert ref.status == "New" and ref.version == 1
    assert ref.url == f"{fake_azure_devops.url}/acme/Security/_workitems/edit/{ref.id}"
    [item] = fake_azure_devops.with_reference("fixops-f-11")
    fields = item["fields"]
    assert fields["System.Tags"] == "fixops-f-11; fixops; a,b"
    assert fields["System.Description"].startswith("<p>In &lt;login&gt; handler</p>")
    assert fields["Microsoft.VSTS.Common.Priority"] == 1
    assert fields["System.AreaPath"] == "Security\\AppSec"
    create = fake_azure_devops.requests_to("POST", r"/workitems/\$Bug$")[0]
    assert create.header("Content-Type") == "application/json-patch+json"
    assert create.arg("api-version") == "7.1"

    assert ado.find_by_reference("fixops-f-11").id == ref.id
    assert ado.find_by_reference("fixops-f-1") is None  # a tag is matched whole, not as a prefix

    ref = ado.transition(ref, "closed")
    assert ref.status == "Closed" and ref.extra["fixops_status"] == "closed"
    assert ado.transition(ref, "closed").version == ref.version  # no write
    ref = ado.update(ref, Ticket(**{**TICKET.__dict__, "title": "SQLi in login"}))
    assert ref.status == "Active" and fields["System.Title"] == "SQLi in login"
    ado.comment(ref, "Patched")
    assert item["comments"] == ["<p>Patched</p>"]
    assert len(fake_azure_devops.with_reference("fixops-f-11")) == 1


def test_create_closed_and_basic_process_states(fake_azure_devops):
    ado = connector(fake_azure_devops, states={"closed": "Done"})
    ado.create(TICKET)
    with pytest.raises(PermanentError, match="TF401320.*'Done' is not in the list"):
        ado.create(Ticket(**{**TICKET.__dict__, "status": "closed"}))
    ref = connector(fake_azure_devops).create(Ticket(**{**TICKET.__dict__, "status": "closed"}))
    assert ref.status == "Closed"


def test_stale_rev_is_read_again_once(fake_azure_devops):
    ado = connector(fake_azure_devops)
    ref = ado.create(TICKET)
    original = fake_azure_devops.get_item

    def racing_get(req, **kw):
        answer = original(req, **kw)
        if req.arg("$expand") and not getattr(racing_get, "done", False):
            racing_get.done = True
            fake_azure_devops.state["items"][int(ref.id)]["rev"] += 1  # a concurrent edit
        return answer

    fake_azure_devops.get_item = racing_get
    assert ado.transition(ref, "closed").status == "Closed"
    patches = [r for r in fake_azure_devops.requests if r.method == "PATCH"]
    assert len(patches) == 2  # the 412 one, then the one on the fresh rev


def test_missing_item(fake_azure_devops):
    with pytest.raises(PermanentError, match="TF401232: Work item 999 does not exist"):
        connector(fake_azure_devops).comment(RemoteRef(id="999"), "x")


def test_sign_in_page_is_rejected_credentials():
    with FakeAzureDevOps(sign_in_page=True) as fake:
        cfg = fake.config()

        ado = connector_for(
            "azure_devops",
            base_url=cfg["base_url"],
            credentials={"token": "wrong"},
            settings=cfg["settings"],
        )
        with pytest.raises(
            PermanentError, match="credentials rejected \\(HTTP 203 sign-in page\\)"
        ):
            ado.test_connection()


def test_test_connection(fake_azure_devops):
    assert (
        connector(fake_azure_devops).test_connection()
        == "authenticated; project Security reachable"
    )
    with pytest.raises(PermanentError, match="TF200016"):
        connector(fake_azure_devops, project="Other").test_connection()


def test_config_validation():
    assert validate_config("azure_devops", {"token": "t"}, {"project": "P"}) == {}
    errors = validate_config("azure_devops", {}, {"states": {"x": 1}, "priority_map": {"high": 9}})
    assert set(errors) == {
        "credentials",
        "settings.project",
        "settings.states",
        "settings.priority_map",
    }
