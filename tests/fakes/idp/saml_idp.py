"""A real SAML 2.0 identity provider (pysaml2 in IdP mode, signing with xmlsec1) on
127.0.0.1 for the SSO tests. Users sign in on a login form; the IdP answers with the
HTTP-POST binding. `mode` makes it misbehave for the attack tests."""

from __future__ import annotations

import contextlib
import datetime
import html
import secrets
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import saml2.assertion
import saml2.entity
import saml2.s_utils
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, time_util
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID
from saml2.server import Server

XMLSEC = "/usr/bin/xmlsec1"
MODES = ("ok", "unsigned", "tampered", "wrong_audience", "wrong_recipient", "expired")


def make_keypair(directory: Path, name: str) -> tuple[str, str]:
    """A 2048-bit RSA key and a self-signed certificate as PEM files; returns their paths."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class SamlIdp:
    def __init__(self, users: dict[str, dict]) -> None:
        self.users = users  # login -> {"password", "name_id", "attributes": {name: [values]}}
        self.mode = "ok"
        self.dir = tempfile.TemporaryDirectory(prefix="fixops-saml-idp-")
        self.key_file, self.cert_file = make_keypair(Path(self.dir.name), "idp")
        self.sp_metadata: str | None = None
        self.pending: dict[str, dict] = {}
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                idp._handle(self, "GET")

            def do_POST(self):  # noqa: N802
                idp._handle(self, "POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.entity_id = f"{self.base}/idp/metadata"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # --- configuration ---------------------------------------------------------------------
    def config(self, *, lifetime_minutes: int = 5) -> IdPConfig:
        conf = {
            "entityid": self.entity_id,
            "xmlsec_binary": XMLSEC,
            "key_file": self.key_file,
            "cert_file": self.cert_file,
            "service": {
                "idp": {
                    "name": "FixOps test IdP",
                    "endpoints": {
                        "single_sign_on_service": [
                            (f"{self.base}/sso/redirect", BINDING_HTTP_REDIRECT),
                            (f"{self.base}/sso/post", BINDING_HTTP_POST),
                        ]
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": lifetime_minutes},
                            "attribute_restrictions": None,
                            "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
                        }
                    },
                    "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                    "want_authn_requests_signed": False,
                }
            },
            "metadata": {"local": [self.sp_metadata]} if self.sp_metadata else {},
        }
        config = IdPConfig()
        config.load(conf)
        return config

    def metadata_file(self) -> str:
        path = Path(self.dir.name) / "idp-metadata.xml"
        path.write_bytes(create_metadata_string(None, config=self.config(), valid=24, sign=False))
        return str(path)

    def trust_sp(self, sp_metadata_xml: bytes) -> None:
        path = Path(self.dir.name) / "sp-metadata.xml"
        path.write_bytes(sp_metadata_xml)
        self.sp_metadata = str(path)

    def start(self) -> SamlIdp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.dir.cleanup()

    # --- HTTP ------------------------------------------------------------------------------
    def _send(self, handler, status: int, body: str) -> None:
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler, method: str) -> None:
        parts = urlsplit(handler.path)
        if method == "GET":
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        else:
            length = int(handler.headers.get("Content-Length", 0))
            params = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode()).items()}
        try:
            if parts.path in ("/sso/redirect", "/sso/post"):
                binding = (
                    BINDING_HTTP_REDIRECT if parts.path.endswith("redirect") else BINDING_HTTP_POST
                )
                return self._send(handler, 200, self._login_form(params, binding))
            if parts.path == "/login" and method == "POST":
                return self._login(handler, params)
        except Exception as exc:  # noqa: BLE001 - a test IdP reports what went wrong
            return self._send(handler, 400, f"IdP error: {html.escape(repr(exc))}")
        return self._send(handler, 404, "not found")

    def _login_form(self, params: dict, binding: str) -> str:
        server = Server(config=self.config())
        request = server.parse_authn_request(params["SAMLRequest"], binding).message
        key = secrets.token_urlsafe(16)
        self.pending[key] = {
            "id": request.id,
            "sp": request.issuer.text,
            "acs": request.assertion_consumer_service_url,
            "relay_state": params.get("RelayState", ""),
        }
        return (
            '<form method="post" action="/login">'
            f'<input type="hidden" name="key" value="{key}">'
            '<input name="username"><input name="password" type="password">'
            "<button>Sign in</button></form>"
        )

    def _login(self, handler, params: dict) -> None:
        pending = self.pending.pop(params.get("key", ""), None)
        user = self.users.get(params.get("username", ""))
        if pending is None:
            return self._send(handler, 400, "unknown or used login request")
        if user is None or user["password"] != params.get("password"):
            return self._send(handler, 401, "wrong username or password")
        self._send(handler, 200, self.response_form(pending, user))

    def response_form(self, pending: dict, user: dict) -> str:
        """The HTTP-POST binding page carrying the SAMLResponse (shaped by `mode`)."""
        mode = self.mode
        server = Server(config=self.config())
        destination = pending["acs"]
        # "expired": the IdP's clock says an hour ago (an assertion captured and sent late).
        clock = _an_hour_ago() if mode == "expired" else contextlib.nullcontext()
        with clock:
            response = self._response(server, mode, pending, user, destination)
        xml = str(response)
        if mode == "tampered":
            # Promote the user after signing: the signature no longer matches.
            xml = xml.replace(">acme-viewers<", ">acme-admins<")
        binding = server.apply_binding(
            BINDING_HTTP_POST, xml, destination, pending["relay_state"], response=True
        )
        return binding["data"]

    def _response(self, server, mode, pending, user, destination):
        return server.create_authn_response(
            identity=user["attributes"],
            in_response_to=pending["id"],
            destination="http://evil.example/saml2/acs/"
            if mode == "wrong_recipient"
            else destination,
            sp_entity_id="http://evil.example/sp" if mode == "wrong_audience" else pending["sp"],
            name_id=NameID(format=NAMEID_FORMAT_PERSISTENT, text=user["name_id"]),
            authn={
                "class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
            },
            sign_assertion=mode != "unsigned",
            sign_response=False,
        )


@contextlib.contextmanager
def _an_hour_ago():
    """pysaml2's timestamps as an IdP whose clock is an hour behind would write them."""
    shift = datetime.timedelta(hours=1)

    def instant(format=time_util.TIME_FORMAT, time_stamp=0):  # noqa: A002 - pysaml2's name
        return time_util.instant(format, time_stamp or time.time() - shift.total_seconds())

    def in_a_while(format=time_util.TIME_FORMAT, **delta):  # noqa: A002
        return (time_util.time_in_a_while(**delta) - shift).strftime(format)

    with (
        mock.patch.object(saml2.assertion, "instant", instant),
        mock.patch.object(saml2.assertion, "in_a_while", in_a_while),
        mock.patch.object(saml2.entity, "instant", instant),
        mock.patch.object(saml2.s_utils, "instant", instant),
    ):
        yield
