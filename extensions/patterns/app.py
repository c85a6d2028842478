from __future__ import annotations

from ..base import PlatformExtensionApp
from .handlers import FeedbackHandler, InsertHandler, PatternHandler, SearchHandler

PATTERN_ID = (
    r"(?P<pattern_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


class PatternsApp(PlatformExtensionApp):
    """Serves ``/datazentr/patterns/...``: the platform's pattern library, as this user."""

    name = "patterns"

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            [
                (r"/datazentr/patterns/search", SearchHandler),
                (rf"/datazentr/patterns/{PATTERN_ID}", PatternHandler),
                (rf"/datazentr/patterns/{PATTERN_ID}/feedback", FeedbackHandler),
                (rf"/datazentr/patterns/{PATTERN_ID}/insert", InsertHandler),
            ]
        )
