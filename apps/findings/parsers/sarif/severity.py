"""Severity and confidence of a SARIF result, and which result kinds are defects.

- severity: `properties["security-severity"]` of the result, else of the rule, by GitHub's
  bands (>= 9 critical, >= 7 high, >= 4 medium, > 0 low; 0 or out of range = none); else the
  level: result `level`, else the invocation's `ruleConfigurationOverrides`, else the rule's
  `defaultConfiguration.level`, else "warning"; error -> high, warning -> medium,
  note -> low, none -> info. A secret with no level anywhere is "high", as in the gitleaks
  native parser, so one leak scores the same whichever format gitleaks wrote.
- `kind` (SARIF result kind): "pass", "notApplicable" and "informational" are not defects
  (§3.27.9: the rule passed, did not apply, or the result is "purely informational") and
  produce no finding, only a suppressed entry; "open" and "review" are imported with severity
  info and `properties["sarif_kind"]`; absent means "fail".
- confidence: Bandit's `issue_confidence` on the result, else the rule's `precision`.
"""

from __future__ import annotations

from typing import Any

from apps.findings.vocabulary import severity_from_score

from .run import RuleFacts

DEFAULT_LEAK_SEVERITY = "high"  # same as the gitleaks native parser
LEVEL_SEVERITY = {"error": "high", "warning": "medium", "note": "low", "none": "info"}
NOT_DEFECTS = frozenset({"pass", "notApplicable", "informational"})
RESULT_KINDS = frozenset({"pass", "open", "informational", "notApplicable", "review", "fail"})
PRECISION_CONFIDENCE = {"very-high": "high", "high": "high", "medium": "medium", "low": "low"}


def severity_band(score: float) -> str | None:
    """GitHub's security-severity bands; None for 0, negative, > 10 or NaN."""
    return severity_from_score(score) if 0 < score <= 10 else None


def security_score(value: Any) -> float | None:
    """A security-severity property as a number in (0, 10], else None."""
    if isinstance(value, bool):
        return None
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None
    return score if 0 < score <= 10 else None


def result_severity(
    raw: dict[str, Any], props: dict[str, Any], facts: RuleFacts, sarif_kind: str, kind: str
) -> str:
    """Result security-severity, rule security-severity, result level, invocation override,
    rule level, then the secret default or "warning" (see the module docstring)."""
    if sarif_kind != "fail":
        return "info"
    score = security_score(props["security-severity"]) if "security-severity" in props else None
    if score is not None:
        return severity_band(score) or "medium"
    if facts.score_severity:
        return facts.score_severity
    level = raw.get("level")
    if not isinstance(level, str) or level not in LEVEL_SEVERITY:
        level = facts.level
    if not level and kind == "secret":
        return DEFAULT_LEAK_SEVERITY
    return LEVEL_SEVERITY[level or "warning"]


def confidence(props: dict[str, Any]) -> str:
    """Bandit-style `issue_confidence` (HIGH/MEDIUM/LOW) on the result."""
    value = props.get("issue_confidence")
    value = value.lower() if isinstance(value, str) else ""
    return value if value in ("high", "medium", "low") else ""
