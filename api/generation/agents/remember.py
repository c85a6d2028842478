"""Remember: every pattern used gets a use and its gate outcome (usage/success counts).

The pattern library's feedback functions commit their own transaction; this agent adds its
``pattern.applied`` / ``pattern.outcome`` project event to that same transaction, so after
a crash the event log says exactly which counts were already changed, and a retry never
counts a use twice.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from api.generation import eventlog
from api.generation.agents.base import Phase, StepContext, StepOutcome
from api.models import PatternUse, ProjectEvent
from api.patterns.access import Viewer
from api.patterns.feedback import apply_pattern, record_outcome


class Remember:
    name = "remember"
    phase: Phase = "verify"

    async def run(self, context: StepContext) -> StepOutcome:
        project = context.project
        viewer = Viewer(name=project.owner, tenant_id=project.tenant_id)
        passed = bool(context.outputs["repair"]["passed"])
        components = context.outputs["architect"]["components"]
        async with context.database.sessionmaker() as session:
            rows = await session.execute(
                select(ProjectEvent.type, ProjectEvent.payload).where(
                    ProjectEvent.project_id == project.id,
                    ProjectEvent.type.in_(("pattern.applied", "pattern.outcome")),
                )
            )
            done = {(t, p["pattern_id"]) for t, p in rows.all()}
        for component in components:
            pattern_id = uuid.UUID(component["pattern_id"])
            key = component["pattern_id"]
            if ("pattern.outcome", key) in done:
                continue
            if ("pattern.applied", key) not in done:
                async with context.database.sessionmaker() as session:
                    await eventlog.lock_project(session, project.id)
                    await eventlog.append(
                        session, project.id, "pattern.applied", {"pattern_id": key}, step=self.name
                    )
                    await apply_pattern(session, viewer, pattern_id)  # commits both
            async with context.database.sessionmaker() as session:
                await eventlog.lock_project(session, project.id)
                use_id = await session.scalar(
                    select(PatternUse.id)
                    .where(
                        PatternUse.pattern_id == pattern_id,
                        PatternUse.user_name == project.owner,
                        PatternUse.outcome.is_(None),
                    )
                    .order_by(PatternUse.created_at.desc())
                    .limit(1)
                )
                if use_id is None:
                    continue
                await eventlog.append(
                    session,
                    project.id,
                    "pattern.outcome",
                    {"pattern_id": key, "use_id": str(use_id), "passed": passed},
                    step=self.name,
                )
                await record_outcome(session, viewer, pattern_id, use_id, passed)  # commits
        return StepOutcome(
            inputs={"patterns": len(components), "passed": passed},
            outputs={"recorded": [c["pattern_id"] for c in components]},
            decision=f"recorded {'success' if passed else 'failure'} "
            f"for {len(components)} patterns",
        )
