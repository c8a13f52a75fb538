"""Dedup keys: which normalised results are the same problem.

Every NormalizedFinding gets a `dedup_key` (sha256 hex, 64 chars) and the name of the strategy
that produced it. The key is the hash of a JSON array ``["v1", strategy, field, ...]`` built
from normalised identity fields only, so no separator inside a field can make two different
identities collide (path "a|b" + rule "c" is not path "a" + rule "b|c"). Display text that the
product rewrites (the title, the severity) is never an input; the message is only used by the
last-resort fallback. Tenant and application are not in the key: the database makes the key
unique per (tenant, application, dedup_key).

Strategies, tried in this order; the first that applies wins:

``sca`` first, for kind "sca"/"container" results that carry a vulnerability id and a
    component. Identity: vulnerability id normalised across the aliases the result gives
    (a CVE id, else a GHSA id, else the first id) + the package identity (purl type, namespace
    and name; no version, qualifiers or subpath). It is tried before the tool's fingerprint
    because a fingerprint is an identity within one tool only: trivy and grype reporting the
    same CVE in the same package must collapse, and a tool-scoped fingerprint would keep them
    apart. The version is left out on purpose: one CVE in one package is one problem, and an
    upgrade that is still vulnerable is the same finding, not a fix plus a new one. Likewise the
    lockfile path and the image are left out, so two manifests of one application that pull the
    same vulnerable package are one finding.
``secret`` first, for kind "secret" results with a secret hash: rule + path + sha256 of the
    secret (never the secret itself; parsers do not even keep it). Before fingerprints because
    gitleaks' fingerprint embeds the line number and commit, so a moved line would look new.
``fingerprint``: the tool's own stable identity (SARIF "fp:*" full and "pfp:*" partial
    fingerprints, gitleaks' "gitleaks"), scoped by tool. Full fingerprints are preferred to
    partial ones, then names in sorted order, so the choice does not depend on dict order and
    an upgrade that adds a "/v2" fingerprint keeps the "/v1" key. A partial fingerprint is only
    a contribution to an identity (SARIF partialFingerprints; GitHub's primaryLocationLineHash
    hashes the line text, not the file), so it is also scoped by rule id and path.
    A fingerprint is not trusted blindly: empty values and known placeholders ("requires
    login") are ignored (note "fingerprint_placeholder"), and a fingerprint identity claimed
    inside one report by results at different (rule, path, start line) locations is no identity
    at all; `assign_keys` skips it for those results (note "fingerprint_collision") and the next
    fingerprint or strategy applies.
``sca`` for any other result with a vulnerability id in `vuln_ids` and a component.
``sast`` (kind "sast" with a path and a snippet): weakness + path + the matched region with
    whitespace normalised. The weakness is the lowest CWE id, or, with no CWE, the tool's rule
    id scoped by tool (rule ids of different tools are different vocabularies). No line number:
    code moving up or down keeps the finding. The same snippet reported by one tool at several
    lines of one file is several problems, so `assign_keys` numbers those occurrences by line
    order within a report (the first keeps the plain key), as GitHub's line hashes do.
``iac`` (kind "iac" with a resource): check id + resource address + path.
``fallback``: tool + rule + path + start line + message (whitespace normalised). Line-sensitive
    by necessity: nothing better identifies the result.

Paths arrive normalised by the parsers (apps/findings/parsers/_paths.py: repository-relative,
absolute and "../" forms resolved, so one file scanned inside and outside a container has one
path and one key); here they are only put in POSIX form (backslashes to "/", "./" and "a/../"
removed), which leaves a parser's path unchanged. Case is kept: paths are case-sensitive.
Everything here is pure Python: no Django, no database.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

from apps.findings.parsers.base import Component, NormalizedFinding

KEY_VERSION = "v1"
STRATEGIES = ("fingerprint", "sca", "sast", "iac", "secret", "fallback")
NOTE_COLLISION = "fingerprint_collision"
NOTE_PLACEHOLDER = "fingerprint_placeholder"

_SCA_FIRST_KINDS = frozenset({"sca", "container"})
# Values tools emit when they have no fingerprint (semgrep without login: "requires login").
_PLACEHOLDERS = frozenset({"requires login", "none", "null", "n/a", "na", "0", "-", "unknown"})
# purl types whose namespace and name are case-insensitive (as packageurl-python canonicalises).
_CASELESS_PURL_TYPES = frozenset(
    {"bitbucket", "github", "gitlab", "pypi", "composer", "hex", "apk", "alpm", "luarocks"}
)
_PEP503_SEPARATORS = re.compile(r"[-_.]+")
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # ASCII output: lone surrogates cannot fail

Fields = tuple[object, ...]
Location = tuple[str, str, int | None]


@dataclass(frozen=True, slots=True)
class Keyed:
    """A normalised result with its identity."""

    finding: NormalizedFinding
    dedup_key: str
    strategy: str  # one of STRATEGIES
    note: str = ""  # why a fingerprint was passed over, "" otherwise


# --- public normalisers, reused by ingestion and intel ----------------------------------------


def normalise_vuln_id(raw: str) -> str:
    """A vulnerability id in its comparable form: trimmed, upper-case ("ghsa-x" is "GHSA-X")."""
    return raw.strip().upper()


def primary_vuln_id(ids: Iterable[str]) -> str:
    """The id that names a vulnerability across its aliases; "" when there is none.

    The lowest CVE id among them, else the lowest GHSA id, else the first id (the primary id
    of the report). Taking the minimum makes the choice independent of the order of aliases.
    """
    cve = ghsa = first = ""
    for raw in ids:
        vid = normalise_vuln_id(raw)
        if not vid:
            continue
        first = first or vid
        if vid.startswith("CVE-"):
            cve = min(cve, vid) if cve else vid
        elif vid.startswith("GHSA-"):
            ghsa = min(ghsa, vid) if ghsa else vid
    return cve or ghsa or first


def package_identity(component: Component | None) -> tuple[str, ...]:
    """What names a package regardless of its version; () when the component names nothing.

    From the purl: ("purl", type, namespace, name), dropping version, qualifiers and subpath
    (trivy's distro= and grype's upstream= qualifiers must not split one package). Without a
    purl: ("name", lower-cased name, lower-cased component type). The two forms never compare
    equal, so a tool that gives no purl does not collapse with one that does.
    """
    if component is None:
        return ()
    if component.purl:
        identity = _purl_identity(component.purl)
        if identity:
            return identity
    name = component.name.strip().lower()
    return ("name", name, component.type.strip().lower()) if name else ()


def normalise_path(path: str) -> str:
    """POSIX form of a repository-relative path; case is kept (paths are case-sensitive)."""
    if not path:
        return ""
    normal = posixpath.normpath(path.strip().replace("\\", "/"))
    return "" if normal == "." else normal


def normalise_text(text: str) -> str:
    """Runs of whitespace collapsed to one space, ends stripped."""
    return " ".join(text.split())


# --- keys ---------------------------------------------------------------------------------------


def dedup_key(finding: NormalizedFinding, *, allow_fingerprint: bool = True) -> tuple[str, str]:
    """(dedup_key, strategy) of one result on its own, without report-level knowledge.

    `assign_keys` is the entry point for a report: it also detects placeholder fingerprints
    and numbers repeated SAST snippets. With `allow_fingerprint=False` the tool's fingerprints
    are ignored and the next strategy applies.
    """
    strategy, fields, _ = _resolve(finding, allow_fingerprint=allow_fingerprint)
    return _hash(strategy, fields), strategy


def assign_keys(findings: Iterable[NormalizedFinding]) -> list[Keyed]:
    """Keys for the results of one report, in input order. Linear in the number of results.

    Pass 1 finds fingerprint identities that different locations claim; pass 2 resolves each
    result's strategy and key; a last step numbers SAST snippets repeated at several lines.
    """
    items = findings if isinstance(findings, Sequence) else list(findings)
    collided = _collided_fingerprints(items)
    keyed: list[Keyed] = []
    # First start line of each (tool, SAST key); the pairs also seen at another line.
    first_line: dict[tuple[str, str], int | None] = {}
    repeated: set[tuple[str, str]] = set()
    for finding in items:
        strategy, fields, note = _resolve(finding, collided)
        key = _hash(strategy, fields)
        keyed.append(Keyed(finding, key, strategy, note))
        if strategy == "sast":
            group = (_tool(finding), key)
            if first_line.setdefault(group, finding.start_line) != finding.start_line:
                repeated.add(group)
    if repeated:
        _number_occurrences(keyed, repeated)
    return keyed


def noise_summary(keyed: Iterable[Keyed]) -> dict[str, object]:
    """The noise figures a scan stores: results in, findings out, per strategy and note.

    `duplicates_collapsed` counts results whose key an earlier result of the batch already had.
    """
    strategies = dict.fromkeys(STRATEGIES, 0)
    notes = dict.fromkeys((NOTE_COLLISION, NOTE_PLACEHOLDER), 0)
    seen: set[str] = set()
    results = 0
    for item in keyed:
        results += 1
        strategies[item.strategy] += 1
        if item.note:
            notes[item.note] += 1
        seen.add(item.dedup_key)
    return {
        "results": results,
        "findings": len(seen),
        "duplicates_collapsed": results - len(seen),
        "strategies": strategies,
        "notes": notes,
    }


# --- strategy resolution -------------------------------------------------------------------------

_NOTHING_BLOCKED: frozenset[Fields] = frozenset()


def _resolve(
    finding: NormalizedFinding,
    blocked: AbstractSet[Fields] = _NOTHING_BLOCKED,
    *,
    allow_fingerprint: bool = True,
) -> tuple[str, Fields, str]:
    """(strategy, identity fields, note) of the first strategy that applies."""
    if finding.kind in _SCA_FIRST_KINDS:
        sca = _sca_fields(finding, finding.vuln_ids or (finding.rule_id,))
        if sca:
            return "sca", sca, ""
    if finding.kind == "secret" and finding.secret_hash.strip():
        # gitleaks' fingerprint embeds the line (and commit): the secret's own hash is the
        # stabler identity, so secrets use it before any tool fingerprint.
        return "secret", _secret_fields(finding), ""
    note = ""
    if allow_fingerprint and finding.fingerprints:
        fields, note = _fingerprint_fields(finding, blocked)
        if fields:
            return "fingerprint", fields, note
    sca = _sca_fields(finding, finding.vuln_ids)
    if sca:
        return "sca", sca, note
    strategy, fields = _content_fields(finding)
    return strategy, fields, note


def _content_fields(finding: NormalizedFinding) -> tuple[str, Fields]:
    """Strategies 3-6: what the result itself says, kind by kind."""
    kind = finding.kind
    path = normalise_path(finding.path)
    if kind == "sast" and path:
        snippet = normalise_text(finding.snippet)
        if snippet:
            return "sast", (*_weakness(finding), path, snippet)
    if kind == "iac" and finding.resource.strip():
        return "iac", (finding.rule_id.strip(), finding.resource.strip(), path)
    if kind == "secret" and finding.secret_hash.strip():
        return "secret", _secret_fields(finding)
    message = normalise_text(finding.message)
    return "fallback", (_tool(finding), finding.rule_id.strip(), path, finding.start_line, message)


def _secret_fields(finding: NormalizedFinding) -> Fields:
    return (
        finding.rule_id.strip(),
        normalise_path(finding.path),
        finding.secret_hash.strip().lower(),
    )


def _sca_fields(finding: NormalizedFinding, ids: Iterable[str]) -> Fields:
    vuln_id = primary_vuln_id(ids)
    if not vuln_id:
        return ()
    package = package_identity(finding.component)
    return (vuln_id, *package) if package else ()


def _weakness(finding: NormalizedFinding) -> Fields:
    """Lowest CWE (comparable across tools), else the rule id within its tool."""
    if finding.cwes:
        return ("cwe", min(finding.cwes))
    return ("rule", _tool(finding), finding.rule_id.strip())


def _tool(finding: NormalizedFinding) -> str:
    return finding.tool.strip().lower()


# --- fingerprints ---------------------------------------------------------------------------


def _fingerprint_fields(
    finding: NormalizedFinding, blocked: AbstractSet[Fields]
) -> tuple[Fields, str]:
    """Identity fields of the preferred usable fingerprint, and the note on any passed over."""
    note = ""
    for fields, usable in _fingerprint_identities(finding):
        if not usable:
            note = note or NOTE_PLACEHOLDER
        elif fields in blocked:
            note = NOTE_COLLISION
        else:
            return fields, note
    return (), note


def _fingerprint_identities(finding: NormalizedFinding) -> list[tuple[Fields, bool]]:
    """(identity fields, usable) of each fingerprint, in order of preference.

    Placeholders are returned too, marked unusable, so the caller can record that it saw one.
    """
    tool = _tool(finding)
    identities: list[tuple[Fields, bool]] = []
    for name in sorted(finding.fingerprints, key=_fingerprint_rank):
        value = finding.fingerprints[name].strip()
        usable = bool(value) and value.lower() not in _PLACEHOLDERS
        if name.startswith("pfp:"):
            scope = (finding.rule_id.strip(), normalise_path(finding.path))
            identities.append(((tool, name, value, *scope), usable))
        else:
            identities.append(((tool, name, value), usable))
    return identities


def _fingerprint_rank(name: str) -> tuple[bool, str]:
    """Full fingerprints before partial ones ("pfp:*"), then by name."""
    return name.startswith("pfp:"), name


def _collided_fingerprints(items: Sequence[NormalizedFinding]) -> set[Fields]:
    """Fingerprint identities that results at different locations of one report claim."""
    first_claim: dict[Fields, int] = {}  # identity -> index of the first result claiming it
    collided: set[Fields] = set()
    for index, finding in enumerate(items):
        if not finding.fingerprints or _sca_first(finding):
            continue
        for fields, usable in _fingerprint_identities(finding):
            if not usable:
                continue
            claimant = first_claim.setdefault(fields, index)
            # Same location twice is a duplicate result, not a collision.
            if claimant != index and _location(items[claimant]) != _location(finding):
                collided.add(fields)
    return collided


def _sca_first(finding: NormalizedFinding) -> bool:
    """True when the SCA identity applies before any fingerprint (see the module docstring)."""
    return finding.kind in _SCA_FIRST_KINDS and bool(
        _sca_fields(finding, finding.vuln_ids or (finding.rule_id,))
    )


def _location(finding: NormalizedFinding) -> Location:
    return finding.rule_id.strip(), normalise_path(finding.path), finding.start_line


# --- SAST occurrences -----------------------------------------------------------------------


def _number_occurrences(keyed: list[Keyed], repeated: AbstractSet[tuple[str, str]]) -> None:
    """Give the 2nd, 3rd... line of one tool's repeated snippet its own key, in line order."""
    groups: dict[tuple[str, str], dict[int | None, list[int]]] = {}
    for index, item in enumerate(keyed):
        group = (_tool(item.finding), item.dedup_key)
        if item.strategy == "sast" and group in repeated:
            groups.setdefault(group, {}).setdefault(item.finding.start_line, []).append(index)
    for lines in groups.values():
        ordered = sorted(lines, key=lambda line: -1 if line is None else line)
        for ordinal, line in enumerate(ordered[1:], start=1):
            for index in lines[line]:
                item = keyed[index]
                _, fields = _content_fields(item.finding)
                key = _hash("sast", (*fields, "occurrence", ordinal))
                keyed[index] = Keyed(item.finding, key, "sast", item.note)


# --- purls and hashing ----------------------------------------------------------------------


@lru_cache(maxsize=16384)
def _purl_identity(purl: str) -> tuple[str, ...]:
    """("purl", type, namespace, name) of a purl string; () when it does not parse.

    A small parser rather than packageurl-python (about 40 us a call): parsers already store
    canonical purls, this only has to cut them up. Percent-escapes are decoded, so
    "%40babel" and "@babel" are one namespace.
    """
    text = purl.strip()
    if text[:4].lower() != "pkg:":
        return ()
    rest = text[4:].lstrip("/").partition("#")[0].partition("?")[0]
    head, at, version = rest.rpartition("@")
    if at and "/" not in version:
        rest = head
    ptype, _, path = rest.partition("/")
    segments = [unquote(part) if "%" in part else part for part in path.split("/") if part]
    if not ptype or not segments:
        return ()
    ptype = ptype.lower()
    namespace, name = "/".join(segments[:-1]), segments[-1]
    if ptype in _CASELESS_PURL_TYPES:
        namespace, name = namespace.lower(), name.lower()
    if ptype == "pypi":
        name = _PEP503_SEPARATORS.sub("-", name)  # PEP 503: "Foo_Bar.baz" is "foo-bar-baz"
    return "purl", ptype, namespace, name


def _hash(strategy: str, fields: Fields) -> str:
    """sha256 hex of ["v1", strategy, *fields] as compact JSON."""
    payload = _ENCODER.encode([KEY_VERSION, strategy, *fields])
    return hashlib.sha256(payload.encode("ascii")).hexdigest()
