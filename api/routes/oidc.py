"""The OpenID Connect provider's endpoints: discovery, keys, authorize, token, userinfo,
sign-out. None of them takes the hub-token dependency: the hub signs people in through
them, so requiring a hub login here would loop."""

from __future__ import annotations

import logging
from typing import Annotated

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from authlib.oauth2.rfc6749.util import scope_to_list
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from api.accounts.roles import raise_listed_admin
from api.accounts.sessions import current_session, end_session, login_url, safe_next
from api.deps import SessionDep
from api.errors import BadRequest, NotFound, ServiceUnavailable
from api.identity.claims import account_claims
from api.identity.grants import COMMIT_REFUSAL, SignedInUser, Token, digest
from api.identity.provider import IdentityProvider, ProviderStarter
from api.identity.server import StarletteOAuth2Request, read_oauth_request, run_with_session
from api.models.account import Account
from api.models.oidc import OAuthToken

log = logging.getLogger(__name__)

router = APIRouter(tags=["sign-in"], include_in_schema=False)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def get_provider(request: Request) -> IdentityProvider:
    starter: ProviderStarter | None = getattr(request.app.state, "identity_provider", None)
    if starter is None:
        raise NotFound(
            "The platform's own sign-in is not enabled here: the hub signs people in itself "
            "(DATAZENTR_AUTHENTICATOR=native). Set DATAZENTR_AUTHENTICATOR=platform to use it."
        )
    try:
        return await starter.provider()
    except OperationalError:
        raise ServiceUnavailable(
            "Sign-in is not available right now: the platform's database cannot be reached. "
            "Try again in a minute."
        ) from None


ProviderDep = Annotated[IdentityProvider, Depends(get_provider)]


async def _oauth_request(request: Request, provider: IdentityProvider) -> StarletteOAuth2Request:
    try:
        return await read_oauth_request(request, provider.issuer)
    except InsecureTransportError:  # only if the issuer check at start was bypassed
        raise BadRequest(
            "Sign-in needs https: set DATAZENTR_PUBLIC_URL to an https:// address."
        ) from None


@router.get("/.well-known/openid-configuration")
async def discovery(provider: ProviderDep) -> JSONResponse:
    return JSONResponse(provider.metadata, headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth2/jwks")
async def jwks(provider: ProviderDep) -> JSONResponse:
    return JSONResponse(provider.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})


@router.get("/oauth2/authorize")
async def authorize(request: Request, provider: ProviderDep, session: SessionDep) -> Response:
    """Validate the client's request first (an invalid one never reaches the sign-in page),
    then send a signed-out browser to sign in and back here, or issue a code at once:
    the platform's own clients need no consent page."""
    oauth_request = await _oauth_request(request, provider)
    signed_in = await current_session(request, session)
    account = await session.get(Account, signed_in.account_id) if signed_in else None
    if account is not None:
        # An account the operator lists as admin goes to the hub as one (committed below).
        raise_listed_admin(session, request.app.state.settings, account)
    user = SignedInUser(account, signed_in.created_at) if signed_in and account else None
    server = provider.server

    def respond() -> Response:
        try:
            grant = server.get_consent_grant(oauth_request, end_user=user)
        except OAuth2Error as error:
            # Redirected to the client only when client and redirect_uri are valid.
            response: Response = server.handle_error_response(oauth_request, error)
            return response
        if user is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(login_url(here), status_code=303)
        granted: Response = server.create_authorization_response(
            oauth_request, grant_user=user, grant=grant
        )
        return granted

    response = await run_with_session(session, respond)
    await session.commit()
    return response


@router.post("/oauth2/token")
async def token(request: Request, provider: ProviderDep, session: SessionDep) -> Response:
    oauth_request = await _oauth_request(request, provider)
    response: Response = await run_with_session(
        session, lambda: provider.server.create_token_response(oauth_request)
    )
    # The code is spent and the token stored before the client sees the answer; a refusal
    # changes nothing, except a replayed code's revocations.
    keep_refusal = session.sync_session.info.pop(COMMIT_REFUSAL, False)
    if response.status_code == 200 or keep_refusal:
        await session.commit()
    else:
        await session.rollback()
    return response


def _invalid_token(description: str) -> Response:
    return JSONResponse(
        {"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


@router.api_route("/oauth2/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request, _: ProviderDep, session: SessionDep) -> Response:
    scheme, _sep, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer realm="userinfo"'})
    row = await session.scalar(
        select(OAuthToken).where(OAuthToken.access_token_hash == digest(value.strip()))
    )
    if row is None or Token(row).is_revoked() or Token(row).is_expired():
        return _invalid_token("The access token is unknown, expired or revoked.")
    if "openid" not in scope_to_list(row.scope):
        return _invalid_token("The access token was not granted the openid scope.")
    account = await session.get(Account, row.account_id)
    if account is None or account.disabled_at is not None:
        return _invalid_token("The account is disabled.")
    return JSONResponse(account_claims(account, row.scope), headers=_NO_STORE)


@router.get("/oauth2/logout")
async def logout(
    request: Request,
    _: ProviderDep,
    session: SessionDep,
    post_logout_redirect_uri: Annotated[str | None, Query(max_length=2000)] = None,
) -> Response:
    """Sign the browser out of the platform (RP-initiated logout); then to a platform page
    (``post_logout_redirect_uri`` if it is one), else the sign-in page."""
    wanted = post_logout_redirect_uri
    target = wanted if wanted and safe_next(wanted) == wanted else login_url("/hub/")
    response = RedirectResponse(target, status_code=303)
    await end_session(request, response, session)
    return response
