"""Single sign-on for an organisation: its own OpenID Connect provider (issuer, client id
and secret), which people at its e-mail domains are sent to from the sign-in page.

The provider is an ``OutsideProvider`` named ``org-<slug>``, built from the organisation's
row, so the outside sign-in pages (``api.accounts.external``) start and finish the sign-in
with it as with any other: discovery, code and PKCE, the ID token verified. What differs
is what its answer does (``sign_in``):

1. The address it gives must be at one of the organisation's domains that a platform
   admin approved (``routed_domains``); for those the organisation's provider vouches,
   whatever its ``email_verified`` says.
2. An identity already linked signs its account in, if the account is still a member of
   the organisation; otherwise its owner confirms by mail first (as in 3).
3. A confirmed account with the address that is a member of the organisation is signed
   in and the identity linked. Any other account with the address is asked by mail to
   confirm the link first (the organisation's admins choose its domains and its provider;
   they do not get to sign in to accounts that are not in their organisation).
4. No account has the address: one is made just in time, its address confirmed.

A platform admin is never signed in by an organisation's provider, member or not: they
confirm by mail each time (an organisation's admins must not hold a way into the platform's
administration). A changed issuer or client id unlinks every identity of the organisation's
provider: the links were made with another provider, whose subjects say nothing about the
new one's; members link again on their next sign-in (rule 3).

The platform contacts an issuer only over https and at public addresses (its host, and the
token, signing-key and userinfo endpoints its discovery document names), unless
``sso_allow_private_issuers`` is on (testing, closed networks): an organisation's admins
must not make the platform fetch from its own loopback or private network.

A person in no organisation who signs in this way becomes a member (role member) if a seat
is free; a full organisation refuses, naming its admins. The client secret is kept
encrypted with a key derived from the platform's secret key.

Domain approval: an organisation's admins list its domains themselves, and nothing proves
the organisation owns them (a listed ``gmail.com`` would pull everyone there to its
provider). So the platform's admins, the operator's own people, approve each domain
(``approve_domains``); until then an address there signs in as any other does (password,
mailed link) and the provider's answer for it is refused. A domain dropped from
``email_domains`` loses its approval (``membership.update_settings``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.common.security import is_secure_transport
from cryptography.fernet import InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import service
from api.accounts.errors import SignInFailed
from api.accounts.external import linking, oauth, oidc
from api.accounts.external.identity import OutsideIdentity, OutsideSignInFailed
from api.accounts.external.providers import OutsideProvider
from api.accounts.mail import Mailer
from api.accounts.roles import is_platform_admin, listed_usernames
from api.accounts.sessions import ACCOUNTS_PREFIX
from api.core.config import Settings
from api.core.tenancy import Scope, set_scope
from api.errors import ApiError, InvalidInput
from api.events import append_event
from api.identity.keys import fernet_for
from api.models import Account, AccountIdentity, Tenant
from api.organisations import membership

log = logging.getLogger(__name__)

PROVIDER_PREFIX = "org-"
# account_identities.provider holds the provider's name.
MAX_PROVIDER_NAME = 64
SCOPES = ("openid", "email", "profile")
MAX_ISSUER_LENGTH = 500
MAX_CLIENT_ID_LENGTH = 255
# "Test connection" waits this long for each answer.
TEST_TIMEOUT = httpx.Timeout(5.0)
_PURPOSE = "datazentr-organisation-sso-secret"
_ENDPOINTS = {
    "authorization_endpoint": "sign-in (authorization_endpoint)",
    "token_endpoint": "token (token_endpoint)",
    "jwks_uri": "signing keys (jwks_uri)",
}
# The discovery document's endpoints the platform itself fetches (the sign-in endpoint is
# the browser's to visit).
_FETCHED = {
    "token_endpoint": "The token endpoint",
    "jwks_uri": "The signing keys' address (jwks_uri)",
    "userinfo_endpoint": "The userinfo endpoint",
}


# The provider ---------------------------------------------------------------------------------


def provider_name(tenant: Tenant) -> str:
    return f"{PROVIDER_PREFIX}{tenant.slug}"


def service_name(tenant: Tenant) -> str:
    """How pages name the organisation's provider."""
    return f"{tenant.name}'s sign-in service"


def encrypt_secret(settings: Settings, secret: str) -> str:
    fernet = fernet_for(settings.api_secret_key(), _PURPOSE)
    return fernet.encrypt(secret.encode()).decode()


def decrypt_secret(settings: Settings, encrypted: str | None) -> str | None:
    """The client secret, or None if there is none or it was kept under another secret key
    (the platform's secret key changed: the admins enter the secret again)."""
    if not encrypted:
        return None
    try:
        return fernet_for(settings.api_secret_key(), _PURPOSE).decrypt(encrypted.encode()).decode()
    except InvalidToken:
        return None


def is_configured(settings: Settings, tenant: Tenant) -> bool:
    return bool(
        tenant.sso_issuer
        and tenant.sso_client_id
        and decrypt_secret(settings, tenant.sso_client_secret_encrypted)
    )


async def _admins(session: AsyncSession, tenant: Tenant) -> list[str]:
    async with membership.across_organisations(session):
        return await membership.admin_names(session, tenant)


def _ask(admins: list[str]) -> str:
    return f"its admins ({', '.join(admins)})" if admins else "the platform's operator"


async def provider_of(
    session: AsyncSession, settings: Settings, tenant: Tenant
) -> OutsideProvider | None:
    """The organisation's provider, if single sign-on is on and complete."""
    secret = decrypt_secret(settings, tenant.sso_client_secret_encrypted)
    if not (tenant.sso_enabled and tenant.sso_issuer and tenant.sso_client_id and secret):
        return None
    ask = _ask(await _admins(session, tenant))
    provider = OutsideProvider(
        name=provider_name(tenant),
        display_name=service_name(tenant),
        kind="oidc",
        client_id=tenant.sso_client_id,
        client_secret=secret,
        scopes=SCOPES,
        issuer=tenant.sso_issuer,
        organisation=tenant.slug,
        unavailable_message=(
            f"{service_name(tenant)} does not answer, so you cannot sign in through it now. "
            f"Try again later, or ask {ask}."
        ),
    )
    if settings.sso_allow_private_issuers:
        return provider
    problem = await _checked_discovery(provider)
    if problem is None:
        return provider
    log.warning("%s: single sign-on stopped: %s", provider.name, problem)
    # An issuer nobody fetches from: the sign-in stops at discovery, saying why.
    return replace(
        provider,
        issuer=_NOT_FETCHED,
        unavailable_message=(
            f"You cannot sign in through {service_name(tenant)}: {problem} Ask {ask}."
        ),
    )


# An address no http client fetches (not http or https).
_NOT_FETCHED = "refused:"


async def _checked_discovery(provider: OutsideProvider) -> str | None:
    """Why the platform must not contact ``provider`` (its issuer, or an endpoint of its
    discovery document at a non-public address), or None. The document checked is the one
    the sign-in then uses (kept in the sign-in's cache)."""
    problem = await address_problem(provider.issuer, "The issuer's address")
    if problem:
        return problem
    cached = oidc._cache.get(provider.discovery_url)
    if cached is None or time.monotonic() - cached.fetched_at >= oidc.METADATA_MAX_AGE_SECONDS:
        async with oauth.http_client() as http:
            try:
                response = await http.get(provider.discovery_url)
            except httpx.HTTPError:
                return None  # the sign-in says it does not answer
        metadata = oauth.json_body(response) if response.status_code == 200 else None
        if metadata is None or oidc._metadata_problem(provider, metadata):
            return None  # the sign-in refuses it, with its reason logged
        cached = oidc._Provider(metadata=metadata, keys=None, fetched_at=time.monotonic())
        oidc._cache[provider.discovery_url] = cached
    for key, label in _FETCHED.items():
        value = cached.metadata.get(key)
        if isinstance(value, str) and (problem := await address_problem(value, label)):
            oidc._cache.pop(provider.discovery_url, None)
            return problem
    return None


async def provider_named(
    session: AsyncSession, settings: Settings, name: str
) -> OutsideProvider | None:
    """The provider called ``name`` (``org-<slug>``), if that organisation uses one."""
    if not name.startswith(PROVIDER_PREFIX):
        return None
    tenant = await session.scalar(
        select(Tenant).where(Tenant.slug == name.removeprefix(PROVIDER_PREFIX))
    )
    return await provider_of(session, settings, tenant) if tenant else None


# Approved domains ------------------------------------------------------------------------------


def routed_domains(tenant: Tenant) -> list[str]:
    """The organisation's domains whose people its provider serves: listed by its admins
    and approved by a platform admin."""
    approved = set(tenant.sso_approved_domains or ())
    return [domain for domain in tenant.email_domains if domain in approved]


def waiting_domains(tenant: Tenant) -> list[str]:
    """The organisation's domains no platform admin has approved yet."""
    approved = set(tenant.sso_approved_domains or ())
    return [domain for domain in tenant.email_domains if domain not in approved]


async def locked_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    """The organisation with the short name ``slug``, locked (the caller's scope must
    see it: a platform admin's does)."""
    tenant: Tenant | None = await session.scalar(
        select(Tenant)
        .where(Tenant.slug == slug)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return tenant


async def approve_domains(
    session: AsyncSession, tenant: Tenant, domains: list[str], *, actor: str
) -> Tenant:
    """Make ``domains`` the organisation's approved ones (a platform admin, ``actor``,
    vouches that it owns them). Each must be one of its ``email_domains``, and none may be
    approved for another organisation: ``InvalidInput`` naming it. Commits."""
    wanted: list[str] = []
    for value in domains:
        domain = value.strip().removeprefix("@").lower().rstrip(".")
        if domain not in tenant.email_domains:
            raise InvalidInput.at(
                "domains",
                f"{value} is not one of {tenant.name}'s e-mail domains "
                f"({', '.join(tenant.email_domains) or 'none listed'}); its admins list "
                "its domains in its settings.",
            )
        if domain not in wanted:
            wanted.append(domain)
    others = await session.scalars(
        select(Tenant).where(Tenant.id != tenant.id, Tenant.sso_approved_domains.overlap(wanted))
    )
    for other in others:
        shared = sorted(set(other.sso_approved_domains) & set(wanted))
        raise InvalidInput.at(
            "domains",
            f"{', '.join(shared)} is approved for single sign-on through {other.name} "
            f"({other.slug}) already; revoke it there first.",
        )
    before = list(tenant.sso_approved_domains or ())
    tenant.sso_approved_domains = wanted
    tenant.sso_approved_by, tenant.sso_approved_at = actor, datetime.now(UTC)
    append_event(
        session,
        stream=f"tenant:{tenant.slug}",
        type="tenant.sso_domains_approved",
        actor=actor,
        payload={
            "tenant": tenant.slug,
            "domains": wanted,
            "approved": [domain for domain in wanted if domain not in before],
            "revoked": [domain for domain in before if domain not in wanted],
        },
        tenant_id=tenant.id,
    )
    await session.commit()
    log.info("%s approved single sign-on of %s for %s", actor, tenant.slug, wanted)
    return tenant


async def organisation_for_email(session: AsyncSession, email: str) -> Tenant | None:
    """The organisation with single sign-on on that serves ``email``'s domain: one of its
    domains, approved by a platform admin."""
    domain = membership.email_domain(email.strip())
    if "@" not in email or not domain:
        return None
    tenant: Tenant | None = await session.scalar(
        select(Tenant)
        .where(
            Tenant.sso_enabled,
            Tenant.email_domains.contains([domain]),
            Tenant.sso_approved_domains.contains([domain]),
        )
        .order_by(Tenant.created_at)
        .limit(1)
    )
    return tenant


@dataclass(frozen=True)
class SsoStart:
    """Where the sign-in page sends an address at ``domain``: ``url`` starts the sign-in at
    ``organisation``'s provider."""

    organisation: str
    domain: str
    url: str


async def sign_in_start(
    session: AsyncSession, settings: Settings, email: str, next_url: str
) -> SsoStart | None:
    """The start of the sign-in at the provider of the organisation whose single sign-on
    serves ``email``'s domain, or None."""
    tenant = await organisation_for_email(session, email)
    if tenant is None or not is_configured(settings, tenant):
        return None
    query = urlencode({"next": next_url})
    return SsoStart(
        organisation=tenant.name,
        domain=membership.email_domain(email.strip()),
        url=f"{ACCOUNTS_PREFIX}external/{provider_name(tenant)}/start?{query}",
    )


# Signing in -----------------------------------------------------------------------------------


def _refused(reason: str, message: str) -> OutsideSignInFailed:
    failure = OutsideSignInFailed(reason, message)
    failure.status = 403
    return failure


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    provider: OutsideProvider,
    identity: OutsideIdentity,
    *,
    next_url: str,
) -> linking.Outcome:
    """What the organisation's provider's answer does (the rules above). A ``signed_in``
    outcome is not committed: the caller starts the session, which commits."""
    tenant = await session.scalar(select(Tenant).where(Tenant.slug == provider.organisation))
    if tenant is None or not tenant.sso_enabled:
        raise _refused("unknown_provider", "This organisation no longer uses single sign-on.")
    email = service.normal_email(identity.email) if identity.email else ""
    domain = membership.email_domain(email) if email else ""
    if not email or domain not in tenant.email_domains:
        domains = ", ".join(tenant.email_domains)
        given = f"the address {email}" if email else "no e-mail address"
        raise _refused(
            "domain",
            f"{service_name(tenant)} gave us {given}. Only addresses at {domains} sign in "
            f"through it, so you are not signed in. Sign in another way, or ask "
            f"{_ask(await _admins(session, tenant))}.",
        )
    if domain not in routed_domains(tenant):
        raise _refused(
            "domain_not_approved",
            f"{service_name(tenant)} gave us the address {email}, but no platform admin has "
            f"approved single sign-on for {domain} yet, so you are not signed in through it. "
            "Sign in with your password or a mailed link, or ask the platform's operator.",
        )
    # The organisation vouches for addresses at its own domains.
    vouched = replace(identity, email=email, email_verified=True)
    row = await linking.linked_identity(session, vouched)
    if row is not None:
        account = await session.get(Account, row.account_id)
        assert account is not None  # the row's foreign key cascades
        if account.disabled_at is not None:
            raise SignInFailed(linking.DISABLED)
        why = await _not_signed_in_by(session, settings, account, tenant)
        if why:
            # Rule 2: the account's owner confirms by mail, at the account's own address.
            return await _confirm_by_mail(
                session, settings, mailer, provider, vouched, account, next_url, why
            )
        row.last_used_at, row.email = datetime.now(UTC), email
        await _seat_for(session, account, tenant)
        return linking.Outcome("signed_in", account)
    owner = await service.account_by_email(session, email)
    if owner is not None:
        why = (
            "its address is not confirmed yet"
            if owner.email_verified_at is None
            else await _not_signed_in_by(session, settings, owner, tenant)
        )
        if why:
            # Rule 3: the owner confirms by mail before anyone is signed in.
            return await _confirm_by_mail(
                session, settings, mailer, provider, vouched, owner, next_url, why
            )
        if owner.disabled_at is not None:
            raise SignInFailed(linking.DISABLED)
        await linking._add_identity(session, owner, vouched, via="single_sign_on")
        return linking.Outcome("signed_in", owner)
    # Rule 4: a new member, just in time (a full organisation makes nobody an account).
    if email in {name.strip().lower() for name in settings.admin_users}:
        # The account would be a platform admin's (its address listed): made another way.
        raise _refused(
            "platform_admin",
            f"{email} is a platform admin's address, and a platform admin's account is not "
            f"made or signed in through {service_name(tenant)}. Sign up with your e-mail "
            "address instead.",
        )
    await _check_seat(session, tenant)
    account = await linking._new_account(session, vouched, email, listed_usernames(settings))
    account.email_verified_at = datetime.now(UTC)
    await _seat_for(session, account, tenant)
    log.info("%s joined %s through single sign-on", account.username, tenant.slug)
    return linking.Outcome("signed_in", account, new_account=True)


async def _not_signed_in_by(
    session: AsyncSession, settings: Settings, account: Account, tenant: Tenant
) -> str:
    """Why the organisation's provider does not sign ``account`` in itself ("" if it does):
    a platform admin's account, or one that is not a member of the organisation."""
    if is_platform_admin(account, settings):
        return "it is a platform admin's account, which no organisation's sign-in opens"
    if not await _is_member(session, account, tenant):
        return f"it is not a member of {tenant.name}"
    return ""


async def _confirm_by_mail(
    session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    provider: OutsideProvider,
    identity: OutsideIdentity,
    account: Account,
    next_url: str,
    why: str,
) -> linking.Outcome:
    """The account's owner is mailed a link that confirms (and signs in); nobody is signed
    in until it is used."""
    if not account.email:
        raise _refused(
            "confirm_by_mail",
            f"{provider.display_name} does not sign you in to this account ({why}), and it "
            "has no e-mail address to confirm by. Sign in another way.",
        )
    log.info("%s: %s confirms by mail: %s", provider.name, account.username, why)
    return await linking._mail_link_confirmation(
        session,
        settings,
        mailer,
        account,
        identity,
        provider.display_name,
        account.email,
        next_url,
    )


async def _is_member(session: AsyncSession, account: Account, tenant: Tenant) -> bool:
    await set_scope(session, Scope(user=account.username))
    found = await membership.organisation_of(session, account)
    return found is not None and found.id == tenant.id


async def _check_seat(session: AsyncSession, tenant: Tenant) -> None:
    try:
        await membership.check_free_seat(session, tenant)
    except ApiError as exc:
        raise _refused(
            "full", f"You cannot sign in through {tenant.name} now. {exc.message}"
        ) from exc


async def _seat_for(session: AsyncSession, account: Account, tenant: Tenant) -> None:
    """Make ``account`` a member if they are in no organisation (a member of another stays
    there: a person is in one organisation at a time)."""
    await set_scope(session, Scope(user=account.username))
    profile = await membership.own_profile(session, account)
    if profile.tenant_id is not None:
        if profile.tenant_id == tenant.id:
            await set_scope(session, Scope(user=account.username, tenant_id=tenant.id))
        return
    locked = await membership.locked_organisation(session, tenant.id)
    await _check_seat(session, locked)
    await membership.join(session, profile, locked, membership.MEMBER, how="single_sign_on")


# The settings ---------------------------------------------------------------------------------


def check_issuer(value: str, *, allow_private: bool = False) -> str:
    """The issuer as typed, without a trailing slash; https (with ``allow_private``, http
    on this machine too). Where its host is, ``checked_issuer``."""
    issuer = value.strip().rstrip("/")
    if not issuer:
        return ""
    parts = urlsplit(issuer)
    if (
        len(issuer) > MAX_ISSUER_LENGTH
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or re.search(r"\s", issuer)
    ):
        raise InvalidInput.at(
            "issuer",
            "Enter the issuer's address as its provider shows it, e.g. "
            "https://login.example.org/realms/staff.",
        )
    if parts.scheme != "https" and not (allow_private and is_secure_transport(issuer)):
        raise InvalidInput.at("issuer", "The issuer's address must start with https://.")
    return issuer


async def checked_issuer(settings: Settings, value: str) -> str:
    """``check_issuer``, and (unless ``sso_allow_private_issuers``) its host at public
    addresses only."""
    allow_private = settings.sso_allow_private_issuers
    issuer = check_issuer(value, allow_private=allow_private)
    if issuer and not allow_private:
        problem = await address_problem(issuer, "The issuer's address")
        if problem:
            raise InvalidInput.at("issuer", problem)
    return issuer


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def _addresses(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def address_problem(url: str, what: str) -> str | None:
    """Why the platform must not fetch ``url`` (``what`` names it), or None: it must be
    https, and its host must resolve to public addresses only (not loopback, private,
    link-local, unique-local, multicast or unspecified ones). The name is resolved off the
    event loop."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme != "https" or not host:
        return f"{what} ({url}) must start with https://."
    try:
        port = parts.port or 443
        addresses = await asyncio.to_thread(_addresses, host, port)
    except (OSError, UnicodeError, ValueError):
        return f"{what} names the host {host}, which could not be found."
    refused = [address for address in addresses if not _is_public(address)]
    if refused or not addresses:
        return (
            f"{what} ({host}) is at {', '.join(refused) or 'no address'}: a loopback or "
            "private-network address, which this platform does not contact. Enter the "
            "provider's public https address."
        )
    return None


async def update_settings(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    issuer: str,
    client_id: str,
    client_secret: str,
    enabled: bool,
) -> SsoChange:
    """Change the organisation's single sign-on (``account`` must run it). An empty
    ``client_secret`` keeps the one kept; the secret is never shown again. A changed
    issuer or client id unlinks the identities of the organisation's provider."""
    tenant = await membership.admin_of(session, account, "change its single sign-on")
    new_issuer, new_client_id = await checked_issuer(settings, issuer), client_id.strip()
    if len(new_client_id) > MAX_CLIENT_ID_LENGTH or re.search(r"\s", new_client_id):
        raise InvalidInput.at("client_id", "Enter the client id as the provider shows it.")
    secret = client_secret.strip()
    kept = decrypt_secret(settings, tenant.sso_client_secret_encrypted)
    if enabled:
        if not new_issuer:
            raise InvalidInput.at("issuer", "Enter the issuer to turn single sign-on on.")
        if not new_client_id:
            raise InvalidInput.at("client_id", "Enter the client id to turn single sign-on on.")
        if not secret and not kept:
            raise InvalidInput.at(
                "client_secret", "Enter the client secret to turn single sign-on on."
            )
        if not tenant.email_domains:
            raise InvalidInput.at(
                "enabled",
                "List the organisation's e-mail domains in its settings first: people at "
                "them are sent to its sign-in service.",
            )
        if len(provider_name(tenant)) > MAX_PROVIDER_NAME:
            raise InvalidInput.at(
                "enabled",
                "The organisation's short name is too long for single sign-on; ask the "
                "platform's operator.",
            )
        await _no_other_claims(session, tenant)
    # Identities linked through another provider (or another client of it) say nothing
    # about who the new one signs in: unlinked, members link again on their next sign-in.
    provider_changed = (tenant.sso_issuer or None, tenant.sso_client_id or None) != (
        new_issuer or None,
        new_client_id or None,
    )
    unlinked = 0
    if provider_changed:
        result = await session.execute(
            delete(AccountIdentity).where(AccountIdentity.provider == provider_name(tenant))
        )
        unlinked = int(getattr(result, "rowcount", 0) or 0)
    tenant.sso_issuer = new_issuer or None
    tenant.sso_client_id = new_client_id or None
    if secret:
        tenant.sso_client_secret_encrypted = encrypt_secret(settings, secret)
    tenant.sso_enabled = enabled
    append_event(
        session,
        stream=f"tenant:{tenant.slug}",
        type="tenant.sso_changed",
        actor=account.username,
        payload={
            "tenant": tenant.slug,
            "issuer": tenant.sso_issuer,
            "client_id": tenant.sso_client_id,
            "secret_changed": bool(secret),
            "enabled": enabled,
            "identities_unlinked": unlinked,
        },
        tenant_id=tenant.id,
    )
    await session.commit()
    log.info("%s changed the single sign-on of %s", account.username, tenant.slug)
    return SsoChange(tenant, provider_changed, unlinked)


@dataclass(frozen=True)
class SsoChange:
    """What ``update_settings`` did: the organisation, whether its provider (issuer or
    client id) changed, and how many identities that unlinked."""

    tenant: Tenant
    provider_changed: bool
    unlinked: int


async def _no_other_claims(session: AsyncSession, tenant: Tenant) -> None:
    """One organisation's sign-in service per domain: the sign-in page must know where
    to send an address."""
    others = await session.scalars(
        select(Tenant).where(
            Tenant.sso_enabled,
            Tenant.id != tenant.id,
            Tenant.sso_approved_domains.overlap(tenant.email_domains),
        )
    )
    for other in others:
        # Only another's approved domains count: listing a domain claims nothing.
        shared = sorted(set(routed_domains(other)) & set(tenant.email_domains))
        if not shared:
            continue
        raise InvalidInput.at(
            "enabled",
            f"Another organisation's sign-in service already serves {', '.join(shared)}. "
            "Remove that domain from your organisation's settings, or ask the platform's "
            "operator.",
        )


# Test connection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionCheck:
    """What "Test connection" found: ``ok``, and what worked (or the one thing that did
    not) in plain words."""

    ok: bool
    worked: tuple[str, ...]
    problem: str | None = None


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def test_connection(settings: Settings, issuer: str) -> ConnectionCheck:
    """Fetch the issuer's discovery document and its signing keys (a few seconds at most
    for each) and check what signing in needs of them. No answer's body is shown: only
    statuses and what was wrong, in plain words."""
    issuer = await checked_issuer(settings, issuer)
    allow_private = settings.sso_allow_private_issuers
    if not issuer:
        raise InvalidInput.at("issuer", "Enter the issuer to test.")
    url = f"{issuer}/.well-known/openid-configuration"
    worked: list[str] = []

    def failed(problem: str) -> ConnectionCheck:
        return ConnectionCheck(ok=False, worked=tuple(worked), problem=problem)

    seconds = int(TEST_TIMEOUT.read or 5)
    async with httpx.AsyncClient(
        timeout=TEST_TIMEOUT, follow_redirects=False, headers={"Accept": "application/json"}
    ) as http:
        try:
            response = await http.get(url)
        except httpx.TimeoutException:
            return failed(f"The issuer did not answer within {seconds} seconds at {url}.")
        except httpx.HTTPError as exc:
            return failed(f"The issuer could not be reached at {url}: {exc or type(exc).__name__}.")
        if response.status_code != 200:
            return failed(
                f"The issuer answered HTTP {response.status_code} at {url}, not its discovery "
                "document. Check the issuer's address."
            )
        metadata = _json_object(response)
        if metadata is None:
            kind = response.headers.get("content-type", "no content type")
            return failed(
                f"The answer at {url} is not a JSON discovery document ({kind}). Check the "
                "issuer's address."
            )
        worked.append(f"The discovery document at {url} was read.")
        named = metadata.get("issuer")
        if not isinstance(named, str) or named.rstrip("/") != issuer:
            return failed(
                f"The discovery document names another issuer, not {issuer}. Enter the "
                "issuer exactly as the document names it."
            )
        worked.append(f"It names the issuer {named}.")
        missing = [
            label
            for key, label in _ENDPOINTS.items()
            if not isinstance(metadata.get(key), str) or not is_secure_transport(metadata[key])
        ]
        if missing:
            return failed(
                "The discovery document lacks these endpoints (or they are not https): "
                f"{', '.join(missing)}."
            )
        worked.append("It names the sign-in, token and signing-key endpoints.")
        if not allow_private:
            for key, label in _FETCHED.items():
                value = metadata.get(key)
                if isinstance(value, str) and (problem := await address_problem(value, label)):
                    return failed(problem)
        jwks_uri = str(metadata["jwks_uri"])
        try:
            keys = await http.get(jwks_uri)
        except httpx.HTTPError as exc:
            return failed(f"Its signing keys could not be fetched from {jwks_uri}: {exc}.")
        body = _json_object(keys) if keys.status_code == 200 else None
        if body is None or not isinstance(body.get("keys"), list) or not body["keys"]:
            return failed(
                f"Its signing keys at {jwks_uri} are not a key set (HTTP {keys.status_code})."
            )
        worked.append(f"Its signing keys were read ({len(body['keys'])}).")
    return ConnectionCheck(ok=True, worked=tuple(worked))


def callback_url_of(settings: Settings, tenant: Tenant) -> str:
    """The callback (redirect) URL the organisation registers at its provider."""
    return (
        f"{settings.public_base_url.rstrip('/')}{ACCOUNTS_PREFIX}external/"
        f"{provider_name(tenant)}/callback"
    )
