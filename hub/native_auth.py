"""Local accounts: NativeAuthenticator, adapted to JupyterHub 6.

nativeauthenticator 1.3's login form handler still times logins with ``self.statsd``,
which JupyterHub 6 removed, so every password login fails with a 500. This module swaps in
a login handler with the same behaviour minus the timer, and lets JupyterHub's own error
page path (``render_template(..., sync=True)``) render the login form as it expects.
"""

from __future__ import annotations

from typing import Any

from nativeauthenticator import NativeAuthenticator
from nativeauthenticator import handlers as native_handlers
from tornado.httputil import url_concat

INVALID_LOGIN = "Invalid username or password."


class PlatformLoginHandler(native_handlers.LoginHandler):  # type: ignore[misc]
    def _render(
        self,
        login_error: str | None = None,
        username: str | None = None,
        *,
        sync: bool = False,
        **_ignored: Any,
    ) -> Any:
        return self.render_template(
            "native-login.html",
            sync=sync,
            next=self.get_argument("next", ""),
            username=username,
            login_error=login_error,
            custom_html=self.authenticator.custom_html,
            login_url=self.settings["login_url"],
            enable_signup=self.authenticator.enable_signup,
            two_factor_auth=self.authenticator.allow_2fa,
            authenticator_login_url=url_concat(
                self.authenticator.login_url(self.hub.base_url),
                {"next": self.get_argument("next", "")},
            ),
        )

    async def post(self) -> None:
        data = {arg: self.get_argument(arg, strip=False) for arg in self.request.arguments}
        user = await self.login_user(data)
        if user:
            self._jupyterhub_user = user
            self.redirect(self.get_next_url(user))
            return
        username = data.get("username", "")
        error = INVALID_LOGIN
        record = self.authenticator.get_user(username)
        if (
            record is not None
            and record.is_valid_password(data.get("password", ""))
            and not record.is_authorized
        ):
            error = f"User {username} has not been approved by an administrator yet."
        self.set_status(403)
        self.finish(await self._render(login_error=error, username=username))


class PlatformNativeAuthenticator(NativeAuthenticator):  # type: ignore[misc]
    """NativeAuthenticator with a JupyterHub 6 login handler; configured as NativeAuthenticator."""

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        return [
            (pattern, PlatformLoginHandler if handler is native_handlers.LoginHandler else handler)
            for pattern, handler in super().get_handlers(app)
        ]
