"""JupyterHub's own ``MockHub`` (``jupyterhub.tests.mocking``) in this process: a real hub,
proxy and REST API on loopback, configured like the platform's hub, for spawners tested in
process as JupyterHub's and DockerSpawner's own tests do."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from jupyterhub.tests.mocking import MockHub
from jupyterhub.tests.utils import add_user
from jupyterhub.user import User
from traitlets.config import Config

from tests.support.waiting import eventually


@asynccontextmanager
async def running_mock_hub(config: Config, workdir: Path) -> AsyncIterator[MockHub]:
    """``MockHub`` started with ``config``; the files it writes (proxy pid, cookie secret)
    go to ``workdir``. At exit it stops, and with it every server it still runs.

    Run it on an event loop of its own (a test module's: pytest-asyncio's
    ``loop_scope="module"``), as JupyterHub's and DockerSpawner's suites do: a stopping hub
    cancels every task of its loop."""
    previous = Path.cwd()
    os.chdir(workdir)
    app = MockHub.instance(config=config)
    try:
        await app.initialize([])
        await app.start()
        yield app
    finally:
        app.log.handlers = []  # pytest closes captured streams before the hub logs its stop
        MockHub.clear_instance()
        try:
            await app.stop()
        finally:
            os.chdir(previous)


class MockHubUser:
    """A new user of a running ``MockHub`` with a token of theirs (their own scopes), who
    starts and stops servers through the hub's REST API as a browser or script would."""

    def __init__(self, app: MockHub, name: str, *, admin: bool = False) -> None:
        self.app = app
        self.name = name
        self.user: User = add_user(app.db, app, name=name, admin=admin)
        self.token: str = self.user.new_api_token()
        self.hub = httpx.AsyncClient(
            base_url=app.hub.api_url.rstrip("/") + "/",  # directly, not through the proxy
            headers={"Authorization": f"token {self.token}"},
            timeout=120,
        )

    def spawner(self, server: str = "") -> Any:
        return self.user.spawners[server]

    def _path(self, server: str) -> str:
        return f"users/{self.name}/servers/{server}" if server else f"users/{self.name}/server"

    async def start(self, server: str = "") -> httpx.Response:
        """Ask for the server; when the hub accepts, wait until it is ready."""
        response = await self.hub.post(self._path(server))
        if response.status_code in (201, 202):
            await eventually(lambda: self.spawner(server).ready, what=f"server {server!r} ready")
        return response

    async def stop(self, server: str = "") -> None:
        response = await self.hub.delete(self._path(server))
        assert response.status_code in (202, 204), response.text
        await eventually(lambda: not self.spawner(server).active, what=f"server {server!r} stopped")

    async def close(self) -> None:
        """Stop the servers still running; close the client."""
        for name, spawner in list(self.user.spawners.items()):
            if spawner.active:
                await self.stop(name)
        await self.hub.aclose()
