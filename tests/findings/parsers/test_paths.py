"""Paths as tools write them (apps/findings/parsers/_paths.py): the resolution order."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from apps.findings.parsers import path_context
from apps.findings.parsers._paths import (
    COMMON_PREFIXES,
    as_root,
    clean_path,
    strip_file_scheme,
)
from apps.findings.parsers.base import ParseError
from apps.findings.parsers.sarif import SarifParser


def clean(raw: str, **kwargs) -> str:
    path = strip_file_scheme(raw)
    assert path is not None
    return clean_path(path, fmt="test", where="/x", **kwargs)


@pytest.mark.parametrize(
    "path",
    ["src/app.py", "a", "deep/er/still/x.tf", "with space/é.py", "Makefile", "a.b/c..d/e"],
)
def test_a_clean_relative_path_is_itself(path):
    """Paths accepted before normalisation keep their dedup keys."""
    assert clean(path) == path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("./src/./app.py", "src/app.py"),
        ("src//app.py", "src/app.py"),
        ("src\\win\\Program.cs", "src/win/Program.cs"),
        ("../src/app.py", "src/app.py"),
        ("../../../etc/passwd", "etc/passwd"),
        ("src/../../x.py", "x.py"),
        ("/etc/passwd", "etc/passwd"),
        ("/../../etc/passwd", "etc/passwd"),
        ("C:\\work\\app\\x.cs", "work/app/x.cs"),
        ("file:///C:/work/app/x.cs", "work/app/x.cs"),
        ("file://C:\\work\\app\\x.cs", "work/app/x.cs"),
        ("file:///opt/x/%C3%A9t%C3%A9.py", "opt/x/\u00e9t\u00e9.py"),
        ("file://fileserver/share/repo/a.py", "fileserver/share/repo/a.py"),
        ("//fileserver/share/repo/a.py", "fileserver/share/repo/a.py"),
    ],
)
def test_normalised_never_refused(raw, path):
    assert clean(raw) == path


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ("/github/workspace/src/app.py", "src/app.py"),
        ("/home/runner/work/shop/shop/src/app.py", "src/app.py"),
        ("D:\\a\\shop\\shop\\src\\app.py", "src/app.py"),
        ("file:///D:/a/1/s/src/app.py", "src/app.py"),
        ("/home/vsts/work/1/s/src/app.py", "src/app.py"),
        ("/opt/actions-runner/_work/shop/shop/src/app.py", "src/app.py"),
        ("/builds/acme/shop/src/app.py", "src/app.py"),
        ("/home/gitlab-runner/builds/x7Yz_AbC/0/acme/shop/src/app.py", "src/app.py"),
        ("/var/lib/jenkins/workspace/shop-ci/src/app.py", "src/app.py"),
        ("/var/jenkins_home/workspace/shop/src/app.py", "src/app.py"),
        ("/opt/atlassian/pipelines/agent/build/src/app.py", "src/app.py"),
        ("/home/circleci/project/src/app.py", "src/app.py"),
        ("/home/travis/build/acme/shop/src/app.py", "src/app.py"),
        ("/codebuild/output/src123456789/src/github.com/acme/shop/src/app.py", "src/app.py"),
        ("/drone/src/src/app.py", "src/app.py"),
        ("/src/src/app.py", "src/app.py"),
        ("/src/index.js", "index.js"),
        ("/app/main.tf", "main.tf"),
        ("/code/app.py", "app.py"),
        ("/workspace/src/app.py", "src/app.py"),
        ("/tf/main.tf", "main.tf"),
        ("/path/conf/aws.tf", "conf/aws.tf"),
        ("/usr/src/app/index.js", "index.js"),
        ("/tmp/tmpk2j3h4/src/app.py", "src/app.py"),
        ("/private/var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/tmpab12/a.py", "a.py"),
    ],
)
def test_common_ci_and_container_prefixes(raw, path):
    assert clean(raw) == path


def test_the_order_declared_then_source_root_then_application_then_common():
    raw = "/src/shop/app/main.py"
    assert clean(raw) == "shop/app/main.py"  # common prefix /src
    app = path_context(roots=["/src/shop"])
    assert clean(raw, paths=app) == "app/main.py"
    both = path_context(source_root="/src/shop/app", roots=["/src/shop"])
    assert clean(raw, paths=both) == "main.py"
    assert clean(raw, paths=both, declared=[as_root("/src")]) == "shop/app/main.py"


def test_anchored_paths_ignore_common_prefixes_but_not_configured_roots():
    assert clean("/src/main.tf", anchored=True) == "src/main.tf"
    assert clean("/app/x.tf", anchored=True) == "app/x.tf"
    assert clean("/src/main.tf", anchored=True, paths=path_context(source_root="/src/")) == (
        "main.tf"
    )


def test_fallback_roots_come_after_the_common_prefixes():
    fallback = [as_root("/opt/scan")]
    assert clean("/opt/scan/main.tf", fallback=fallback) == "main.tf"
    assert clean("/src/main.tf", fallback=[as_root("/src/x")]) == "main.tf"


def test_roots_normalise_drive_letters_and_separators():
    paths = path_context(source_root="c:\\Build\\Repo\\")
    assert clean("C:/Build/Repo/src/a.cs", paths=paths) == "src/a.cs"
    assert clean("file:///c:/Build/Repo/src/a.cs", paths=paths) == "src/a.cs"
    assert as_root("/C:/x/../y") == "C:/y/"


def test_a_root_is_a_directory_not_a_string_prefix():
    paths = path_context(source_root="/opt/app")
    assert clean("/opt/application/x.py", paths=paths) == "opt/application/x.py"
    assert clean("/opt/app", paths=paths) == ""


def test_control_characters_are_still_refused():
    with pytest.raises(ParseError, match="control characters"):
        clean("src/\x1b[31mred.py")


def test_prefix_list_is_documented():
    """docs/ingestion.md lists every common prefix the code tries."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "ingestion.md").read_text()
    missing = [prefix for prefix, _ in COMMON_PREFIXES if f"`{prefix}`" not in docs]
    assert not missing


def _sarif(uri: str, **run) -> bytes:
    result = {
        "ruleId": "node_xss",
        "message": {"text": "XSS"},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
    }
    tool = {"driver": {"name": "njsscan", "version": "0.3.7"}}
    return json.dumps(
        {"version": "2.1.0", "runs": [{"tool": tool, "results": [result], **run}]}
    ).encode()


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("/src/index.js", "index.js"),  # njsscan in its container, as the issue saw it
        ("file:///home/runner/work/shop/shop/lib/log4j-2.14.jar", "lib/log4j-2.14.jar"),
        ("file:///C:/Users/dev/shop/app.js", "Users/dev/shop/app.js"),
    ],
)  # fmt: skip
def test_sarif_absolute_uris_resolve_through_the_order(uri, path):
    [finding] = list(SarifParser().parse(io.BytesIO(_sarif(uri))).findings)
    assert (finding.path, finding.original_path) == (path, uri)


def test_a_declared_root_comes_before_the_upload_and_the_application():
    bases = {"originalUriBaseIds": {"SRCROOT": {"uri": "file:///src/"}}}
    paths = path_context(source_root="/src/app", roots=["/src/app"])
    parser = SarifParser(paths=paths)
    [finding] = list(parser.parse(io.BytesIO(_sarif("/src/app/index.js", **bases))).findings)
    assert finding.path == "app/index.js"
    [finding] = list(parser.parse(io.BytesIO(_sarif("/src/app/index.js"))).findings)
    assert finding.path == "index.js"
