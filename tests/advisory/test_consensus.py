"""The consensus rule (apps/advisory/consensus.py): worked examples, then properties that
must hold for any ballots (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.advisory.consensus import (
    CATEGORICAL,
    CONSENSUS,
    DISAGREEMENT,
    NO_ANSWER,
    SCORE,
    SINGLE_MODEL,
    Ballot,
    FieldSpec,
    combine,
    fields_from_schema,
)

TRIAGE_LIKE = {
    "type": "object",
    "properties": {
        "likely_false_positive": {"type": "boolean"},
        "exploitability": {"type": "string", "enum": ["none", "low", "high"]},
        "suggested_severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
        "fix": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["upgrade", "code_change", "none"]},
                "detail": {"type": "string"},
            },
        },
        "rationale": {"type": "string"},
        "confidence": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
    },
}
FIELDS = fields_from_schema(TRIAGE_LIKE)


def answer(**over):
    base = {
        "likely_false_positive": False,
        "exploitability": "high",
        "suggested_severity": "high",
        "fix": {"kind": "upgrade", "detail": "bump to 2.0"},
        "rationale": "reachable",
        "confidence": 0.8,
        "tags": ["a"],
    }
    base.update(over)
    return base


def test_fields_come_from_the_schema_free_text_is_not_voted():
    assert {(f.path, f.kind) for f in FIELDS} == {
        ("likely_false_positive", CATEGORICAL),
        ("exploitability", CATEGORICAL),
        ("suggested_severity", CATEGORICAL),
        ("fix.kind", CATEGORICAL),
        ("confidence", SCORE),
        ("tags", CATEGORICAL),
    }


def test_three_agreeing_providers_are_a_consensus():
    out = combine(
        [Ballot("a", 1, answer()), Ballot("b", 1, answer()), Ballot("c", 1, answer())],
        fields=FIELDS,
        threshold=0.85,
    )
    assert out.result == CONSENSUS
    assert out.agreement == 1.0
    assert out.answer["suggested_severity"] == "high"


def test_one_dissent_in_three_is_below_the_default_threshold_and_shown_as_such():
    out = combine(
        [
            Ballot("a", 1, answer()),
            Ballot("b", 1, answer()),
            Ballot("c", 1, answer(suggested_severity="low")),
        ],
        fields=FIELDS,
        threshold=0.85,
    )
    assert out.result == DISAGREEMENT
    assert out.agreement == pytest.approx(2 / 3)
    sev = next(t for t in out.fields if t.path == "suggested_severity")
    assert sev.winner == "high"
    assert [(v.value, v.weight, v.providers) for v in sev.votes] == [
        ("high", 2, ("a", "b")),
        ("low", 1, ("c",)),
    ]
    # The majority still leads: the representative answer is one of theirs.
    assert out.representative in {"a", "b"}


def test_weights_decide_the_vote():
    # 0.9 of 1.0 weight agrees: 0.9 >= 0.85.
    out = combine(
        [
            Ballot("big", 4.5, answer()),
            Ballot("mid", 4.5, answer()),
            Ballot("small", 1, answer(exploitability="none")),
        ],
        fields=FIELDS,
        threshold=0.85,
    )
    assert out.result == CONSENSUS
    assert out.agreement == pytest.approx(0.9)


def test_a_failed_answer_is_dissent_not_absent():
    # Two agree, one failed: 2/3 of the weight, not 2/2.
    out = combine(
        [Ballot("a", 1, answer()), Ballot("b", 1, answer()), Ballot("c", 1, None)],
        fields=FIELDS,
        threshold=0.85,
    )
    assert out.result == DISAGREEMENT
    assert out.agreement == pytest.approx(2 / 3)
    assert all("c" in t.dissent for t in out.fields)


def test_a_single_valid_answer_is_single_model_never_consensus():
    out = combine([Ballot("a", 1, answer())], fields=FIELDS, threshold=0.5)
    assert out.result == SINGLE_MODEL
    out = combine([Ballot("a", 1, answer()), Ballot("b", 1, None)], fields=FIELDS, threshold=0.5)
    assert out.result == SINGLE_MODEL
    assert out.agreement == pytest.approx(0.5)


def test_no_valid_answer():
    out = combine([Ballot("a", 1, None), Ballot("b", 1, None)], fields=FIELDS, threshold=0.85)
    assert out.result == NO_ANSWER
    assert out.answer is None


def test_scores_cluster_within_the_tolerance():
    out = combine(
        [
            Ballot("a", 1, answer(confidence=0.70)),
            Ballot("b", 1, answer(confidence=0.85)),  # exactly 0.15 away: agrees
            Ballot("c", 1, answer(confidence=0.80)),
        ],
        fields=FIELDS,
        threshold=0.85,
    )
    conf = next(t for t in out.fields if t.path == "confidence")
    assert conf.agreement == 1.0
    assert conf.winner == pytest.approx((0.70 + 0.85 + 0.80) / 3, abs=1e-3)
    assert out.result == CONSENSUS


def test_scores_outside_the_tolerance_dissent():
    out = combine(
        [
            Ballot("a", 1, answer(confidence=0.9)),
            Ballot("b", 1, answer(confidence=0.85)),
            Ballot("c", 1, answer(confidence=0.2)),
        ],
        fields=FIELDS,
        threshold=0.85,
    )
    conf = next(t for t in out.fields if t.path == "confidence")
    assert conf.agreement == pytest.approx(2 / 3)
    assert [v.winning for v in conf.votes] == [False, True, True]  # sorted by value


def test_a_tie_never_passes_whatever_the_threshold():
    out = combine(
        [Ballot("a", 1, answer()), Ballot("b", 1, answer(likely_false_positive=True))],
        fields=FIELDS,
        threshold=0.5,
    )
    fp = next(t for t in out.fields if t.path == "likely_false_positive")
    assert fp.tied and fp.winner is None
    assert out.result == DISAGREEMENT


def test_array_of_categories_compares_as_a_set():
    out = combine(
        [Ballot("a", 1, answer(tags=["a", "b"])), Ballot("b", 1, answer(tags=["b", "a"]))],
        fields=FIELDS,
        threshold=0.85,
    )
    assert out.result == CONSENSUS


def test_as_dict_is_json():
    import json

    out = combine([Ballot("a", 1, answer()), Ballot("b", 1, None)], fields=FIELDS, threshold=0.85)
    assert json.loads(json.dumps(out.as_dict()))["result"] == SINGLE_MODEL


# --- properties ---------------------------------------------------------------------------

SEVERITIES = ["low", "medium", "high", "critical"]
SIMPLE = (
    FieldSpec("suggested_severity", CATEGORICAL),
    FieldSpec("likely_false_positive", CATEGORICAL),
    FieldSpec("confidence", SCORE),
)

a_ballot_data = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "suggested_severity": st.sampled_from(SEVERITIES),
            "likely_false_positive": st.booleans(),
            "confidence": st.floats(0, 1),
        }
    ),
)
weights = st.integers(1, 10).map(float)


@st.composite
def ballot_lists(draw, min_size=1, max_size=6):
    datas = draw(st.lists(a_ballot_data, min_size=min_size, max_size=max_size))
    return [Ballot(f"p{i}", draw(weights), d) for i, d in enumerate(datas)]


thresholds = st.floats(0.5, 1.0)


@settings(max_examples=200, deadline=None)
@given(ballot_lists(), thresholds)
def test_agreement_is_a_fraction_and_the_minimum_over_fields(ballots, threshold):
    out = combine(ballots, fields=SIMPLE, threshold=threshold)
    assert 0.0 <= out.agreement <= 1.0
    if out.result != NO_ANSWER:
        assert out.agreement == min(t.agreement for t in out.fields)


@settings(max_examples=200, deadline=None)
@given(ballot_lists(), thresholds, st.randoms(use_true_random=False))
def test_order_of_answers_does_not_matter(ballots, threshold, rnd):
    shuffled = list(ballots)
    rnd.shuffle(shuffled)
    a = combine(ballots, fields=SIMPLE, threshold=threshold)
    b = combine(shuffled, fields=SIMPLE, threshold=threshold)
    assert (a.result, a.agreement) == (b.result, pytest.approx(b.agreement))
    assert [t.winner for t in a.fields] == [t.winner for t in b.fields]


@settings(max_examples=200, deadline=None)
@given(ballot_lists(), thresholds, st.integers(2, 7))
def test_scaling_every_weight_changes_nothing(ballots, threshold, k):
    scaled = [Ballot(b.provider, b.weight * k, b.data) for b in ballots]
    a = combine(ballots, fields=SIMPLE, threshold=threshold)
    b = combine(scaled, fields=SIMPLE, threshold=threshold)
    assert a.result == b.result
    assert a.agreement == pytest.approx(b.agreement)


@settings(max_examples=200, deadline=None)
@given(ballot_lists(), thresholds, weights)
def test_a_failed_answer_never_raises_agreement_nor_creates_consensus(ballots, threshold, w):
    before = combine(ballots, fields=SIMPLE, threshold=threshold)
    after = combine([*ballots, Ballot("broken", w, None)], fields=SIMPLE, threshold=threshold)
    assert after.agreement <= before.agreement + 1e-12
    if before.result != CONSENSUS:
        assert after.result != CONSENSUS


@settings(max_examples=200, deadline=None)
@given(ballot_lists(), thresholds)
def test_quorum_fewer_than_two_valid_answers_is_never_consensus(ballots, threshold):
    out = combine(ballots, fields=SIMPLE, threshold=threshold)
    valid = sum(b.data is not None for b in ballots)
    if valid < 2:
        assert out.result in {SINGLE_MODEL, NO_ANSWER}
    if out.result == CONSENSUS:
        assert out.agreement >= threshold - 1e-9
        assert valid >= 2


@settings(max_examples=200, deadline=None)
@given(ballot_lists(), st.floats(0.5, 1.0), st.floats(0.5, 1.0))
def test_a_lower_threshold_keeps_a_consensus(ballots, t1, t2):
    lo, hi = sorted((t1, t2))
    if combine(ballots, fields=SIMPLE, threshold=hi).result == CONSENSUS:
        assert combine(ballots, fields=SIMPLE, threshold=lo).result == CONSENSUS


@settings(max_examples=200, deadline=None)
@given(st.lists(weights, min_size=2, max_size=6), a_ballot_data.filter(bool), thresholds)
def test_unanimity_is_full_agreement(ws, data, threshold):
    out = combine(
        [Ballot(f"p{i}", w, data) for i, w in enumerate(ws)], fields=SIMPLE, threshold=threshold
    )
    assert out.result == CONSENSUS
    assert out.agreement == 1.0


@settings(max_examples=200, deadline=None)
@given(ballot_lists(min_size=2), weights, st.sampled_from(SEVERITIES), st.floats(0.75, 1.0))
def test_a_minority_dissenter_cannot_move_a_consensus_winner(ballots, w, sev, threshold):
    """Whatever a minority dissenter (e.g. one provider obeying injected text) answers, it
    either leaves the consensus winners as they were or breaks the consensus into a shown
    disagreement: it never makes its own answer the consensus. (At thresholds near 0.5 a
    weighty newcomer may legitimately win a vote; the default is 0.85.)"""
    before = combine(ballots, fields=SIMPLE, threshold=threshold)
    intruder = Ballot(
        "intruder", w, {"suggested_severity": sev, "likely_false_positive": True, "confidence": 0}
    )
    after = combine([*ballots, intruder], fields=SIMPLE, threshold=threshold)
    total = sum(b.weight for b in ballots) + w
    if before.result == CONSENSUS and w < total / 2:
        if after.result == CONSENSUS:
            assert [t.winner for t in after.fields][:2] == [t.winner for t in before.fields][:2]
        else:
            assert after.result == DISAGREEMENT


def test_schema_annotations_decide_how_fields_compare():
    schema = {
        "properties": {
            "ids": {"type": "array", "items": {"type": "integer"}, "x-consensus": "set"},
            "note": {"type": "string", "enum": ["x"], "x-consensus": "ignore"},
            "confidence": {"type": "number", "x-consensus": {"tolerance": 0.2}},
        }
    }
    fields = fields_from_schema(schema)
    assert fields == (FieldSpec("ids", CATEGORICAL), FieldSpec("confidence", SCORE, 0.2))
    out = combine(
        [
            Ballot("a", 1, {"ids": [3, 1], "confidence": 0.5}),
            Ballot("b", 1, {"ids": [1, 3], "confidence": 0.7}),
        ],
        fields=fields,
        threshold=0.85,
    )
    assert out.result == CONSENSUS
