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
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    application = factory.SubFactory(ApplicationFactory, tenant=factory.SelfAttribute("..tenant"))
    dedup_key = factory.Sequence(lambda n: f"{n:064x}")
    dedup_strategy = "fallback"
    kind = "sast"
    severity = "high"
    tool = "semgrep"
    rule_id = "rule"
    title = factory.Sequence(lambda n: f"finding {n}")

    @factory.post_generation
    def due(obj, create, extracted, **kwargs):
        # What the findings writer does for every finding it writes: store its SLA due_at
        # (unless the test set one). `Finding.objects.update(...)` in a test skips this.
        if create and obj.due_at is None:
            sla.recompute(policy=sla.policy_for(obj.tenant_id), ids=[obj.pk])
            obj.refresh_from_db(fields=["due_at"])
