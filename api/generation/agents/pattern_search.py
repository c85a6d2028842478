"""Pattern search: the pattern library's hybrid search, as the owner would see it."""

from __future__ import annotations

from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.patterns.access import Viewer
from api.patterns.search import search_patterns

RESULTS = 10
KIND_HINTS = {
    "cli": "command line tool argparse",
    "web_service": "fastapi web service http api",
    "data_pipeline": "csv data processing pipeline",
    "library": "python package library tests",
    "data_science": "data science project notebook",
}


class PatternSearcher:
    name = "pattern_search"
    phase: Phase = "plan"

    async def run(self, context: StepContext) -> StepOutcome:
        intent = context.outputs["intent"]
        stack = " ".join(intent.get("stack", []))
        query = f"{context.project.description[:700]} {KIND_HINTS[intent['kind']]} {stack}"
        viewer = Viewer(name=context.project.owner, tenant_id=context.project.tenant_id)
        async with context.database.sessionmaker() as session:
            response = await search_patterns(
                session,
                context.embedder,
                viewer,
                query[:1000],
                languages=[intent["language"]],
                limit=RESULTS,
            )
        hits = [
            {
                "id": str(hit.pattern.id),
                "title": hit.pattern.title,
                "kind": hit.pattern.kind,
                "seed_key": hit.pattern.seed_key,
                "rank": hit.rank,
                "relevance": round(hit.ranked.relevance, 4),
                "similarity": hit.ranked.candidate.similarity,
            }
            for hit in response.hits
        ]
        return StepOutcome(
            inputs={"query": query[:200], "language": intent["language"]},
            outputs={"hits": hits, "timings_ms": response.timings_ms},
            decision=f"{len(hits)} candidate patterns; best: "
            + (str(hits[0]["title"]) if hits else "none"),
        )
