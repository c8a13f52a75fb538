"""A real SMTP server on loopback (aiosmtpd) for the e-mail channel, plus a silent one.

aiosmtpd is an independent RFC 5321 implementation (digest llm-and-channels.md §7):
`Controller(handler, hostname, port, tls_context=…, require_starttls=True, authenticator=…,
auth_require_tls=True)`. `SmtpServer(starttls=True)` serves STARTTLS with a throwaway
certificate for 127.0.0.1 / localhost (`ca_file` is what the client must trust) and requires
it before anything else, and with `user`/`password` it requires AUTH (only over TLS).
`fail_next(n, "451 …")` answers the next n DATA commands with that reply. `SilentServer`
accepts TCP connections and never greets: a server that is up but hangs.
"""

from __future__ import annotations

import datetime
import email
import ipaddress
import socket
import ssl
import tempfile
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def throwaway_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate (and key) for localhost and 127.0.0.1."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.server.lock:
            if self.server.replies:
                return self.server.replies.pop(0)
            self.server.messages.append(
                {
                    "from": envelope.mail_from,
                    "to": list(envelope.rcpt_tos),
                    "message": email.message_from_bytes(envelope.content),
                    "tls": session.ssl is not None,
                    "authenticated": bool(session.authenticated),
                }
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1; `messages` holds what it accepted."""

    def __init__(self, *, starttls: bool = False, user: str = "", password: str = "") -> None:
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.replies: list[str] = []
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.user, self.password = user, password
        self._tmp = tempfile.TemporaryDirectory(prefix="fixops-smtp-")
        self.ca_file: Path | None = None
        kwargs: dict = {}
        if starttls:
            cert, key = throwaway_certificate(Path(self._tmp.name))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            self.ca_file = cert
            kwargs.update(tls_context=context, require_starttls=True)
        if user:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
        self.controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, ready_timeout=10, **kwargs
        )

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok)

    def fail_next(self, n: int, reply: str) -> None:
        """The next n messages are answered with `reply` ("451 4.3.0 try later")."""
        with self.lock:
            self.replies.extend([reply] * n)

    def settings(self) -> dict:
        """Django settings pointing at this server (use with pytest-django's `settings`)."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": self.port,
            "EMAIL_HOST_USER": self.user,
            "EMAIL_HOST_PASSWORD": self.password,
            "EMAIL_USE_TLS": self.ca_file is not None,
            "EMAIL_USE_SSL": False,
        }

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
        self._tmp.cleanup()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (no SMTP greeting)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="silent-smtp")

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()
