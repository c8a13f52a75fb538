"""Writes of the advisory app: providers, the tenant's settings and data-sharing acceptance,
token usage. Every change is audited; audit rows never hold an API key.

`available(tenant)` is the feature switch every advisory surface reads: advice exists for a
tenant only when an admin enabled it (which needs the data-sharing notice accepted) and at
least one enabled provider is configured. Otherwise the advice endpoints answer 404 and the
panels are hidden: absent, not an error.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.advisory import selectors
from apps.advisory.models import AdvisorySettings, Provider, TokenUsage
from apps.tenants.models import Tenant
from fixops.platform.audit import audit_record
from fixops.platform.errors import Conflict, Invalid
from fixops.platform.http import breaker
from fixops.platform.http.ssrf import UnsafeURL, check_url

PROVIDER_FIELDS = (
    "name",
    "kind",
    "base_url",
    "model",
    "api_key",
    "weight",
    "timeout",
    "daily_token_budget",
    "price_in_per_1k",
    "price_out_per_1k",
    "enabled",
)

DATA_SHARING_NOTICE = (
    "When AI advisory is enabled, FixOps sends each question to every enabled model provider "
    "configured for this tenant: third parties (or your own servers) outside FixOps. A "
    "question carries the finding's or decision's facts: tool, rule, title, message, "
    "severity, CWE, vulnerability ids, component name and version, file path and line, risk "
    "figures, and the application's name, criticality, exposure and data classification. "
    "Secrets are replaced by [REDACTED:<rule>] before anything leaves (secret findings' "
    "messages are never sent), but code paths, package names and rule text are. What was "
    "sent is kept (digest and redacted text) for audit. Advice is advisory only: it never "
    "changes a finding's status or a decision's outcome by itself. Providers' own terms "
    "govern what they keep and whether they train on it."
)


def available(tenant: Tenant) -> bool:
    """Whether advice exists for `tenant` (see the module docstring)."""
    if not selectors.settings_of(tenant=tenant).enabled:
        return False
    return selectors.provider_enabled_list(tenant=tenant).exists()


def configured(tenant: Tenant) -> bool:
    """Whether the tenant has any provider at all (enabled or not)."""
    return selectors.provider_list(tenant=tenant).exists()


# --- Providers ---------------------------------------------------------------------------------


def _facts(provider: Provider) -> dict[str, Any]:
    """What an audit row says about a provider: never its API key."""
    return {
        "name": provider.name,
        "kind": provider.kind,
        "base_url": provider.base_url,
        "model": provider.model,
        "weight": provider.weight,
        "timeout": provider.timeout,
        "daily_token_budget": provider.daily_token_budget,
        "price_in_per_1k": str(provider.price_in_per_1k),
        "price_out_per_1k": str(provider.price_out_per_1k),
        "enabled": provider.enabled,
        "has_api_key": bool(provider.api_key_token),
    }


def provider_check(provider: Provider, *, url: bool = True) -> None:
    """Invalid (details per field) unless the base URL passes the SSRF guard and the
    weight and timeout are in range."""
    errors: dict[str, str] = {}
    try:
        if url:
            check_url(provider.base_url)
    except UnsafeURL as exc:
        errors["base_url"] = str(exc)
    if provider.weight <= 0:
        errors["weight"] = "must be greater than 0"
    if not 1 <= provider.timeout <= 600:
        errors["timeout"] = "must be between 1 and 600 seconds"
    if errors:
        raise Invalid(
            "The provider configuration is not valid: "
            + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
            code="invalid_provider",
            details=errors,
        )


def _save(
    provider: Provider, *, actor: str, action: str, before: dict | None, changed: list[str]
) -> Provider:
    try:
        with transaction.atomic():
            provider.save()
            audit_record(
                tenant=provider.tenant,
                actor=actor,
                action=action,
                target_type="advisory.provider",
                target_id=provider.pk,
                before=before,
                after={**_facts(provider), "fields": sorted(set(changed))},
            )
    except IntegrityError:
        raise Conflict(
            f"A provider named {provider.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
        ) from None
    return provider


def provider_create(
    *,
    tenant: Tenant,
    name: str,
    kind: str,
    base_url: str,
    model: str,
    actor: str = "system",
    **fields: Any,
) -> Provider:
    """Configure a model provider (base URL SSRF-checked; 409 on a name already used)."""
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise TypeError(f"unknown provider fields: {sorted(unknown)}")
    api_key = fields.pop("api_key", "")
    provider = Provider(
        tenant=tenant, name=name, kind=kind, base_url=base_url, model=model, **fields
    )
    provider.api_key = api_key
    provider_check(provider)
    changed = ["name", "kind", "base_url", "model", *fields] + (["api_key"] if api_key else [])
    return _save(
        provider, actor=actor, action="advisory.provider.create", before=None, changed=changed
    )


def provider_update(*, provider: Provider, actor: str = "system", **fields: Any) -> Provider:
    """Change the given fields; the API key only when given (an empty one clears it)."""
    unknown = set(fields) - set(PROVIDER_FIELDS)
    if unknown:
        raise TypeError(f"unknown provider fields: {sorted(unknown)}")
    before = _facts(provider)
    reroute = any(k in fields for k in ("kind", "base_url", "api_key"))
    url_changed = fields.get("base_url", provider.base_url) != provider.base_url
    for key, value in fields.items():
        setattr(provider, key, value)
    provider_check(provider, url=url_changed)
    provider = _save(
        provider,
        actor=actor,
        action="advisory.provider.update",
        before=before,
        changed=list(fields),
    )
    if reroute:
        # A new destination or key deserves a fresh start rather than the old one's breaker.
        breaker.reset(Provider.objects.filter(pk=provider.pk))
    return provider


def provider_delete(*, provider: Provider, actor: str = "system") -> None:
    """Remove a provider and its usage rows."""
    with transaction.atomic():
        audit_record(
            tenant=provider.tenant,
            actor=actor,
            action="advisory.provider.delete",
            target_type="advisory.provider",
            target_id=provider.pk,
            before=_facts(provider),
            after=None,
        )
        provider.delete()


# --- Settings ----------------------------------------------------------------------------------


def _settings_facts(row: AdvisorySettings) -> dict[str, Any]:
    return {
        "enabled": row.enabled,
        "consensus_threshold": row.consensus_threshold,
        "data_sharing_accepted_by": row.data_sharing_accepted_by_id,
        "data_sharing_accepted_at": row.data_sharing_accepted_at.isoformat()
        if row.data_sharing_accepted_at
        else None,
    }


def _locked_settings(tenant: Tenant) -> AdvisorySettings:
    row, _ = AdvisorySettings.objects.get_or_create(tenant=tenant)
    return AdvisorySettings.objects.select_for_update().get(pk=row.pk)


def settings_update(
    *,
    tenant: Tenant,
    actor: str = "system",
    user: Any = None,
    enabled: bool | None = None,
    consensus_threshold: float | None = None,
    accept_data_sharing: bool | None = None,
) -> AdvisorySettings:
    """Change the tenant's advisory settings. Accepting the data-sharing notice records who
    and when (`user`); withdrawing it turns advisory off. Enabling needs it accepted."""
    with transaction.atomic():
        row = _locked_settings(tenant)
        before = _settings_facts(row)
        if accept_data_sharing is True and row.data_sharing_accepted_at is None:
            if user is None:
                raise Invalid(
                    "Only a signed-in person can accept the data-sharing notice.",
                    code="data_sharing_needs_person",
                    details={"accept_data_sharing": ["needs a signed-in admin, not a token"]},
                )
            row.data_sharing_accepted_by = user
            row.data_sharing_accepted_at = timezone.now()
        elif accept_data_sharing is False:
            row.data_sharing_accepted_by = None
            row.data_sharing_accepted_at = None
            row.enabled = False
        if consensus_threshold is not None:
            if not 0.5 <= consensus_threshold <= 1.0:
                raise Invalid(
                    "consensus_threshold must be between 0.5 and 1.",
                    code="invalid_settings",
                    details={"consensus_threshold": ["must be between 0.5 and 1"]},
                )
            row.consensus_threshold = consensus_threshold
        if enabled is not None:
            if enabled and row.data_sharing_accepted_at is None:
                raise Invalid(
                    "Accept the data-sharing notice before enabling AI advisory.",
                    code="data_sharing_not_accepted",
                    details={"enabled": ["needs the data-sharing notice accepted"]},
                )
            row.enabled = enabled
        after = _settings_facts(row)
        if after != before:
            row.save()
            audit_record(
                tenant=tenant,
                actor=actor,
                action="advisory.settings.update",
                target_type="advisory.settings",
                target_id=row.pk,
                before=before,
                after=after,
            )
    return row


# --- Usage -------------------------------------------------------------------------------------


def usage_record(
    *,
    provider: Provider,
    tokens_in: int = 0,
    tokens_out: int = 0,
    cost: Decimal = Decimal("0"),
    skipped_over_budget: bool = False,
) -> None:
    """Add one call (or one over-budget skip) to the provider's usage of today (UTC).

    A counter, not a state change anyone decides: it is not audited (the advice that caused it
    is)."""
    day = timezone.now().date()
    row, _ = TokenUsage.objects.get_or_create(
        tenant_id=provider.tenant_id, provider=provider, day=day
    )
    changes: dict[str, Any] = (
        {"skipped_over_budget": F("skipped_over_budget") + 1}
        if skipped_over_budget
        else {
            "tokens_in": F("tokens_in") + tokens_in,
            "tokens_out": F("tokens_out") + tokens_out,
            "cost": F("cost") + cost,
            "calls": F("calls") + 1,
        }
    )
    TokenUsage.objects.filter(pk=row.pk).update(**changes)
