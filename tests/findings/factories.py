import factory

from apps.findings.models import Application
from tests.tenants.factories import TenantFactory


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"app-{n}")
    repo_url = factory.LazyAttribute(lambda o: f"https://git.example.com/{o.name}")
