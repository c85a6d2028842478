"""A person deletes their own account.

First the hub: the person's hub user is deleted through its REST API (the hub stops their
servers first and drops every token of the user). Only when that worked, or the hub never
knew the user, is the account row removed; its identities, sessions, mailed links and the
provider's grants go with it (their foreign keys cascade), and so does the platform profile
kept under the user name (name, address, plan). A hub that does not answer leaves
everything as it was, so the person can simply try again.

The user name is retired in the same transaction (``usernames.retire_username``): the
platform's records kept under it (generated projects, assistant conversations, usage) stay,
and no later account may be given the name and with it those records or the files.

The event log records that an account was deleted, under the account's id, without its
name or address; a mail to the address confirms it.

Deleting the hub user deletes the person's files: JupyterHub calls each of the user's
spawners' ``delete_forever``, which removes the home volume (Docker, hub/spawners.py), the
home folder (local processes, hub/spawners.py) or the volume claims (KubeSpawner).
``files_statement`` says which, for this platform's spawner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import ratelimit
from api.accounts.errors import MailUnavailable
from api.accounts.hub_client import HubClient
from api.accounts.mail import Mailer
from api.accounts.service import _mail
from api.accounts.usernames import retire_username
from api.core.config import Settings
from api.events import append_event
from api.models import UserProfile
from api.models.account import Account

log = logging.getLogger(__name__)

# Mail limits are kept per purpose and address (service.py); forgotten with the account.
_MAIL_PURPOSES = (
    "sign_up",
    "verify_email",
    "magic_link",
    "reset_password",
    "new_email",
    "student_email",
)


@dataclass(frozen=True)
class Deleted:
    username: str
    email: str | None
    hub_user_deleted: bool


def files_statement(settings: Settings, username: str) -> str:
    """What happens to the person's files when their hub user is deleted, for this
    platform's spawner (each deletes its server's home in ``delete_forever``)."""
    docker = "the Docker volumes that hold your servers' home folders"
    local = f"your home folder, users/{username} in the platform's data directory"
    if settings.spawner == "kubernetes":
        where = "the storage volumes of your servers"
    elif settings.spawner == "docker":
        where = docker
    elif settings.spawner == "local":
        where = local
    else:
        where = f"{docker} (or {local})"
    return f"Deleting your hub user deletes your files with it: {where}."


async def delete_account(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    hub: HubClient,
    account: Account,
) -> Deleted:
    """Delete the hub user, then the account (see the module's docstring). Raises the
    hub client's errors with nothing deleted."""
    username, email, name = account.username, account.email, account.display_name
    hub_user_deleted = await hub.delete_user(username)
    account_id = account.id
    limits = [ratelimit.account_limit(username)]
    if email:
        limits.append(ratelimit.account_limit(email))
        limits.extend(ratelimit.mail_limit(purpose, email) for purpose in _MAIL_PURPOSES)
    for limit in limits:
        await ratelimit.forget(db_session, limit)
    await db_session.delete(account)
    await db_session.execute(delete(UserProfile).where(UserProfile.hub_name == username))
    await retire_username(db_session, username)
    append_event(
        db_session,
        stream=f"account:{account_id}",
        type="account.deleted",
        actor=None,
        payload={"by": "owner", "hub_user": "deleted" if hub_user_deleted else "absent"},
    )
    await db_session.commit()
    log.info("account %s deleted by its owner (hub user deleted: %s)", account_id, hub_user_deleted)
    if email:
        try:
            await _mail(
                settings,
                mailer,
                to=email,
                template="account_deleted",
                name=name or username,
                username=username,
                files=files_statement(settings, username),
            )
        except MailUnavailable:
            log.warning("could not mail the confirmation of account %s's deletion", account_id)
    return Deleted(username, email, hub_user_deleted)
