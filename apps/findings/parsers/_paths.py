"""Paths as tools write them, turned into repository-relative POSIX paths (never refused).

Scanners write the same file many ways: `src/app.py`, `./src/app.py`, `/src/app.py` from a
container that mounted the checkout at `/src`, `/home/runner/work/shop/shop/src/app.py` on a
CI runner, `file:///C:/a/1/s/src/app.py` on Windows, `..\\src\\app.py` from a subdirectory.
Dedup keys use the path, so all of them must become `src/app.py`, or one file scanned in and
out of a container would be two findings. `clean_path` is the one rule every parser applies:

1. `file:` URIs are %-decoded (`strip_file_scheme`), backslashes become `/`, a Windows drive
   (`C:/`, `/C:/`) is recognised.
2. An absolute path is made relative to the first root that contains it, in this order:
   the roots the report declares (SARIF `originalUriBaseIds`, `invocations[].workingDirectory`;
   the caller passes them), the upload's `source_root`, the application's source roots, the
   common checkout prefixes of CI systems and scanner containers (`COMMON_PREFIXES`), the
   caller's `fallback` roots (a directory the report implies, such as the one checkov scanned);
   when none contains it, the leading `/`, drive letter or `//host/` is dropped.
3. A relative path gets the caller's `prefix` (a relative SARIF base such as `src/`).
4. `.` and empty segments are dropped and `..` is resolved; a `..` that would climb above the
   root stays at the root (`../../etc/passwd` is `etc/passwd`), it is not refused.

"Anchored" paths (`anchored=True`) are relative paths written with a leading `/`: checkov's
`repo_file_path` is `"/" + the path relative to the working directory`. For them steps 2's
explicit roots (declared, source_root, application) still apply, but the common prefixes do
not: a repository's own `src/` or `app/` directory must not be taken for a container mount,
and these paths kept their dedup keys before absolute paths were normalised.

A path that needs none of this (already relative and clean) comes back unchanged, so paths
accepted before normalisation keep their dedup keys. Control characters in a path remain a
ParseError: no tool writes them and they are how log and terminal injection starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import unquote

from .base import NO_PATHS, ParseError, PathContext

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
_DRIVE = re.compile(r"^/?[A-Za-z]:(?:/|$)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DOTTED = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|//")
_CACHED_LENGTH = 1024  # longer paths are resolved every time: the cache outlives the import

# Checkout directories of CI systems and the mount points scanner containers are documented
# with, most specific first; `<x>` stands for one path segment. docs/ingestion.md (Paths)
# lists them with their sources. A path is made relative to the first that contains it.
COMMON_PREFIXES: tuple[tuple[str, str], ...] = (
    # GitHub Actions: container jobs and Docker actions mount the workspace here
    ("/github/workspace/", "GitHub Actions (container)"),
    # GitHub-hosted Linux/macOS runners: $RUNNER_WORKSPACE/<repo>
    ("/home/runner/work/<x>/<x>/", "GitHub Actions runner"),
    ("/Users/runner/work/<x>/<x>/", "GitHub Actions macOS runner"),
    # GitHub (D:\a\<repo>\<repo>) and Azure Pipelines (D:\a\1\s) hosted Windows agents
    ("<drive>/a/<x>/<x>/", "GitHub Actions / Azure Pipelines Windows"),
    # Azure Pipelines hosted Linux agent: $(Build.SourcesDirectory)
    ("/home/vsts/work/<x>/s/", "Azure Pipelines"),
    # self-hosted GitHub runners and Azure agents: <runner>/_work/<repo>/<repo>, _work/1/s
    ("<any>/_work/<x>/<x>/", "self-hosted GitHub runner / Azure agent"),
    # GitLab CI, Docker and Kubernetes executors: /builds/<namespace>/<project>
    ("/builds/<x>/<x>/", "GitLab CI"),
    # GitLab shell executor: <home>/builds/<runner token>/<concurrent id>/<namespace>/<project>
    ("/home/gitlab-runner/builds/<x>/<x>/<x>/<x>/", "GitLab CI (shell executor)"),
    # Jenkins workspaces: $JENKINS_HOME/workspace/<job>, agents' <root>/workspace/<job>
    ("/var/lib/jenkins/workspace/<x>/", "Jenkins"),
    ("/var/jenkins_home/workspace/<x>/", "Jenkins (official image)"),
    ("/home/jenkins/agent/workspace/<x>/", "Jenkins (inbound agent image)"),
    ("/home/jenkins/workspace/<x>/", "Jenkins agent"),
    # Bitbucket Pipelines: $BITBUCKET_CLONE_DIR
    ("/opt/atlassian/pipelines/agent/build/", "Bitbucket Pipelines"),
    # CircleCI's default working_directory ~/project
    ("/home/circleci/project/", "CircleCI"),
    ("/root/project/", "CircleCI (root image)"),
    # Travis CI: $TRAVIS_BUILD_DIR
    ("/home/travis/build/<x>/<x>/", "Travis CI"),
    # AWS CodeBuild: $CODEBUILD_SRC_DIR, for GitHub/Bitbucket sources with host/owner/repo
    ("/codebuild/output/<x>/src/<x>/<x>/<x>/", "AWS CodeBuild (GitHub/Bitbucket source)"),
    ("/codebuild/output/<x>/src/", "AWS CodeBuild"),
    # Buildkite: <builds path>/<agent>/<org>/<pipeline>
    ("/var/lib/buildkite-agent/builds/<x>/<x>/<x>/", "Buildkite"),
    ("/buildkite/builds/<x>/<x>/<x>/", "Buildkite (Docker agent)"),
    # Woodpecker and Drone
    ("/woodpecker/src/<x>/<x>/<x>/", "Woodpecker CI"),
    ("/drone/src/", "Drone CI"),
    # TeamCity build agents check out into work/<hash>
    ("/opt/buildagent/work/<x>/", "TeamCity"),
    # Node images' convention, before the scanner mounts below
    ("/usr/src/app/", "Node.js images (WORKDIR /usr/src/app)"),
    # Scanner containers as their docs mount the checkout: semgrep, tfsec, njsscan,
    # dependency-check (/src); Google Cloud Build, Tekton (/workspace); checkov (/tf);
    # gitleaks, KICS (/path); images' WORKDIR (/app, /code, /repo, /project)
    ("/src/", "scanner container mount"),
    ("/workspace/", "Google Cloud Build / Tekton"),
    ("/app/", "container WORKDIR"),
    ("/code/", "scanner container mount"),
    ("/tf/", "checkov container mount"),
    ("/path/", "gitleaks / KICS container mount"),
    ("/repo/", "scanner container mount"),
    ("/project/", "scanner container mount"),
    # temporary checkouts: /tmp/<random>, macOS $TMPDIR/<random>
    ("/tmp/<x>/", "temporary checkout"),  # noqa: S108 - a pattern matched, not a file used
    ("/private/var/folders/<x>/<x>/T/<x>/", "temporary checkout (macOS)"),
    ("/var/folders/<x>/<x>/T/<x>/", "temporary checkout (macOS)"),
)


def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    text = re.escape(prefix)
    text = text.replace(re.escape("<x>"), "[^/]+")
    text = text.replace(re.escape("<drive>"), "[A-Za-z]:")
    text = text.replace(re.escape("<any>"), "(?:/[^/]+)*")
    return re.compile(text)


# One alternation: tried in the list's order (the first alternative that matches wins), in C.
_COMMON = re.compile("|".join(f"(?:{_prefix_pattern(p).pattern})" for p, _ in COMMON_PREFIXES))


def path_context(*, source_root: str = "", roots: Sequence[str] = ()) -> PathContext:
    """The resolution context of an upload: its source_root and the application's roots,
    each normalised for prefix matching (`as_root`); blank ones are ignored."""
    return PathContext(
        source_root=_root_of(source_root) if source_root.strip() else "",
        roots=tuple(_root_of(root) for root in roots if root.strip()),
    )


def _root_of(text: str) -> str:
    """A configured root (a path or a `file:` URI) in `as_root` form."""
    return as_root(strip_file_scheme(text.strip()) or text.strip())


def strip_file_scheme(uri: str) -> str | None:
    """`file:` URI or plain path -> %-decoded path; None for other schemes (http:, ...).

    `file:///a/b` -> `/a/b`; `file://host/a` -> `//host/a`; `file:///C:/x` -> `/C:/x`;
    trivy's malformed `file://C:\\x` -> `C:\\x`. A Windows drive `C:/x` is a path, not a scheme.
    """
    match = _SCHEME.match(uri)
    if match and not _DRIVE.match(uri.replace("\\", "/")):
        if match.group(1).lower() != "file":
            return None
        uri = uri[len("file:") :]
        if uri.startswith("//"):
            host, slash, rest = uri[2:].partition("/")
            if host in ("", "localhost"):
                uri = "/" + rest
            elif _DRIVE.match(host.replace("\\", "/") + "/"):
                uri = host + slash + rest  # file://C:/x or file://C:\x (no empty authority)
            else:
                uri = f"//{host}{slash}{rest}"
    return unquote(uri)


def is_absolute(path: str) -> bool:
    """POSIX-absolute, UNC (`//host/`) or Windows drive (`C:/`, `/C:/`, `C:\\`) paths."""
    return path.startswith(("/", "\\")) or bool(_DRIVE.match(path.replace("\\", "/")))


def as_root(path: str) -> str:
    """An absolute root directory in the form paths are matched against: forward slashes,
    `..` resolved, `/C:/` as `C:/` with an upper-case drive, one `/` at the end."""
    normal = _collapse(_drive_form(path.replace("\\", "/")))
    return normal.rstrip("/") + "/"


def clean_path(
    raw: str,
    *,
    fmt: str,
    where: str,
    paths: PathContext = NO_PATHS,
    declared: Sequence[str] = (),
    fallback: Sequence[str] = (),
    prefix: str = "",
    anchored: bool = False,
) -> str:
    """The repository-relative POSIX path for a reported path (see the module docstring).

    `declared` and `fallback` are absolute roots in `as_root` form; `prefix` is a relative
    base prepended to a relative path. Only control characters are a ParseError at `where`.
    """
    if _CONTROL.search(raw):
        raise ParseError(fmt, "path contains control characters", pointer=where)
    resolve = _resolve if len(raw) <= _CACHED_LENGTH else _resolve.__wrapped__
    return resolve(raw, paths, tuple(declared), tuple(fallback), prefix, anchored=anchored)


@lru_cache(maxsize=16384)
def _resolve(
    raw: str,
    paths: PathContext,
    declared: tuple[str, ...],
    fallback: tuple[str, ...],
    prefix: str,
    *,
    anchored: bool,
) -> str:
    """`clean_path` without the error check; cached, since a report names few distinct
    files many times (gitleaks and checkov results are not cached per file otherwise)."""
    path = raw.replace("\\", "/") if "\\" in raw else raw
    if path.startswith("/") or (":" in path and _DRIVE.match(path)):
        absolute = _collapse(_drive_form(path))
        if anchored and not _DRIVE.match(absolute):
            rest = _under(absolute, (*declared, *paths.explicit()))
            return absolute.lstrip("/") if rest is None else rest
        rest = _under(absolute, (*declared, *paths.explicit()))
        if rest is None:
            rest = _under_common(absolute)
        if rest is None:
            rest = _under(absolute, fallback)
        return _strip_root(absolute) if rest is None else rest
    if prefix:
        path = prefix.rstrip("/") + "/" + path
    if not _DOTTED.search(path) and not path.endswith("/"):
        return path  # already clean: the common case
    return _collapse(path).strip("/")


def original_of(raw: str, path: str) -> str:
    """The reported path when normalisation changed it ("" when it did not): kept on the
    occurrence, so people can see what the tool wrote."""
    return "" if raw == path else raw


def _drive_form(path: str) -> str:
    """`/C:/x` and `c:/x` -> `C:/x`; other paths unchanged."""
    if path.startswith("/") and _DRIVE.match(path) and len(path) > 2 and path[2] == ":":
        path = path[1:]
    if len(path) > 1 and path[1] == ":" and path[0].isalpha():
        path = path[0].upper() + path[1:]
    return path


def _collapse(path: str) -> str:
    """`.`, empty and `..` segments resolved; `..` never climbs above the first segment of an
    absolute path's root (`/`, `C:/`) or of a relative path. Keeps a leading `/` or `//`."""
    lead = "//" if path.startswith("//") else "/" if path.startswith("/") else ""
    parts: list[str] = []
    drive = ""
    segments = path.split("/")
    if segments and _DRIVE.match(segments[0] + "/"):
        drive, segments = segments[0] + "/", segments[1:]
    for segment in segments:
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    if drive:
        return drive + "/".join(parts)
    return lead + "/".join(parts)


def _under(path: str, roots: Sequence[str]) -> str | None:
    """`path` relative to the first root containing it; None when none does."""
    for root in roots:
        if path.startswith(root):
            return path[len(root) :]
        if path + "/" == root:
            return ""
    return None


def _under_common(path: str) -> str | None:
    match = _COMMON.match(path)
    return path[match.end() :] if match else None


def _strip_root(path: str) -> str:
    """Drop what makes a path absolute: `/`, `//host/`, `C:/`."""
    if _DRIVE.match(path):
        return path[2:].lstrip("/")
    return path.lstrip("/")
