"""Receiving one webhook delivery: find the integration by its public id, verify the delivery
the way its vendor signs, and store it in the inbox (apps/connectors/models.InboundDelivery).

Nothing is applied here: the endpoint answers as soon as the row commits (2xx fast, as every
vendor wants within a few seconds) and the inbox worker (inbox.py) applies it. The body is
parsed once here only to refuse a malformed delivery with 400 before storing it; a delivery
that reports nothing FixOps follows is stored as `ignored` (so its replay is still known) and
no worker is woken for it. A replayed delivery id stores nothing and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.connectors.inbound.signatures import HookMalformed, HookRejected
from apps.connectors.inbound.vendors import HOOKS
from apps.connectors.models import (
    DeliveryStatus,
    InboundDelivery,
    Integration,
    new_webhook_secret,
)
from apps.connectors.tasks import inbox_process_task
from fixops.platform import metrics
from fixops.platform.errors import Invalid, NotFound

logger = logging.getLogger(__name__)

# Request headers never stored with a delivery: credentials (Azure DevOps basic auth, GitLab's
# plain token) and proxy/cookie noise. Signatures are kept: they are no secret and show what
# was verified.
_SECRET_HEADERS = frozenset(
    ("authorization", "proxy-authorization", "cookie", "x-gitlab-token", "x-fixops-token")
)
_HEADERS_KEPT = 60


@dataclass(frozen=True)
class Received:
    status: int  # 202 stored for the worker; 200 a replay or nothing to follow
    delivery_id: str
    outcome: str  # accepted | replayed | unfollowed


def hook_module(kind: str) -> ModuleType | None:
    """The webhook module of a kind, or None when the kind sends nothing FixOps follows."""
    return HOOKS.get(kind)


def hook_secret(integration: Integration, module: ModuleType) -> str:
    """The secret `module.verify` checks: a vendor-issued credential where the vendor issues
    it (Slack's signing secret), else the webhook secret FixOps generated."""
    name = getattr(module, "SECRET_CREDENTIAL", None)
    if name:
        return str(integration.credentials.get(name) or "")
    return integration.webhook_secret


def vendor_issues_secret(kind: str) -> bool:
    """Whether the kind's webhooks are verified with a secret the vendor issues (Slack's
    signing secret, a write-only credential) rather than one FixOps generates."""
    module = hook_module(kind)
    return bool(module and getattr(module, "SECRET_CREDENTIAL", None))


def new_secret_for(kind: str) -> str:
    """A fresh webhook secret in the form the kind's vendor accepts ("" when the vendor
    issues it): the vendor module's `new_secret()` where it has one (GitLab's `whsec_` form
    serves as secret token and signing token), else 256 random bits."""
    if vendor_issues_secret(kind):
        return ""
    module = hook_module(kind)
    make = getattr(module, "new_secret", None) if module else None
    return make() if make else new_webhook_secret()


def webhook_url(integration: Integration) -> tuple[str, str]:
    """(URL the vendor posts to, warning): absolute from FIXOPS_PUBLIC_URL, else relative
    with a warning saying what to set."""
    relative = reverse("hooks:hook", kwargs={"public_id": integration.public_id})
    base = (settings.FIXOPS_PUBLIC_URL or "").rstrip("/")
    if base:
        return base + relative, ""
    return relative, (
        "FIXOPS_PUBLIC_URL is not set: prefix this path with the address vendors reach FixOps at."
    )


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers stored with a delivery (what `parse` reads), without credentials."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower in _SECRET_HEADERS or "secret" in lower or "token" in lower:
            continue
        kept[name[:100]] = str(value)[:1000]
        if len(kept) >= _HEADERS_KEPT:
            break
    return kept


def _integration(public_id: str) -> tuple[Integration, ModuleType]:
    # A disabled integration answers exactly like an unknown id (404): its URL stops working
    # without saying that it exists.
    integration = (
        Integration.objects.filter(public_id=public_id, enabled=True)
        .select_related("tenant")
        .first()
        if public_id
        else None
    )
    module = hook_module(integration.kind) if integration else None
    if integration is None or module is None:
        metrics.inbound_deliveries.labels("unknown", "not_found").inc()
        raise NotFound("No webhook is registered at this address.", code="hook_not_found")
    return integration, module


def hook_receive(
    *, public_id: str, headers: Mapping[str, str], body: bytes, now: datetime | None = None
) -> Received:
    """Verify one delivery to `/hooks/<public_id>/` and store it in the inbox.

    Raises NotFound (unknown or disabled integration), HookRejected (not authentic: its
    status, 400/401), Invalid (verified but malformed)."""
    now = now or timezone.now()
    integration, module = _integration(public_id)
    kind = integration.kind
    try:
        verified = module.verify(
            secret=hook_secret(integration, module),
            headers=headers,
            body=body,
            now=now,
            settings=integration.settings or {},
        )
        changes = module.parse(headers=headers, body=body)
    except HookRejected:
        metrics.inbound_deliveries.labels(kind, "rejected").inc()
        raise
    except HookMalformed as exc:
        metrics.inbound_deliveries.labels(kind, "malformed").inc()
        raise Invalid(
            f"The delivery is not a {kind} webhook body: {exc}", code="malformed"
        ) from None
    pending = bool(changes)
    row = InboundDelivery(
        tenant_id=integration.tenant_id,
        integration=integration,
        delivery_id=verified.delivery_id[:200],
        received_at=now,
        occurred_at=verified.occurred_at,
        headers=kept_headers(headers),
        body=body,
        status=DeliveryStatus.PENDING if pending else DeliveryStatus.IGNORED,
        max_attempts=settings.FIXOPS_INBOX_MAX_ATTEMPTS,
        next_attempt_at=now,
        applied_at=None if pending else now,
        result={} if pending else {"effects": {"not followed": 1}},
    )
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        metrics.inbound_deliveries.labels(kind, "replayed").inc()
        return Received(200, row.delivery_id, "replayed")
    if pending:
        transaction.on_commit(_trigger, robust=True)
        metrics.inbound_deliveries.labels(kind, "accepted").inc()
        return Received(202, row.delivery_id, "accepted")
    metrics.inbound_deliveries.labels(kind, "unfollowed").inc()
    return Received(200, row.delivery_id, "unfollowed")


def _trigger() -> None:
    try:
        inbox_process_task.apply_async(kwargs={"reason": "commit"}, ignore_result=True)
    except Exception:  # noqa: BLE001 - the row is committed; beat processes it anyway
        logger.warning("could not queue the inbox worker; beat will pick the delivery up")
