from datetime import timedelta

import factory

from apps.findings import sla
from apps.findings.models import Application, Finding, Scan
from tests.tenants.factories import TenantFactory


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"app-{n}")
    repo_url = factory.LazyAttribute(lambda o: f"https://git.example.com/{o.name}")


class ScanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Scan

    tenant = factory.SubFactory(TenantFactory)
    application = factory.SubFactory(ApplicationFactory, tenant=factory.SelfAttribute("..tenant"))
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    size_bytes = 100
    format = "sarif"
    tool_name = "semgrep"


class FindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Finding

    tenant = factory.SubFactory(TenantFactory)
    application = factory.SubFactory(ApplicationFactory, tenant=factory.SelfAttribute("..tenant"))
    dedup_key = factory.Sequence(lambda n: f"{n:064x}")
    dedup_strategy = "fallback"
    kind = "sast"
    severity = "high"
    tool = "semgrep"
    rule_id = "rule"
    title = factory.Sequence(lambda n: f"finding {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # What the findings writer does for every finding it writes: store its SLA due_at
        # (unless the test set one), the tenant policy's deadline (sla.deadline_days, the rule
        # sla.due_expression writes as SQL) from when the clock started. Computed here rather
        # than by sla.recompute: its UPDATE costs 8 ms of query building per finding, and
        # the suite creates thousands. `Finding.objects.update(...)` in a test skips this.
        finding = model_class(*args, **kwargs)
        if finding.due_at is None:
            policy = sla.policy_for(finding.tenant_id)
            days = sla.deadline_days(
                policy, severity=finding.severity, kev=finding.kev, ssvc=finding.ssvc
            )
            if days is not None:
                start = finding.sla_started_at or finding.first_seen
                finding.due_at = start + timedelta(days=days)
        finding.save(force_insert=True)
        return finding
