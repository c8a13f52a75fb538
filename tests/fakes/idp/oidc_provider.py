"""Run the real OpenID provider (tests/fakes/idp/oidc/server.mjs, panva/oidc-provider) on
127.0.0.1 for the SSO tests, with RSA signing keys made here so a test can rotate them."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

HERE = Path(__file__).resolve().parent / "oidc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_signing_key(kid: str | None = None) -> dict:
    """A private RSA JWK (RS256) with a fresh kid."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    # PyJWT marks a private JWK key_ops=["sign"]; the provider also verifies with it
    # (id_token_hint at logout), so leave key_ops out.
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid or secrets.token_hex(8), "alg": "RS256", "use": "sig"}


@dataclass
class OidcProvider:
    """One node process; `start()` / `stop()` / `rotate_keys()`; `issuer` is its URL."""

    clients: list[dict]
    accounts: dict[str, dict]
    id_token_ttl: dict[str, int] = field(default_factory=dict)
    pkce_optional: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    keys: list[dict] = field(default_factory=lambda: [new_signing_key()])
    process: subprocess.Popen | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OidcProvider:
        node = shutil.which("node")
        if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                "the OIDC test provider needs node and `npm ci --prefix tests/fakes/idp/oidc` "
                "(.ci/run does both)"
            )
        self._dir = tempfile.TemporaryDirectory(prefix="fixops-idp-")
        config = Path(self._dir.name) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "port": self.port,
                    "issuer": self.issuer,
                    "jwks": {"keys": self.keys},
                    "clients": self.clients,
                    "accounts": self.accounts,
                    "idTokenTtl": self.id_token_ttl,
                    "pkceOptional": self.pkce_optional,
                }
            )
        )
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, test-only
            [node, str(HERE / "server.mjs"), str(config)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("listening"):
            self.process.kill()
            raise RuntimeError(f"OIDC provider did not start: {line}{self.process.stderr.read()}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for stream in (self.process.stdout, self.process.stderr):
                stream.close()
            self.process = None
            self._dir.cleanup()

    def rotate_keys(self, *, keep_old: bool = False) -> dict:
        """Restart with a new signing key first (the old one kept for verification or not)."""
        new = new_signing_key()
        self.stop()
        self.keys = [new, *self.keys] if keep_old else [new]
        self.start()
        return new
