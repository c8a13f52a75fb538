"""Shared fixtures: two tenants and three personas (Healthchecks' alice, bob and charlie).

- alice: admin of acme (the owner)
- bob: viewer of acme (a member)
- charlie: admin of globex (the outsider; every API test checks he gets 404 on acme's rows)
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable

import psycopg
import pytest
from rest_framework.test import APIClient

from tests.db_template import TEMPLATE_ENV, ensure_template


def pytest_configure(config) -> None:
    """Build (or find) the migrated template the test databases are cloned from, once, in
    the controller; xdist's processes inherit its name (tests/db_template.py)."""
    if hasattr(config, "workerinput") or config.getoption("help") or os.environ.get(TEMPLATE_ENV):
        return
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        return
    # Without PostgreSQL here each process migrates its own database, as it would.
    with contextlib.suppress(psycopg.OperationalError):
        os.environ[TEMPLATE_ENV] = ensure_template(
            database, database["TEST"]["NAME"], os.environ["DJANGO_SETTINGS_MODULE"]
        )


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """Clone each process's test database from the template, when there is one."""
    from django.conf import settings

    template = os.environ.get(TEMPLATE_ENV)
    if template:
        settings.DATABASES["default"]["TEST"]["TEMPLATE"] = template


def service_available(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, port: int) -> None:
    """A missing service is a failure, never a silent skip: the tests that need it would
    otherwise pass by not running (.ci/run starts the services when they are installed)."""
    if not service_available("127.0.0.1", port):
        pytest.fail(
            f"{name} is not reachable on 127.0.0.1:{port}; start it (see .ci/run)", pytrace=False
        )


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", 6379)
    return "redis://127.0.0.1:6379/15"


@pytest.fixture
def broker(redis_url):
    """A Celery broker on the real Redis for tests that start workers; purged afterwards."""
    from tests.connectors.workers import Broker

    broker = Broker(redis_url)
    yield broker
    broker.purge()
    broker.close()


@pytest.fixture
def broker_down():
    """Point Celery at a port nothing listens on; afterwards restore the broker and drop the
    connection and producer pools built meanwhile, or later tests publish into the dead URL."""
    from fixops.celery import app
    from tests.connectors.workers import reset_celery_pools

    saved = app.conf.broker_url, app.conf.broker_connection_retry_on_startup
    reset_celery_pools(app)
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    app.conf.broker_connection_retry_on_startup = False
    try:
        yield app
    finally:
        app.conf.broker_url, app.conf.broker_connection_retry_on_startup = saved
        reset_celery_pools(app)


@pytest.fixture(autouse=True)
def _celery_apps_restored():
    """Celery's current and default app as they were before the test. celery.contrib.testing's
    start_worker makes its test app both, for the whole process: the shared tasks of every
    later test in the process would resolve to that closed app on its own broker instead of
    the project's (the browser journeys' evidence then stayed "pending")."""
    from celery import _state

    saved = _state._tls.current_app, _state.default_app
    yield
    _state._tls.current_app, _state.default_app = saved


@pytest.fixture
def acme(db):
    from tests.tenants.factories import TenantFactory

    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def globex(db):
    from tests.tenants.factories import TenantFactory

    return TenantFactory(slug="globex", name="Globex")


def _member(username: str, tenant, role: str):
    from tests.tenants.factories import MembershipFactory, UserFactory

    user = UserFactory(username=username)
    MembershipFactory(user=user, tenant=tenant, role=role)
    return user


@pytest.fixture
def alice(acme):
    return _member("alice", acme, "admin")


@pytest.fixture
def bob(acme):
    return _member("bob", acme, "viewer")


@pytest.fixture
def charlie(globex):
    return _member("charlie", globex, "admin")


@pytest.fixture
def issue_token(db) -> Callable[..., str]:
    """issue_token(tenant, role="analyst", **kw) -> plaintext token."""
    from apps.tenants.services import api_token_issue

    def issue(tenant, role: str = "analyst", name: str = "test", **kwargs) -> str:
        return api_token_issue(tenant=tenant, name=name, role=role, **kwargs).plaintext

    return issue


@pytest.fixture
def api_client() -> Callable[[str | None], APIClient]:
    """api_client(token) -> a DRF client that sends `Authorization: Bearer <token>`."""

    def make(token: str | None = None) -> APIClient:
        client = APIClient()
        if token:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make


@pytest.fixture
def acme_admin(acme, issue_token, api_client) -> APIClient:
    return api_client(issue_token(acme, role="admin"))


@pytest.fixture
def acme_analyst(acme, issue_token, api_client) -> APIClient:
    return api_client(issue_token(acme, role="analyst"))


@pytest.fixture
def acme_viewer(acme, issue_token, api_client) -> APIClient:
    return api_client(issue_token(acme, role="viewer"))


@pytest.fixture
def globex_admin(globex, issue_token, api_client) -> APIClient:
    return api_client(issue_token(globex, role="admin"))


# --- scheduling ---------------------------------------------------------------------------------

# The longest tests, longest first (measured: `pytest --durations`). They start first and the
# short ones fill the processes afterwards (`make test` runs the slow tier with `--dist
# loadgroup`: xdist gives each process two tests from the front of this order, then one at a
# time to whichever process is free, so the first three start at once and the fourth follows
# the first process's); in collection order the two-minute beat test could start last and
# leave every other process idle for two minutes. The fast tier's admin walks likewise start
# early instead of finishing last.
LONGEST_FIRST = (
    "tests/fixops/test_beat_leader.py",  # two beats for two minutes, mostly waiting
    "tests/load/test_load_smoke.py",  # Locust for 60 s
    "tests/e2e/test_all_pages.py",
    "tests/ops/test_chaos.py",
    "tests/fixops/test_embedded_stack.py",
    "tests/connectors/test_crash.py",
    "tests/fixops/test_readme_examples.py",
    "tests/tenants/test_admin_walk.py",
)


def pytest_collection_modifyitems(items) -> None:
    rank = {path: n for n, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
