"""Small, valid reports built in code for ingestion tests (real tool fixtures live in
tests/fixtures/scans/ and are exercised by the parser tests)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.core.files.uploadedfile import SimpleUploadedFile


@dataclass(frozen=True)
class Result:
    rule: str = "python.lang.security.eval"
    path: str = "src/app.py"
    line: int = 10
    snippet: str = "eval(user_input)"
    message: str = "Use of eval"
    cwe: int = 95


def sarif(results: list[Result], *, tool: str = "semgrep", version: str = "1.90.0") -> bytes:
    rules = {}
    for r in results:
        rules[r.rule] = {
            "id": r.rule,
            "shortDescription": {"text": r.rule},
            "properties": {"tags": [f"CWE-{r.cwe}: test"], "security-severity": "7.5"},
        }
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {"name": tool, "version": version, "rules": list(rules.values())}
                },
                "results": [
                    {
                        "ruleId": r.rule,
                        "level": "error",
                        "message": {"text": r.message},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": r.path},
                                    "region": {"startLine": r.line, "snippet": {"text": r.snippet}},
                                }
                            }
                        ],
                    }
                    for r in results
                ],
            }
        ],
    }
    return json.dumps(document).encode()


def many(n: int, *, offset: int = 0) -> list[Result]:
    return [
        Result(
            rule=f"rule-{i % 7}",
            path=f"src/module_{i}.py",
            line=10 + i,
            snippet=f"danger({i})",
            message=f"finding {i}",
        )
        for i in range(offset, offset + n)
    ]


def upload(content: bytes, name: str = "report.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def multipart_body(report: bytes, application: str = "shop") -> tuple[bytes, str]:
    """(body, Content-Type) of an upload form written by hand, for clients that stream it."""
    boundary = "hostileboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="application"\r\n\r\n'
            f"{application}\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.sarif"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + report
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"
