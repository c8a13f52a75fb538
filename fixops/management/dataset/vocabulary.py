"""What the scale dataset is made of: tools, rules, packages, CVEs and the shares that make its
numbers look like a real portfolio's (most findings SCA, few critical, most CVEs with a low
EPSS, a few in KEV). Pure data; the generator draws from it with a seeded random.Random."""

from __future__ import annotations

import random
from dataclasses import dataclass

WORDS = [
    "payments",
    "orders",
    "billing",
    "auth",
    "identity",
    "search",
    "catalog",
    "checkout",
    "cart",
    "inventory",
    "shipping",
    "pricing",
    "ledger",
    "reports",
    "notify",
    "gateway",
    "portal",
    "mobile",
    "admin",
    "analytics",
    "media",
    "profile",
    "booking",
    "loyalty",
    "support",
    "wallet",
    "fraud",
    "risk",
    "onboarding",
    "partner",
    "supplier",
]
SUFFIXES = ("api", "service", "web", "worker", "app", "ui", "batch", "sync")


@dataclass(frozen=True)
class Tool:
    """A scanner as the generator uses it: the finding kind, the scan format, the dedup
    strategy and the target of its streams ("" when it scans the checkout)."""

    name: str
    kind: str
    format: str
    strategy: str
    version: str
    target: str = ""  # "{app}" is replaced by the application's name


SEMGREP = Tool("semgrep", "sast", "sarif", "sast", "1.90.0")
BANDIT = Tool("bandit", "sast", "sarif", "sast", "1.7.9")
GITLEAKS = Tool("gitleaks", "secret", "gitleaks", "secret", "8.18.4")
CHECKOV = Tool("checkov", "iac", "checkov", "iac", "3.2.255")
TRIVY = Tool("trivy", "sca", "trivy", "sca", "0.55.2")
OSV = Tool("osv-scanner", "sca", "osv-scanner", "sca", "1.8.5")
TRIVY_IMAGE = Tool(
    "trivy", "container", "trivy", "sca", "0.55.2", target="registry.example.com/{app}:latest"
)
ZAP = Tool("zap", "dast", "zap", "fallback", "2.15.0", target="https://{app}.example.com")

# An application's streams: (tool, probability it has it). Every application has Semgrep.
TOOL_SHARES = (
    (SEMGREP, 1.0),
    (TRIVY, 0.8),
    (GITLEAKS, 0.6),
    (CHECKOV, 0.35),
    (TRIVY_IMAGE, 0.35),
    (BANDIT, 0.2),
    (OSV, 0.15),
    (ZAP, 0.1),
)
# How many findings a stream of this kind tends to hold, relative to the others.
KIND_WEIGHT = {"sca": 5.0, "container": 4.0, "sast": 2.0, "iac": 1.0, "secret": 0.3, "dast": 0.5}
SEVERITY_BY_KIND = {
    "sca": (("critical", 6), ("high", 24), ("medium", 42), ("low", 25), ("info", 3)),
    "container": (("critical", 5), ("high", 20), ("medium", 40), ("low", 30), ("info", 5)),
    "sast": (("critical", 2), ("high", 18), ("medium", 45), ("low", 25), ("info", 10)),
    "iac": (("critical", 1), ("high", 15), ("medium", 50), ("low", 30), ("info", 4)),
    "secret": (("critical", 40), ("high", 60)),
    "dast": (("high", 10), ("medium", 45), ("low", 35), ("info", 10)),
}
# Where findings stand. Most still need work; a fair share were fixed (MTTR has data), some
# were accepted or dismissed.
STATUS_SHARES = (
    ("open", 36),
    ("triaged", 12),
    ("in_progress", 7),
    ("reopened", 2),
    ("fixed", 9),
    ("verified", 20),
    ("risk_accepted", 5),
    ("false_positive", 9),
)
# Mean days from first seen to fixed, by severity (exponential): critical fixed fastest.
MTTR_DAYS = {"critical": 9, "high": 21, "medium": 45, "low": 70, "info": 90}
CRITICALITY_SHARES = (("low", 15), ("medium", 45), ("high", 28), ("critical", 12))
DATA_SHARES = (("public", 10), ("internal", 50), ("confidential", 30), ("restricted", 10))
ROLE_SHARES = (("viewer", 30), ("analyst", 45), ("approver", 15), ("admin", 10))
TEAMS = ("AppSec", "Platform", "Payments", "Identity", "Frontend", "Data", "SRE", "Mobile")
FIRST_NAMES = [
    "ada",
    "alan",
    "barbara",
    "claude",
    "donald",
    "edsger",
    "frances",
    "grace",
    "hedy",
    "ivan",
    "john",
    "karen",
    "linus",
    "margaret",
    "niklaus",
    "ole",
    "radia",
    "rosalind",
    "ken",
    "dennis",
    "bjarne",
    "guido",
    "james",
    "tim",
    "vint",
]

ECOSYSTEMS = (
    ("npm", ("lodash", "express", "axios", "minimist", "jsonwebtoken", "ws", "semver", "qs")),
    ("pypi", ("django", "requests", "urllib3", "jinja2", "pyyaml", "cryptography", "pillow")),
    (
        "maven",
        ("org.apache.logging.log4j/log4j-core", "com.fasterxml.jackson.core/jackson-databind"),
    ),
    ("golang", ("golang.org/x/net", "golang.org/x/crypto", "github.com/gin-gonic/gin")),
    ("deb", ("openssl", "libc6", "zlib1g", "curl", "libxml2", "bash", "tar")),
)
CVSS_BY_SEVERITY = {
    "critical": ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",),
    "high": (
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:N",
    ),
    "medium": (
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
        "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
    ),
    "low": ("CVSS:3.1/AV:L/AC:H/PR:L/UI:N/S:U/C:L/I:N/A:N",),
    "info": (),
}
SAST_RULES = tuple(
    (f"python.lang.security.audit.{name}", cwe, title)
    for name, cwe, title in (
        ("sqli.formatted-sql-query", 89, "SQL query built from user input"),
        ("xss.template-autoescape-off", 79, "Template autoescaping disabled"),
        ("subprocess-shell-true", 78, "Subprocess call with shell=True"),
        ("path-traversal-open", 22, "File path built from user input"),
        ("insecure-hash-md5", 327, "Weak hash algorithm (MD5)"),
        ("pickle-load", 502, "Deserialisation of untrusted data"),
        ("xxe-lxml", 611, "XML parser resolves external entities"),
        ("ssrf-requests", 918, "Request URL built from user input"),
        ("eval-injection", 95, "eval() of user input"),
        ("open-redirect", 601, "Redirect to a user-supplied URL"),
        ("csrf-exempt", 352, "View exempt from CSRF protection"),
        ("debug-enabled", 489, "Debug mode enabled"),
    )
)
SECRET_RULES = (
    ("aws-access-token", "AWS access key"),
    ("github-pat", "GitHub personal access token"),
    ("slack-webhook-url", "Slack webhook URL"),
    ("private-key", "Private key"),
    ("generic-api-key", "Generic API key"),
)
IAC_RULES = (
    ("CKV_AWS_20", "S3 bucket allows public read", "aws_s3_bucket.assets"),
    ("CKV_AWS_19", "S3 bucket not encrypted at rest", "aws_s3_bucket.data"),
    ("CKV_AWS_23", "Security group rule has no description", "aws_security_group.web"),
    (
        "CKV_AWS_24",
        "Security group allows ingress from 0.0.0.0/0 to port 22",
        "aws_security_group.ssh",
    ),
    ("CKV_K8S_20", "Containers should not run with allowPrivilegeEscalation", "Deployment.api"),
    ("CKV_K8S_28", "Container runs as root", "Deployment.worker"),
)
DAST_RULES = (
    ("10038", "Content Security Policy header not set", "/"),
    ("10020", "Missing anti-clickjacking header", "/login"),
    ("40012", "Cross site scripting (reflected)", "/search"),
    ("90022", "Application error disclosure", "/api/orders"),
    ("10202", "Absence of anti-CSRF tokens", "/account"),
)
SAST_DIRS = ("src/api", "src/billing", "src/auth", "src/web", "src/worker", "lib", "app/views")


def weighted(rng: random.Random, pairs) -> str:
    """One value of (value, weight) pairs."""
    total = sum(weight for _, weight in pairs)
    point = rng.random() * total
    for value, weight in pairs:
        point -= weight
        if point < 0:
            return value
    return pairs[-1][0]


@dataclass(frozen=True)
class Vulnerability:
    cve: str
    ghsa: str
    severity: str
    ecosystem: str
    package: str
    version: str
    fixed: str
    epss: float
    kev: bool
    vector: str


def vulnerabilities(rng: random.Random, count: int) -> list[Vulnerability]:
    """A catalogue of `count` CVEs: EPSS heavy-tailed towards 0 (most below 1 %), ~3 % in KEV
    (more among the likely-exploited), severities as SCA scanners report them."""
    catalogue = []
    for i in range(count):
        severity = weighted(rng, SEVERITY_BY_KIND["sca"])
        ecosystem, packages = ECOSYSTEMS[i % len(ECOSYSTEMS)]
        package = packages[(i // len(ECOSYSTEMS)) % len(packages)]
        major, minor = rng.randint(0, 5), rng.randint(0, 20)
        epss = round(min(0.97, 0.0004 + rng.random() ** 7), 5)
        kev = rng.random() < (0.25 if epss > 0.3 else 0.02)
        vectors = CVSS_BY_SEVERITY[severity]
        catalogue.append(
            Vulnerability(
                cve=f"CVE-{2019 + i % 7}-{10000 + i}",
                ghsa=f"GHSA-{i:04x}-{(i * 7) % 9999:04x}-{(i * 13) % 9999:04x}",
                severity=severity,
                ecosystem=ecosystem,
                package=package,
                version=f"{major}.{minor}.{rng.randint(0, 9)}",
                fixed=f"{major}.{minor + 1}.0",
                epss=epss,
                kev=kev,
                vector=vectors[i % len(vectors)] if vectors else "",
            )
        )
    return catalogue
