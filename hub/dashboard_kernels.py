"""Which signed-in visitor each dashboard kernel serves; only they may reach it.

A kernel is handed to a visitor either from a preheated pool (``get_rendered_notebook``)
or started for them (``start_kernel`` with the page's request in its environment). Both
are wrapped to record the visitor the page handler is serving (a context variable set
for the request), and the kernel handlers check it: someone else's kernel id answers 404,
even for a signed-in person who learned it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.handlers import KernelHandler
from tornado import web
from voila.shutdown_kernel_handler import (  # type: ignore[import-untyped]
    VoilaShutdownKernelHandler,
)
from voila.tornado.kernel_websocket_handler import (  # type: ignore[import-untyped]
    VoilaKernelWebsocketHandler,
)

VISITOR: ContextVar[str | None] = ContextVar("dashboard_visitor", default=None)
SETTINGS_KEY = "dashboard_kernel_owners"


class KernelOwners:
    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    def record(self, kernel_id: str, visitor: str) -> None:
        self._owners[kernel_id] = visitor

    def owner(self, kernel_id: str) -> str | None:
        return self._owners.get(kernel_id)


def track(kernel_manager: Any, owners: KernelOwners, request_env: str) -> None:
    """Record the visitor of every kernel the manager hands to a page."""
    rendered: Callable[..., Awaitable[Any]] | None = getattr(
        kernel_manager, "get_rendered_notebook", None
    )
    if rendered is not None:

        async def get_rendered_notebook(*args: Any, **kwargs: Any) -> Any:
            result = await rendered(*args, **kwargs)
            visitor = VISITOR.get()
            if visitor is not None:
                owners.record(result[2], visitor)  # (task, cache, kernel_id)
            return result

        kernel_manager.get_rendered_notebook = get_rendered_notebook

    start: Callable[..., Any] = kernel_manager.start_kernel

    async def start_kernel(*args: Any, **kwargs: Any) -> str:
        kernel_id: str = await ensure_async(start(*args, **kwargs))
        visitor = VISITOR.get()
        # Pool refills run in a visitor's context too; only a page's own kernel has the
        # request in its environment.
        if visitor is not None and request_env in (kwargs.get("env") or {}):
            owners.record(kernel_id, visitor)
        return kernel_id

    kernel_manager.start_kernel = start_kernel


def _check(handler: Any, kernel_id: str) -> None:
    owners: KernelOwners = handler.settings[SETTINGS_KEY]
    user = handler.current_user
    if user is None or owners.owner(kernel_id) != user.username:
        raise web.HTTPError(404, f"No kernel {kernel_id} of yours.")


class OwnedKernelWebsocketHandler(VoilaKernelWebsocketHandler):  # type: ignore[misc]
    async def pre_get(self) -> None:
        await super().pre_get()
        _check(self, self.kernel_id)


class OwnedKernelHandler(KernelHandler):
    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self.path_kwargs.get("kernel_id"):
            _check(self, self.path_kwargs["kernel_id"])


class OwnedShutdownHandler(VoilaShutdownKernelHandler):  # type: ignore[misc]
    async def prepare(self) -> None:
        await super().prepare()
        if self.path_args:
            _check(self, self.path_args[0])
