"""Consensus over several providers' answers to one question (pure: no database, no I/O).

The rule (docs/advisory.md, "Consensus rule"):

- Answers are compared field by field. The compared fields come from the task's JSON schema
  (`fields_from_schema`, its `x-consensus` annotations): booleans, enums and id sets are
  categorical and win by weighted vote; numbers are scores, and a score agrees with another
  when within ± the stated tolerance of it (SCORE_TOLERANCE unless the schema says otherwise).
  Free text (rationale, fix detail) is never voted on; it is shown from the representative
  answer.
- Per field, agreement = winning weight / total weight of the providers asked. A failed or
  off-schema answer keeps its weight in that total and votes for nothing, so a provider that
  was broken (or injected into emitting junk) counts as dissent and can only lower agreement.
  A provider skipped before being asked (over its daily budget) is not a ballot at all.
- Overall agreement = the minimum over fields (one contested field contests the answer).
- Quorum is 2: with fewer than two valid answers the result is `single_model`, never consensus.
- `consensus` only when agreement >= the tenant's threshold and every field has a strict winner
  (a tie never passes, whatever the threshold); otherwise `disagreement`, and the per-field
  votes are the result. No valid answer at all is `no_answer`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SCORE_TOLERANCE = 0.15
QUORUM = 2
# Float sums of weights (0.1 + 0.2 …) must not turn an exact tie or an exact threshold into a
# miss; agreement is compared with this slack.
_EPS = 1e-9

CONSENSUS = "consensus"
SINGLE_MODEL = "single_model"
DISAGREEMENT = "disagreement"
NO_ANSWER = "no_answer"

CATEGORICAL = "categorical"
SCORE = "score"


@dataclass(frozen=True)
class FieldSpec:
    """One compared field: a dotted path into the answer, how it is compared."""

    path: str
    kind: str  # categorical | score
    tolerance: float = SCORE_TOLERANCE


@dataclass(frozen=True)
class Ballot:
    """One provider's answer: `data` is None when it failed or strayed from the schema."""

    provider: str
    weight: float
    data: Mapping[str, Any] | None


@dataclass(frozen=True)
class Vote:
    value: Any
    weight: float
    providers: tuple[str, ...]
    winning: bool


@dataclass(frozen=True)
class FieldTally:
    path: str
    kind: str
    winner: Any
    agreement: float
    tied: bool
    votes: tuple[Vote, ...]
    dissent: tuple[str, ...]  # providers with no usable value for this field


@dataclass(frozen=True)
class Outcome:
    result: str
    agreement: float
    threshold: float
    asked: int
    valid: int
    fields: tuple[FieldTally, ...] = field(default_factory=tuple)
    representative: str | None = None
    answer: Mapping[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON form stored on the advice row and served by the API."""
        return {
            "result": self.result,
            "agreement": round(self.agreement, 4),
            "threshold": self.threshold,
            "asked": self.asked,
            "valid": self.valid,
            "representative": self.representative,
            "answer": self.answer,
            "fields": [
                {
                    "field": t.path,
                    "kind": t.kind,
                    "winner": t.winner,
                    "agreement": round(t.agreement, 4),
                    "tied": t.tied,
                    "votes": [
                        {
                            "value": v.value,
                            "weight": v.weight,
                            "providers": list(v.providers),
                            "winning": v.winning,
                        }
                        for v in t.votes
                    ],
                    "dissent": list(t.dissent),
                }
                for t in self.fields
            ],
        }


def fields_from_schema(schema: Mapping[str, Any], prefix: str = "") -> tuple[FieldSpec, ...]:
    """The compared fields of a task schema. A property's `x-consensus` annotation decides
    ("vote", "set", "ignore", or {"tolerance": t} for a score); without one, booleans and enums
    vote, numbers are scores within SCORE_TOLERANCE, objects are walked, free text is ignored."""
    specs: list[FieldSpec] = []
    for name, prop in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        types = prop.get("type")
        types = set(types) if isinstance(types, list) else {types}
        types.discard("null")
        how = prop.get("x-consensus")
        if how == "ignore":
            continue
        if how in ("vote", "set"):
            specs.append(FieldSpec(path, CATEGORICAL))  # a list votes as a set: order ignored
        elif isinstance(how, Mapping) and "tolerance" in how:
            specs.append(FieldSpec(path, SCORE, float(how["tolerance"])))
        elif "enum" in prop or types == {"boolean"}:
            specs.append(FieldSpec(path, CATEGORICAL))
        elif types & {"number", "integer"}:
            specs.append(FieldSpec(path, SCORE))
        elif types == {"object"}:
            specs.extend(fields_from_schema(prop, prefix=f"{path}."))
        elif types == {"array"} and "enum" in (prop.get("items") or {}):
            specs.append(FieldSpec(path, CATEGORICAL))
    return tuple(specs)


def combine(ballots: Sequence[Ballot], *, fields: Sequence[FieldSpec], threshold: float) -> Outcome:
    """Apply the consensus rule to the ballots of the providers asked."""
    total = sum(b.weight for b in ballots)
    valid = [b for b in ballots if b.data is not None]
    if not valid or total <= 0:
        return Outcome(NO_ANSWER, 0.0, threshold, asked=len(ballots), valid=len(valid))
    tallies = tuple(_tally(spec, ballots, total) for spec in fields)
    agreement = min((t.agreement for t in tallies), default=sum(b.weight for b in valid) / total)
    agreement = min(agreement, 1.0)
    if len(valid) < QUORUM:
        result = SINGLE_MODEL
    elif agreement + _EPS >= threshold and not any(t.tied for t in tallies):
        result = CONSENSUS
    else:
        result = DISAGREEMENT
    rep = _representative(valid, tallies)
    return Outcome(
        result,
        agreement,
        threshold,
        asked=len(ballots),
        valid=len(valid),
        fields=tallies,
        representative=rep.provider,
        answer=dict(rep.data or {}),
    )


def _tally(spec: FieldSpec, ballots: Sequence[Ballot], total: float) -> FieldTally:
    values: list[tuple[Ballot, Any]] = []
    dissent: list[str] = []
    for b in ballots:
        found, value = _lookup(b.data, spec.path)
        usable = found and (spec.kind != SCORE or _is_number(value))
        if b.data is None or not usable:
            dissent.append(b.provider)
        else:
            values.append((b, value))
    if spec.kind == SCORE:
        return _tally_score(spec, values, total, tuple(dissent))
    return _tally_categorical(spec, values, total, tuple(dissent))


def _tally_categorical(
    spec: FieldSpec, values: list[tuple[Ballot, Any]], total: float, dissent: tuple[str, ...]
) -> FieldTally:
    groups: dict[str, tuple[Any, float, list[str]]] = {}
    for b, value in values:
        key = _key(value)
        shown, weight, providers = groups.get(key, (_canonical(value), 0.0, []))
        groups[key] = (shown, weight + b.weight, [*providers, b.provider])
    ranked = sorted(groups.items(), key=lambda kv: (-kv[1][1], kv[0]))
    if not ranked:
        return FieldTally(spec.path, spec.kind, None, 0.0, False, (), dissent)
    top_key, (winner, top, _) = ranked[0]
    tied = len(ranked) > 1 and abs(ranked[1][1][1] - top) <= _EPS
    votes = tuple(
        Vote(shown, weight, tuple(providers), key == top_key and not tied)
        for key, (shown, weight, providers) in ranked
    )
    return FieldTally(
        spec.path, spec.kind, None if tied else winner, top / total, tied, votes, dissent
    )


def _tally_score(
    spec: FieldSpec, values: list[tuple[Ballot, Any]], total: float, dissent: tuple[str, ...]
) -> FieldTally:
    if not values:
        return FieldTally(spec.path, spec.kind, None, 0.0, False, (), dissent)
    tol = spec.tolerance + _EPS
    # Every answered value is a candidate centre; its cluster is what lies within ±tolerance.
    clusters = []
    for _, centre in values:
        members = frozenset(i for i, (_, v) in enumerate(values) if abs(float(v) - centre) <= tol)
        clusters.append((sum(values[i][0].weight for i in members), members))
    top = max(weight for weight, _ in clusters)
    best = {members for weight, members in clusters if abs(weight - top) <= _EPS}
    tied = len(best) > 1
    members = min(best, key=sorted)
    winner = None
    if not tied:
        weight_in = sum(values[i][0].weight for i in members)
        winner = round(
            sum(float(values[i][1]) * values[i][0].weight for i in members) / weight_in, 3
        )
    votes = tuple(
        Vote(v, b.weight, (b.provider,), i in members and not tied)
        for i, (b, v) in sorted(enumerate(values), key=lambda iv: (iv[1][1], iv[1][0].provider))
    )
    return FieldTally(spec.path, spec.kind, winner, top / total, tied, votes, dissent)


def _representative(valid: Iterable[Ballot], tallies: Sequence[FieldTally]) -> Ballot:
    """The valid answer that sides with the most winners (then heaviest, then first): its free
    text is what is shown beside the per-field result."""

    def sides(b: Ballot) -> int:
        return sum(1 for t in tallies for v in t.votes if v.winning and b.provider in v.providers)

    ranked = sorted(enumerate(valid), key=lambda ib: (-sides(ib[1]), -ib[1].weight, ib[0]))
    return ranked[0][1]


def _lookup(data: Mapping[str, Any] | None, path: str) -> tuple[bool, Any]:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _canonical(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(value, key=_key)
    return value


def _key(value: Any) -> str:
    return json.dumps(_canonical(value) if isinstance(value, list) else value, sort_keys=True)
