"""Personal API tokens: the person's own JupyterHub tokens, made on the platform's page.

A person picks what a token may do from a short list (each a hub scope, ``!user`` meaning
their own) and how long it lasts. The hub checks every token against its owner: it never
grants a scope the person does not hold, and says so; ``refusal_message`` turns its answers
into sentences for the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jupyterhub.scopes import scope_definitions

from api.accounts.errors import FormError
from api.accounts.hub_client import HubRefused
from api.core.names import API_SERVICE

MAX_NOTE_LENGTH = 200
DAY_SECONDS = 24 * 3600
# A hub token id: "a" and the row's number (JupyterHub's api_id).
TOKEN_ID = re.compile(r"^a[0-9]{1,18}$")


@dataclass(frozen=True)
class ScopeChoice:
    key: str
    scope: str
    label: str
    hint: str


SCOPE_CHOICES = (
    ScopeChoice(
        "api",
        f"access:services!service={API_SERVICE}",
        "Call the platform API",
        "Projects, patterns, the assistant and usage, as you (for scripts and CI).",
    ),
    ScopeChoice(
        "servers",
        "access:servers!user",
        "Use your servers",
        "Open JupyterLab and call the Jupyter server API of your running servers.",
    ),
    ScopeChoice(
        "manage_servers",
        "servers!user",
        "Start and stop your servers",
        "Through the hub's REST API.",
    ),
    ScopeChoice(
        "read_user",
        "read:users!user",
        "Read your hub user",
        "Your name, groups, servers and activity.",
    ),
    ScopeChoice(
        "everything",
        "inherit",
        "Everything you can do",
        "All of the above and whatever else your account may do now or later "
        "(for admins, that includes managing the platform). Keep such a token very safe.",
    ),
)
SCOPE_BY_KEY = {choice.key: choice for choice in SCOPE_CHOICES}
DEFAULT_SCOPES = ("api",)

# How long a new token lasts: key -> (label, days; None: until revoked).
EXPIRY_CHOICES: dict[str, tuple[str, int | None]] = {
    "7": ("7 days", 7),
    "30": ("30 days", 30),
    "90": ("90 days", 90),
    "365": ("1 year", 365),
    "never": ("Until I revoke it", None),
}
DEFAULT_EXPIRY = "30"


@dataclass(frozen=True)
class TokenRequest:
    note: str
    scopes: list[str]
    expires_in_seconds: int | None


def scope_field(key: str) -> str:
    """The form's checkbox for a scope choice (one field each: forms keep one value a name)."""
    return f"scope_{key}"


def read_token_request(fields: dict[str, str]) -> TokenRequest:
    """The token a person asked for; ``FormError`` for a field that cannot be used."""
    note = fields.get("note", "").strip()
    if not note:
        raise FormError("note", "Say what the token is for, e.g. “laptop scripts”.")
    if len(note) > MAX_NOTE_LENGTH:
        raise FormError("note", f"Use at most {MAX_NOTE_LENGTH} characters.")
    scopes = [
        choice.scope for choice in SCOPE_CHOICES if fields.get(scope_field(choice.key)) == "yes"
    ]
    if not scopes:
        raise FormError("scopes", "Choose at least one thing the token may do.")
    if "inherit" in scopes:
        scopes = ["inherit"]  # everything already includes the rest
    expiry = EXPIRY_CHOICES.get(fields.get("expires", ""))
    if expiry is None:
        raise FormError("expires", "Choose how long the token lasts.")
    days = expiry[1]
    return TokenRequest(note, scopes, days * DAY_SECONDS if days is not None else None)


def _with_subscopes(scope: str) -> set[str]:
    """``scope`` and every scope it includes, with the same filter."""
    name, bang, filter_ = scope.partition("!")
    found = {scope}
    for sub in scope_definitions.get(name, {}).get("subscopes", []):
        found |= _with_subscopes(f"{sub}{bang}{filter_}")
    return found


def describe_scopes(scopes: list[str], username: str) -> tuple[list[str], list[str]]:
    """What a token may do: the labels of the choices it holds, and its other scopes as the
    hub spells them. The hub lists a token's scopes expanded (``!user`` as
    ``!user=<name>``, each scope with those it includes)."""
    held = set(scopes)
    labels: list[str] = []
    covered: set[str] = set()
    for choice in SCOPE_CHOICES:
        if choice.scope == "inherit":
            continue
        expanded = choice.scope.replace("!user", f"!user={username}")
        if expanded in held or choice.scope in held:
            labels.append(choice.label)
            covered |= _with_subscopes(expanded) | _with_subscopes(choice.scope)
    return labels, sorted(held - covered)


_NOT_HELD = re.compile(r"Not assigning requested scopes (?P<scopes>\S+) not held by")
_TOO_LONG = re.compile(r"must not exceed (?P<seconds>[0-9]+)")


def refusal_message(refusal: HubRefused) -> tuple[str, str]:
    """(field, sentence) for the hub's refusal of a new token."""
    if match := _NOT_HELD.search(refusal.reason):
        held = ", ".join(sorted(set(match["scopes"].split(","))))
        return (
            "scopes",
            "Your account may not do some of this, so a token cannot either "
            f"(the hub refused: {held}). Choose less.",
        )
    if match := _TOO_LONG.search(refusal.reason):
        days = int(match["seconds"]) // DAY_SECONDS
        limit = f"{days} days" if days >= 1 else f"{match['seconds']} seconds"
        return "expires", f"This platform allows tokens for at most {limit}; choose less."
    return "note", f"The hub refused this token: {refusal.reason}"
