"""The OpenAPI schema tells the truth: paged lists are documented as the envelopes they are,
and every operation lists the error responses that can happen to it, in the error body.

The envelope check asks the running API, not a list: every collection GET is called and
its body compared with its documented 200 schema, so a new list endpoint documented as a
bare array (or an envelope documented as an array) fails here. tools/schemathesis_run.sh
then fuzzes every operation against the schema (docs/api.md)."""

from __future__ import annotations

import re

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db
METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator(api_version="v1").get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_the_error_body_component_is_the_one_the_api_sends(schema):
    error = resolve(schema, {"$ref": ERROR_REF})
    detail = resolve(schema, error["properties"]["error"])
    assert set(detail["properties"]) == {"code", "message", "details", "request_id"}


def test_every_operation_documents_its_error_responses(schema):
    missing = []
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        expected = {"403", "429"}
        if any("bearerAuth" in s for s in operation.get("security", [])):
            expected.add("401")
        if "requestBody" in operation or _filters(operation):
            expected.add("400")
        if "{" in path:
            expected.add("404")
        if not expected <= codes:
            missing.append(f"{method.upper()} {path}: {sorted(expected - codes)}")
        for code in codes:
            if code.startswith(("4", "5")):
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"] == {"$ref": ERROR_REF}, (method, path, code)
        if "429" in codes:
            assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert not missing, "operations without their error responses:\n" + "\n".join(missing)


def _filters(operation: dict) -> list[str]:
    """Query parameters that are validated: all but the pager's and plain on/off flags."""
    return [
        p["name"]
        for p in operation.get("parameters", [])
        if p["in"] == "query"
        and p["name"] not in ("page", "page_size", "cursor")
        and p.get("schema", {}).get("type") != "boolean"
    ]


def test_the_upload_is_documented_as_multipart_with_a_binary_file(schema):
    operation = schema["paths"]["/api/v1/scans/"]["post"]
    assert list(operation["requestBody"]["content"]) == ["multipart/form-data"]
    body = resolve(schema, operation["requestBody"]["content"]["multipart/form-data"]["schema"])
    assert body["properties"]["file"] == {"type": "string", "format": "binary"}
    assert {"file", "application"} <= set(body["required"])
    assert {"400", "404", "413", "429"} <= set(operation["responses"])
    assert operation["requestBody"]["content"]["multipart/form-data"].get("examples")


def test_writes_carry_request_examples(schema):
    for path, method in [
        ("/api/v1/decisions/", "post"),
        ("/api/v1/applications/", "post"),
        ("/api/v1/tokens/", "post"),
        ("/api/v1/findings/{finding_id}/transition/", "post"),
    ]:
        content = schema["paths"][path][method]["requestBody"]["content"]
        assert any(media.get("examples") for media in content.values()), (method, path)


def test_paged_lists_are_documented_as_the_envelopes_they_return(
    schema, acme, issue_token, api_client
):
    from tests.findings.reports import many, sarif, upload

    client = api_client(issue_token(acme, role="admin"))
    client.post(
        "/api/v1/scans/",
        {"file": upload(sarif(many(2))), "application": "web"},
        format="multipart",
    )
    checked, wrong = 0, []
    for path, method, operation in operations(schema):
        if method != "get" or "{" in path:
            continue
        response = client.get(path)
        content_type = response.get("Content-Type", "")
        if response.status_code != 200 or not content_type.startswith("application/json"):
            continue
        body = response.json()
        documented = resolve(
            schema, operation["responses"]["200"]["content"]["application/json"]["schema"]
        )
        checked += 1
        if isinstance(body, dict) and "results" in body:
            fields = set(documented.get("properties", {}))
            results = documented.get("properties", {}).get("results", {})
            if documented.get("type") != "object" or not {"next", "results"} <= fields:
                wrong.append(f"GET {path}: answers a page, documented as {documented}")
            elif results.get("type") != "array" or set(body) - fields:
                wrong.append(f"GET {path}: page keys {sorted(body)} vs {sorted(fields)}")
        elif isinstance(body, list) and documented.get("type") != "array":
            wrong.append(f"GET {path}: answers a list, documented as {documented.get('type')}")
        elif isinstance(body, dict) and documented.get("type") == "array":
            wrong.append(f"GET {path}: answers an object, documented as an array")
    assert checked >= 12
    assert not wrong, "\n".join(wrong)


def test_page_envelopes_name_their_pagination(schema):
    """Numbered pages carry `count`; keyset pages do not (no COUNT(*) on big tables)."""
    page = resolve(schema, {"$ref": "#/components/schemas/PaginatedApplicationOutputList"})
    keyset = resolve(schema, {"$ref": "#/components/schemas/PaginatedFindingOutputList"})
    assert {"count", "next", "previous", "results"} == set(page["properties"])
    assert {"next", "previous", "results"} == set(keyset["properties"])
    cursor = {p["name"] for p in schema["paths"]["/api/v1/findings/"]["get"]["parameters"]}
    assert {"cursor", "page_size"} <= cursor
    numbered = {p["name"] for p in schema["paths"]["/api/v1/applications/"]["get"]["parameters"]}
    assert {"page", "page_size"} <= numbered


def test_operation_ids_are_unique(schema):
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9_]+", i) for i in ids)
