"""Dedup keys: the same problem collapses across tools and re-imports, different problems never.

Pure tests (no database). Property-based tests generate findings that differ in exactly one
identity field (keys must differ) or only in fields outside the identity (keys must not).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
from collections.abc import Callable
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from apps.findings.dedup import (
    NOTE_COLLISION,
    NOTE_PLACEHOLDER,
    STRATEGIES,
    Keyed,
    assign_keys,
    dedup_key,
    noise_summary,
    normalise_path,
    normalise_text,
    normalise_vuln_id,
    package_identity,
    primary_vuln_id,
)
from apps.findings.parsers.base import Component, Cvss, NormalizedFinding

FAST = settings(max_examples=60, deadline=None)
HEX64 = re.compile(r"^[0-9a-f]{64}$")
LOG4J = "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"


# --- builders ---------------------------------------------------------------------------------


def sca(**changes: object) -> NormalizedFinding:
    base = NormalizedFinding(
        kind="sca",
        tool="trivy",
        rule_id="CVE-2021-44228",
        title="log4j-core: Log4Shell",
        severity="critical",
        vuln_ids=("CVE-2021-44228",),
        component=Component(name="log4j-core", version="2.14.1", purl=LOG4J),
        path="pom.xml",
    )
    return replace(base, **changes)


def sast(**changes: object) -> NormalizedFinding:
    base = NormalizedFinding(
        kind="sast",
        tool="semgrep",
        rule_id="python.lang.security.sqli",
        title="SQL injection",
        severity="high",
        message="User input reaches a SQL query",
        cwes=(89,),
        path="app/db.py",
        start_line=10,
        snippet='cursor.execute("select * from t where id=" + user_id)',
    )
    return replace(base, **changes)


def iac(**changes: object) -> NormalizedFinding:
    base = NormalizedFinding(
        kind="iac",
        tool="checkov",
        rule_id="CKV_AWS_18",
        title="S3 access logging disabled",
        severity="medium",
        path="infra/main.tf",
        start_line=3,
        resource="aws_s3_bucket.data",
    )
    return replace(base, **changes)


def secret(**changes: object) -> NormalizedFinding:
    base = NormalizedFinding(
        kind="secret",
        tool="trufflehog",
        rule_id="aws-access-token",
        title="AWS access key",
        severity="high",
        path="config/settings.env",
        start_line=2,
        secret_hash=hashlib.sha256(b"AKIAIOSFODNN7EXAMPLE").hexdigest(),
    )
    return replace(base, **changes)


def fingerprinted(**changes: object) -> NormalizedFinding:
    base = NormalizedFinding(
        kind="sast",
        tool="codeql",
        rule_id="py/sql-injection",
        title="SQL injection",
        severity="high",
        path="app/db.py",
        start_line=10,
        fingerprints={"fp:matchBasedId/v1": "a1b2c3d4e5f6"},
    )
    return replace(base, **changes)


def fallback(**changes: object) -> NormalizedFinding:
    base = NormalizedFinding(
        kind="dast",
        tool="zap",
        rule_id="10021",
        title="X-Content-Type-Options header missing",
        severity="low",
        message="The anti-MIME-sniffing header is not set",
        path="api/users",
        start_line=1,
    )
    return replace(base, **changes)


def key(finding: NormalizedFinding) -> str:
    return dedup_key(finding)[0]


def strategy(finding: NormalizedFinding) -> str:
    return dedup_key(finding)[1]


def expected_key(*parts: object) -> str:
    """The documented construction: sha256 of ["v1", strategy, *fields] as compact JSON."""
    payload = json.dumps(["v1", *parts], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


# --- SCA ----------------------------------------------------------------------------------------


def test_trivy_and_grype_same_cve_same_package_collapse() -> None:
    trivy = sca(
        fingerprints={"fp:trivy/v1": "trivy-specific"},
        component=Component(name="log4j-core", version="2.14.1", purl=LOG4J + "?type=jar"),
    )
    grype = sca(
        tool="grype",
        title="CVE-2021-44228",
        severity="high",
        rule_id="GHSA-jfh8-c2jp-5v3q",
        vuln_ids=("GHSA-jfh8-c2jp-5v3q", "CVE-2021-44228"),
        path="/app/lib/log4j-core-2.14.1.jar",
    )
    keyed = assign_keys([trivy, grype])
    assert keyed[0].dedup_key == keyed[1].dedup_key
    assert {item.strategy for item in keyed} == {"sca"}
    assert noise_summary(keyed)["duplicates_collapsed"] == 1


def test_ghsa_with_cve_alias_matches_cve_alone() -> None:
    aliased = sca(vuln_ids=("ghsa-jfh8-c2jp-5v3q", "cve-2021-44228"))
    assert key(aliased) == key(sca(vuln_ids=("CVE-2021-44228",)))
    assert key(aliased) == key(sca(vuln_ids=("CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q")))


def test_a_still_vulnerable_version_bump_is_the_same_finding() -> None:
    bumped = Component(name="log4j-core", version="2.15.0", purl=LOG4J.replace("2.14.1", "2.15.0"))
    assert key(sca()) == key(sca(component=bumped))


def test_different_cves_or_packages_stay_apart() -> None:
    other_cve = sca(vuln_ids=("CVE-2021-45046",), rule_id="CVE-2021-45046")
    other_package = sca(
        component=Component(
            name="log4j-api", purl="pkg:maven/org.apache.logging.log4j/log4j-api@2.14.1"
        )
    )
    other_namespace = sca(component=Component(name="x", purl="pkg:maven/org.example/log4j-core"))
    keys = {key(f) for f in (sca(), other_cve, other_package, other_namespace)}
    assert len(keys) == 4


def test_sca_identity_wins_over_the_tool_fingerprint_for_sca_and_container() -> None:
    for kind in ("sca", "container"):
        finding = sca(kind=kind, fingerprints={"fp:x/v1": "unique-to-this-tool"})
        assert strategy(finding) == "sca"


def test_rule_id_is_the_vulnerability_id_when_an_sca_result_lists_none() -> None:
    assert key(sca(vuln_ids=())) == key(sca())


def test_sca_without_a_component_falls_back() -> None:
    assert strategy(sca(component=None)) == "fallback"


def test_package_identity_drops_version_qualifiers_and_subpath() -> None:
    plain = package_identity(Component(name="core", purl="pkg:npm/%40babel/core"))
    full = package_identity(Component(name="core", purl="pkg:npm/@babel/core@7.1.0?x=1#lib/a"))
    assert plain == full == ("purl", "npm", "@babel", "core")


def test_package_identity_normalises_pypi_names_per_pep_503() -> None:
    one = package_identity(Component(name="x", purl="pkg:pypi/Django_Rest.Framework@3.0"))
    two = package_identity(Component(name="x", purl="pkg:pypi/django-rest-framework@3.1"))
    assert one == two == ("purl", "pypi", "", "django-rest-framework")


def test_package_identity_keeps_case_where_the_ecosystem_does() -> None:
    upper = Component(name="x", purl="pkg:golang/github.com/Sirupsen/logrus@v1.0.0")
    lower = Component(name="x", purl="pkg:golang/github.com/sirupsen/logrus@v1.0.0")
    assert package_identity(upper) != package_identity(lower)


def test_package_identity_without_purl_uses_the_lower_cased_name() -> None:
    assert package_identity(Component(name="OpenSSL", type="library")) == (
        "name",
        "openssl",
        "library",
    )
    assert package_identity(Component(name=" ")) == ()
    assert package_identity(None) == ()
    # An unparseable purl does not hide the name.
    assert package_identity(Component(name="zlib", purl="not-a-purl"))[:2] == ("name", "zlib")


def test_primary_vuln_id_prefers_cve_then_ghsa_then_the_first_id() -> None:
    assert primary_vuln_id(["PYSEC-2021-1", "GHSA-aaaa-bbbb-cccc", "CVE-2021-2"]) == "CVE-2021-2"
    assert primary_vuln_id(["PYSEC-2021-1", "ghsa-aaaa-bbbb-cccc"]) == "GHSA-AAAA-BBBB-CCCC"
    assert primary_vuln_id(["PYSEC-2021-1", "GO-2021-7"]) == "PYSEC-2021-1"
    assert primary_vuln_id(["", "  "]) == ""
    assert normalise_vuln_id(" cve-2021-44228 ") == "CVE-2021-44228"


@FAST
@given(st.permutations(["CVE-2021-9", "CVE-2020-1", "GHSA-aaaa-bbbb-cccc", "OSV-1"]))
def test_primary_vuln_id_ignores_the_order_of_cves_and_ghsas(ids: list[str]) -> None:
    assert primary_vuln_id(ids) == "CVE-2020-1"


# --- SAST ---------------------------------------------------------------------------------------


def test_semgrep_and_bandit_flagging_the_same_line_collapse() -> None:
    semgrep = sast(cwes=(564, 89))  # the lowest CWE, 89, is the weakness
    bandit = sast(
        tool="bandit",
        rule_id="B608",
        title="Possible SQL injection vector through string-based query construction.",
        severity="medium",
        message="Possible SQL injection",
        snippet='  cursor.execute("select * from t where id="   +  user_id)\n',
        path="./app/db.py",
    )
    keyed = assign_keys([semgrep, bandit])
    assert keyed[0].dedup_key == keyed[1].dedup_key
    assert keyed[0].strategy == "sast"


def test_a_line_shift_with_the_same_snippet_keeps_the_key() -> None:
    before = assign_keys([sast(start_line=10, end_line=10)])
    after = assign_keys([sast(start_line=57, end_line=57)])
    assert before[0].dedup_key == after[0].dedup_key


def test_the_same_snippet_at_two_lines_of_one_file_is_two_findings() -> None:
    report = [sast(start_line=10), sast(start_line=50)]
    first, second = (item.dedup_key for item in assign_keys(report))
    assert first != second
    assert first == key(sast())  # the first occurrence keeps the single-result key
    # Both move down: same keys. Another tool seeing both occurrences: the same two keys.
    shifted = assign_keys([sast(start_line=90), sast(start_line=14)])
    assert [item.dedup_key for item in shifted] == [second, first]
    bandit = assign_keys([sast(tool="bandit", start_line=50), sast(tool="bandit", start_line=10)])
    assert [item.dedup_key for item in bandit] == [second, first]


def test_sast_without_cwe_uses_the_rule_scoped_by_tool() -> None:
    semgrep = sast(cwes=(), rule_id="R1")
    other_tool = sast(cwes=(), rule_id="R1", tool="other")
    assert strategy(semgrep) == "sast"
    assert key(semgrep) != key(other_tool)
    assert key(semgrep) != key(sast(cwes=(), rule_id="R2"))


def test_sast_needs_a_snippet_and_a_path() -> None:
    assert strategy(sast(snippet=" \n\t ")) == "fallback"
    assert strategy(sast(path="")) == "fallback"
    assert key(sast(snippet="", start_line=1)) != key(sast(snippet="", start_line=2))


def test_paths_are_case_sensitive_and_normalised() -> None:
    assert key(sast(path="App/db.py")) != key(sast(path="app/db.py"))
    assert key(sast(path="./app/./db.py")) == key(sast(path="app/db.py"))
    assert normalise_path("app\\db.py") == "app/db.py"
    assert normalise_path("a/b/../c/") == "a/c"
    assert normalise_path("./") == ""
    assert normalise_text("  a \n\t b  ") == "a b"


# --- fingerprints ---------------------------------------------------------------------------


def test_placeholder_fingerprint_repeated_for_nine_locations_gives_nine_keys() -> None:
    report = [
        sast(
            fingerprints={"fp:semgrep/v1": "deadbeef"},
            path=f"app/mod{i}.py",
            start_line=i + 1,
            snippet=f"eval(arg{i})",
        )
        for i in range(9)
    ]
    keyed = assign_keys(report)
    assert len({item.dedup_key for item in keyed}) == 9
    assert {item.note for item in keyed} == {NOTE_COLLISION}
    assert {item.strategy for item in keyed} == {"sast"}
    assert noise_summary(keyed)["notes"] == {NOTE_COLLISION: 9, NOTE_PLACEHOLDER: 0}


def test_colliding_fingerprint_without_snippets_falls_back_to_line_sensitive_keys() -> None:
    report = [fingerprinted(fingerprints={"fp:x/v1": "same"}, start_line=n) for n in range(1, 10)]
    keyed = assign_keys(report)
    assert len({item.dedup_key for item in keyed}) == 9
    assert {(item.strategy, item.note) for item in keyed} == {("fallback", NOTE_COLLISION)}


def test_a_real_fingerprint_repeated_at_the_same_location_is_one_finding() -> None:
    duplicate = fingerprinted(title="retitled", severity="critical")
    keyed = assign_keys([fingerprinted(), duplicate])
    assert keyed[0].dedup_key == keyed[1].dedup_key
    assert [(item.strategy, item.note) for item in keyed] == [("fingerprint", "")] * 2


def test_a_third_location_claiming_the_fingerprint_breaks_it_for_all() -> None:
    keyed = assign_keys([fingerprinted(), fingerprinted(), fingerprinted(rule_id="py/other")])
    assert {(item.strategy, item.note) for item in keyed} == {("fallback", NOTE_COLLISION)}
    assert keyed[0].dedup_key == keyed[1].dedup_key != keyed[2].dedup_key


def test_duplicate_results_inside_one_report_are_counted() -> None:
    keyed = assign_keys([fingerprinted(), fingerprinted(title="again"), sast()])
    summary = noise_summary(keyed)
    assert summary["results"] == 3
    assert summary["findings"] == 2
    assert summary["duplicates_collapsed"] == 1
    assert summary["strategies"] == {
        "fingerprint": 2,
        "sca": 0,
        "sast": 1,
        "iac": 0,
        "secret": 0,
        "fallback": 0,
    }
    assert list(summary["strategies"]) == list(STRATEGIES)


def test_known_placeholder_values_are_not_identities() -> None:
    for value in ("requires login", "", "  "):
        keyed = assign_keys([sast(fingerprints={"fingerprint": value})])
        assert (keyed[0].strategy, keyed[0].note) == ("sast", NOTE_PLACEHOLDER)


def test_a_colliding_fingerprint_gives_way_to_the_next_fingerprint() -> None:
    report = [
        fingerprinted(
            fingerprints={"fp:bogus/v1": "0000", "pfp:primaryLocationLineHash": f"{n:x}:1"},
            start_line=n,
        )
        for n in (1, 2)
    ]
    keyed = assign_keys(report)
    assert [(item.strategy, item.note) for item in keyed] == [("fingerprint", NOTE_COLLISION)] * 2
    assert keyed[0].dedup_key != keyed[1].dedup_key


def test_full_fingerprints_win_over_partial_ones_whatever_the_dict_order() -> None:
    fps = {"pfp:primaryLocationLineHash": "p1", "fp:b/v1": "b", "fp:a/v1": "a"}
    reordered = dict(reversed(list(fps.items())))
    assert key(fingerprinted(fingerprints=fps)) == key(fingerprinted(fingerprints=reordered))
    assert key(fingerprinted(fingerprints=fps)) == expected_key(
        "fingerprint", "codeql", "fp:a/v1", "a"
    )


def test_fingerprints_are_scoped_by_tool() -> None:
    assert key(fingerprinted()) != key(fingerprinted(tool="semgrep"))
    assert key(fingerprinted()) == key(fingerprinted(tool=" CodeQL "))


def test_partial_fingerprints_are_scoped_by_rule_and_path() -> None:
    line_hash = {"pfp:primaryLocationLineHash": "39fa2ee980eb94b0:1"}
    in_one_file = fingerprinted(fingerprints=line_hash)
    assert key(in_one_file) != key(fingerprinted(fingerprints=line_hash, path="app/other.py"))
    assert key(in_one_file) != key(fingerprinted(fingerprints=line_hash, rule_id="py/xss"))
    assert key(in_one_file) == key(fingerprinted(fingerprints=line_hash, start_line=99))


def test_fingerprints_can_be_switched_off() -> None:
    assert strategy(fingerprinted()) == "fingerprint"
    assert dedup_key(fingerprinted(), allow_fingerprint=False)[1] == "fallback"
    assert dedup_key(sast(fingerprints={"fp:x": "y"}), allow_fingerprint=False)[1] == "sast"


# --- IaC, secrets, fallback ---------------------------------------------------------------------


def test_iac_identity_is_check_resource_and_path() -> None:
    assert strategy(iac()) == "iac"
    assert key(iac()) == key(iac(start_line=40, tool="trivy", title="other"))
    assert key(iac()) != key(iac(resource="aws_s3_bucket.logs"))
    assert key(iac()) != key(iac(rule_id="CKV_AWS_19"))
    assert key(iac()) != key(iac(path="infra/other.tf"))
    assert strategy(iac(resource="")) == "fallback"


def test_the_secret_hash_goes_into_the_key_not_the_secret() -> None:
    finding = secret(snippet="AKIAIOSFODNN7EXAMPLE", message="found AKIAIOSFODNN7EXAMPLE")
    assert key(finding) == expected_key(
        "secret", "aws-access-token", "config/settings.env", finding.secret_hash
    )
    assert key(finding) == key(secret(snippet="AKIA****", message="redacted", start_line=9))
    other_secret = secret(secret_hash=hashlib.sha256(b"AKIAOTHER").hexdigest())
    assert key(finding) != key(other_secret)
    assert strategy(secret(secret_hash="")) == "fallback"


def test_fallback_uses_tool_rule_path_line_and_message() -> None:
    finding = fallback(message="  The anti-MIME-sniffing\nheader   is not set ")
    assert key(finding) == expected_key(
        "fallback", "zap", "10021", "api/users", 1, "The anti-MIME-sniffing header is not set"
    )
    assert key(finding) == key(fallback(title="Retitled", severity="high"))
    assert key(fallback()) != key(fallback(start_line=None))


def test_separators_inside_fields_cannot_collide() -> None:
    assert key(iac(path="a|b", rule_id="c", resource="r")) != key(
        iac(path="a", rule_id="b|c", resource="r")
    )
    assert key(fallback(path="a|b", rule_id="c")) != key(fallback(path="a", rule_id="b|c"))
    assert key(fallback(path="a", rule_id='b","c')) != key(fallback(path='a","b', rule_id="c"))


@FAST
@given(st.text(alphabet="ab|:,\"/\\'", min_size=2, max_size=12), st.data())
def test_splitting_one_string_differently_never_collides(text: str, data: st.DataObject) -> None:
    cut_a = data.draw(st.integers(1, len(text) - 1))
    cut_b = data.draw(st.integers(1, len(text) - 1).filter(lambda cut: cut != cut_a))
    one = fallback(rule_id=text[:cut_a], message=text[cut_a:])
    two = fallback(rule_id=text[:cut_b], message=text[cut_b:])
    assert key(one) != key(two)


# --- whole reports --------------------------------------------------------------------------------


def mixed_report() -> list[NormalizedFinding]:
    return [
        sca(),
        sca(tool="grype", vuln_ids=("GHSA-jfh8-c2jp-5v3q", "CVE-2021-44228")),
        sast(),
        sast(start_line=80),
        sast(tool="bandit", cwes=(89,)),
        iac(),
        secret(),
        fingerprinted(),
        fingerprinted(title="dup"),
        fallback(),
        *[fallback(fingerprints={"fp:x": "placeholder"}, start_line=n) for n in range(3)],
    ]


def test_assign_keys_is_deterministic_and_accepts_any_iterable() -> None:
    report = mixed_report()
    first = assign_keys(report)
    assert assign_keys(report) == first
    assert assign_keys(iter(report)) == first
    assert [item.finding for item in first] == report  # input order kept
    assert all(isinstance(item, Keyed) for item in first)


def test_keys_are_64_hex_chars_and_strategies_are_known() -> None:
    keyed = assign_keys(mixed_report())
    assert all(HEX64.match(item.dedup_key) for item in keyed)
    assert {item.strategy for item in keyed} == set(STRATEGIES)


def test_noise_summary_of_an_empty_report() -> None:
    summary = noise_summary(assign_keys([]))
    assert summary["results"] == summary["findings"] == summary["duplicates_collapsed"] == 0


# --- properties -----------------------------------------------------------------------------------

token = st.text(alphabet=string.ascii_letters + string.digits + "-_.:|", min_size=1, max_size=10)
segment = st.text(alphabet=string.ascii_letters + string.digits + "-_|", min_size=1, max_size=8)
paths = st.lists(segment, min_size=1, max_size=3).map("/".join)
tools = st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=8)
lines = st.integers(1, 5000)
snippets = st.text(min_size=1, max_size=40).filter(lambda text: normalise_text(text) != "")
cves = st.integers(1000, 99999).map(lambda n: f"CVE-2021-{n}")
purl_types = st.sampled_from(["npm", "maven", "golang", "cargo", "gem", "nuget"])
names = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=10)
hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)


@st.composite
def sca_findings(draw: st.DrawFn) -> NormalizedFinding:
    ptype, name, namespace = draw(purl_types), draw(names), draw(names)
    version = draw(st.sampled_from(["1.0.0", "2.3.4"]))
    purl = f"pkg:{ptype}/{namespace}/{name}@{version}"
    return sca(
        tool=draw(tools),
        vuln_ids=(draw(cves),),
        component=Component(name=name, version=version, purl=purl),
    )


@st.composite
def sast_findings(draw: st.DrawFn) -> NormalizedFinding:
    return sast(
        tool=draw(tools),
        cwes=(draw(st.integers(1, 2000)),),
        path=draw(paths),
        start_line=draw(lines),
        snippet=draw(snippets),
    )


@st.composite
def iac_findings(draw: st.DrawFn) -> NormalizedFinding:
    return iac(rule_id=draw(token), resource=draw(token), path=draw(paths))


@st.composite
def secret_findings(draw: st.DrawFn) -> NormalizedFinding:
    return secret(rule_id=draw(token), path=draw(paths), secret_hash=draw(hashes))


@st.composite
def fingerprint_findings(draw: st.DrawFn) -> NormalizedFinding:
    name = draw(st.sampled_from(["fp:a/v1", "fp:matchBasedId/v1", "gitleaks"]))
    return fingerprinted(tool=draw(tools), fingerprints={name: draw(hashes)})


@st.composite
def fallback_findings(draw: st.DrawFn) -> NormalizedFinding:
    return fallback(
        tool=draw(tools),
        rule_id=draw(token),
        path=draw(paths),
        start_line=draw(st.none() | lines),
        message=draw(st.text(max_size=30)),
    )


Mutation = Callable[[NormalizedFinding, st.DataObject], NormalizedFinding]


def _other_package(field: str) -> Mutation:
    """A mutation giving the component another purl type, namespace or name."""

    def mutate(finding: NormalizedFinding, data: st.DataObject) -> NormalizedFinding:
        assert finding.component is not None
        _, ptype, namespace, name = package_identity(finding.component)
        parts = {"type": ptype, "namespace": namespace, "name": name}
        pool = purl_types if field == "type" else names
        parts[field] = data.draw(pool.filter(lambda value: value != parts[field]))
        purl = f"pkg:{parts['type']}/{parts['namespace']}/{parts['name']}@1.0.0"
        return replace(finding, component=replace(finding.component, purl=purl))

    return mutate


def _other(
    field: str, values: st.SearchStrategy[object], norm: Callable[[object], object] = str
) -> Mutation:
    """A mutation setting `field` to a value that differs from the current one once normalised."""

    def mutate(finding: NormalizedFinding, data: st.DataObject) -> NormalizedFinding:
        old = norm(getattr(finding, field))
        new = data.draw(values.filter(lambda value: norm(value) != old))
        return replace(finding, **{field: new})

    return mutate


def _other_fingerprint(part: str) -> Mutation:
    """A mutation changing the fingerprint's name or its value."""

    def mutate(finding: NormalizedFinding, data: st.DataObject) -> NormalizedFinding:
        ((name, value),) = finding.fingerprints.items()
        if part == "name":
            name = data.draw(st.sampled_from(["fp:other/v1", "fp:z/v2"]))
        else:
            value = data.draw(hashes.filter(lambda new: new != value))
        return replace(finding, fingerprints={name: value})

    return mutate


IDENTITY_MUTATIONS: dict[str, tuple[st.SearchStrategy[NormalizedFinding], list[Mutation]]] = {
    "sca": (
        sca_findings(),
        [
            _other("vuln_ids", cves.map(lambda cve: (cve,)), primary_vuln_id),
            _other_package("type"),
            _other_package("namespace"),
            _other_package("name"),
        ],
    ),
    "sast": (
        sast_findings(),
        [
            _other("cwes", st.integers(1, 2000).map(lambda cwe: (cwe,))),
            _other("path", paths),
            _other("snippet", snippets, lambda text: normalise_text(str(text))),
        ],
    ),
    "iac": (
        iac_findings(),
        [_other("rule_id", token), _other("resource", token), _other("path", paths)],
    ),
    "secret": (
        secret_findings(),
        [_other("rule_id", token), _other("path", paths), _other("secret_hash", hashes)],
    ),
    "fingerprint": (
        fingerprint_findings(),
        [_other("tool", tools), _other_fingerprint("name"), _other_fingerprint("value")],
    ),
    "fallback": (
        fallback_findings(),
        [
            _other("tool", tools),
            _other("rule_id", token),
            _other("path", paths),
            _other("start_line", lines),
            _other("message", st.text(max_size=30), lambda text: normalise_text(str(text))),
        ],
    ),
}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(IDENTITY_MUTATIONS)), st.data())
def test_findings_differing_in_one_identity_field_never_merge(
    kind: str, data: st.DataObject
) -> None:
    findings, mutations = IDENTITY_MUTATIONS[kind]
    finding = data.draw(findings)
    mutate = data.draw(st.sampled_from(mutations))
    other = mutate(finding, data)
    assert strategy(finding) == strategy(other) == kind
    assert key(finding) != key(other)
    pair = assign_keys([finding, other])
    assert pair[0].dedup_key != pair[1].dedup_key
    assert noise_summary(pair)["duplicates_collapsed"] == 0


# Fields outside every identity, and those outside the identity of some strategies only.
DISPLAY_CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "title": st.text(max_size=20),
        "severity": st.sampled_from(["critical", "high", "medium", "low", "info"]),
        "pointer": st.text(max_size=10),
        "confidence": st.sampled_from(["high", "low"]),
        "references": st.lists(st.text(max_size=10), max_size=2).map(tuple),
        "cvss": st.just((Cvss("3.1", "", 9.8),)),
        "fixed_versions": st.just(("9.9.9",)),
        "suppressed": st.booleans(),
        "properties": st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        "end_line": lines,
        "start_column": lines,
    },
)
EXTRA_CHANGES: dict[str, st.SearchStrategy[dict[str, object]]] = {
    "sca": st.fixed_dictionaries(
        {},
        optional={
            "message": st.text(max_size=20),
            "start_line": lines,
            "path": paths,
            "component_version": st.sampled_from(["0.1", "5.0.0-rc1"]),
        },
    ),
    "sast": st.fixed_dictionaries(
        {},
        optional={"message": st.text(max_size=20), "start_line": lines, "rule_id": token},
    ),
    "iac": st.fixed_dictionaries({}, optional={"message": st.text(), "start_line": lines}),
    "secret": st.fixed_dictionaries(
        {}, optional={"message": st.text(), "start_line": lines, "snippet": st.text()}
    ),
    "fingerprint": st.fixed_dictionaries(
        {}, optional={"message": st.text(), "start_line": lines, "path": paths}
    ),
    "fallback": st.fixed_dictionaries({}, optional={"snippet": st.text(), "cwes": st.just((79,))}),
}


def _apply(finding: NormalizedFinding, changes: dict[str, object]) -> NormalizedFinding:
    version = changes.pop("component_version", None)
    if version is not None and finding.component is not None:
        changes["component"] = replace(finding.component, version=str(version))
    return replace(finding, **changes)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(IDENTITY_MUTATIONS)), st.data())
def test_findings_differing_outside_the_identity_keep_their_key(
    kind: str, data: st.DataObject
) -> None:
    finding = data.draw(IDENTITY_MUTATIONS[kind][0])
    changes = {**data.draw(DISPLAY_CHANGES), **data.draw(EXTRA_CHANGES[kind])}
    other = _apply(finding, changes)
    assert dedup_key(other) == dedup_key(finding)


ANY_FINDING = st.one_of(*(findings for findings, _ in IDENTITY_MUTATIONS.values()))


@FAST
@given(st.lists(ANY_FINDING, max_size=12), st.randoms())
def test_keys_do_not_depend_on_the_order_of_results(
    report: list[NormalizedFinding], rng: random.Random
) -> None:
    keyed = assign_keys(report)
    assert assign_keys(report) == keyed  # re-importing the same results changes nothing
    order = list(range(len(report)))
    rng.shuffle(order)
    shuffled = assign_keys([report[i] for i in order])
    assert [shuffled[pos].dedup_key for pos in range(len(order))] == [
        keyed[i].dedup_key for i in order
    ]
    summary = noise_summary(keyed)
    assert summary["findings"] == len({item.dedup_key for item in keyed})
    assert sum(summary["strategies"].values()) == len(report)
