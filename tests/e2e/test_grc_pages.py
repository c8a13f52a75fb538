"""The GRC pages in a real browser under the strict CSP: the decision page (verdict and
reasons first, the input folded, Verify evidence, Download), the integration form of a kind
and its Test connection button against a fake vendor. Screenshots go to var/screenshots/
(tests/e2e/browser.py), for the docs and CI artefacts."""

from __future__ import annotations

import pytest

from apps.connectors.services import integration_create
from tests.e2e.browser import assert_clean, shot, sign_in
from tests.evidence.conftest import evidence_settings, signing_key_file  # noqa: F401
from tests.evidence.factories import make_bundle, make_decision
from tests.fakes.fixtures import fake_gitlab  # noqa: F401
from tests.findings.factories import ApplicationFactory
from tests.tenants.factories import MembershipFactory, UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_decision_page_and_integration_test_in_a_browser(live_server, acme, request):
    # Fixtures imported from other modules, looked up by name (a parameter would shadow the
    # import that registers them here).
    page = request.getfixturevalue("browsing").page()
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
    base = live_server.url
    sign_in(page, base, "grace")

    page.goto(f"{base}/admin/policies/decision/")
    shot(page, "decisions")
    page.click("a .fixops-outcome-block")
    # title() does not wait as locators do: wait for the decision page itself to load.
    page.wait_for_url(f"{base}/admin/policies/decision/{decision.pk}/change/")
    assert page.title().startswith("BLOCK · payments-api @ 3f2a9c1 · ")
    assert page.locator("#decision-reasons a.fixops-finding-link").count() == 2
    assert not page.locator("#decision-input pre").is_visible()  # folded
    # The verdict is on the first screen; the input is last.
    assert page.locator("#decision-outcome").bounding_box()["y"] < 400
    shot(page, "decision")
    page.click("#verify-evidence")
    page.wait_for_selector("#verification-result")
    assert "Valid: the bundle verifies." in page.locator("#verification-result").inner_text()
    assert page.locator("#verification-result .fixops-check-ok").count() == 5
    shot(page, "decision-verified")
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
    shot(page, "integration-add-jira")
    page.goto(f"{base}/admin/connectors/integration/{gitlab.pk}/change/")
    assert config["credentials"]["token"] not in page.content()
    page.click("#test-connection")
    page.wait_for_selector("ul.messagelist li.success")
    assert "works: authenticated as" in page.locator("ul.messagelist li.success").inner_text()
    shot(page, "integration-tested")

    assert_clean(page)
