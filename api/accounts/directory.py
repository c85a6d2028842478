"""The platform admins' view of accounts: search, one page at a time, with plan,
organisation and last sign-in beside each account."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.models import AccountSession, Tenant, UserProfile
from api.models.account import Account
from api.models.profile import DEFAULT_PLAN

PAGE_SIZE = 50
MAX_QUERY_LENGTH = 200


@dataclass(frozen=True)
class AccountRow:
    account: Account
    # None: no profile yet; the person gets the default plan when the hub first sees them.
    plan_code: str | None
    organisation: str | None
    last_sign_in_at: datetime | None

    @property
    def plan(self) -> str:
        return self.plan_code or DEFAULT_PLAN


@dataclass(frozen=True)
class AccountPage:
    rows: list[AccountRow]
    query: str
    page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern that matches it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _rows(query: str) -> Select[Account, str | None, str | None, datetime | None]:
    last_sign_in = (
        select(
            AccountSession.account_id,
            func.max(AccountSession.created_at).label("at"),
        )
        .group_by(AccountSession.account_id)
        .subquery()
    )
    statement = (
        select(Account, UserProfile.plan_code, Tenant.name, last_sign_in.c.at)
        .outerjoin(UserProfile, UserProfile.hub_name == Account.username)
        .outerjoin(Tenant, Tenant.id == UserProfile.tenant_id)
        .outerjoin(last_sign_in, last_sign_in.c.account_id == Account.id)
    )
    if query:
        pattern = _like_pattern(query)
        statement = statement.where(
            or_(
                Account.display_name.ilike(pattern, escape="\\"),
                Account.username.ilike(pattern, escape="\\"),
                Account.email.ilike(pattern, escape="\\"),
            )
        )
    return statement


async def search_accounts(db_session: AsyncSession, query: str = "", page: int = 1) -> AccountPage:
    """Accounts whose name, user name or address contains ``query`` (any case), newest first."""
    query = query.strip()[:MAX_QUERY_LENGTH]
    statement = _rows(query)
    total = await db_session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    result = await db_session.execute(
        statement.order_by(Account.created_at.desc(), Account.username)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    rows = [AccountRow(account, plan, org, last) for account, plan, org, last in result]
    return AccountPage(rows=rows, query=query, page=page, total=total)


async def account_row(db_session: AsyncSession, account_id: uuid.UUID) -> AccountRow | None:
    result = await db_session.execute(_rows("").where(Account.id == account_id))
    row = result.first()
    if row is None:
        return None
    account, plan, organisation, last = row
    return AccountRow(account, plan, organisation, last)
