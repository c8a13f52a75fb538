"""Secrets out of everything before it leaves: `[REDACTED:<rule>]` in every string, keys and
values alike, paths and snippets included.

Patterns are the documented token formats (sources beside each rule) plus a generic rule for
secret-looking assignments whose value has high entropy. A secret-kind finding's message is
its match (or text around it), so it never leaves at all; redaction of known patterns still
runs on every other field.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# (rule, pattern); the whole match is replaced unless the pattern has a group named "secret".
# Order matters: a specific rule claims its match before the generic ones see it.
RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # PEM private keys (RFC 7468 labels: "PRIVATE KEY", "RSA PRIVATE KEY", "OPENSSH PRIVATE
    # KEY", "ENCRYPTED PRIVATE KEY"…); an unterminated block is cut to the end of the text.
    (
        "private_key",
        re.compile(
            r"-----BEGIN[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----"
            r"(?:.*?-----END[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----|.*\Z)",
            re.DOTALL,
        ),
    ),
    # AWS access key ids: AKIA (long-term), ASIA (STS) and the other documented prefixes
    # (AWS IAM "Unique identifiers" reference; gitleaks rule aws-access-token).
    ("aws_access_key_id", re.compile(r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")),
    # AWS secret access keys: 40 base64 characters assigned to an aws…secret… name.
    (
        "aws_secret_access_key",
        re.compile(
            r"(?i)aws[\w.-]{0,20}?(?:secret|sk)[\w.-]{0,20}?[\"']?\s*[:=]\s*[\"']?"
            r"(?P<secret>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])"
        ),
    ),
    # GitHub tokens: ghp_/gho_/ghu_/ghs_/ghr_ + 36 base62, and fine-grained github_pat_
    # (GitHub docs, "About authentication to GitHub": token formats).
    ("github_token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b")),
    ("github_token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b")),
    # GitLab personal/project/group access tokens (GitLab docs, "Token prefixes").
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b")),
    # Slack tokens xoxb-/xoxp-/xoxa-/xoxr-/xoxs-/xoxe- and incoming-webhook URLs
    # (Slack docs, "Token types"; gitleaks slack-* rules).
    ("slack_token", re.compile(r"\bxox[abeoprs]-(?:\d+-)?[A-Za-z0-9-]{10,}\b")),
    (
        "slack_webhook",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_+-]+"),
    ),
    # Model-vendor keys: Anthropic sk-ant-…, OpenAI sk-… / sk-proj-….
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    # Google API keys: AIza + 35 characters (Google Cloud docs; gitleaks gcp-api-key).
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    # Stripe secret and restricted keys (Stripe docs, "API keys").
    ("stripe_key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}\b")),
    # JSON Web Tokens: three base64url parts, the first two JSON objects ("eyJ" = '{"').
    (
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"),
    ),
    # Credentials inside a URL (scheme://user:password@host).
    ("url_credentials", re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/:@]+:(?P<secret>[^\s/@]+)@")),
    # Authorization headers.
    (
        "auth_header",
        re.compile(r"(?i)\b(?:bearer|basic|token)\s+(?P<secret>[A-Za-z0-9._~+/=-]{16,})"),
    ),
)

# Generic: a secret-looking name assigned a high-entropy value (gitleaks generic-api-key idea).
_ASSIGNMENT = re.compile(
    r"(?i)(?P<name>[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|credential|auth)[\w.-]*)[\"']?\s*(?::=|=>|[:=])\s*"
    r"[\"']?(?P<secret>[^\s\"',;]{8,})"
)
GENERIC_RULE = "generic_secret"
MIN_ENTROPY = 3.0  # bits per character; "changeme123" is below, random keys are above

_MARK = re.compile(r"\[REDACTED:[a-z_]+\]")


def shannon_entropy(text: str) -> float:
    """Bits per character of `text`."""
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


@dataclass
class Redactor:
    """Redacts strings and nested data, counting what each rule removed."""

    extra_secrets: tuple[str, ...] = ()  # literal values known to be secret (a finding's match)
    counts: Counter = field(default_factory=Counter)

    def text(self, value: str) -> str:
        """`value` with every known secret and every pattern match replaced."""
        for secret in sorted(set(self.extra_secrets), key=len, reverse=True):
            if len(secret) >= 4 and secret in value:
                self.counts["secret_finding"] += value.count(secret)
                value = value.replace(secret, "[REDACTED:secret_finding]")
        for rule, pattern in RULES:
            value = pattern.sub(lambda m, rule=rule: self._replace(m, rule), value)
        return _ASSIGNMENT.sub(self._generic, value)

    def data(self, value: Any) -> Any:
        """A copy of JSON-like `value` with every string (dict keys included) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(v) for v in value]
        return value

    def _replace(self, match: re.Match[str], rule: str) -> str:
        self.counts[rule] += 1
        if "secret" in match.re.groupindex and match.group("secret") is not None:
            start, end = match.span("secret")
            whole = match.group(0)
            offset = match.start()
            return whole[: start - offset] + f"[REDACTED:{rule}]" + whole[end - offset :]
        return f"[REDACTED:{rule}]"

    def _generic(self, match: re.Match[str]) -> str:
        secret = match.group("secret")
        if _MARK.search(secret) or shannon_entropy(secret) < MIN_ENTROPY:
            return match.group(0)
        return self._replace(match, GENERIC_RULE)


def redact(value: Any, *, secrets: tuple[str, ...] = ()) -> Any:
    """Redacted copy of a string or JSON-like structure (see the module docstring)."""
    return Redactor(extra_secrets=secrets).data(value)
