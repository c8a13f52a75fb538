"""Every service that changes state writes an audit row: found by reading the code
(tests/fixops/audit_coverage.py), not from a hand-kept list of services."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from django.contrib import admin

from fixops.platform.admin_audit import AuditedAdmin
from tests.fixops import audit_coverage as coverage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def found():
    return coverage.analyse()


def test_every_mutating_service_audits(found):
    assert coverage.unaudited(found) == []
    # The figure is printed for the record (`python -m tests.fixops.audit_coverage`).
    print(coverage.summary(found))  # noqa: T201


def test_the_checker_finds_services_across_the_tree(found):
    keys = {func.key for func in coverage.mutating(found)}
    # A sample per app, so a checker that silently stopped looking would fail here.
    for key in (
        "apps.tenants.services:api_token_issue",
        "apps.tenants.accounts.otp:otp_reset",
        "apps.connectors.services:integration_update",
        "apps.findings.services:application_delete",
        "apps.policies.services:policy_update",
        "apps.evidence.registry:evidence_key_retire",
        "apps.intel.services:feed_refresh_detailed",
        "apps.pipeline.ingest:scan_submit",
    ):
        assert key in keys
    assert len(keys) >= 50


def test_interfaces_write_only_through_services(found):
    assert coverage.interface_writes(found) == []


def test_every_exception_names_a_real_function_and_a_reason(found):
    for table in (coverage.ALLOWLIST, coverage.PRIMITIVES):
        stale = [key for key in table if key not in found]
        assert stale == [], "remove entries for functions that no longer exist"
        assert all(len(reason) > 10 for reason in table.values())
    assert not set(coverage.ALLOWLIST) & set(coverage.PRIMITIVES)


SYNTHETIC = {
    "shop.services": """
        from django.db import transaction
        from fixops.platform.audit import audit_record
        from shop.helpers import helper_that_audits

        def widget_delete(*, widget):
            widget.delete()

        def widget_rename(*, widget, name):
            widget.name = name
            widget.save(update_fields=["name"])
            _audit(widget)

        def widget_bulk_close(*, ids):
            Widget.objects.filter(pk__in=ids).update(closed=True)

        def widget_archive(*, widget):
            _store(widget)

        def widget_copy(*, widget):
            Widget.objects.create(name=widget.name)
            helper_that_audits()

        def widget_price(*, widget):
            prices = {}
            prices.update(a=1)
            return prices

        def widget_touch(*, widget):
            widget_rename(widget=widget, name=widget.name)

        def _store(widget):
            Widget.objects.bulk_create([widget])

        def _audit(widget):
            audit_record(tenant=None, actor="x", action="widget.rename", target_type="w",
                         target_id=widget.pk, before=None, after=None)
    """,
    "shop.helpers": """
        from fixops.platform.audit import audit_record

        def helper_that_audits():
            audit_record(tenant=None, actor="x", action="other.thing", target_type="w",
                         target_id=1, before=None, after=None)
    """,
}


def test_an_unaudited_service_fails_the_check_by_name():
    funcs = coverage.analyse_sources(
        {name: textwrap.dedent(text) for name, text in SYNTHETIC.items()}
    )
    missing = coverage.unaudited(funcs)
    names = sorted(line.split(" ")[0] for line in missing)
    assert names == [
        "shop.services:widget_archive",  # writes through a private helper
        "shop.services:widget_bulk_close",  # a queryset update
        # writes itself; a call into another module that audits something else is no cover
        "shop.services:widget_copy",
        "shop.services:widget_delete",  # row delete
    ]
    assert "line 7: widget.delete()" in next(m for m in missing if "widget_delete" in m)
    mutating = {func.key for func in coverage.mutating(funcs)}
    assert "shop.services:widget_rename" in mutating  # audits through its own helper
    assert "shop.services:widget_touch" in mutating  # covered by the service it calls
    assert "shop.services:widget_price" not in mutating  # dict.update is no write


def test_the_real_checker_would_fail_on_a_new_unaudited_service(found):
    """Adding an unaudited writing service to a real module fails the suite: the real
    findings services plus one new function."""
    path = ROOT / "apps" / "findings" / "services.py"
    source = path.read_text() + textwrap.dedent(
        """

        def application_archive(*, application):
            application.archived = True
            application.save(update_fields=["archived"])
        """
    )
    funcs = coverage.analyse_sources({"apps.findings.services": source})
    assert [m.split(" ")[0] for m in coverage.unaudited(funcs)] == [
        "apps.findings.services:application_archive"
    ]


def test_every_admin_audits_or_writes_nothing(rf, django_user_model):
    superuser = django_user_model(username="root", is_superuser=True, is_staff=True)
    request = rf.get("/admin/")
    request.user = superuser
    unaudited = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, AuditedAdmin)
        and (
            model_admin.has_add_permission(request)
            or model_admin.has_change_permission(request)
            or model_admin.has_delete_permission(request)
        )
    ]
    assert unaudited == []


def test_the_documented_vocabulary_is_the_one_the_code_writes():
    written = set(coverage.audit_actions())
    documented = set(
        re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \|", (ROOT / "docs" / "audit.md").read_text(), re.M)
    )
    assert written - documented == set(), "document these actions in docs/audit.md"
    assert documented - written == set(), "docs/audit.md lists actions nothing writes"
