"""Generators of large, realistic reports for the benchmarks (written to a temp dir)."""

from __future__ import annotations

import json
import random
from pathlib import Path

PACKAGES = ["api", "billing", "auth", "storage", "web", "worker", "reports", "admin"]
CWES = [79, 89, 22, 78, 94, 95, 327, 502, 611, 798, 918, 352, 601, 200, 306]


def sarif_file(path: Path, n: int, *, seed: int = 1, changed: float = 0.0) -> Path:
    """A SARIF 2.1.0 file with `n` results over ~50 rules; `changed` replaces that share of
    results by new ones (a re-import with churn)."""
    rng = random.Random(seed)
    rules = [
        {
            "id": f"python.security.rule-{r:02d}",
            "shortDescription": {"text": f"Security rule {r}"},
            "properties": {
                "tags": [f"CWE-{CWES[r % len(CWES)]}: weakness"],
                "security-severity": str(round(2 + (r % 8), 1)),
            },
        }
        for r in range(50)
    ]
    churn = int(n * changed)
    with path.open("w") as out:
        out.write(
            '{"$schema": "https://json.schemastore.org/sarif-2.1.0.json", '
            '"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "semgrep", '
            f'"version": "1.90.0", "rules": {json.dumps(rules)}}}}}, "results": ['
        )
        for i in range(n):
            ident = i + 10_000_000 if i < churn else i
            rule = ident % 50
            package = PACKAGES[ident % len(PACKAGES)]
            result = {
                "ruleId": rules[rule]["id"],
                "ruleIndex": rule,
                "level": "warning",
                "message": {"text": f"Potential issue {ident} in handler"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": f"src/{package}/module_{ident // 20}.py",
                                "uriBaseId": "%SRCROOT%",
                            },
                            "region": {
                                "startLine": 10 + (ident % 400) + rng.randint(0, 3),
                                "snippet": {"text": f"value = handler_{ident}(request)"},
                            },
                        }
                    }
                ],
            }
            out.write(("," if i else "") + json.dumps(result))
        out.write("]}]}")
    return path


def cyclonedx_file(path: Path, components: int, vulnerabilities: int) -> Path:
    """CycloneDX 1.5 JSON with `components` packages and `vulnerabilities` entries."""
    with path.open("w") as out:
        out.write(
            '{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1, '
            '"metadata": {"tools": {"components": [{"type": "application", '
            '"name": "bench-gen", "version": "1.0"}]}}, "components": ['
        )
        for i in range(components):
            comp = {
                "type": "library",
                "bom-ref": f"pkg:pypi/package-{i}@1.{i % 10}.0",
                "name": f"package-{i}",
                "version": f"1.{i % 10}.0",
                "purl": f"pkg:pypi/package-{i}@1.{i % 10}.0",
            }
            out.write(("," if i else "") + json.dumps(comp))
        out.write('], "vulnerabilities": [')
        for v in range(vulnerabilities):
            target = v % components
            vuln = {
                "id": f"CVE-2024-{10000 + v}",
                "source": {"name": "NVD"},
                "ratings": [
                    {
                        "method": "CVSSv31",
                        "score": 7.5,
                        "severity": "high",
                        "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
                    }
                ],
                "cwes": [CWES[v % len(CWES)]],
                "description": f"Vulnerability {v}",
                "affects": [{"ref": f"pkg:pypi/package-{target}@1.{target % 10}.0"}],
            }
            out.write(("," if v else "") + json.dumps(vuln))
        out.write("]}")
    return path
