"""Fixtures of the inbound tests: integrations pointing at the fake vendors, findings with a
real ticket there (delivered through the outbox), and webhook subscriptions whose target is
our /hooks/ endpoint, called through Django's test client (the fakes sign exactly as their
vendor does; see tests/fakes/webhooks.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from apps.connectors import drain, tickets
from apps.connectors.models import ExternalLink, Integration
from apps.findings.models import Finding
from tests.findings.factories import FindingFactory


def hook_path(integration: Integration, slash: bool = True) -> str:
    return f"/hooks/{integration.public_id}" + ("/" if slash else "")


def endpoint(integration: Integration, *, slash: bool = True) -> Callable[[dict, bytes], int]:
    """A fake's subscription target that POSTs to our endpoint (status code back)."""
    client = Client()

    def post(headers: dict[str, str], body: bytes) -> int:
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        content_type = headers.get("Content-Type") or headers.get("content-type") or "text/plain"
        response = client.generic(
            "POST", hook_path(integration, slash), body, content_type=content_type, headers=extra
        )
        post.last = response  # type: ignore[attr-defined]
        return response.status_code

    return post


@pytest.fixture
def ticket_for(django_capture_on_commit_callbacks) -> Callable[..., tuple[Finding, ExternalLink]]:
    """ticket_for(integration) -> (finding, link): a high finding of the integration's tenant
    with its ticket created at the fake vendor through the outbox."""

    def make(integration: Integration, **fields) -> tuple[Finding, ExternalLink]:
        finding = FindingFactory(tenant=integration.tenant, severity="critical", **fields)
        tickets.findings_request(
            tenant_id=integration.tenant_id, finding_ids=[finding.pk], cause=f"t{finding.pk}"
        )
        drain.drain(budget_seconds=10, integration_id=integration.pk)
        link = ExternalLink.objects.get(integration=integration, finding=finding)
        return finding, link

    return make
