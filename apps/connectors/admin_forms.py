"""The integration admin's form per kind, built from the connector's declared fields
(apps/connectors/schema.py): one form field per credential and setting, with its label and
help; secrets write-only (never rendered back; blank keeps the stored value; a "clear" box
removes it). Validation is the API's (`integration_check_config`), its errors shown on the
fields they name."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.utils.html import escape

from apps.connectors import registry
from apps.connectors.models import Integration
from apps.connectors.schema import CREDENTIALS, ConfigField
from apps.connectors.services import INTEGRATION_FIELDS, integration_check_config
from fixops.platform.errors import DomainError

# The model fields every kind's form carries; `kind` is the form class's, fixed at creation.
COMMON_FIELDS = (
    "tenant",
    "name",
    "base_url",
    "enabled",
    "min_severity",
    "min_risk",
    "grouping",
    "templates",
)


def form_name(spec: ConfigField) -> str:
    """The form field of a declared field: credentials__api_token, settings__project_key."""
    return f"{spec.where}__{spec.name}"


def clear_name(spec: ConfigField) -> str:
    return f"{form_name(spec)}__clear"


def _required_credentials(kind: str) -> set[str]:
    """Credentials every accepted set needs (GitLab's token); alternatives (Jira Cloud or
    Data Center) are left to the connector's own validation."""
    sets = [set(s) for s in registry.connector_class(kind).credential_sets]
    return set.intersection(*sets) if sets else set()


class MappingField(forms.JSONField):
    """A JSON object; empty rather than "null" when unset."""

    def prepare_value(self, value):
        return "" if value is None else super().prepare_value(value)


def _form_field(spec: ConfigField, required: bool) -> forms.Field:
    # The admin renders help text as HTML: the schema's is plain text ("https://<site>…").
    help_text = spec.help
    if spec.default is not None and not spec.secret:
        default = json.dumps(spec.default) if isinstance(spec.default, dict) else spec.default
        help_text = f"{spec.help} Default: {default}.".strip()
    if spec.type == "list":
        help_text = f"{help_text} Comma-separated.".strip()
    common: dict[str, Any] = {
        "label": spec.label,
        "help_text": escape(help_text),
        "required": required,
    }
    if spec.secret:
        widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
        return forms.CharField(widget=widget, max_length=2000, strip=True, **common)
    if spec.type == "choice":
        choices = [("", "— default —"), *((c, c) for c in spec.choices)]
        return forms.ChoiceField(choices=choices, **common)
    if spec.type == "integer":
        return forms.IntegerField(min_value=spec.minimum, max_value=spec.maximum, **common)
    if spec.type == "mapping":
        widget = forms.Textarea(attrs={"rows": 2, "cols": 60, "spellcheck": "false"})
        return MappingField(widget=widget, **common)
    return forms.CharField(max_length=500, **common)


def _initial(spec: ConfigField, value: Any) -> Any:
    if spec.type == "list" and isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return value


def _value(spec: ConfigField, raw: Any) -> Any:
    """The form's value as the connector stores it; None for "not set"."""
    if raw in (None, "", [], {}):
        return None
    if spec.type == "list" and isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()] or None
    return raw


class IntegrationForm(forms.ModelForm):
    """Base of the per-kind forms (`integration_form`); `kind` and `specs` are the class's."""

    kind: str = ""
    specs: tuple[ConfigField, ...] = ()

    class Meta:
        model = Integration
        fields = COMMON_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.credentials if self.instance.pk else {}
        settings = self.instance.settings if self.instance.pk else {}
        self.stored_credentials = stored
        for spec in self.specs:
            field = self.fields[form_name(spec)]
            if spec.where == CREDENTIALS and spec.secret:
                if stored.get(spec.name):
                    field.help_text = f"{field.help_text} Stored: leave blank to keep it."
                    field.required = False
                else:
                    self.fields.pop(clear_name(spec), None)
            elif spec.where == CREDENTIALS:
                field.initial = stored.get(spec.name, "")
                if stored.get(spec.name):
                    field.required = False
            else:
                field.initial = _initial(spec, settings.get(spec.name))

    def clean(self):
        cleaned = super().clean()
        settings = dict(self.instance.settings) if self.instance.pk else {}
        for spec in self.specs:
            if spec.where != CREDENTIALS:
                value = _value(spec, cleaned.get(form_name(spec)))
                if value is None:
                    settings.pop(spec.name, None)  # unset: the connector's default applies
                else:
                    settings[spec.name] = value
        credentials, changed = self._credentials(cleaned)
        self.config = {"settings": settings, "credentials": credentials if changed else None}
        # Checked even when a field already failed, so every problem shows at once (a field
        # keeps its first error).
        candidate = Integration(
            kind=self.kind,
            name=cleaned.get("name") or "",
            base_url=cleaned.get("base_url") or "",
            settings=settings,
            templates=cleaned.get("templates") or {},
        )
        try:
            integration_check_config(candidate, credentials)
        except DomainError as exc:
            self._field_errors(exc.details or {})
        return cleaned

    def _credentials(self, cleaned: dict) -> tuple[dict, bool]:
        """The credentials to store and whether they differ from the stored ones."""
        credentials = dict(self.stored_credentials)
        for spec in self.specs:
            if spec.where != CREDENTIALS:
                continue
            value = _value(spec, cleaned.get(form_name(spec)))
            if value is not None:
                credentials[spec.name] = value
            elif not spec.secret or cleaned.get(clear_name(spec)):
                credentials.pop(spec.name, None)
        return credentials, credentials != self.stored_credentials or not self.instance.pk

    def _field_errors(self, details: dict) -> None:
        names = {spec.key: form_name(spec) for spec in self.specs}
        for key, message in details.items():
            name = names.get(key) or key.split(".", 1)[0]
            if name == CREDENTIALS:
                self.add_error(None, f"Credentials: {message}")
            elif name in self.fields and name not in self.errors:
                self.add_error(name, message)
            elif name in self.fields:
                continue
            else:
                self.add_error(None, f"{key}: {message}")

    def service_fields(self) -> dict[str, Any]:
        """What integration_create / integration_update take from this form."""
        fields = {k: self.cleaned_data[k] for k in INTEGRATION_FIELDS if k in self.cleaned_data}
        fields["settings"] = self.config["settings"]
        if self.config["credentials"] is not None:
            fields["credentials"] = self.config["credentials"]
        return fields


def integration_form(kind: str) -> type[IntegrationForm]:
    """The form class of one kind: its declared credentials and settings as fields."""
    specs = registry.connector_class(kind).all_fields()
    required = _required_credentials(kind)
    attrs: dict[str, Any] = {"kind": kind, "specs": specs, "__module__": __name__}
    for spec in specs:
        needed = spec.required or (spec.where == CREDENTIALS and spec.name in required)
        attrs[form_name(spec)] = _form_field(spec, needed)
        if spec.secret:
            attrs[clear_name(spec)] = forms.BooleanField(
                required=False,
                label=f"Clear the stored {spec.label[:1].lower()}{spec.label[1:]}",
            )
    return type(f"{kind.title().replace('_', '')}IntegrationForm", (IntegrationForm,), attrs)


def kind_fieldsets(kind: str, stored: dict) -> list[tuple[str, dict]]:
    """The credentials and settings fieldsets of a kind's form (a Clear box for each secret
    that is `stored`)."""
    cls = registry.connector_class(kind)
    label = dict(registry.Kind.choices)[kind]
    credentials, settings = [], []
    for spec in cls.all_fields():
        target = credentials if spec.where == CREDENTIALS else settings
        target.append(form_name(spec))
        if spec.secret and stored.get(spec.name):
            target.append(clear_name(spec))
    return [
        (
            "Credentials",
            {
                "fields": credentials,
                "description": "Secrets are write-only: never shown again. Leave a secret blank "
                "to keep the stored value; tick its Clear box to remove it.",
            },
        ),
        (f"{label} settings", {"fields": settings}),
    ]
