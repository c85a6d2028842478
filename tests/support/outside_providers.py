"""Outside identity providers on loopback, as real HTTP servers the api reaches over HTTP.

- ``oidc_mock()``: oidc-provider-mock 0.3.4 (a real OpenID Connect provider: discovery,
  authorisation code, RS256 ID tokens, JWKS, userinfo), served on 127.0.0.1 with werkzeug;
  ``tamper_signature=True`` spoils every ID token's signature on its way out.
- ``github_fake()``: GitHub's OAuth endpoints and REST API (``/login/oauth/authorize``,
  ``/login/oauth/access_token``, ``/api/v3/user``, ``/api/v3/user/emails`` as on GitHub
  Enterprise Server) with GitHub's request and response shapes, as oauthenticator's own
  tests mock them: errors from the token endpoint come as HTTP 200 with ``error``.
- ``google_fake()``: Google's OpenID Connect endpoints (discovery, ``/o/oauth2/v2/auth``,
  ``/token``, ``/oauth2/v3/certs``, ``/v1/userinfo``) with Google's claims; ``tamper`` makes
  its ID tokens wrong in one way (issuer, audience, signature).

The fakes check what a real provider checks: the client's id and secret, the redirect URI,
single-use codes, and the PKCE verifier against the S256 challenge.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import werkzeug.serving
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from api.core.config import OidcProviderSettings, Settings
from tests.support.accounts import PAGES
from tests.support.asgi import serve_app

with warnings.catch_warnings():
    # Its own import of Authlib's older JOSE module.
    warnings.simplefilter("ignore", DeprecationWarning)
    import oidc_provider_mock

HOST = "127.0.0.1"


class _QuietHandler(werkzeug.serving.WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# oidc-provider-mock ------------------------------------------------------------------------


@dataclass
class OidcMock:
    issuer: str

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """The claims the provider gives ``sub`` from now on."""
        response = httpx.put(f"{self.issuer}/users/{sub}", json=claims, timeout=30)
        assert response.status_code == 204, response.text

    async def sign_in(self, authorize_url: str, sub: str) -> str:
        """The person signs in at the provider as ``sub``; the URL it sends them back to."""
        async with httpx.AsyncClient(timeout=30) as browser:
            form = await browser.get(authorize_url)
            assert form.status_code == 200 and 'name="sub"' in form.text, form.text
            answer = await browser.post(authorize_url, data={"sub": sub})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    async def deny(self, authorize_url: str) -> str:
        async with httpx.AsyncClient(timeout=30) as browser:
            answer = await browser.post(authorize_url, data={"action": "deny"})
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def _spoil_id_tokens(app: Any) -> Any:
    """WSGI middleware: the token endpoint's ID tokens get a signature that is not theirs."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/oauth2/token":
            result: Iterable[bytes] = app(environ, start_response)
            return result
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(app(environ, capture))
        token = json.loads(body)
        if "id_token" in token:
            head, payload, signature = token["id_token"].split(".")
            flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
            token["id_token"] = f"{head}.{payload}.{flipped}"
        body = json.dumps(token).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return wrapped


@contextmanager
def oidc_mock(*, tamper_signature: bool = False) -> Iterator[OidcMock]:
    """oidc-provider-mock on 127.0.0.1 (its own ``run_server_in_thread`` binds "localhost";
    the issuer is the Host it is reached by, so the address must be one spelling)."""
    app = oidc_provider_mock.app(require_nonce=True)
    wsgi = _spoil_id_tokens(app) if tamper_signature else app
    server = werkzeug.serving.make_server(
        HOST, 0, wsgi, threaded=True, request_handler=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield OidcMock(f"http://{HOST}:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(10)


# GitHub and Google fakes: what both share ----------------------------------------------------


@dataclass
class _Grant:
    person: Any
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    scope: str


@dataclass
class _FakeProvider:
    client_id: str
    client_secret: str
    base_url: str = ""
    deny: bool = False
    person: Any = None
    grants: dict[str, _Grant] = field(default_factory=dict)
    tokens: dict[str, Any] = field(default_factory=dict)
    # What the api sent, for the tests to look at.
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def authorize(self, request: Request, *, nonce_param: bool) -> Response:
        query = dict(request.query_params)
        self.authorize_requests.append(query)
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri:
            return Response("unknown client or redirect_uri", status_code=400)
        state = query.get("state", "")
        if self.deny:
            back = {
                "error": "access_denied",
                "error_description": "The user denied access.",
                "state": state,
            }
            return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return Response("PKCE S256 expected", status_code=400)
        code = secrets.token_urlsafe(16)
        self.grants[code] = _Grant(
            person=self.person,
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            code_challenge=query["code_challenge"],
            nonce=query.get("nonce") if nonce_param else None,
            scope=query.get("scope", ""),
        )
        back = {"code": code, "state": state}
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)

    async def redeem(self, request: Request) -> tuple[_Grant | None, str | None]:
        """The grant a token request redeems (once), or the OAuth error code."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        self.token_requests.append(form)
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return None, "incorrect_client_credentials"
        grant = self.grants.pop(form.get("code", ""), None)
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return None, "bad_verification_code"
        if s256(form.get("code_verifier", "")) != grant.code_challenge:
            return None, "invalid_grant"
        return grant, None

    def bearer(self, request: Request) -> Any:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.tokens.get(token)


# GitHub ----------------------------------------------------------------------------------


@dataclass
class GitHubPerson:
    id: int
    login: str
    name: str | None
    # [{"email", "primary", "verified", "visibility"}], as GET /user/emails answers.
    emails: list[dict[str, Any]]


@dataclass
class GitHubFake(_FakeProvider):
    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v3"

    async def browse(self, authorize_url: str) -> str:
        """The person approves at GitHub; the URL GitHub sends them back to."""
        async with httpx.AsyncClient(timeout=30) as browser:
            answer = await browser.get(authorize_url)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]


def _github_app(fake: GitHubFake) -> Starlette:
    async def authorize(request: Request) -> Response:
        return fake.authorize(request, nonce_param=False)

    async def access_token(request: Request) -> Response:
        grant, error = await fake.redeem(request)
        if grant is None:
            # GitHub answers token errors with 200 and an error body.
            return JSONResponse(
                {
                    "error": error,
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/troubleshooting",
                }
            )
        token = "gho_" + secrets.token_urlsafe(27)
        fake.tokens[token] = grant.person
        scope = ",".join(grant.scope.split())
        return JSONResponse({"access_token": token, "token_type": "bearer", "scope": scope})

    def unauthorised() -> Response:
        return JSONResponse(
            {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"},
            status_code=401,
        )

    async def user(request: Request) -> Response:
        person: GitHubPerson | None = fake.bearer(request)
        if person is None:
            return unauthorised()
        public = next((e["email"] for e in person.emails if e.get("visibility") == "public"), None)
        return JSONResponse(
            {
                "login": person.login,
                "id": person.id,
                "node_id": f"MDQ6VXNlcj{person.id}",
                "avatar_url": f"https://avatars.githubusercontent.com/u/{person.id}?v=4",
                "type": "User",
                "site_admin": False,
                "name": person.name,
                "email": public,
                "created_at": "2011-01-25T18:44:36Z",
            }
        )

    async def emails(request: Request) -> Response:
        person: GitHubPerson | None = fake.bearer(request)
        if person is None:
            return unauthorised()
        return JSONResponse(person.emails)

    return Starlette(
        routes=[
            Route("/login/oauth/authorize", authorize),
            Route("/login/oauth/access_token", access_token, methods=["POST"]),
            Route("/api/v3/user", user),
            Route("/api/v3/user/emails", emails),
        ]
    )


@contextmanager
def github_fake() -> Iterator[GitHubFake]:
    fake = GitHubFake(client_id="Iv1.test-client", client_secret="gh-" + secrets.token_hex(8))
    with serve_app(_github_app(fake)) as base_url:
        fake.base_url = base_url
        yield fake


# Google ----------------------------------------------------------------------------------


@dataclass
class GooglePerson:
    sub: str
    email: str
    email_verified: bool
    name: str
    hd: str | None = None


@dataclass
class GoogleFake(_FakeProvider):
    # "", "issuer", "audience" or "signature": what is wrong with the ID tokens it issues.
    tamper: str = ""
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))

    async def browse(self, authorize_url: str) -> str:
        async with httpx.AsyncClient(timeout=30) as browser:
            answer = await browser.get(authorize_url)
        assert answer.status_code == 302, answer.text
        return answer.headers["location"]

    def id_token(self, grant: _Grant, access_token: str) -> str:
        person: GooglePerson = grant.person
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "https://evil.example" if self.tamper == "issuer" else self.base_url,
            "azp": self.client_id,
            "aud": "another-client" if self.tamper == "audience" else self.client_id,
            "sub": person.sub,
            "email": person.email,
            "email_verified": person.email_verified,
            "at_hash": create_half_hash(access_token, "RS256").decode(),
            "name": person.name,
            "picture": "https://lh3.googleusercontent.com/a/photo",
            "given_name": person.name.split()[0],
            "iat": now,
            "exp": now + 3600,
        }
        if person.hd:
            claims["hd"] = person.hd
        if grant.nonce:
            claims["nonce"] = grant.nonce
        key = self.key
        if self.tamper == "signature":
            # Same key id, another key: the published key does not verify it.
            key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)


def _google_app(fake: GoogleFake) -> Starlette:
    async def discovery(request: Request) -> Response:
        base = fake.base_url
        return JSONResponse(
            {
                "issuer": base,
                "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
                "device_authorization_endpoint": f"{base}/device/code",
                "token_endpoint": f"{base}/token",
                "userinfo_endpoint": f"{base}/v1/userinfo",
                "revocation_endpoint": f"{base}/revoke",
                "jwks_uri": f"{base}/oauth2/v3/certs",
                "response_types_supported": ["code", "token", "id_token", "code id_token"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "claims_supported": [
                    "aud",
                    "email",
                    "email_verified",
                    "exp",
                    "family_name",
                    "given_name",
                    "iat",
                    "iss",
                    "name",
                    "picture",
                    "sub",
                ],
                "code_challenge_methods_supported": ["plain", "S256"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
            }
        )

    async def authorize(request: Request) -> Response:
        return fake.authorize(request, nonce_param=True)

    async def token(request: Request) -> Response:
        grant, error = await fake.redeem(request)
        if grant is None:
            return JSONResponse(
                {
                    "error": "invalid_grant"
                    if error != "incorrect_client_credentials"
                    else "invalid_client",
                    "error_description": "Bad Request",
                },
                status_code=400 if error != "incorrect_client_credentials" else 401,
            )
        access_token = "ya29." + secrets.token_urlsafe(40)
        fake.tokens[access_token] = grant.person
        return JSONResponse(
            {
                "access_token": access_token,
                "expires_in": 3599,
                "scope": grant.scope,
                "token_type": "Bearer",
                "id_token": fake.id_token(grant, access_token),
            }
        )

    async def certs(request: Request) -> Response:
        return JSONResponse(KeySet([fake.key]).as_dict(private=False))

    async def userinfo(request: Request) -> Response:
        person: GooglePerson | None = fake.bearer(request)
        if person is None:
            return JSONResponse({"error": "invalid_request"}, status_code=401)
        return JSONResponse(
            {
                "sub": person.sub,
                "name": person.name,
                "given_name": person.name.split()[0],
                "picture": "https://lh3.googleusercontent.com/a/photo",
                "email": person.email,
                "email_verified": person.email_verified,
                **({"hd": person.hd} if person.hd else {}),
            }
        )

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/o/oauth2/v2/auth", authorize),
            Route("/token", token, methods=["POST"]),
            Route("/oauth2/v3/certs", certs),
            Route("/v1/userinfo", userinfo),
        ]
    )


@contextmanager
def google_fake() -> Iterator[GoogleFake]:
    fake = GoogleFake(
        client_id="1234-test.apps.googleusercontent.com",
        client_secret="GOCSPX-" + secrets.token_hex(8),
    )
    with serve_app(_google_app(fake)) as base_url:
        fake.base_url = base_url
        yield fake


# The api's side ----------------------------------------------------------------------------


def with_oidc_provider(
    settings: Settings, issuer: str, *, name: str = "campus", display_name: str = "Campus SSO"
) -> Settings:
    """``settings`` offering the OpenID Connect provider at ``issuer``."""
    provider = OidcProviderSettings(
        name=name,
        display_name=display_name,
        issuer=issuer,
        client_id="datazentr",
        client_secret=SecretStr("campus-secret"),
    )
    return settings.model_copy(update={"oidc_providers": [*settings.oidc_providers, provider]})


def with_github(settings: Settings, fake: GitHubFake) -> Settings:
    return settings.model_copy(
        update={
            "github_client_id": fake.client_id,
            "github_client_secret": SecretStr(fake.client_secret),
            "github_url": fake.base_url,
            "github_api_url": fake.api_url,
        }
    )


def with_google(settings: Settings, fake: GoogleFake) -> Settings:
    return settings.model_copy(
        update={
            "google_client_id": fake.client_id,
            "google_client_secret": SecretStr(fake.client_secret),
            "google_issuer": fake.base_url,
        }
    )


async def start_sign_in(
    browser: httpx.AsyncClient, provider: str, *, next: str = "/hub/home", link: str = ""
) -> str:
    """Press "Continue with <provider>" (or "Link"): the provider's authorize URL."""
    params = {"link": link} if link else {"next": next}
    answer = await browser.get(f"{PAGES}/external/{provider}/start", params=params)
    assert answer.status_code == 303, answer.text
    location = answer.headers["location"]
    assert location.startswith("http://127.0.0.1:"), location
    return location


async def come_back(browser: httpx.AsyncClient, callback_url: str) -> httpx.Response:
    """The provider's redirect back to the api, opened in the api's browser."""
    parts = urlsplit(callback_url)
    assert parts.path.startswith(f"{PAGES}/external/"), callback_url
    return await browser.get(f"{parts.path}?{parts.query}")
