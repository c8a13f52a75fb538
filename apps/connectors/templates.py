"""Per-integration title and body templates, safe by construction.

A template is `string.Template` text: `$name` or `${name}` placeholders, `$$` for a dollar
sign. Only the fields listed below exist; there are no expressions, filters, attribute
lookups or includes, and substituted values are inserted literally (a finding title that
contains `$secret` or `{{ ... }}` stays text). Unknown or malformed placeholders are refused
when the integration is saved, with the names that are wrong.
"""

from __future__ import annotations

from string import Template

FINDING_FIELDS = (
    "title",
    "severity",
    "status",
    "rule_id",
    "kind",
    "tool",
    "application",
    "location",
    "component",
    "vuln_id",
    "cwe",
    "risk_score",
    "epss",
    "kev",
    "message",
    "url",
    "count",
    "findings",
    "reference",
    "fixed_versions",  # what intel says fixes it ("2.31.0, 3.0.1"; "-" when unknown)
    "upgrade",  # the smallest fix above the installed version ("upgrade requests 2.0 to 2.31.0")
)
DECISION_FIELDS = (
    "outcome",
    "application",
    "commit",
    "branch",
    "pipeline_run",
    "confidence",
    "summary",
    "reasons",
    "url",
    "reference",
)

DEFAULTS = {
    "title": "[FixOps] $severity: $title ($application)",
    "body": (
        "$message\n\n"
        "Application: $application\n"
        "Severity: $severity    Risk: $risk_score    Rule: $rule_id\n"
        "Location: $location\n"
        "Component: $component\n"
        "Vulnerability: $vuln_id    EPSS: $epss    KEV: $kev\n"
        "Fixed in: $fixed_versions    Advice: $upgrade\n"
        "$findings\n"
        "FixOps: $url"
    ),
    "decision_title": "FixOps decision: $outcome for $application",
    "decision_body": (
        "$summary\n\n"
        "Commit: $commit    Branch: $branch    Pipeline: $pipeline_run\n"
        "Confidence: $confidence\n\n"
        "$reasons\n\n"
        "FixOps: $url"
    ),
}
FIELDS = {
    "title": FINDING_FIELDS,
    "body": FINDING_FIELDS,
    "decision_title": DECISION_FIELDS,
    "decision_body": DECISION_FIELDS,
}
MAX_TEMPLATE_CHARS = 5000
MAX_TITLE_CHARS = 250
MAX_BODY_CHARS = 30_000


def validate(templates: object) -> dict[str, str]:
    """Field -> error for a templates object ({} when every template is usable)."""
    if not isinstance(templates, dict):
        return {"templates": "must be an object of template name -> text"}
    errors: dict[str, str] = {}
    for name, text in templates.items():
        if name not in FIELDS:
            errors[f"templates.{name}"] = f"unknown template; known: {', '.join(FIELDS)}"
            continue
        if not isinstance(text, str):
            errors[f"templates.{name}"] = "must be a string"
            continue
        if len(text) > MAX_TEMPLATE_CHARS:
            errors[f"templates.{name}"] = f"longer than {MAX_TEMPLATE_CHARS} characters"
            continue
        template = Template(text)
        if not template.is_valid():
            errors[f"templates.{name}"] = (
                "malformed placeholder; write $name or ${name}, and $$ for a dollar sign"
            )
            continue
        unknown = sorted(set(template.get_identifiers()) - set(FIELDS[name]))
        if unknown:
            errors[f"templates.{name}"] = (
                f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(FIELDS[name])}"
            )
    return errors


def render(templates: dict, name: str, values: dict[str, object]) -> str:
    """The integration's template `name` (or the default) filled with `values`."""
    text = templates.get(name) if isinstance(templates, dict) else None
    if not isinstance(text, str) or validate({name: text}):
        text = DEFAULTS[name]
    allowed = {field: _text(values.get(field)) for field in FIELDS[name]}
    rendered = Template(text).safe_substitute(allowed)
    limit = MAX_TITLE_CHARS if name.endswith("title") else MAX_BODY_CHARS
    if name.endswith("title"):
        rendered = " ".join(rendered.split())
    return rendered[:limit]


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
