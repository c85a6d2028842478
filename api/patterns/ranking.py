"""How search results are ordered, and the words that say why.

1. Relevance: the semantic list (cosine similarity, pgvector) and the keyword list
   (Postgres full-text rank) are fused by reciprocal rank fusion: each list adds
   ``1 / (RRF_K + rank)``. Scaled so that first place in both lists is 1.0.
2. Evidence: outcomes (quality gates passed or failed, thumbs up or down) enter as the
   Wilson score interval's lower bound of the success rate minus that of the failure
   rate: 90 of 100 successes (+0.77) outrank 1 of 1 (+0.21), and a pattern that keeps
   failing sinks below an untried one (0).
3. Score = relevance + QUALITY_WEIGHT x evidence. Relevance dominates; among results of
   similar relevance, proven ones come first.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass

RRF_K = 60
QUALITY_WEIGHT = 0.1
WILSON_Z = 1.96  # 95% confidence


def wilson_lower_bound(successes: int, trials: int, z: float = WILSON_Z) -> float:
    """Lower bound of the Wilson score interval for a success rate; 0 without trials."""
    if trials <= 0:
        return 0.0
    p = successes / trials
    z2 = z * z
    centre = p + z2 / (2 * trials)
    margin = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, (centre - margin) / (1 + z2 / trials))


def evidence(successes: int, failures: int) -> float:
    """Confidence-adjusted net success in [-1, 1]: Wilson(successes) - Wilson(failures)."""
    trials = successes + failures
    return wilson_lower_bound(successes, trials) - wilson_lower_bound(failures, trials)


@dataclass(frozen=True)
class Candidate:
    """One pattern found by either retriever, with its counts."""

    id: uuid.UUID
    semantic_rank: int | None = None  # 1-based position in the vector list
    similarity: float | None = None  # 1 - cosine distance
    keyword_rank: int | None = None  # 1-based position in the full-text list
    keyword_score: float | None = None  # ts_rank
    uses: int = 0
    successes: int = 0
    failures: int = 0


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    relevance: float
    wilson: float
    evidence: float
    score: float

    @property
    def id(self) -> uuid.UUID:
        return self.candidate.id

    def summary(self) -> str:
        c = self.candidate
        parts = []
        if c.semantic_rank is not None and c.similarity is not None:
            parts.append(f"#{c.semantic_rank} by meaning (similarity {c.similarity:.2f})")
        if c.keyword_rank is not None:
            parts.append(f"#{c.keyword_rank} by keywords")
        found = " and ".join(parts) if parts else "no direct match"
        trials = c.successes + c.failures
        if trials:
            record = (
                f"{c.successes} of {trials} outcomes succeeded "
                f"(confidence-adjusted {self.wilson:.2f})"
            )
        else:
            record = "no outcomes reported yet"
        uses = f"applied {c.uses} time{'s' if c.uses != 1 else ''}"
        return f"Found {found}; {record}; {uses}."


def rrf(rank: int | None, k: int = RRF_K) -> float:
    return 0.0 if rank is None else 1.0 / (k + rank)


def rank_candidates(candidates: list[Candidate], k: int = RRF_K) -> list[Ranked]:
    """Order candidates by relevance (fused ranks) plus weighted evidence, best first."""
    best = 2 * rrf(1, k)
    ranked = []
    for c in candidates:
        relevance = (rrf(c.semantic_rank, k) + rrf(c.keyword_rank, k)) / best
        net = evidence(c.successes, c.failures)
        ranked.append(
            Ranked(
                candidate=c,
                relevance=relevance,
                wilson=wilson_lower_bound(c.successes, c.successes + c.failures),
                evidence=net,
                score=relevance + QUALITY_WEIGHT * net,
            )
        )
    # Ties (equal score) keep the semantic order, then the id: results are deterministic.
    ranked.sort(key=lambda r: (-r.score, r.candidate.semantic_rank or 10**9, str(r.candidate.id)))
    return ranked
