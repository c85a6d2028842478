"""Errors of the assistant (``ApiError`` subclasses: the routes need no mapping)."""

from __future__ import annotations

from api.errors import ApiError, NotFound, PayloadTooLarge


class PromptTooLarge(PayloadTooLarge):
    """A message, context or prefix beyond its limit; the message says which and by how much."""


class ConversationNotFound(NotFound):
    """No such conversation of the caller's (someone else's looks exactly like a missing one)."""


class AssistantLimitReached(ApiError):
    """The plan's assistant requests for today are used up."""

    status = 429
    code = "assistant_limit_reached"
