"""Async calls from synchronous code that may itself run inside an event loop.

IPython magics are synchronous, and in a kernel they are called from the kernel's main thread
while its event loop runs: ``asyncio.run()`` is refused there, and blocking on that loop
would deadlock it. :class:`LoopThread` runs a private loop in a daemon thread instead; the
caller blocks on the result. Streamed results come back item by item to the calling thread,
so output is printed where the cell that asked for it runs.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()


class LoopThread:
    """A private asyncio loop in a daemon thread, started on first use."""

    def __init__(self, name: str = "datazentr-api") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=self._name, daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result (or its exception); an interrupt (Ctrl-C, the kernel's
        stop button) cancels it."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        """Each item of an async iterator as it arrives; stopping early cancels the rest."""
        arrived: queue.Queue[Any] = queue.Queue()

        async def pump() -> None:
            try:
                async for item in items:
                    arrived.put(item)
            finally:
                arrived.put(_END)

        future = asyncio.run_coroutine_threadsafe(pump(), self.loop)
        try:
            while (item := arrived.get()) is not _END:
                yield item
            future.result()  # the iterator's own error, if it ended with one
        finally:
            future.cancel()
