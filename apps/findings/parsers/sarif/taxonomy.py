"""Tool families, finding kinds, CWEs and vulnerability ids of SARIF results.

- tool: `tool.driver.name` lower-cased, whitespace collapsed, "Semgrep OSS"/"Semgrep Pro" ->
  "semgrep", "CodeQL command-line toolchain" -> "codeql".
- finding kind, first match wins: "secret" when the tool is a secret scanner (gitleaks,
  trufflehog, detect-secrets, ggshield), a rule tag contains "secret", or the rule id has a
  "secret"/"secrets" word (checkov's CKV_SECRET_*); "iac" when the tool is an IaC scanner
  (checkov, tfsec, kics, terrascan, trivy-config, ...) or trivy tags the rule
  "misconfiguration"; "sca" when the rule id is a vulnerability id (CVE, GHSA, PYSEC,
  RUSTSEC, GO, OSV), which then goes into `vuln_ids` (trivy's "Package:/Installed Version:/
  Fixed Version:" message lines give the component and fixed version); else "sast".
- CWE: rule and result `properties.tags` ("external/cwe/cwe-079", "CWE-79: ..."), a rule
  `cwe` property (string or list), rule `relationships` and result `taxa` whose
  toolComponent is named CWE.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..base import Component
from .run import RuleFacts

SECRET_TOOLS = frozenset({"gitleaks", "trufflehog", "detect-secrets", "ggshield"})
IAC_TOOLS = frozenset(
    {"checkov", "tfsec", "kics", "terrascan", "trivy-config", "cfn-lint", "cfn_nag", "tflint"}
)
NOT_SCA: tuple[tuple[str, ...], Component | None, tuple[str, ...]] = ((), None, ())

_CWE = re.compile(r"cwe[-/_ ]?0*(\d+)", re.IGNORECASE)
_VULN_ID = re.compile(
    r"^(CVE-\d{4}-\d{4,}|GHSA(-[0-9a-z]{4}){3}|PYSEC-\d{4}-\d+|RUSTSEC-\d{4}-\d{4}"
    r"|GO-\d{4}-\d{4,}|OSV-\d{4}-\d+)$",
    re.IGNORECASE,
)
_SECRET_WORD = re.compile(r"(?:^|[^a-z0-9])secrets?(?:[^a-z0-9]|$)", re.IGNORECASE)
_TRIVY_LINE = re.compile(r"^(Package|Installed Version|Fixed Version):\s*(.+?)\s*$", re.MULTILINE)


def canonical_tool(name: str) -> str:
    """Lower-cased driver name with the few known renamings folded together."""
    tool = " ".join(name.lower().split())
    for family in ("semgrep", "codeql"):
        if tool.startswith(family):
            return family
    return tool


def infer_kind(tool: str, rule_id: str, tags: Sequence[str]) -> str:
    """The finding kind from the tool and rule (rules in the module docstring)."""
    lowered = [tag.lower() for tag in tags]
    if (
        tool in SECRET_TOOLS
        or any("secret" in tag for tag in lowered)
        or _SECRET_WORD.search(rule_id)
    ):
        return "secret"
    if tool in IAC_TOOLS or (tool == "trivy" and "misconfiguration" in lowered):
        return "iac"
    if _VULN_ID.match(rule_id):
        return "sca"
    return "sast"


def cwes(values: Sequence[Any]) -> tuple[int, ...]:
    """CWE numbers named in `values` (tags, properties, taxa ids), first occurrence first."""
    found: list[int] = []
    for value in values:
        if isinstance(value, str):
            found.extend(int(m) for m in _CWE.findall(value))
    return tuple(dict.fromkeys(n for n in found if 0 < n < 100000))


def taxa_cwes(refs: Any) -> list[str]:
    """CWE ids from reportingDescriptorReferences whose toolComponent is named CWE."""
    out: list[str] = []
    for ref in refs if isinstance(refs, list) else ():
        target = ref.get("target", ref) if isinstance(ref, dict) else None
        if not isinstance(target, dict):
            continue
        component = target.get("toolComponent")
        name = component.get("name") if isinstance(component, dict) else None
        ident = target.get("id")
        if isinstance(name, str) and name.lower() == "cwe" and isinstance(ident, str | int):
            text = str(ident)
            out.append(text if text.lower().startswith("cwe") else f"CWE-{text}")
    return out


def with_result_tags(
    props: dict[str, Any], tool: str, facts: RuleFacts, kind: str, found: tuple[int, ...]
) -> tuple[str, tuple[int, ...]]:
    """Kind and CWEs when the result adds its own `properties.tags` to the rule's."""
    tags = props.get("tags")
    extra = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
    if not extra:
        return kind, found
    kind = infer_kind(tool, facts.rule_id, facts.effective.tags + tuple(extra))
    return kind, tuple(dict.fromkeys(found + cwes(extra)))


def sca_details(
    rule_id: str, message: str
) -> tuple[tuple[str, ...], Component | None, tuple[str, ...]]:
    """vuln_ids, component and fixed versions of an SCA result (trivy's message lines)."""
    fields = dict(_TRIVY_LINE.findall(message))
    name = fields.get("Package", "")
    component = Component(name=name, version=fields.get("Installed Version", "")) if name else None
    fixed = tuple(v.strip() for v in fields.get("Fixed Version", "").split(",") if v.strip())
    return (rule_id,), component, fixed
