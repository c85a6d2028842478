"""The organisation's branding for JupyterLab's top bar (``read`` on ``assistant:branding``).

Relays the api's ``me/branding`` for the server's user: ``{"branding": null}`` for someone
in no organisation, else its name, colours and the URLs of its logo and stylesheet.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..base import PlatformHandler


class BrandingHandler(PlatformHandler):
    auth_resource = "assistant:branding"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.relay("GET", "me/branding", seconds=10.0)
