"""drf-spectacular glue: unique names for nested serializers, paginated lists."""

from __future__ import annotations

import re

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="1-based page number."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page (max 500)."),
]


class AutoSchema(SpectacularAutoSchema):
    """Names nested `InputSerializer`s after their view (`TokenCollectionInput`), so the house
    style of one nested Input/Output serializer per view yields unique schema components, and
    names a plain APIView's collection GET `<resource>_list` (spectacular would call both the
    collection and the detail GET `_retrieve`)."""

    def get_operation_id(self) -> str:
        operation_id = super().get_operation_id()
        collection = not re.search(r"\{[^}]+\}/?$", self.path)
        if self.method == "GET" and collection and operation_id.endswith("_retrieve"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _get_serializer_name(self, serializer, direction, bypass_extensions=False) -> str:
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            owner = qualname.split(".")[0].removesuffix("Api")
            if not name.startswith(owner):
                name = owner + name
        return name


def paginated(serializer_class: type[serializers.Serializer], name: str):
    """The response schema of a numbered page of `serializer_class` rows."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )
