"""Every outbound HTTP call leaves through the platform's guarded session
(fixops/platform/http/session.py): no module calls requests/urllib/http.client itself,
environment proxies (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) are ignored by connector, OPA, OIDC,
feed and SAML metadata calls, FIXOPS_OUTBOUND_PROXY is honoured by all of them, and the SSRF guard
still vets the target when a proxy carries the connection.

A recording proxy on 127.0.0.1 (tests/fakes/proxy.py) tells whether a call went through it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path

import jwt
import pytest
import requests
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from apps.intel.feeds.download import fetch
from apps.pipeline.gate import decision_make
from apps.policies import opa
from apps.policies.models import PolicySettings
from apps.tenants.sso import saml_views
from apps.tenants.sso.config import OidcProviderConfig
from apps.tenants.sso.oidc import OidcBackend, provider_metadata
from fixops.platform.http.errors import Refused
from fixops.platform.http.session import build_session
from tests.fakes.base import FakeServer, Response
from tests.fakes.fixtures import connector
from tests.fakes.jira import FakeJira
from tests.fakes.opa import FakeOpa
from tests.fakes.proxy import RecordingProxy
from tests.findings.factories import ApplicationFactory

ROOT = Path(__file__).resolve().parents[3]
GUARDED = ROOT / "fixops" / "platform" / "http"

# --- No module calls out on its own -------------------------------------------------------------

CLIENT_MODULES = ("urllib.request", "http.client", "httpx", "aiohttp", "urllib3", "httplib2")
REQUESTS_CALLS = {"get", "post", "put", "patch", "delete", "head", "options", "request"}
REQUESTS_CLIENTS = {"Session", "session"}


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def direct_http(source: str) -> list[str]:
    """What in `source` makes HTTP calls without the platform session (line: what)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(CLIENT_MODULES):
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {alias.name for alias in node.names}
            if node.module.startswith(CLIENT_MODULES) or node.module in ("urllib", "http"):
                if node.module.startswith(CLIENT_MODULES) or names & {"request", "client"}:
                    found.append(f"{node.lineno}: from {node.module} import {', '.join(names)}")
            elif node.module.startswith("requests") and (
                names & (REQUESTS_CALLS | REQUESTS_CLIENTS | {"sessions", "adapters", "api"})
                or node.module in ("requests.sessions", "requests.adapters", "requests.api")
            ):
                found.append(f"{node.lineno}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            head, _, attr = name.rpartition(".")
            via_requests = head == "requests" and attr in REQUESTS_CALLS | REQUESTS_CLIENTS
            if via_requests or head.endswith(("urllib.request", "http.client")):
                found.append(f"{node.lineno}: {name}()")
    return found


def test_no_module_calls_out_except_through_the_guarded_session():
    offenders = []
    for top in ("apps", "fixops"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if GUARDED in path.parents or "migrations" in path.parts:
                continue
            for hit in direct_http(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}:{hit}")
    assert not offenders, (
        "Outbound HTTP must go through fixops.platform.http.session.build_session (timeouts, "
        "SSRF guard, no environment proxies, FIXOPS_OUTBOUND_PROXY):\n  " + "\n  ".join(offenders)
    )


@pytest.mark.parametrize(
    "snippet",
    [
        "import requests\nrequests.get('https://x')",
        "import requests\ns = requests.Session()",
        "import requests\nrequests.request('GET', 'https://x')",
        "from requests import post",
        "from requests.sessions import Session",
        "import urllib.request\nurllib.request.urlopen('https://x')",
        "from urllib import request",
        "from urllib.request import urlopen",
        "import http.client",
        "import httpx",
        "import urllib3\nurllib3.PoolManager()",
    ],
)
def test_the_scan_catches_each_way_out(snippet):
    assert direct_http(snippet), snippet


def test_the_scan_allows_exception_types_and_annotations():
    allowed = textwrap.dedent(
        """
        import requests
        from requests.exceptions import Timeout
        def f(response: requests.Response) -> None:
            raise requests.HTTPError() from requests.Timeout()
        """
    )
    assert direct_http(allowed) == []


def _calls_requests(function) -> bool:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return any(
        isinstance(node, ast.Call) and _dotted(node.func).startswith("requests.")
        for node in ast.walk(tree)
    )


def test_every_oidc_library_method_that_calls_out_is_overridden():
    """mozilla-django-oidc calls requests.get/post itself; each such method is ours instead."""
    calling = {
        name
        for name, member in vars(OIDCAuthenticationBackend).items()
        if inspect.isfunction(member) and _calls_requests(member)
    }
    assert calling >= {"get_token", "get_userinfo", "retrieve_matching_jwk"}
    assert not {name for name in calling if name not in vars(OidcBackend)}


# --- Environment proxies are ignored, FIXOPS_OUTBOUND_PROXY is honoured -------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


@pytest.fixture
def proxy():
    with RecordingProxy() as recording:
        yield recording


@pytest.fixture
def env_proxy(proxy, monkeypatch):
    """The recording proxy in every proxy variable of the environment."""
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, proxy.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return proxy


@pytest.fixture
def outbound_proxy(proxy, settings, monkeypatch):
    """The recording proxy as FIXOPS_OUTBOUND_PROXY (and nothing in the environment)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings.FIXOPS_OUTBOUND_PROXY = proxy.url
    return proxy


class FakeIdpAndMirror(FakeServer):
    """An OIDC provider's discovery, JWKS, token and userinfo endpoints, a feed file and SAML
    IdP metadata: just enough to carry each client's calls."""

    name = "idp"
    routes = (
        ("GET", r"/\.well-known/openid-configuration", "discovery"),
        ("GET", r"/jwks", "jwks"),
        ("POST", r"/token", "token"),
        ("GET", r"/feeds/kev\.json", "feed"),
        ("GET", r"/saml/metadata", "saml_metadata"),
        ("GET", r"/redirect-away", "redirect_away"),
    )

    def check_auth(self, req):
        return None

    def discovery(self, req):
        return Response(
            200,
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
            },
        )

    def jwks(self, req):
        key = {"kty": "oct", "kid": "k1", "alg": "HS256", "k": "c2VjcmV0"}
        return Response(200, {"keys": [key]})

    def token(self, req):
        return Response(200, {"id_token": "x.y.z", "access_token": "a"})

    def feed(self, req):
        return Response(200, b'{"vulnerabilities": []}', {"Content-Type": "application/json"})

    def saml_metadata(self, req):
        return Response(200, SAML_IDP_METADATA, {"Content-Type": "application/samlmetadata+xml"})

    def redirect_away(self, req):
        # 127.0.0.2 is loopback too, but outside the tests' allowlist (127.0.0.1/32).
        return Response(302, None, {"Location": f"http://127.0.0.2:{self.port}/feeds/kev.json"})


SAML_IDP_ENTITY = "https://idp.corp.example/saml"
SAML_IDP_METADATA = f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SAML_IDP_ENTITY}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
      Location="https://idp.corp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
""".encode()


@pytest.fixture
def remote():
    with FakeIdpAndMirror() as server:
        yield server


def _oidc_calls(server: FakeIdpAndMirror) -> None:
    cache.clear()
    provider = OidcProviderConfig(
        slug="corp", name="Corp", issuer=server.url, client_id="fixops", client_secret="s", rules=[]
    )
    assert provider_metadata(provider)["token_endpoint"] == f"{server.url}/token"
    backend = OidcBackend()
    backend.provider = provider
    backend.OIDC_OP_TOKEN_ENDPOINT = f"{server.url}/token"
    assert backend.get_token({"client_id": "fixops", "client_secret": "s", "code": "c"})
    token = jwt.encode({"sub": "1"}, "secret", algorithm="HS256", headers={"kid": "k1"})
    assert backend.retrieve_matching_jwk(token)["kid"] == "k1"


def _feed_call(server: FakeIdpAndMirror) -> None:
    download = fetch(f"{server.url}/feeds/kev.json", max_bytes=10_000, timeout=5, retries=0)
    try:
        assert download.size == len(b'{"vulnerabilities": []}')
    finally:
        download.discard()


def _saml_metadata_call(server: FakeIdpAndMirror, settings) -> None:
    settings.FIXOPS_SAML_PROVIDERS = [
        {
            "slug": "corp-saml",
            "entity_id": SAML_IDP_ENTITY,
            "metadata_url": f"{server.url}/saml/metadata",
            "mapping": [],
        }
    ]
    saml_views._config_cache.clear()
    try:
        assert SAML_IDP_ENTITY in saml_views.sp_config().metadata.identity_providers()
    finally:
        saml_views._config_cache.clear()


@pytest.fixture
def fake_opa():
    opa.forget()
    with FakeOpa() as server:
        yield server
    opa.forget()


def _opa_call(acme, fake_opa) -> None:
    opa.forget()
    PolicySettings.objects.update_or_create(tenant=acme, defaults={"opa_url": fake_opa.url})
    decision = decision_make(tenant=acme, application=ApplicationFactory(tenant=acme))
    assert decision.engine == "opa"


@pytest.fixture
def jira():
    with FakeJira() as server:
        yield server


def _connector_call(jira) -> None:
    assert connector(jira).test_connection()


def test_the_recording_proxy_sees_what_a_plain_client_sends(env_proxy, remote):
    """The control: an ordinary requests call does take the environment's proxy."""
    requests.get(f"{remote.url}/feeds/kev.json", timeout=5)
    assert env_proxy.targets() == [f"{remote.url}/feeds/kev.json"]


@pytest.mark.django_db
def test_environment_proxies_are_ignored(env_proxy, remote, fake_opa, jira, acme, settings):
    _connector_call(jira)
    _oidc_calls(remote)
    _feed_call(remote)
    _saml_metadata_call(remote, settings)
    _opa_call(acme, fake_opa)
    assert env_proxy.seen == []
    assert remote.requests_to("GET", r"/saml/metadata")  # the calls did reach the servers
    assert fake_opa.requests_to("POST", r"/v1/data/fixops/gate")


@pytest.mark.django_db
def test_fixops_outbound_proxy_carries_every_client(
    outbound_proxy, remote, fake_opa, jira, acme, settings
):
    _connector_call(jira)
    _oidc_calls(remote)
    _feed_call(remote)
    _saml_metadata_call(remote, settings)
    _opa_call(acme, fake_opa)
    targets = outbound_proxy.targets()
    for path in (
        "/.well-known/openid-configuration",
        "/token",
        "/jwks",
        "/feeds/kev.json",
        "/saml/metadata",
    ):
        assert f"{remote.url}{path}" in targets, (path, targets)
    assert f"{fake_opa.url}/v1/data/fixops/gate" in targets
    assert any(target.startswith(jira.url) for target in targets)


@pytest.mark.django_db
def test_the_ssrf_guard_vets_the_target_behind_the_proxy(outbound_proxy, remote, settings):
    settings.FIXOPS_OUTBOUND_ALLOWLIST = []  # 127.0.0.1 is loopback: refused
    with build_session(label="integration") as session, pytest.raises(Refused, match="loopback"):
        session.get(f"{remote.url}/feeds/kev.json")
    assert outbound_proxy.seen == []  # refused before anything left


@pytest.mark.django_db
def test_a_redirect_behind_the_proxy_is_vetted_too(outbound_proxy, remote):
    session = build_session(label="integration", follow_redirects=True)
    with session, pytest.raises(Refused, match="127.0.0.2"):
        session.get(f"{remote.url}/redirect-away")
    assert outbound_proxy.targets() == [f"{remote.url}/redirect-away"]


@pytest.mark.parametrize("proxy", ["proxy.corp", "socks5://proxy.corp:1080", "http://:3128"])
def test_a_malformed_outbound_proxy_fails_the_check(settings, proxy):
    settings.FIXOPS_OUTBOUND_PROXY = proxy
    with pytest.raises(SystemCheckError, match="fixops.E120"):
        call_command("check")


def test_a_proxy_url_passes_the_check(settings):
    settings.FIXOPS_OUTBOUND_PROXY = "http://user:secret@proxy.corp:3128"
    call_command("check")
