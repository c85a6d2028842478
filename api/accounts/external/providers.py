"""The outside providers this platform offers, from the settings: GitHub, Google, and the
OpenID Connect providers the operator lists. A provider is offered only when configured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from api.core.config import Settings
from api.core.names import API_PREFIX

GITHUB_SCOPES = ("read:user", "user:email")
GOOGLE_SCOPES = ("openid", "email", "profile")


@dataclass(frozen=True)
class OutsideProvider:
    """One way to sign in from outside. ``kind`` says how to talk to it: ``github`` (OAuth 2
    and its REST API) or ``oidc`` (discovery, ID token, userinfo)."""

    name: str
    display_name: str
    kind: Literal["github", "oidc"]
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    # oidc: the issuer whose /.well-known/openid-configuration describes it.
    issuer: str = ""
    # oidc: other spellings of the issuer its ID tokens may carry (Google's bare host).
    issuer_aliases: tuple[str, ...] = ()
    # github: the web address (authorize, token) and the REST API's.
    web_url: str = ""
    api_url: str = ""
    # An organisation's own provider (single sign-on): the organisation's short name, and
    # what a person is told when it does not answer (whom to ask).
    organisation: str = ""
    unavailable_message: str = ""

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def configured_providers(settings: Settings) -> dict[str, OutsideProvider]:
    """Every configured provider by name, in the order the sign-in page shows them."""
    providers: list[OutsideProvider] = []
    if settings.github_client_id and settings.github_client_secret:
        providers.append(
            OutsideProvider(
                name="github",
                display_name="GitHub",
                kind="github",
                client_id=settings.github_client_id,
                client_secret=settings.github_client_secret.get_secret_value(),
                scopes=GITHUB_SCOPES,
                web_url=settings.github_url,
                api_url=settings.github_api_url,
            )
        )
    if settings.google_client_id and settings.google_client_secret:
        issuer = settings.google_issuer
        providers.append(
            OutsideProvider(
                name="google",
                display_name="Google",
                kind="oidc",
                client_id=settings.google_client_id,
                client_secret=settings.google_client_secret.get_secret_value(),
                scopes=GOOGLE_SCOPES,
                issuer=issuer,
                # Google documents both forms of its issuer in ID tokens.
                issuer_aliases=(issuer.removeprefix("https://"),),
            )
        )
    for configured in settings.oidc_providers:
        providers.append(
            OutsideProvider(
                name=configured.name,
                display_name=configured.display_name,
                kind="oidc",
                client_id=configured.client_id,
                client_secret=configured.client_secret.get_secret_value(),
                scopes=configured.scopes,
                issuer=configured.issuer,
            )
        )
    return {provider.name: provider for provider in providers}


def sign_in_buttons(settings: Settings) -> list[dict[str, str]]:
    """The configured providers as the sign-in and sign-up pages show them: their
    templates render ``outside_providers`` (pages/external_buttons.html) when given it."""
    return [
        {"name": p.name, "display_name": p.display_name}
        for p in configured_providers(settings).values()
    ]


def callback_url(settings: Settings, provider: OutsideProvider) -> str:
    """Where the provider sends the browser back: the callback URL to register with it."""
    return (
        f"{settings.public_base_url.rstrip('/')}{API_PREFIX}accounts/external/"
        f"{provider.name}/callback"
    )
