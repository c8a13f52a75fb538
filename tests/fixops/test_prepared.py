"""fixops/platform/prepared.py: a lookup compiled once gives what its queryset gives."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured, MultipleObjectsReturned
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.tenants.models import ApiToken, Tenant
from apps.tenants.services import api_token_issue
from fixops.platform.prepared import PreparedLookup
from tests.tenants.factories import TenantFactory

pytestmark = pytest.mark.django_db

BY_PREFIX = PreparedLookup(
    lambda prefix: ApiToken.objects.select_related("tenant").filter(prefix=prefix)
)


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _token(**changes) -> ApiToken:
    tenant = TenantFactory(slug="prepared", name="Prepared Ltd")
    issued = api_token_issue(tenant=tenant, name="ci", role="analyst", scopes=["scans:write"])
    ApiToken.objects.filter(pk=issued.token.pk).update(**changes)
    return issued.token


def test_the_instance_is_the_querysets_with_its_related_row_and_converted_values():
    expires = timezone.now() + timedelta(days=3)
    token = _token(expires_at=expires)
    expected = ApiToken.objects.select_related("tenant").get(pk=token.pk)

    with CaptureQueriesContext(connection) as queries:
        found = BY_PREFIX.get(token.prefix)
        tenant = found.tenant  # populated by the same query, as select_related does
    assert len(queries.captured_queries) == 1
    assert isinstance(found, ApiToken) and isinstance(tenant, Tenant)
    assert _fields(found) == _fields(expected)
    assert _fields(tenant) == _fields(expected.tenant)
    assert found.scopes == ["scans:write"]  # the JSON column went through its converter
    assert found.expires_at == expires and found.expires_at.tzinfo is not None
    assert found._state.adding is False and found._state.db == "default"


def test_the_compiled_sql_is_reused_with_each_value():
    first = _token()
    other = api_token_issue(tenant=first.tenant, name="other", role="viewer").token
    assert BY_PREFIX.get(first.prefix).pk == first.pk
    assert BY_PREFIX.get(other.prefix).pk == other.pk
    assert BY_PREFIX.get("nosuchprefix") is None


def test_more_than_one_row_is_an_error_not_a_pick():
    token = _token()
    api_token_issue(tenant=token.tenant, name="second", role="analyst")
    by_role = PreparedLookup(lambda role: ApiToken.objects.filter(role=role))
    with pytest.raises(MultipleObjectsReturned):
        by_role.get("analyst")


@pytest.mark.parametrize(
    "build",
    [
        lambda key: ApiToken.objects.filter(prefix="fixed"),
        lambda key: ApiToken.objects.filter(prefix=key, name=key),
    ],
    ids=["value unused", "value twice"],
)
def test_a_query_must_use_the_value_exactly_once(build):
    with pytest.raises(ImproperlyConfigured):
        PreparedLookup(build).get("x")


@pytest.mark.django_db(transaction=True)
def test_each_thread_compiles_against_its_own_connection():
    token = _token()
    BY_PREFIX.get(token.prefix)  # compiled in this thread first
    found: list = []

    def other_thread() -> None:
        try:
            with CaptureQueriesContext(connections["default"]) as queries:
                found.append(BY_PREFIX.get(token.prefix))
            found.append(queries.connection)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    token_there, connection_there = found
    assert token_there.pk == token.pk and token_there.tenant.slug == "prepared"
    here = connections["default"]
    assert connection_there is not here
    assert BY_PREFIX._local.compiled.compiler.connection is here
