"""The registry of admin pages for the admin route walk (tests/tenants/test_admin_walk.py).

Every ModelAdmin registered on `admin.site` is either walked (a `TenantScopedAdmin`, with a
seeder below that makes one distinctively named row of it in a tenant) or listed in
SYSTEM_MODELS with the reason it is not tenant data. Every site-level admin URL is in
SITE_PAGES, and a ModelAdmin URL beyond the standard five (changelist, add, change, history,
delete) must be added to CUSTOM_PAGES. A page without an entry fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.db.models import Model
from django.utils import timezone

from tests.findings.factories import ApplicationFactory, FindingFactory, ScanFactory
from tests.tenants.factories import MembershipFactory, UserFactory

# Registered models that are not tenant data: superuser-only by design (plain ModelAdmins
# answer on Django model permissions, which no tenant role grants). The walk asserts that a
# tenant's admin gets 403 on each.
SYSTEM_MODELS: dict[str, str] = {
    "auth.User": "accounts span tenants; members are managed through memberships",
    "auth.Group": "Django permission groups: operator configuration",
    "django_celery_beat.PeriodicTask": "celery beat schedules: operator configuration",
    "django_celery_beat.ClockedSchedule": "celery beat schedules: operator configuration",
    "django_celery_beat.CrontabSchedule": "celery beat schedules: operator configuration",
    "django_celery_beat.SolarSchedule": "celery beat schedules: operator configuration",
    "django_celery_beat.IntervalSchedule": "celery beat schedules: operator configuration",
    "otp_totp.TOTPDevice": "second factors of every account (resets: manage.py otp_reset)",
    "otp_static.StaticDevice": "recovery codes of every account",
    "axes.AccessAttempt": "sign-in attempts and lockouts of every account",
    "axes.AccessLog": "sign-in log of every account",
    "axes.AccessFailureLog": "failed sign-ins of every account",
    "fixops.Heartbeat": "worker and beat liveness: operator page",
    "tenants.SsoIdentity": "IdP identities of every account",
    "intel.Vulnerability": "global vulnerability intel (no tenant's data)",
    "intel.FeedStatus": "global feed status",
    "intel.OsvAdvisory": "global OSV advisories",
    "evidence.EvidenceKey": "the deployment's signing keys (public halves)",
}

# Site-level admin URL names (admin.site.get_urls()): "walk" or why the walk skips it.
SITE_PAGES: dict[str, str] = {
    "index": "walk",
    "app_list": "walk",  # every app index of a walked model
    "autocomplete": "walk",  # every autocomplete field of every walked admin
    "password_change": "walk",
    "password_change_done": "walk",
    "login": "replaced by /admin/login/ -> /accounts/login/ (tests/tenants/test_matrix.py)",
    "logout": "replaced by /admin/logout/ -> accounts (tests/tenants/test_matrix.py)",
    "jsi18n": "static JavaScript translations, no data",
    "view_on_site": "no model defines get_absolute_url; answers 404 for every object",
    # Reports (apps/workspace/reports/admin_views.py): walked for the own tenant and an own
    # application (HTML and CSV); other tenants' are 404 (tests/workspace/test_admin_reports.py).
    "workspace_report_application": "walk",
    "workspace_report_tenant": "walk",
    "workspace_report_current": "walk",
}

# URLs a walked ModelAdmin adds beyond the standard five: url name -> path(own row), walked
# like its other pages. (Those of SYSTEM_MODELS admins, e.g. a user's password page, are
# excluded with their model.)
CUSTOM_PAGES: dict[str, Callable[[Model], str]] = {
    # The decision page's evidence buttons (apps/workspace/admin/decisions.py): GET, read-only.
    "policies_decision_verify": lambda d: f"/admin/policies/decision/{d.pk}/verify/",
    "policies_decision_evidence": lambda d: f"/admin/policies/decision/{d.pk}/evidence/",
    # The integration's "Test connection" button posts here; a GET goes back to the page.
    "connectors_integration_test": lambda i: f"/admin/connectors/integration/{i.pk}/test/",
    # The "Rotate webhook secret" button posts here; a GET goes back to the page.
    "connectors_integration_rotate": (
        lambda i: f"/admin/connectors/integration/{i.pk}/rotate-webhook-secret/"
    ),
    # The finding page's POST forms (apps/workspace/admin/findings.py); a GET goes back to
    # the finding's page.
    "findings_finding_comment": lambda finding: f"/admin/findings/finding/{finding.pk}/comment/",
    "findings_finding_assign_me": (
        lambda finding: f"/admin/findings/finding/{finding.pk}/assign-to-me/"
    ),
    # The AI advice panel's POST forms (apps/workspace/admin/advice.py) on the finding and
    # decision pages; a GET goes back to the page.
    "findings_finding_advice": lambda finding: f"/admin/findings/finding/{finding.pk}/advice/",
    "findings_finding_advice_feedback": (
        lambda finding: f"/admin/findings/finding/{finding.pk}/advice/feedback/"
    ),
    "policies_decision_advice": lambda d: f"/admin/policies/decision/{d.pk}/advice/",
    "policies_decision_advice_feedback": (
        lambda d: f"/admin/policies/decision/{d.pk}/advice/feedback/"
    ),
}

MODEL_PAGES = ("changelist", "add", "history", "delete", "change")


def _app(tenant, tag, of: str = ""):
    return ApplicationFactory(tenant=tenant, name=f"{tag}-application{of}")


def _finding(tenant, tag):
    return FindingFactory(
        tenant=tenant, application=_app(tenant, tag, "-finding"), title=f"{tag}-finding"
    )


def _membership(tenant, tag):
    return MembershipFactory(tenant=tenant, user=UserFactory(username=f"{tag}-member"))


def _team(tenant, tag):
    from apps.tenants.teams import team_create

    member = _membership(tenant, f"{tag}-team").user
    return team_create(tenant=tenant, name=f"{tag}-team", members=[member], actor=f"user:{tag}")


def _finding_with_comment(tenant, tag):
    from apps.findings.comments import comment_add

    finding = _finding(tenant, tag)
    comment_add(tenant=tenant, finding=finding, body=f"{tag}-comment", actor=f"user:{tag}")
    return finding


def _token(tenant, tag):
    from apps.tenants.services import api_token_issue

    return api_token_issue(tenant=tenant, name=f"{tag}-token", role="viewer").token


def _scan(tenant, tag):
    return ScanFactory(
        tenant=tenant, application=_app(tenant, tag, "-scan"), tool_name=f"{tag}-tool"
    )


def _component(tenant, tag):
    from apps.findings.models import Component

    return Component.objects.create(
        tenant=tenant,
        application=_app(tenant, tag, "-component"),
        identity=f"pkg:pypi/{tag}-component@1",
        name=f"{tag}-component",
        version="1",
        purl=f"pkg:pypi/{tag}-component@1",
    )


def _stream(tenant, tag):
    from apps.findings.models import Stream

    return Stream.objects.create(
        tenant=tenant, application=_app(tenant, tag, "-stream"), tool=f"{tag}-tool"
    )


def _policy(tenant, tag):
    from apps.policies.services import pack, policy_create

    source, parameters = pack()
    return policy_create(
        tenant=tenant, name=f"{tag}-policy", source=source, parameters=parameters, note=tag
    )


def seed_global_policy(name: str):
    """A policy of no tenant: shared by all (PolicyAdmin.global_rows)."""
    return _policy(None, name.removesuffix("-policy"))


def _version(tenant, tag):
    return _policy(tenant, f"{tag}-versioned").active_version


def _assignment(tenant, tag):
    from apps.policies.models import PolicyAssignment

    return PolicyAssignment.objects.create(
        tenant=tenant,
        policy=_policy(tenant, f"{tag}-assigned"),
        application=_app(tenant, f"{tag}-assigned"),
        mode="log_only",
    )


def _policy_settings(tenant, tag):
    from apps.policies.models import PolicySettings

    return PolicySettings.objects.create(tenant=tenant, opa_url=f"https://{tag}-opa.example")


def _retention(tenant, tag):
    from apps.tenants.models import RetentionPolicy

    return RetentionPolicy.objects.create(tenant=tenant, intel_events_days=len(tag))


def _sla_policy(tenant, tag):
    from apps.findings.models import SlaPolicy

    return SlaPolicy.objects.create(tenant=tenant, ssvc_days={"Act": 5}, kev_days=len(tag))


def _decision(tenant, tag):
    from tests.evidence.factories import make_decision

    return make_decision(tenant, application=_app(tenant, f"{tag}-decided"), commit=f"{tag}-sha")


def _acceptance(tenant, tag):
    from apps.policies.models import RiskAcceptance

    return RiskAcceptance.objects.create(
        tenant=tenant,
        scope="vulnerability_all",
        vuln_id="CVE-1999-0001",
        justification=f"{tag}-justification",
        expires_at=timezone.now() + timedelta(days=5),
        requested_label=f"user:{tag}",
    )


def _bundle(tenant, tag):
    from tests.evidence.factories import make_bundle

    return make_bundle(_decision(tenant, f"{tag}-evidence"))


def _evidence_settings(tenant, tag):
    from apps.evidence.models import EvidenceSettings

    return EvidenceSettings.objects.create(tenant=tenant, retention_days=400, lock_mode="none")


def _audit_event(tenant, tag):
    from fixops.platform.audit import audit_record

    return audit_record(
        tenant=tenant,
        actor=f"user:{tag}",
        action=f"{tag}.seeded",
        target_type=f"{tag}-target",
        target_id=f"{tag}-id",
        before=None,
        after={"name": f"{tag}-audited"},
    )


def _checkpoint(tenant, tag):
    from apps.evidence.models import AuditCheckpoint

    return AuditCheckpoint.objects.create(
        tenant=tenant,
        seq=1,
        head_hash="0" * 64,
        envelope=b"{}",
        keyid=f"{tag}-key",
        backend="fs",
        location=f"/{tag}/checkpoint",
    )


def _risk_settings(tenant, tag):
    from apps.intel.models import RiskSettings

    return RiskSettings.objects.create(tenant=tenant)


def _intel_event(tenant, tag):
    from apps.intel.models import IntelEvent

    return IntelEvent.objects.create(
        tenant=tenant, kind="kev_added", vuln_id=f"{tag.upper()}-1", details={"note": tag}
    )


def _integration(tenant, tag):
    from apps.connectors.models import Integration

    integration = Integration(
        tenant=tenant, kind="gitlab", name=f"{tag}-integration", base_url=f"https://{tag}.example"
    )
    integration.credentials = {"token": f"{tag}-secret"}
    integration.save()
    return integration


def _message(tenant, tag):
    from apps.connectors.models import OutboxAttempt, OutboxMessage

    message = OutboxMessage.objects.create(
        tenant=tenant,
        integration=_integration(tenant, f"{tag}-outbox"),
        kind="upsert",
        reference=f"{tag}-reference",
        idempotency_key=f"{tag}-key",
        ordering_key=tag,
        status="dead",
    )
    OutboxAttempt.objects.create(
        message=message, number=1, outcome="permanent", error=f"{tag}-error"
    )
    return message


def _link(tenant, tag):
    from apps.connectors.models import ExternalLink

    return ExternalLink.objects.create(
        tenant=tenant,
        integration=_integration(tenant, f"{tag}-linked"),
        reference=f"{tag}-link",
        remote_id=f"{tag}-remote",
        remote_key=f"{tag.upper()}-1",
    )


def _notification_rule(tenant, tag):
    from apps.connectors.models import NotificationRule

    return NotificationRule.objects.create(
        tenant=tenant,
        name=f"{tag}-rule",
        events=["kev_added"],
        integration=_integration(tenant, f"{tag}-channel"),
    )


def _provider(tenant, tag):
    from apps.advisory.models import Provider

    provider = Provider(
        tenant=tenant,
        name=f"{tag}-provider",
        kind="openai",
        base_url=f"https://{tag}.example/v1",
        model=f"{tag}-model",
    )
    provider.api_key = f"{tag}-api-key"
    provider.save()
    return provider


def _advisory_settings(tenant, tag):
    from apps.advisory.models import AdvisorySettings

    return AdvisorySettings.objects.create(tenant=tenant)


def _token_usage(tenant, tag):
    from apps.advisory.models import TokenUsage

    provider = _provider(tenant, f"{tag}-usage")
    return TokenUsage.objects.create(
        tenant=tenant, provider=provider, day=timezone.now().date(), tokens_in=7
    )


def _drift(tenant, tag):
    from apps.connectors.models import Drift

    return Drift.objects.create(
        tenant=tenant,
        integration=_integration(tenant, f"{tag}-drifted"),
        kind="ticket_deleted",
        reference=f"{tag}-drift",
        remote_key=f"{tag.upper()}-9",
        detail={"repair": f"{tag}-repair"},
    )


def _delivery(tenant, tag):
    from apps.connectors.models import InboundDelivery

    return InboundDelivery.objects.create(
        tenant=tenant,
        integration=_integration(tenant, f"{tag}-hooked"),
        delivery_id=f"{tag}-delivery",
        body=b"{}",
        status="failed",
        error=f"{tag}-error",
    )


# Walked model label -> seeder(tenant, tag) -> one row of it in `tenant`, named with `tag`.
SEEDERS: dict[str, Callable[..., Model]] = {
    "tenants.Tenant": lambda tenant, _tag: tenant,
    "tenants.Membership": _membership,
    "tenants.ApiToken": _token,
    "tenants.Team": _team,
    "findings.Application": _app,
    "findings.Scan": _scan,
    "findings.Finding": _finding_with_comment,
    "findings.Component": _component,
    "findings.Stream": _stream,
    "intel.RiskSettings": _risk_settings,
    "intel.IntelEvent": _intel_event,
    "policies.Policy": _policy,
    "policies.PolicyVersion": _version,
    "policies.PolicyAssignment": _assignment,
    "policies.PolicySettings": _policy_settings,
    "findings.SlaPolicy": _sla_policy,
    "tenants.RetentionPolicy": _retention,
    "policies.Decision": _decision,
    "policies.RiskAcceptance": _acceptance,
    "evidence.EvidenceBundle": _bundle,
    "evidence.EvidenceSettings": _evidence_settings,
    "platform.AuditEvent": _audit_event,
    "evidence.AuditCheckpoint": _checkpoint,
    "connectors.Integration": _integration,
    "connectors.OutboxMessage": _message,
    "connectors.ExternalLink": _link,
    "connectors.NotificationRule": _notification_rule,
    "advisory.Provider": _provider,
    "advisory.AdvisorySettings": _advisory_settings,
    "advisory.TokenUsage": _token_usage,
    "connectors.Drift": _drift,
    "connectors.InboundDelivery": _delivery,
}


def seed(tenant, tag: str) -> dict[str, Model]:
    """One row of every walked model in `tenant` (plus the rows they hang from)."""
    return {label: make(tenant, tag) for label, make in SEEDERS.items()}
