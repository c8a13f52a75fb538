"""Output serializers of busy list endpoints, converted with plain functions per field.

DRF's `Serializer.to_representation` walks every field of every row through the generic
`get_attribute` and the field's converter: 4.1 ms for a page of 50 findings × 35 fields
(tests/bench/test_bench_api_output.py), a fifth of the whole request. `FastOutput` plans
each field once per serializer: an `attrgetter` for its source, and `int`/`float`/`str`/
ISO-8601 for the plain field types or else the field's own `to_representation`. A value the
getter cannot find or that is callable, and a dict row, take DRF's path, so the output is
DRF's. tests/fixops/test_api_output.py compares the two on the serializers that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

_PLAIN: dict[type, Callable[[Any], Any]] = {
    serializers.IntegerField: int,
    serializers.FloatField: float,
    serializers.CharField: str,
}


_drf = object()  # the value was not found by the plain getter: DRF's path


def _identity(value: Any) -> Any:
    return value


def _iso_datetime(field: serializers.DateTimeField) -> Callable[[Any], Any] | None:
    """DRF's ISO-8601 text of an aware datetime in the field's zone; anything else (a naive
    value, a string, no zone) goes through the field itself. None when the field is
    formatted otherwise."""
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601:
        return None
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None:
        return None

    def convert(value: Any) -> Any:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            return field.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


def _converter(field: serializers.Field) -> Callable[[Any], Any] | None:
    """A plain function giving what `field.to_representation` gives, or None when the
    field's own converter is the one to call."""
    kind = type(field)
    if kind in _PLAIN:
        return _PLAIN[kind]
    if kind is serializers.DateTimeField:
        return _iso_datetime(field)
    if kind is serializers.ListField and type(field.child) in _PLAIN:
        item = _PLAIN[type(field.child)]
        return lambda values: [None if value is None else item(value) for value in values]
    return None


class FastOutput:
    """Mix into a read-only `serializers.Serializer` whose rows are objects (model
    instances): same output, a fraction of the time per row."""

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if isinstance(instance, Mapping):
            return super().to_representation(instance)  # type: ignore[misc]
        plan = self.__dict__.get("_fast_plan")
        if plan is None:
            plan = self.__dict__["_fast_plan"] = self._plan()
        row: dict[str, Any] = {}
        for name, field, getter, convert in plan:
            try:
                value = getter(instance)
            except Exception:  # missing: DRF decides (its default, None, SkipField, its error)
                value = _drf
            if value is _drf or callable(value):  # DRF also calls methods and managers
                try:
                    value = field.get_attribute(instance)
                except SkipField:
                    continue
                check = value.pk if isinstance(value, PKOnlyObject) else value
                row[name] = None if check is None else field.to_representation(value)
                continue
            row[name] = None if value is None else convert(value)
        return row

    def _plan(self) -> list[tuple[str, serializers.Field, Callable, Callable]]:
        plan = []
        for field in self._readable_fields:  # type: ignore[attr-defined]
            attrs = field.source_attrs
            getter = attrgetter(".".join(attrs)) if attrs else _identity
            convert = _converter(field) or field.to_representation
            plan.append((field.field_name, field, getter, convert))
        return plan
