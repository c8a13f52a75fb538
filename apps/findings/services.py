"""Writes for applications (and, with ingestion, findings)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from apps.findings.models import Application
from apps.tenants.models import Tenant
from fixops.exceptions import ApiError

APPLICATION_FIELDS = (
    "name",
    "description",
    "repo_url",
    "criticality",
    "internet_exposed",
    "data_classification",
    "owners",
)


def _save(application: Application, update_fields: list[str] | None = None) -> Application:
    try:
        with transaction.atomic():
            application.save(update_fields=update_fields)
    except IntegrityError:
        raise ApiError(
            f"An application named {application.name!r} already exists.",
            code="conflict",
            details={"name": ["must be unique within the tenant"]},
            status_code=409,
        ) from None
    return application


def application_create(*, tenant: Tenant, name: str, **fields: Any) -> Application:
    """Create an application in `tenant`; 409 if the name is taken."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown application fields: {sorted(unknown)}")
    return _save(Application(tenant=tenant, name=name, **fields))


def application_update(*, application: Application, **fields: Any) -> Application:
    """Change the given fields of an application (others untouched)."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise TypeError(f"unknown application fields: {sorted(unknown)}")
    for name, value in fields.items():
        setattr(application, name, value)
    return _save(application, update_fields=[*fields, "updated_at"])


def application_delete(*, application: Application) -> None:
    """Delete an application and everything that belongs to it."""
    with transaction.atomic():
        application.delete()
