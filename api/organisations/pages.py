"""The organisation pages under ``/services/api/accounts/organisation``.

A person in no organisation creates one (or joins one their confirmed address lets them
join); a member sees its members and may leave; its admins invite by mail, revoke
invitations, change roles, remove members and change its settings. The mailed link
``organisation/invitations/{token}`` shows the invitation (a signed-out person signs in or
up first and comes back); its button joins. Each handler runs in the person's scope (set by
``signed_in_account``); the rules and their errors are in ``membership`` and
``invitations``, and an error shows this page again with its message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts.pages import (
    form_or_problem,
    mailer_for,
    page,
    redirect,
    signed_in_account,
)
from api.accounts.sessions import ACCOUNTS_PREFIX
from api.deps import SessionDep, settings_of
from api.errors import ApiError
from api.models import Account
from api.models.organisation import TENANT_ROLES
from api.models.tenant import ORGANISATION_KINDS
from api.organisations import invitations, membership

log = logging.getLogger(__name__)

router = APIRouter(prefix="/accounts/organisation", include_in_schema=False)

HERE = f"{ACCOUNTS_PREFIX}organisation"
KIND_LABELS = {"company": "Company", "university": "University", "class": "Class"}
DONE = {
    "created": "Your organisation was created. You are its admin.",
    "joined": "You joined the organisation.",
    "left": "You left the organisation.",
    "invited": "The invitation was mailed. It works for 7 days.",
    "revoked": "The invitation was revoked: its link no longer works.",
    "role": "The role was changed.",
    "removed": "The member was removed from the organisation.",
    "transferred": "You handed the organisation over and are a member now.",
    "settings": "The settings were saved.",
}
# The forms of the page whose fields come back after an error.
KEEP = ("name", "slug", "kind", "email_domains", "email", "role", "seats")

Action = Callable[[Account, dict[str, str]], Awaitable[str]]


async def organisation_page(
    request: Request,
    db: AsyncSession,
    account: Account,
    *,
    done: str = "",
    status: int = 200,
    **context: Any,
) -> Response:
    """The page as ``account`` sees it: the create form, or their organisation."""
    tenant = await membership.organisation_of(db, account)
    common: dict[str, Any] = {
        "account": account,
        "done_message": DONE.get(done),
        "here": HERE,
        "kinds": ORGANISATION_KINDS,
        "kind_labels": KIND_LABELS,
        "roles": TENANT_ROLES,
    }
    if tenant is None:
        return page(
            request,
            "organisation_new",
            status=status,
            joinable=await membership.joinable(db, account),
            **common,
            **context,
        )
    people = await membership.members(db, tenant)
    mine = next((m for m in people if m.name == account.username), None)
    is_admin = mine is not None and mine.role == membership.ADMIN
    return page(
        request,
        "organisation",
        status=status,
        tenant=tenant,
        members=people,
        is_org_admin=is_admin,
        admin_count=sum(1 for m in people if m.role == membership.ADMIN),
        pending=await invitations.pending_invitations(db, tenant) if is_admin else [],
        seats_used=len(people),
        **common,
        **context,
    )


async def forget_changes(db: AsyncSession, account: Account) -> None:
    """After a refused action: nothing of it stays, and ``account`` is read again (a
    rollback expires what the session holds)."""
    await db.rollback()
    await db.refresh(account)


def refusal(exc: ApiError) -> dict[str, Any]:
    """A refused action's status, message and the field it names, for the page again."""
    return {
        "status": exc.status,
        "error": exc.message,
        "error_field": exc.fields[0]["field"] if exc.fields else None,
    }


async def act(request: Request, db: AsyncSession, action: Action) -> Response:
    """A POST of the page: the signed-in person, the form (its token checked), the action;
    then the page again, with what was done or what is wrong."""
    account = await signed_in_account(request, db, HERE)
    if not isinstance(account, Account):
        return account
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    try:
        done = await action(account, fields)
    except ApiError as exc:
        await forget_changes(db, account)
        log.info(
            "organisation page: %s refused for %s: %s",
            request.url.path,
            account.username,
            exc.message,
        )
        return await organisation_page(
            request,
            db,
            account,
            **refusal(exc),
            values={key: fields.get(key, "") for key in KEEP},
        )
    return redirect(f"{HERE}?done={done}")


@router.get("")
async def organisation(request: Request, db: SessionDep, done: str = "") -> Response:
    account = await signed_in_account(request, db, HERE)
    if not isinstance(account, Account):
        return account
    return await organisation_page(request, db, account, done=done)


@router.post("")
async def create(request: Request, db: SessionDep) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.create_organisation(
            db,
            account,
            name=fields.get("name", ""),
            slug=fields.get("slug", ""),
            kind=fields.get("kind", ""),
            email_domains=fields.get("email_domains", ""),
        )
        return "created"

    return await act(request, db, run)


@router.post("/join")
async def join(request: Request, db: SessionDep) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.join_by_domain(db, account, fields.get("slug", ""))
        return "joined"

    return await act(request, db, run)


@router.post("/leave")
async def leave(request: Request, db: SessionDep) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.leave(db, account)
        return "left"

    return await act(request, db, run)


@router.post("/invitations")
async def invite(request: Request, db: SessionDep) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await invitations.invite(
            db,
            settings_of(request),
            mailer_for(request),
            account,
            email=fields.get("email", ""),
            role=fields.get("role", membership.MEMBER),
        )
        return "invited"

    return await act(request, db, run)


@router.post("/invitations/{invitation_id}/revoke")
async def revoke(request: Request, db: SessionDep, invitation_id: str) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await invitations.revoke(db, account, invitation_id)
        return "revoked"

    return await act(request, db, run)


@router.post("/members/{name}/role")
async def change_role(request: Request, db: SessionDep, name: str) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.change_role(db, account, name, fields.get("role", ""))
        return "role"

    return await act(request, db, run)


@router.post("/members/{name}/remove")
async def remove(request: Request, db: SessionDep, name: str) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.remove_member(db, account, name)
        return "removed"

    return await act(request, db, run)


@router.post("/transfer")
async def transfer(request: Request, db: SessionDep) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.transfer_ownership(db, account, fields.get("member", ""))
        return "transferred"

    return await act(request, db, run)


@router.post("/settings")
async def change_settings(request: Request, db: SessionDep) -> Response:
    async def run(account: Account, fields: dict[str, str]) -> str:
        await membership.update_settings(
            db,
            account,
            name=fields.get("name", ""),
            email_domains=fields.get("email_domains", ""),
            auto_join=fields.get("auto_join") == "yes",
            seats=fields.get("seats", ""),
        )
        return "settings"

    return await act(request, db, run)


# The mailed link ----------------------------------------------------------------------------


def invitation_problem(request: Request, account: Account, exc: ApiError) -> Response:
    return page(
        request,
        "organisation_invitation",
        status=exc.status,
        account=account,
        invitation=None,
        error=exc.message,
        here=HERE,
    )


@router.get("/invitations/{token}")
async def invitation_page(request: Request, db: SessionDep, token: str) -> Response:
    # Signed out: the sign-in page (and its sign-up link) brings the person back here.
    account = await signed_in_account(request, db, request.url.path)
    if not isinstance(account, Account):
        return account
    try:
        found = await invitations.check_invitation(db, token)
        invitations.check_invitee(account, found.row)
    except ApiError as exc:
        return invitation_problem(request, account, exc)
    current = await membership.organisation_of(db, account)
    return page(
        request,
        "organisation_invitation",
        account=account,
        invitation=found.row,
        tenant=found.tenant,
        current=current,
        here=HERE,
        action=request.url.path,
    )


@router.post("/invitations/{token}")
async def accept_invitation(request: Request, db: SessionDep, token: str) -> Response:
    account = await signed_in_account(request, db, request.url.path)
    if not isinstance(account, Account):
        return account
    fields = await form_or_problem(request, account=account)
    if isinstance(fields, Response):
        return fields
    try:
        await invitations.accept(db, account, token)
    except ApiError as exc:
        await forget_changes(db, account)
        return invitation_problem(request, account, exc)
    return redirect(f"{HERE}?done=joined")
