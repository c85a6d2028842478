"""The grants the provider offers: authorization code with PKCE (S256, every client) and
OpenID Connect id_tokens, and refresh tokens that rotate. Their storage is the request's
database session (``db()``); Authlib sees rows through the small adapters below."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode
from sqlalchemy import delete, select, update

from api.identity.claims import account_claims
from api.identity.keys import ALGORITHM, SigningKeys
from api.identity.server import db
from api.models.account import Account
from api.models.oidc import OAuthAuthorizationCode, OAuthClient, OAuthToken

# RFC 6749 §4.1.2: a code lives at most ten minutes; this one is redeemed in seconds.
CODE_LIFETIME = timedelta(minutes=5)
ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_LIFETIME = timedelta(days=30)
# The hub sends its client secret in the form body unless told otherwise.
TOKEN_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]
# Set in the database session's info when a token request must be committed although it
# is refused: a replayed code's revocations.
COMMIT_REFUSAL = "commit_refused_token_request"


def digest(value: str) -> str:
    """What is stored of a code, token or secret: its SHA-256 (they are long and random)."""
    return hashlib.sha256(value.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC)


class Client(ClientMixin):  # type: ignore[misc]
    """A registered client, as Authlib asks about it."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.row.redirect_uris[0] if self.row.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        allowed = set(self.row.scope.split())
        return str(list_to_scope([s for s in scope_to_list(scope) if s in allowed]))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(self.row.secret_hash, digest(client_secret))

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method in self.row.token_endpoint_auth_methods
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


def find_client(client_id: str | None) -> Client | None:
    if not client_id:
        return None
    row = db().get(OAuthClient, client_id)
    return Client(row) if row else None


class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthAuthorizationCode) -> None:
        self.row = row
        # Authlib's PKCE extension reads these two attributes.
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())


class Token(TokenMixin):  # type: ignore[misc]
    def __init__(self, row: OAuthToken) -> None:
        self.row = row

    def check_client(self, client: Client) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.row.access_expires_at - now()).total_seconds()))

    def is_expired(self) -> bool:
        return self.row.access_expires_at <= now()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


def active_account(account_id: Any) -> Account | None:
    account = db().get(Account, account_id)
    if account is None or account.disabled_at is not None:
        return None
    return account


class SignedInUser:
    """The account a browser is signed in as, and since when (the id_token's auth_time)."""

    def __init__(self, account: Account, auth_time: datetime) -> None:
        self.account = account
        self.auth_time = auth_time

    def get_user_id(self) -> str:
        return str(self.account.id)


class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = TOKEN_AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        user: SignedInUser = request.user
        data = request.payload.data
        session = db()
        # Codes nobody redeemed are of no use once expired.
        session.execute(
            delete(OAuthAuthorizationCode).where(OAuthAuthorizationCode.expires_at < now())
        )
        session.add(
            OAuthAuthorizationCode(
                code_hash=digest(code),
                client_id=request.client.get_client_id(),
                account_id=user.account.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=data.get("nonce"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                auth_time=user.auth_time,
                expires_at=now() + CODE_LIFETIME,
            )
        )
        session.flush()

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        # FOR UPDATE: a second redemption of the same code waits for the first to commit,
        # then finds the code gone.
        row = db().scalar(
            select(OAuthAuthorizationCode)
            .where(OAuthAuthorizationCode.code_hash == digest(code))
            .with_for_update()
        )
        if row is None or row.client_id != client.get_client_id() or row.expires_at <= now():
            return None
        if row.used_at is not None:
            revoke_tokens_of_code(row.code_hash)
            return None
        return AuthorizationCode(row)

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        # Marked, not deleted: a replay before it expires revokes what it issued.
        authorization_code.row.used_at = now()
        db().flush()

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Account | None:
        return active_account(authorization_code.row.account_id)


def revoke_tokens_of_code(code_hash: str) -> None:
    """A redeemed code came again: someone else has it. RFC 6749 §4.1.2 — revoke every
    token issued from it (and the refreshes since), and keep that although the request
    is refused."""
    session = db()
    session.execute(
        update(OAuthToken)
        .where(OAuthToken.code_hash == code_hash, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )
    session.info[COMMIT_REFUSAL] = True


def code_of(request: Any) -> str | None:
    """The authorization code a token request's new token descends from."""
    code: AuthorizationCode | None = getattr(request, "authorization_code", None)
    if code is not None:
        return code.row.code_hash
    refreshed: Token | None = getattr(request, "refresh_token", None)
    return refreshed.row.code_hash if refreshed is not None else None


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    # Authlib's default is client_secret_basic only; the hub refreshes as it redeemed.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = TOKEN_AUTH_METHODS
    # Rotation: each refresh returns a new refresh token and revokes the old pair.
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        row = db().scalar(
            select(OAuthToken)
            .where(OAuthToken.refresh_token_hash == digest(refresh_token))
            .with_for_update()
        )
        if row is None or row.revoked_at is not None:
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= now():
            return None
        # A disabled account's refresh token is as good as revoked (invalid_grant).
        if active_account(row.account_id) is None:
            return None
        return Token(row)

    def authenticate_user(self, refresh_token: Token) -> Account | None:
        return active_account(refresh_token.row.account_id)

    def revoke_old_credential(self, refresh_token: Token) -> None:
        refresh_token.row.revoked_at = now()
        db().flush()


class RequireS256(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, S256 only.

    Authlib's ``CodeChallenge(required=True)`` requires it only of public clients; the
    platform requires it of confidential ones (the hub) too."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE (S256) is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class PlatformOpenIDCode(OpenIDCode):  # type: ignore[misc]
    """id_tokens signed RS256 with the current key, naming the issuer and the client."""

    def __init__(self, issuer: str, keys: SigningKeys) -> None:
        # The hub sends no nonce; a nonce that is sent is checked against replays.
        super().__init__(require_nonce=False)
        self.issuer = issuer
        self.keys = keys

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        found = db().scalar(
            select(OAuthAuthorizationCode.code_hash)
            .where(
                OAuthAuthorizationCode.client_id == request.payload.client_id,
                OAuthAuthorizationCode.nonce == nonce,
            )
            .limit(1)
        )
        return found is not None

    def resolve_client_private_key(self, client: Client) -> Any:
        return self.keys.current

    def get_client_algorithm(self, client: Client) -> str:
        return ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        # joserfc names the key only when signing with a key set: name it here.
        return {"alg": ALGORITHM, "kid": str(self.keys.current.kid)}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        # Without this Authlib writes no "iss" (it reads only the deprecated config).
        return {"iss": self.issuer, "aud": [client.get_client_id()]}

    def generate_user_info(self, user: Account, scope: str) -> dict[str, Any]:
        return account_claims(user, scope)
