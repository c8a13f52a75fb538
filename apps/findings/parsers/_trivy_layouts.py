"""trivy's two other JSON layouts, read into the same per-result mapping as SchemaVersion 2.

- Legacy (trivy <= 0.19, or 0.19 without TRIVY_NEW_JSON_SCHEMA): the report is a bare array of
  results `[{Target, Type, Class?, Packages?, Vulnerabilities, Misconfigurations?}]`. There is
  no ArtifactName/ArtifactType: a result whose Type is an OS family (alpine, debian...) makes
  the report an image scan, and its Target without the " (distro version)" suffix names the
  image. Results before 0.19 have no Class; it is derived from Type (OS family -> os-pkgs,
  else lang-pkgs). `Vulnerabilities: null` (0.15-0.18) is an empty list.
- Kubernetes (`trivy k8s --format json`): `{ClusterName, Resources: [Resource]}` (0.42+),
  `{ClusterName, Vulnerabilities: [Resource], Misconfigurations: [Resource]}` (0.28-0.41) or
  `{ClusterName, Findings: [Resource]}` (`--report summary`), with
  Resource = `{Namespace, Kind, Name, Results: [<schema 2 result>], Error?}`. Each finding's
  resource is "namespace/kind/name" (kept in properties too); OS-package vulnerabilities are
  kind "container". A Resource with `Error` (trivy could not scan it) is a lost-result issue.

Each result (or resource) is built whole with ijson's C builder; one result is small next to
the report. Both readers hand every list entry to the caller's mapper, as the schema 2 stream
does, so the mapping rules stay in one place (`trivy`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, Protocol

from ._common import JsonReader, iter_items
from ._jsonstream import Rewindable, check_depth, escape_token
from ._sbom import as_dict, as_list, text
from .base import NormalizedFinding, ParseError, ParseIssue

LISTS = ("Vulnerabilities", "Misconfigurations", "Secrets", "Licenses")
K8S_LISTS = ("Resources", "Vulnerabilities", "Misconfigurations", "Findings")
OS_FAMILIES = frozenset(
    {
        "alpine", "alma", "amazon", "azurelinux", "bottlerocket", "cbl-mariner", "centos",
        "chainguard", "debian", "echo", "fedora", "minimos", "opensuse", "opensuse.leap",
        "opensuse.tumbleweed", "oracle", "photon", "redhat", "rocky", "sles", "suse",
        "ubuntu", "wolfi", "coreos",
    }
)  # fmt: skip
_DISTRO_SUFFIX = re.compile(r"\s+\([^()]*\)$")


class ResultLike(Protocol):
    index: int
    header: dict[str, str]


class MapperLike(Protocol):
    issues: list[ParseIssue]
    artifact: str
    image: bool

    def item(
        self, result: Any, key: str, where: str, value: Any
    ) -> Iterator[NormalizedFinding]: ...

    def flush(self, result: Any) -> Iterator[NormalizedFinding]: ...


def result_class(result: dict[str, Any]) -> str:
    """Class as trivy 0.19+ writes it, derived from Type for older reports."""
    stated = text(result.get("Class"))
    if stated:
        return stated
    return "os-pkgs" if text(result.get("Type")).lower() in OS_FAMILIES else "lang-pkgs"


def legacy_results(doc: Rewindable, fmt: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(pointer, result) for each element of a legacy report's top-level array."""
    index = 0
    items = iter_items(JsonReader(doc.rewind()), "item", fmt)
    while True:
        try:
            result = next(items, None)
        except ParseError as exc:
            raise ParseError(fmt, exc.message, pointer=f"/{index}") from None
        if result is None:
            return
        if not isinstance(result, dict):
            raise ParseError(fmt, "a trivy result must be a JSON object", pointer=f"/{index}")
        if "Target" not in result:
            # Every trivy result names its Target; an object without one is another document.
            raise ParseError(fmt, "a trivy result must have a Target", pointer=f"/{index}")
        yield f"/{index}", result
        index += 1


def legacy_artifact(doc: Rewindable, fmt: str) -> str:
    """The scanned image of a legacy report ("" when no OS result says it was an image)."""
    # ijson's `items` (below) builds prefixes that grow with the square of the nesting depth
    check_depth(doc.rewind(), fmt)
    for _where, result in legacy_results(doc, fmt):
        if result_class(result) == "os-pkgs":
            return _DISTRO_SUFFIX.sub("", text(result.get("Target")))
    return ""


def legacy_findings(
    doc: Rewindable, fmt: str, mapper: MapperLike, new_result: Callable[[int], ResultLike]
) -> Iterator[NormalizedFinding]:
    for where, result in legacy_results(doc, fmt):
        yield from _result_findings(result, where, fmt, mapper, new_result)


def _result_findings(
    result: dict[str, Any],
    where: str,
    fmt: str,
    mapper: MapperLike,
    new_result: Callable[[int], ResultLike],
) -> Iterator[NormalizedFinding]:
    state = new_result(int(where.rsplit("/", 1)[-1]))
    state.header.update(
        Target=text(result.get("Target")), Class=result_class(result), Type=text(result.get("Type"))
    )
    for key in LISTS:
        entries = result.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise ParseError(fmt, f"`{key}` must be an array", pointer=f"{where}/{key}")
        for i, entry in enumerate(entries):
            yield from mapper.item(state, key, f"{where}/{key}/{i}", entry)
    yield from mapper.flush(state)


def k8s_findings(
    doc: Rewindable,
    fmt: str,
    lists: set[str],
    mapper: MapperLike,
    new_result: Callable[[int], ResultLike],
) -> Iterator[NormalizedFinding]:
    """Findings of every resource of every resource list the report has."""
    mapper.image = True
    for name in K8S_LISTS:
        if name not in lists:
            continue
        items = iter_items(JsonReader(doc.rewind()), f"{name}.item", fmt)
        for index, resource in enumerate(items):
            where = f"/{escape_token(name)}/{index}"
            yield from _resource_findings(as_dict(resource), where, fmt, mapper, new_result)


def _resource_findings(
    resource: dict[str, Any],
    where: str,
    fmt: str,
    mapper: MapperLike,
    new_result: Callable[[int], ResultLike],
) -> Iterator[NormalizedFinding]:
    parts = [text(resource.get(key)) for key in ("Namespace", "Kind", "Name")]
    name = "/".join(part for part in parts if part)
    if text(resource.get("Error")):
        mapper.issues.append(ParseIssue(where, f"trivy could not scan {name or 'a resource'}"))
    extra = {"k8s_resource": name} if name else {}
    for r_index, result in enumerate(as_list(resource.get("Results"))):
        at = f"{where}/Results/{r_index}"
        if not isinstance(result, dict):
            mapper.issues.append(ParseIssue(at, "result is not an object; skipped"))
            continue
        for finding in _result_findings(result, at, fmt, mapper, new_result):
            yield replace(
                finding,
                resource=name or finding.resource,
                properties={**finding.properties, **extra},
            )
