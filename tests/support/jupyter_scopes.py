"""JupyterHub's granular permissions in a Jupyter server without a hub.

JupyterHub grants a server's permissions as custom scopes
``custom:jupyter_server:<action>:<resource>`` checked by an Authorizer (JupyterHub's
``examples/read-only``); :class:`ScopedAuthorizer` checks the same names against the scopes
it is given, as if the request's token held exactly those. Tests set ``scopes`` (in-process:
``serverapp.authorizer.scopes = {...}``; in a server process: ``--ScopedAuthorizer.scopes``).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth import Authorizer
from traitlets import Set, Unicode

ACTIONS = ("read", "write", "execute")


def scope(action: str, resource: str) -> str:
    return f"custom:jupyter_server:{action}:{resource}"


EVERYTHING = frozenset(scope(action, "*") for action in ACTIONS)


class ScopedAuthorizer(Authorizer):
    """Allows an action on a resource only with its scope (or the action's ``*`` scope)."""

    scopes = Set(
        Unicode(), default_value=set(EVERYTHING), config=True, help="The scopes the token holds."
    )

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return bool({scope(action, resource), scope(action, "*")} & self.scopes)
