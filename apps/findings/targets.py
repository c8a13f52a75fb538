"""Scan targets: what a report says was scanned, normalised so a stream outlives releases.

A scan stream is (application, tool, branch, target). A target given by the caller (the
`target` form field, `--target` in the CI client) is used verbatim. A target taken from the
report (`ReportTarget` on the parser's result) is normalised here, one rule per kind, so the
next release of the same thing lands in the same stream and closes what it no longer reports:

- image: the reference without tag or digest. `registry:5000/team/app:1.2@sha256:…` →
  `registry:5000/team/app` (a port belongs to the registry, so only a `:` after the last `/`
  starts a tag); a grype/syft source scheme goes too (`docker:nginx:1.25` → `nginx`).
- sarif: `run.automationDetails.id` up to its last `/` (SARIF §3.17.4: what precedes it is the
  category, what follows identifies one run). `nightly/backend/2024-05-01` → `nightly/backend`;
  an id without `/` names a single run only, so it gives no target.
- component (an SBOM's subject): its purl without version, qualifiers or subpath
  (`pkg:oci/app@sha256:…?tag=1.2` → `pkg:oci/app`); without a purl, its name (an image-like
  name loses its tag as an image does).
- path (a scanned directory or file): trailing `/` and a leading `./` removed; `""` → `.`.
- name (anything else the report names: a checkov repo id and check types, a cluster): as
  written, whitespace trimmed.

Every target is clipped to TARGET_MAX characters (the column's length).
"""

from __future__ import annotations

import re

from packageurl import PackageURL

from apps.findings.parsers.base import ReportTarget

TARGET_MAX = 300
_DIGEST = re.compile(r"@[A-Za-z0-9_+.-]+:[0-9A-Fa-f]{16,}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# Sources a grype/syft user input may name before the image (`grype docker:nginx:1.25`).
_PORT = re.compile(r"\d+(?:/|$)")
_IMAGE_SCHEMES = frozenset(
    {"docker", "podman", "containerd", "registry", "docker-archive", "oci-archive", "oci-dir"}
)


def _clean(value: str) -> str:
    """Without control characters (NUL cannot be stored) and with unpaired surrogates (which
    cannot be encoded) as U+FFFD."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", value or "")).strip()


def image(reference: str) -> str:
    """An image reference without its source scheme (grype's and syft's `docker:`,
    `registry:`…), tag and digest."""
    ref = _clean(reference)
    scheme, colon, rest = ref.partition(":")
    # `registry:5000/app` is a host and port, `registry:app:1` the scheme and an image.
    if colon and scheme.lower() in _IMAGE_SCHEMES and rest and not _PORT.match(rest):
        ref = rest
    ref = _DIGEST.sub("", ref)
    ref = ref.split("@", 1)[0]  # a digest of a form the pattern does not know
    head, slash, last = ref.rpartition("/")
    if ":" in last:
        last = last.split(":", 1)[0]
    return f"{head}{slash}{last}"


def sarif_category(automation_id: str) -> str:
    """The category part of a SARIF automationDetails.id: everything before its last `/`."""
    value = _clean(automation_id)
    category, slash, _ = value.rpartition("/")
    return category.rstrip("/") if slash else ""


def component(purl: str = "", name: str = "") -> str:
    """An SBOM subject as its purl without version, qualifiers and subpath, else its name."""
    raw = _clean(purl)
    if raw:
        try:
            parsed = PackageURL.from_string(raw)
        except ValueError:
            parsed = None
        if parsed is not None:
            return PackageURL(
                type=parsed.type, namespace=parsed.namespace, name=parsed.name
            ).to_string()
        return raw.split("@", 1)[0].split("?", 1)[0]
    return image(name) if _looks_like_image(name) else _clean(name)


def path(value: str) -> str:
    """A scanned directory or file, without trailing `/` or leading `./`."""
    cleaned = _clean(value).replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    stripped = cleaned.rstrip("/")
    if not stripped:
        return "/" if cleaned.startswith("/") else "."
    return stripped


def _looks_like_image(name: str) -> bool:
    value = _clean(name)
    last = value.rpartition("/")[2]
    if " " in value or "\\" in value:  # a sentence, or a Windows path (C:\src)
        return False
    return ":" in last or "@" in value


_RULES = {
    "image": image,
    "sarif": sarif_category,
    "component": lambda value: (
        component(purl=value) if value.startswith("pkg:") else component(name=value)
    ),
    "path": path,
    "name": _clean,
}


def normalise(reported: ReportTarget | None) -> str:
    """The stream target for what a report says it scanned ("" when it says nothing)."""
    if reported is None or not reported.value:
        return ""
    rule = _RULES.get(reported.kind, _clean)
    return rule(reported.value)[:TARGET_MAX]


def verbatim(value: str) -> str:
    """A caller's target, kept as given (control characters and outer spaces dropped)."""
    return _clean(value)[:TARGET_MAX]
