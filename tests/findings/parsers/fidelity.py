"""The real-report corpus (tests/fixtures/scans/*/real/) and what each report must give.

One row per report: the format it is detected as, the tool and version the report names,
and exact counts: `results` (every result the parser met: findings plus lost), `findings`
(Finding rows after importing it into an empty application), `lost` (results that could not
become findings), `suppressed` and `components`. test_fidelity.py checks every row through
the parser and through the real upload flow; README.md's "Report fidelity" table is
generated from these rows (`python -m tests.findings.parsers.fidelity`) and a test keeps the
two equal.

Provenance: the tool-made reports come from ../../fixtures/scans/generate_real.sh; the others
are written from the tools' source at the release named in the file name (see each real/
folder's README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

SCANS = Path(__file__).resolve().parents[2] / "fixtures" / "scans"
TOOL_MADE = "tool"  # produced by the tool, here, by generate_real.sh
FROM_SOURCE = "source"  # written from the tool's published schema and source at a release


@dataclass(frozen=True)
class Real:
    path: str  # relative to tests/fixtures/scans
    format: str
    tool: str  # tool name the import records
    version: str  # the tool release that wrote it (what the report says, or its file name)
    results: int
    findings: int
    lost: int = 0
    suppressed: int = 0
    components: int = 0
    origin: str = TOOL_MADE
    reported_version: bool = True  # False when the report itself does not carry the version
    writer: str = ""  # the tool that wrote it, when the report does not name it (else `tool`)

    @property
    def made_by(self) -> str:
        return self.writer or self.tool


def _r(path: str, fmt: str, tool: str, version: str, counts: tuple[int, ...], **kw) -> Real:
    results, findings, *rest = counts
    extra = dict(zip(("lost", "suppressed", "components"), rest, strict=False))
    return Real(path, fmt, tool, version, results, findings, **extra, **kw)


SRC = {"origin": FROM_SOURCE, "reported_version": False}

REPORTS: tuple[Real, ...] = (
    # SARIF from tools run here
    _r("sarif/real/bandit-1.7.10.sarif", "sarif", "bandit", "1.7.10", (5, 5)),
    _r("sarif/real/bandit-1.8.6.sarif", "sarif", "bandit", "1.8.6", (5, 5)),
    _r("sarif/real/semgrep-1.90.0.sarif", "sarif", "semgrep", "1.90.0", (4, 4)),
    _r("sarif/real/semgrep-1.172.0.sarif", "sarif", "semgrep", "1.172.0", (4, 4)),
    _r("sarif/real/njsscan-0.3.7.sarif", "sarif", "nodejsscan", "0.3.7", (4, 4)),
    _r("sarif/real/njsscan-1.0.2.sarif", "sarif", "nodejsscan", "1.0.2", (5, 5)),
    _r("sarif/real/checkov-2.5.20.sarif", "sarif", "checkov", "2.5.20", (9, 9)),
    _r("sarif/real/checkov-3.2.400.sarif", "sarif", "checkov", "3.2.400", (9, 9)),
    # SARIF of gitleaks v7, before (7.4) and after (7.6) it wrote a ruleId
    _r("sarif/real/gitleaks-7.4.0.sarif", "sarif", "gitleaks", "7.4.0", (8, 8), origin=FROM_SOURCE),
    _r("sarif/real/gitleaks-7.6.1.sarif", "sarif", "gitleaks", "7.6.1", (8, 8), origin=FROM_SOURCE),
    # checkov JSON: one report, a list of reports, the summary-only form
    _r("checkov/real/terraform-2.5.20.json", "checkov", "checkov", "2.5.20", (9, 9)),
    _r("checkov/real/terraform-3.2.400.json", "checkov", "checkov", "3.2.400", (9, 9)),
    _r("checkov/real/multi-2.5.20.json", "checkov", "checkov", "2.5.20", (11, 11)),
    _r("checkov/real/multi-3.2.400.json", "checkov", "checkov", "3.2.400", (11, 11)),
    _r("checkov/real/summary-2.5.20.json", "checkov", "checkov", "2.5.20", (0, 0)),
    _r("checkov/real/summary-3.2.400.json", "checkov", "checkov", "3.2.400", (0, 0)),
    # detect-secrets baselines
    _r(
        "detect-secrets/real/baseline-1.4.0.json",
        "detect-secrets",
        "detect-secrets",
        "1.4.0",
        (7, 7),
    ),
    _r(
        "detect-secrets/real/baseline-1.5.0.json",
        "detect-secrets",
        "detect-secrets",
        "1.5.0",
        (7, 7),
    ),
    # CycloneDX from cyclonedx-bom: SBOMs, components only
    *(
        _r(
            f"cyclonedx/real/requirements-cdxbom3.11.7-{spec}.{ext}",
            f"cyclonedx-{ext}",
            "cyclonedx" if spec in ("1.0", "1.1") else "cyclonedx-bom",
            "3.11.7",
            (0, 0, 0, 0, 3),
            reported_version=spec not in ("1.0", "1.1"),
            writer="cyclonedx-bom",
        )
        for spec, ext in (
            ("1.0", "xml"),
            ("1.1", "xml"),
            ("1.2", "xml"),
            ("1.2", "json"),
            ("1.3", "xml"),
            ("1.3", "json"),
            ("1.4", "xml"),
            ("1.4", "json"),
        )
    ),
    *(
        _r(
            f"cyclonedx/real/requirements-cdxbom7.2.1-{spec}.{ext}",
            f"cyclonedx-{ext}",
            "cyclonedx-py",
            "7.2.1",
            (0, 0, 0, 0, 3),
        )
        for spec in ("1.5", "1.6", "1.7")
        for ext in ("xml", "json")
    ),
    # SPDX from spdx-tools' writers
    *(
        _r(
            f"spdx/real/requirements-spdxtools{tools}-{spec}.{ext}",
            fmt,
            "spdx-tools",
            tools,
            (0, 0, 0, 0, 4),
        )
        for tools in ("0.8.2", "0.8.3")
        for spec in ("2.2", "2.3")
        for ext, fmt in (("spdx.json", "spdx-json"), ("spdx", "spdx-tag-value"))
    ),
    # written from the tools' source (they cannot run here)
    _r("gitleaks/real/v6.2.0-repo.json", "gitleaks", "gitleaks", "6.2.0", (2, 2), **SRC),
    _r("gitleaks/real/v7.6.1-repo.json", "gitleaks", "gitleaks", "7.6.1", (3, 3), **SRC),
    _r("gitleaks/real/v8.0.0-dir.json", "gitleaks", "gitleaks", "8.0.0", (1, 1), **SRC),
    _r("gitleaks/real/v8.18.4-git.json", "gitleaks", "gitleaks", "8.18.4", (2, 2), **SRC),
    _r("gitleaks/real/v8.30.1-nogit.json", "gitleaks", "gitleaks", "8.30.1", (1, 1), **SRC),
    _r("trufflehog/real/v2.2.1-legacy.jsonl", "trufflehog", "trufflehog", "2.2.1", (2, 2), **SRC),
    _r("trufflehog/real/v3.4.3-git.jsonl", "trufflehog", "trufflehog", "3.4.3", (1, 1), **SRC),
    _r(
        "trufflehog/real/v3.63.0-filesystem.jsonl",
        "trufflehog",
        "trufflehog",
        "3.63.0",
        (2, 2),
        **SRC,
    ),
    _r(
        "trufflehog/real/v3.88.0-git-with-log.jsonl",
        "trufflehog",
        "trufflehog",
        "3.88.0",
        (2, 2),
        **SRC,
    ),
    _r("trivy/real/legacy-0.18.3-image.json", "trivy", "trivy", "0.18.3", (3, 3), **SRC),
    _r("trivy/real/legacy-0.19.2-fs.json", "trivy", "trivy", "0.19.2", (3, 3), **SRC),
    _r("trivy/real/schema2-0.20.0-fs.json", "trivy", "trivy", "0.20.0", (2, 2), **SRC),
    _r(
        "trivy/real/schema2-0.69.1-fs.json",
        "trivy",
        "trivy",
        "0.69.1",
        (3, 3, 0, 0, 1),
        origin=FROM_SOURCE,
    ),
    _r("trivy/real/k8s-0.35.0-cluster.json", "trivy", "trivy", "0.35.0", (4, 3, 1), **SRC),
    _r("trivy/real/k8s-0.50.1-cluster.json", "trivy", "trivy", "0.50.1", (3, 3), **SRC),
    _r("grype/real/v0.3.0-dir.json", "grype", "grype", "0.3.0", (2, 2), **SRC),
    _r("grype/real/v0.12.1-image.json", "grype", "grype", "0.12.1", (1, 1), origin=FROM_SOURCE),
    _r("grype/real/v0.73.0-dir.json", "grype", "grype", "0.73.0", (2, 2, 0, 1), origin=FROM_SOURCE),
)


def markdown_table() -> str:
    """The README's fidelity table: one line per format and tool, from REPORTS."""
    lines = [
        "| format | tool | versions | reports | results | findings | lost | components "
        "| exact count matches |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    ordered = sorted(REPORTS, key=lambda r: (r.format, r.made_by))
    for (fmt, tool), rows in groupby(ordered, key=lambda r: (r.format, r.made_by)):
        group = list(rows)
        versions = sorted({r.version for r in group}, key=_version_key)
        origins = {r.origin for r in group}
        how = " (written from source)" if origins == {FROM_SOURCE} else ""
        lines.append(
            f"| {fmt} | {tool}{how} | {', '.join(versions)} | {len(group)} "
            f"| {sum(r.results for r in group)} | {sum(r.findings for r in group)} "
            f"| {sum(r.lost for r in group)} | {sum(r.components for r in group)} "
            f"| {len(group)}/{len(group)} |"
        )
    return "\n".join(lines)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


if __name__ == "__main__":
    print(markdown_table())  # noqa: T201
