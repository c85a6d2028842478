"""Uses and outcomes: what ranks a pattern by measured success.

- Applying a pattern records a use (``usage_count`` + 1, and the person's
  ``patterns_used`` meter) and returns its id.
- The quality gates of that use report ``passed`` or ``failed`` once: success or
  failure count + 1.
- Thumbs up/down are votes, one per person and pattern: a changed vote moves its count
  from one side to the other, a repeated vote changes nothing.

Counts change with atomic ``UPDATE ... SET n = n + 1`` statements, so concurrent
feedback never loses an increment; each change appends an event.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.billing import meters
from api.errors import Conflict, NotFound
from api.models import Pattern, PatternUse, PatternVote
from api.patterns.access import Viewer
from api.patterns.library import get_visible, pattern_event


async def apply_pattern(
    session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID
) -> tuple[Pattern, PatternUse]:
    pattern = await get_visible(session, viewer, pattern_id)
    use = PatternUse(
        id=uuid.uuid4(),
        pattern_id=pattern.id,
        version=pattern.version,
        user_name=viewer.name,
        tenant_id=viewer.tenant_id,
    )
    session.add(use)
    await session.execute(
        update(Pattern)
        .where(Pattern.id == pattern.id)
        .values(usage_count=Pattern.usage_count + 1)
        .execution_options(synchronize_session=False)
    )
    pattern_event(session, pattern, "pattern.applied", viewer.name, use_id=str(use.id))
    await meters.use(session, viewer.name, "patterns_used", tenant_id=viewer.tenant_id)
    await session.commit()
    await session.refresh(pattern)
    return pattern, use


async def record_outcome(
    session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID, use_id: uuid.UUID, passed: bool
) -> Pattern:
    pattern = await get_visible(session, viewer, pattern_id)
    use = await session.scalar(
        select(PatternUse)
        .where(PatternUse.id == use_id, PatternUse.pattern_id == pattern.id)
        .with_for_update()
    )
    if use is None or use.user_name != viewer.name:
        raise NotFound(f"No use {use_id} of this pattern by you; /apply returns one.")
    if use.outcome is not None:
        raise Conflict(f"The outcome of use {use_id} was already reported ({use.outcome}).")
    use.outcome = "passed" if passed else "failed"
    use.outcome_at = datetime.now(UTC)
    column = Pattern.success_count if passed else Pattern.failure_count
    await session.execute(
        update(Pattern)
        .where(Pattern.id == pattern.id)
        .values({column: column + 1})
        .execution_options(synchronize_session=False)
    )
    pattern_event(
        session,
        pattern,
        "pattern.outcome",
        viewer.name,
        use_id=str(use.id),
        outcome=use.outcome,
        used_version=use.version,
    )
    await session.commit()
    await session.refresh(pattern)
    return pattern


async def vote(session: AsyncSession, viewer: Viewer, pattern_id: uuid.UUID, up: bool) -> Pattern:
    # Locking the pattern serialises votes on it: two first votes cannot both count.
    pattern = await get_visible(session, viewer, pattern_id, for_update=True)
    value = 1 if up else -1
    previous = await session.scalar(
        select(PatternVote.value).where(
            PatternVote.pattern_id == pattern.id, PatternVote.voter == viewer.name
        )
    )
    if previous == value:
        return pattern
    await session.execute(
        insert(PatternVote)
        .values(pattern_id=pattern.id, voter=viewer.name, value=value)
        .on_conflict_do_update(
            index_elements=[PatternVote.pattern_id, PatternVote.voter],
            set_={"value": value, "updated_at": datetime.now(UTC)},
        )
    )
    changes = {}
    if up:
        changes[Pattern.success_count] = Pattern.success_count + 1
        if previous == -1:
            changes[Pattern.failure_count] = Pattern.failure_count - 1
    else:
        changes[Pattern.failure_count] = Pattern.failure_count + 1
        if previous == 1:
            changes[Pattern.success_count] = Pattern.success_count - 1
    await session.execute(
        update(Pattern)
        .where(Pattern.id == pattern.id)
        .values(changes)
        .execution_options(synchronize_session=False)
    )
    pattern_event(
        session,
        pattern,
        "pattern.voted",
        viewer.name,
        vote="up" if up else "down",
        replaced=previous is not None,
    )
    await session.commit()
    await session.refresh(pattern)
    return pattern
