"""Waiting for a condition, never for a time: tests pass on a busy machine as on an idle one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Far beyond what any condition needs on an idle machine: only a real fault reaches it.
PATIENCE_SECONDS = 60.0


async def eventually(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    what: str,
    seconds: float = PATIENCE_SECONDS,
) -> None:
    """Return as soon as ``condition()`` is true; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {seconds:g} s")
        await asyncio.sleep(0.05)
