from __future__ import annotations

from traitlets import Float, Int

from ..base import PlatformExtensionApp
from .branding import BrandingHandler
from .completion import InlineCompletionHandler, JediCompleter
from .engine_status import EngineStatus
from .handlers import (
    ChatHandler,
    ConversationHandler,
    ConversationsHandler,
    NotebookHandler,
    SessionUsageHandler,
    StatusHandler,
)


class AssistantApp(PlatformExtensionApp):
    """The assistant's server side: relays to the platform api, completes with jedi."""

    name = "assistant"

    api_timeout = Float(
        120.0,
        config=True,
        help="Seconds to wait for the platform api (a chat answer streams for a while) "
        "before answering 504.",
    )
    status_ttl = Float(
        20.0,
        config=True,
        help="Seconds the api's engine status is reused before asking again "
        "(inline completion asks it on every keystroke).",
    )
    status_timeout = Float(
        5.0,
        config=True,
        help="Seconds to wait for the api's engine status before saying the offline engine "
        "answers.",
    )
    completion_timeout = Float(
        2.0,
        config=True,
        help="Seconds an inline completion waits for the model before jedi answers instead.",
    )
    max_completions = Int(
        5, config=True, help="Most suggestions offered for one inline completion request."
    )

    def initialize_settings(self) -> None:
        super().initialize_settings()
        self.engine_status = EngineStatus(
            self.platform, ttl=self.status_ttl, timeout=self.status_timeout
        )
        self.completer = JediCompleter(
            max_items=self.max_completions,
            root_dir=self.serverapp.root_dir if self.serverapp else None,
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            [
                (r"/datazentr/assistant/status", StatusHandler),
                (r"/datazentr/assistant/chat", ChatHandler),
                (r"/datazentr/assistant/conversations", ConversationsHandler),
                (r"/datazentr/assistant/conversations/([^/]+)", ConversationHandler),
                (r"/datazentr/assistant/notebook", NotebookHandler),
                (r"/datazentr/session/usage", SessionUsageHandler),
                (r"/datazentr/branding", BrandingHandler),
                (r"/api/ai/completion/inline", InlineCompletionHandler),
            ]
        )

    async def stop_extension(self) -> None:
        await super().stop_extension()
        self.completer.close()
