"""Every change made in the admin is audited, in the transaction of the change.

Admins whose `save_model` calls a service (tokens, integrations, policies, evidence settings)
are audited by that service; for plain rows edited by hand (a tenant's settings, a
membership, an application, a policy assignment…) this base records `admin.add`,
`admin.change` (the changed fields, old and new) and `admin.delete`. Secret-named fields are
redacted by the audit log itself.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError

from fixops.platform.audit import audit_record, audit_record_many
from fixops.platform.deletion import delete_blocked


def _value(value: Any) -> Any:
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, models.QuerySet | list | tuple | set):
        return [_value(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _tenant_of(obj: models.Model):
    """The chain a row's change belongs to: its tenant's, the tenant itself, else global."""
    if obj._meta.label_lower == "tenants.tenant":
        return obj
    tenant_id = getattr(obj, "tenant_id", None)
    return _Chain(tenant_id) if tenant_id is not None else None


class _Chain:
    def __init__(self, pk: int) -> None:
        self.pk = pk


def _actor(request) -> str:
    return f"user:{request.user.get_username()}"


class AuditedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose direct saves and deletes write audit rows."""

    def save_model(self, request, obj, form, change):
        fields = list(form.changed_data) if form is not None else []
        before = {name: _value(form.initial.get(name)) for name in fields} if change else None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and not fields:
                return
            audit_record(
                tenant=_tenant_of(obj),
                actor=_actor(request),
                action="admin.change" if change else "admin.add",
                target_type=obj._meta.label_lower,
                target_id=obj.pk,
                before=before,
                after={name: _value(form.cleaned_data.get(name)) for name in fields},
            )

    def user_change_password(self, request, id, form_url=""):
        """Django's UserAdmin sets a password outside save_model: audited here (which field,
        never the value), in the transaction of the change. Only UserAdmin routes to it."""
        with transaction.atomic():
            response = super().user_change_password(request, id, form_url)  # type: ignore[misc]
            if request.method == "POST" and response.status_code == 302:
                audit_record(
                    tenant=None,
                    actor=_actor(request),
                    action="admin.change",
                    target_type="auth.user",
                    target_id=id,
                    before=None,
                    after={"fields": ["password"]},
                )
        return response

    def delete_model(self, request, obj):
        pk, label, text = obj.pk, obj._meta.label_lower, str(obj)[:200]
        tenant = _tenant_of(obj)
        try:
            with transaction.atomic():
                super().delete_model(request, obj)
                self._audit_delete(request, pk, label, text, tenant)
        except (ProtectedError, RestrictedError) as exc:
            # The delete page lists protected rows first; this is the last resort (a row
            # protected since the page was shown): the API's message, not a 500.
            self.message_user(request, delete_blocked(exc, label=text).message, messages.ERROR)

    def _audit_delete(self, request, pk, label: str, text: str, tenant) -> None:
        audit_record(
            tenant=tenant,
            actor=_actor(request),
            action="admin.delete",
            target_type=label,
            target_id=pk,
            before={"name": text},
            after=None,
        )

    def delete_queryset(self, request, queryset):
        rows = [(obj.pk, _tenant_of(obj), str(obj)[:200]) for obj in queryset]
        try:
            with transaction.atomic():
                super().delete_queryset(request, queryset)
                self._audit_deletes(request, queryset.model._meta.label_lower, rows)
        except (ProtectedError, RestrictedError) as exc:
            self.message_user(request, delete_blocked(exc).message, messages.ERROR)

    def _audit_deletes(self, request, label: str, rows: list) -> None:
        by_chain: dict[Any, list] = {}
        for pk, tenant, text in rows:
            by_chain.setdefault(getattr(tenant, "pk", None), []).append((pk, tenant, text))
        for chain_rows in by_chain.values():
            audit_record_many(
                tenant=chain_rows[0][1],
                actor=_actor(request),
                action="admin.delete",
                target_type=label,
                changes=[(pk, {"name": text}, None) for pk, _, text in chain_rows],
            )


def audited(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """`admin_class` with AuditedAdmin mixed in (for a library's admin we do not own)."""
    return type(admin_class.__name__, (AuditedAdmin, admin_class), {"__module__": __name__})
