"""Ranking of search results: Wilson lower bound, fusion, evidence, explanations."""

from __future__ import annotations

import uuid

import pytest

from api.patterns.ranking import Candidate, evidence, rank_candidates, rrf, wilson_lower_bound
from api.patterns.search import or_tsquery


def test_wilson_lower_bound_known_values() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(1, 1) == pytest.approx(0.2065, abs=1e-4)
    assert wilson_lower_bound(90, 100) == pytest.approx(0.8256, abs=1e-4)
    assert wilson_lower_bound(0, 10) == 0.0


def test_one_success_of_one_does_not_beat_ninety_of_a_hundred() -> None:
    assert wilson_lower_bound(90, 100) > wilson_lower_bound(1, 1)
    assert evidence(90, 10) > evidence(1, 0) > evidence(0, 0) > evidence(0, 5)


def test_fusion_rewards_agreement_of_both_lists() -> None:
    a, b, c = (uuid.uuid4() for _ in range(3))
    ranked = rank_candidates(
        [
            Candidate(id=a, semantic_rank=1, similarity=0.8),
            Candidate(id=b, semantic_rank=2, similarity=0.7, keyword_rank=1, keyword_score=0.5),
            Candidate(id=c, keyword_rank=2, keyword_score=0.4),
        ]
    )
    assert [r.id for r in ranked] == [b, a, c]
    assert ranked[0].relevance == pytest.approx((rrf(2) + rrf(1)) / (2 * rrf(1)))


def test_evidence_reorders_equally_relevant_results() -> None:
    new, proven = uuid.uuid4(), uuid.uuid4()
    ranked = rank_candidates(
        [
            Candidate(id=new, semantic_rank=1, similarity=0.80),
            Candidate(id=proven, semantic_rank=2, similarity=0.79, successes=45, failures=5),
        ]
    )
    assert [r.id for r in ranked] == [proven, new]
    assert "45 of 50 outcomes succeeded" in ranked[0].summary()
    assert "#2 by meaning (similarity 0.79)" in ranked[0].summary()
    assert "no outcomes reported yet" in ranked[1].summary()


def test_or_tsquery_quotes_lexemes() -> None:
    assert or_tsquery(["retri", "it's", "a\\b", "retri"]) == "'retri' | 'it''s' | 'a\\\\b'"
    assert or_tsquery([]) is None
