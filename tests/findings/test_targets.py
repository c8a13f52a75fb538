"""apps/findings/targets.py: one test per normalisation rule (docs/ingestion.md, "Targets")."""

from __future__ import annotations

import pytest

from apps.findings.parsers.base import ReportTarget
from apps.findings.targets import (
    TARGET_MAX,
    component,
    image,
    normalise,
    path,
    sarif_category,
    verbatim,
)

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("nginx", "nginx"),
        ("nginx:1.25", "nginx"),
        ("nginx:1.25-alpine", "nginx"),
        (f"nginx@{DIGEST}", "nginx"),
        (f"nginx:1.25@{DIGEST}", "nginx"),
        ("docker.io/library/nginx:latest", "docker.io/library/nginx"),
        ("registry.example.com/demo-shop:1.4.0", "registry.example.com/demo-shop"),
        # A port belongs to the registry: only a ":" after the last "/" starts a tag.
        ("localhost:5000/app:1.2", "localhost:5000/app"),
        ("localhost:5000/app", "localhost:5000/app"),
        (f"registry:5000/team/app:2.0@{DIGEST}", "registry:5000/team/app"),
        ("  ghcr.io/org/api:v3 ", "ghcr.io/org/api"),
        ("alpine.tar", "alpine.tar"),
        # grype/syft user input names the source first.
        ("docker:nginx:1.25", "nginx"),
        ("registry:localhost:5000/app:1.2", "localhost:5000/app"),
        ("podman:ghcr.io/org/api@" + DIGEST, "ghcr.io/org/api"),
    ],
)
def test_image_reference_loses_tag_and_digest(reference, expected):
    assert image(reference) == expected


def test_two_releases_of_an_image_share_a_target():
    assert normalise(ReportTarget("image", "shop/api:1.0")) == normalise(
        ReportTarget("image", f"shop/api:1.1@{DIGEST}")
    )


@pytest.mark.parametrize(
    ("automation_id", "expected"),
    [
        ("nightly/backend/2024-05-01", "nightly/backend"),
        ("my-analysis/tool1/", "my-analysis/tool1"),
        ("/language:python/", "/language:python"),
        ("codeql/run-42", "codeql"),
        # No "/": the id names one run only (SARIF §3.17.4), so it names no stream.
        ("2024-05-01-run-7", ""),
        ("", ""),
    ],
)
def test_sarif_automation_id_up_to_its_last_slash(automation_id, expected):
    assert sarif_category(automation_id) == expected


@pytest.mark.parametrize(
    ("purl", "name", "expected"),
    [
        ("pkg:pypi/shop@1.2.3", "", "pkg:pypi/shop"),
        ("pkg:npm/%40acme/web@2.0.0", "", "pkg:npm/%40acme/web"),
        (f"pkg:oci/app@{DIGEST.replace(':', '%3A')}?tag=1.2&arch=amd64", "", "pkg:oci/app"),
        ("pkg:maven/org.acme/core@1.0?type=jar#sub/path", "", "pkg:maven/org.acme/core"),
        ("", "demo-shop", "demo-shop"),
        ("", "alpine:3.18", "alpine"),
        ("", "registry:5000/shop/api:1.4", "registry:5000/shop/api"),
        ("", "/home/ci/project", "/home/ci/project"),
        ("", "C:\\build\\shop", "C:\\build\\shop"),
    ],
)
def test_component_is_its_purl_without_version_else_its_name(purl, name, expected):
    assert component(purl=purl, name=name) == expected


def test_component_kind_dispatches_on_purl():
    assert normalise(ReportTarget("component", "pkg:golang/example.com/x@v1.0.0")) == (
        "pkg:golang/example.com/x"
    )
    assert normalise(ReportTarget("component", "shop-api")) == "shop-api"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(".", "."), ("./", "."), ("", "."), ("./app/", "app"), ("/src/", "/src"), ("/", "/")],
)
def test_path_trims_slashes(value, expected):
    assert path(value) == expected


def test_nothing_reported_is_no_target():
    assert normalise(None) == ""
    assert normalise(ReportTarget("image", "")) == ""


def test_names_and_verbatim_targets_keep_their_text():
    assert normalise(ReportTarget("name", " acme/infra:terraform ")) == "acme/infra:terraform"
    assert verbatim("shop/api:1.2") == "shop/api:1.2"  # the caller's target: no normalising
    assert verbatim("a\x00b") == "ab"


def test_hostile_text_never_reaches_the_database_as_is():
    assert normalise(ReportTarget("image", "shop/\ud800api:1.0")) == "shop/\ufffdapi"
    assert normalise(ReportTarget("name", "x\x00y\n")) == "xy"


def test_targets_are_clipped_to_the_column():
    assert len(normalise(ReportTarget("name", "x" * 1000))) == TARGET_MAX
    assert len(verbatim("x" * 1000)) == TARGET_MAX
