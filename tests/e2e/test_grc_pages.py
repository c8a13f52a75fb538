"""The GRC pages in a real browser under the strict CSP: the decision page (verdict and
reasons first, the input folded, Verify evidence, Download), the integration form of a kind
and its Test connection button against a fake vendor. Screenshots go to
$FIXOPS_SCREENSHOTS (default: pytest's tmp dir) for the docs and CI artefacts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from apps.connectors.services import integration_create
from tests.e2e.test_admin_browser import PASSWORD, browser_page, code_from_secret  # noqa: F401
from tests.evidence.conftest import evidence_settings, signing_key_file  # noqa: F401
from tests.evidence.factories import make_bundle, make_decision
from tests.fakes.fixtures import fake_gitlab  # noqa: F401
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/accounts/login/enrol/")
    page.fill("#id_otp_token", code_from_secret(page.locator("code.secret").inner_text()))
    page.click("button[type=submit]")
    page.click("a.button")
    page.wait_for_url(f"{base}/admin/")


def _shots(tmp_path) -> Path:
    folder = Path(os.environ.get("FIXOPS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_decision_page_and_integration_test_in_a_browser(live_server, acme, tmp_path, request):
    # Fixtures imported from other modules, looked up by name (a parameter would shadow the
    # import that registers them here).
    page = request.getfixturevalue("browser_page")
    request.getfixturevalue("evidence_settings")
    gitlab_fake = request.getfixturevalue("fake_gitlab")
    user = UserFactory(username="grace", is_staff=True)
    MembershipFactory(user=user, tenant=acme, role="admin")
    decision = make_decision(
        acme, application=ApplicationFactory(tenant=acme, name="payments-api"), commit="3f2a9c1d"
    )
    make_bundle(decision)
    config = gitlab_fake.config()
    gitlab = integration_create(tenant=acme, name="acme-gitlab", actor="test", **config)
    base, shots = live_server.url, _shots(tmp_path)
    _sign_in(page, base, "grace")

    page.goto(f"{base}/admin/policies/decision/")
    page.screenshot(path=shots / "decisions.png", full_page=True)
    page.click("a .fixops-outcome-block")
    assert page.title().startswith("BLOCK · payments-api @ 3f2a9c1 · ")
    assert page.locator("#decision-reasons a.fixops-finding-link").count() == 2
    assert not page.locator("#decision-input pre").is_visible()  # folded
    # The verdict is on the first screen; the input is last.
    assert page.locator("#decision-outcome").bounding_box()["y"] < 400
    page.screenshot(path=shots / "decision.png", full_page=True)
    page.click("#verify-evidence")
    page.wait_for_selector("#verification-result")
    assert "Valid: the bundle verifies." in page.locator("#verification-result").inner_text()
    assert page.locator("#verification-result .fixops-check-ok").count() == 5
    page.screenshot(path=shots / "decision-verified.png", full_page=True)
    with page.expect_download() as download:
        page.click("#download-evidence")
    assert download.value.suggested_filename.endswith(".dsse.json") or (
        download.value.suggested_filename.startswith("decision-")
    )
    page.click("#decision-input summary")
    assert page.locator("#decision-input pre").is_visible()

    page.goto(f"{base}/admin/connectors/integration/add/")
    page.click("#add-jira")
    page.wait_for_selector("input[name=settings__project_key]")
    assert page.locator("input[name=credentials__api_token][type=password]").count() == 1
    page.screenshot(path=shots / "integration-add-jira.png", full_page=True)
    page.goto(f"{base}/admin/connectors/integration/{gitlab.pk}/change/")
    assert config["credentials"]["token"] not in page.content()
    page.click("#test-connection")
    page.wait_for_selector("ul.messagelist li.success")
    assert "works: authenticated as" in page.locator("ul.messagelist li.success").inner_text()
    page.screenshot(path=shots / "integration-tested.png", full_page=True)

    problems = [p for p in page.problems if "favicon" not in p]
    assert not problems, "\n".join(problems)
