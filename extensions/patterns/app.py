from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float

from extensions.patterns.handlers import (
    FeedbackHandler,
    InsertHandler,
    PatternHandler,
    SearchHandler,
)

PATTERN_ID = (
    r"(?P<pattern_id>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
)


class PatternsApp(ExtensionApp):
    """Serves ``/datazentr/patterns/...``: the platform's pattern library, as this user."""

    name = "patterns"

    api_timeout = Float(
        30.0, config=True, help="Seconds to wait for the platform api before answering 504."
    )

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            [
                (r"/datazentr/patterns/search", SearchHandler),
                (rf"/datazentr/patterns/{PATTERN_ID}", PatternHandler),
                (rf"/datazentr/patterns/{PATTERN_ID}/feedback", FeedbackHandler),
                (rf"/datazentr/patterns/{PATTERN_ID}/insert", InsertHandler),
            ]
        )
