"""Where a SARIF result is: its first physical location as a repository path and region.

- location: `locations[0].physicalLocation`: `artifactLocation` (`uri`, else
  `run.artifacts[index]`), `region` start/end line, start column, `snippet.text` (else the
  `contextRegion` snippet). Line or column numbers that are not integers in 1..10**9 are
  treated as absent and noted in `properties["ignored"]`.
- paths (`_paths.clean_path`): `file://` stripped, %-decoded, backslashes -> "/", "." and
  ".." resolved (a ".." above the root stays at the root). A relative uri is relative to the
  scan root; its `uriBaseId` is followed through `originalUriBaseIds` and relative base uris
  ("src/") are prepended, an absolute base is the root. An absolute uri is made relative to
  the shortest matching absolute root the run declares (`originalUriBaseIds`,
  `invocations[].workingDirectory`), else by the rest of the resolution order (the upload's
  source_root, the application's roots, common prefixes, else its leading "/" or drive is
  dropped); the uri as written is kept as `original_path` when it differs. A uri with
  another scheme (https:, ...) gives no path and is kept in `properties["uri"]`.

A path is normalised once per distinct (uri, uriBaseId) of a run.
"""

from __future__ import annotations

import json
from typing import Any

from .._common import (
    MAX_LINE,
    as_root,
    cap,
    clean_path,
    is_absolute,
    original_of,
    strip_file_scheme,
    type_name,
)
from ..base import ParseError, PathContext
from .fields import FORMAT, get_field, message_text
from .run import Run

PATH_CACHE_SIZE = 65536

# Pointers below a result to its first location's parts (only formatted for errors).
_LOCATION = "/locations/0"
_PHYSICAL = _LOCATION + "/physicalLocation"
_ARTIFACT = _PHYSICAL + "/artifactLocation"
_NO_LOCATION = ("", None, None, None, "", "", "")


def location(
    raw: dict[str, Any], run: Run, where: str, notes: list[str], paths: PathContext
) -> tuple[str, int | None, int | None, int | None, str, str, str]:
    """(path, start line, end line, start column, snippet, non-file uri, original path).

    `paths` is the parser's resolution context (source_root, application roots). The hot path of
    a large log: each level is read with a plain `get` and an exact type test, and
    `get_field` (type error with its pointer) is only called when that test fails.
    """
    locations = raw.get("locations")
    if locations.__class__ is not list:
        locations = get_field(raw, "locations", list, where)
    if not locations:
        return _NO_LOCATION
    first = locations[0]
    if not isinstance(first, dict):
        raise ParseError(
            FORMAT,
            f"a location must be a JSON object, got {type_name(first)}",
            pointer=where + _LOCATION,
        )
    physical = first.get("physicalLocation")
    if physical.__class__ is not dict:
        physical = get_field(first, "physicalLocation", dict, where, _LOCATION)
    if not physical:
        return _NO_LOCATION
    artifact = physical.get("artifactLocation")
    if artifact.__class__ is not dict:
        artifact = get_field(physical, "artifactLocation", dict, where, _PHYSICAL)
    path, uri, original = _path(artifact, run, where, paths) if artifact else ("", "", "")
    region = physical.get("region")
    if region.__class__ is not dict:
        region = get_field(physical, "region", dict, where, _PHYSICAL)
    context = physical.get("contextRegion")
    if context is not None:
        context = get_field(physical, "contextRegion", dict, where, _PHYSICAL)
    start = end = column = None
    snippet = ""
    if region:
        start, end, column = _region_lines(region, notes)
        snippet = message_text(region, "snippet")
    if not snippet and context:
        snippet = message_text(context, "snippet")
    return path, start, end, column, snippet, uri, original


def _path(
    artifact: dict[str, Any], run: Run, where: str, paths: PathContext
) -> tuple[str, str, str]:
    """(path, non-file uri, original path) of an artifactLocation; normalised once per
    distinct uri."""
    uri = artifact.get("uri")
    if uri.__class__ is not str:
        uri = get_field(artifact, "uri", str, where, _ARTIFACT)
    base = artifact.get("uriBaseId")
    if base.__class__ is not str:
        base = get_field(artifact, "uriBaseId", str, where, _ARTIFACT) or ""
    if uri is None:
        index = artifact.get("index")
        if isinstance(index, int) and 0 <= index < len(run.artifacts):
            uri, base = run.artifacts[index]
            base = base or ""
    if not uri:
        return "", "", ""
    cached = run.paths.get((uri, base))
    if cached is not None:
        return cached
    path = strip_file_scheme(uri)
    if path is None:
        resolved = ("", uri, "")
    else:
        prefix = "" if is_absolute(path) else _base_prefix(base, run)
        clean = clean_path(
            path,
            fmt=FORMAT,
            where=f"{where}{_ARTIFACT}/uri",
            paths=paths,
            declared=_run_roots(run),
            prefix=prefix,
        )
        resolved = (clean, "", original_of(uri, clean))
    if len(run.paths) >= PATH_CACHE_SIZE:
        run.paths.clear()
    run.paths[(uri, base)] = resolved
    return resolved


def _base_prefix(base: str, run: Run) -> str:
    """Relative segments contributed by a uriBaseId chain; an absolute base is the root."""
    segments: list[str] = []
    seen: set[str] = set()
    while base and base in run.bases and base not in seen:
        seen.add(base)
        uri, parent = run.bases[base]
        path = strip_file_scheme(uri)
        if path is None or is_absolute(path):
            break
        segments.insert(0, path)
        base = parent
    return "/".join(s.strip("/") for s in segments if s.strip("/"))


def _run_roots(run: Run) -> tuple[str, ...]:
    """Absolute roots the run declares, shortest first (computed once)."""
    if run.roots is None:
        found: list[str] = []
        for name in run.bases:
            absolute = _absolute_base(name, run)
            if absolute:
                found.append(as_root(absolute))
        for uri in run.working_dirs:
            path = strip_file_scheme(uri)
            if path and is_absolute(path):
                found.append(as_root(path))
        run.roots = tuple(sorted(set(found), key=len))
    return run.roots


def _absolute_base(name: str, run: Run) -> str:
    """A base id resolved through its chain to an absolute directory, or ""."""
    parts: list[str] = []
    seen: set[str] = set()
    while name in run.bases and name not in seen:
        seen.add(name)
        uri, parent = run.bases[name]
        path = strip_file_scheme(uri)
        if path is None:
            return ""
        parts.insert(0, path)
        if is_absolute(path):
            rest = [p.strip("/") for p in parts[1:] if p.strip("/")]
            return "/".join([path.rstrip("/"), *rest])
        name = parent
    return ""


def _region_lines(
    region: dict[str, Any], notes: list[str]
) -> tuple[int | None, int | None, int | None]:
    start, end, column = region.get("startLine"), region.get("endLine"), region.get("startColumn")
    if not (  # usual case: absent, or an int in 1..MAX_LINE (a bool is not an int here)
        (start is None or (start.__class__ is int and 0 < start <= MAX_LINE))
        and (end is None or (end.__class__ is int and 0 < end <= MAX_LINE))
        and (column is None or (column.__class__ is int and 0 < column <= MAX_LINE))
    ):
        start = _line(region, "startLine", notes)
        end = _line(region, "endLine", notes)
        column = _line(region, "startColumn", notes)
    if start is not None and end is not None and end < start:
        notes.append(f"region.endLine={end} before startLine")
        end = None
    return start, end, column


def _line(region: dict[str, Any], key: str, notes: list[str]) -> int | None:
    """region[key] when it is a usable line/column number; anything else present is noted
    (spelled as JSON, which is only worth doing for such abnormal values)."""
    value = region.get(key)
    if value is None:
        return None
    if value.__class__ is int and 0 < value <= MAX_LINE:  # bool is not int here
        return value
    notes.append(f"region.{key}={cap(json.dumps(value), 40)}")
    return None
