"""Bulk import of accounts from CSV: check every row first, then create them all at once.

The file has a header row naming its columns: ``name`` and ``email`` are required,
``role`` (default student), ``plan`` (default the default plan) and ``organisation`` (an
organisation's slug or name; empty for none) are optional. ``check_import`` reads the file
and reports every problem (line, column, reason) beside what would be created; it changes
nothing. ``run_import`` checks again and, only if no row has a problem, creates every
account in one transaction (any error: none is created), then mails each person an
invitation. A mail that fails is reported for that person; it does not undo the import.

An organisation's admins import into their own organisation through the same path
(``check_organisation_import``, ``run_import`` with ``organisation``): every row goes into
it, roles stop at org_admin, plans at what its member defaults offer (up to its own plan;
without one, only the default plan; an empty plan: its member plan), and a file that would
take more seats than it has imports nothing.
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.accounts import invitations, service
from api.accounts.administration import keep_assigned_role
from api.accounts.errors import FormError, MailUnavailable
from api.accounts.mail import Mailer
from api.accounts.roles import PLATFORM_ADMIN, listed_usernames
from api.core.config import Settings
from api.events import append_event
from api.models import Plan, Tenant, UserProfile
from api.models.account import ROLES, Account
from api.models.profile import DEFAULT_PLAN
from api.organisations.member_defaults import offered_plans
from api.organisations.membership import (
    across_organisations,
    record_tenant_event,
    seats_used,
)

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 256 * 1024
MAX_ROWS = 500
COLUMNS = ("name", "email", "role", "plan", "organisation")
REQUIRED_COLUMNS = ("name", "email")
DEFAULT_ROLE = "student"
# Other spellings people use in a header (compared lowercased, spaces and dashes as _).
_COLUMN_ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "e_mail_address": "email",
    "organization": "organisation",
    "org": "organisation",
}
_ROLE_ALIASES = {
    "organisation_admin": "org_admin",
    "organization_admin": "org_admin",
}
EXAMPLE = (
    "name,email,role,plan,organisation\n"
    "Ada Lovelace,ada@example.edu,student,student,Analytical Engines\n"
    "Charles Babbage,charles@example.edu,org_admin,,analytical-engines\n"
)
# The roles an organisation's admins may give: everything but platform_admin.
ORGANISATION_ROLES = tuple(role for role in ROLES if role != PLATFORM_ADMIN)


def organisation_example(tenant: Tenant) -> str:
    """The example file of an organisation's import (its own slug in the column)."""
    return (
        "name,email,role,plan,organisation\n"
        "Ada Lovelace,ada@example.edu,student,,\n"
        f"Charles Babbage,charles@example.edu,org_admin,,{tenant.slug}\n"
    )


@dataclass(frozen=True)
class RowProblem:
    """Why a line of the file cannot be imported (``column`` None: the whole line or file)."""

    line: int
    column: str | None
    reason: str


@dataclass(frozen=True)
class ImportRow:
    """An account the file would create."""

    line: int
    name: str
    email: str
    role: str
    plan_code: str
    organisation_id: uuid.UUID | None
    organisation: str | None


@dataclass
class ImportCheck:
    rows: list[ImportRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def can_import(self) -> bool:
        return bool(self.rows) and not self.problems

    @property
    def bad_lines(self) -> int:
        # Problems of the whole file (line 0: its size, the seats) are on no line.
        return len({problem.line for problem in self.problems if problem.line})


@dataclass(frozen=True)
class Invited:
    """An account the import created, and whether its invitation mail went out."""

    row: ImportRow
    account: Account
    mail_error: str | None


@dataclass
class ImportResult:
    check: ImportCheck
    invited: list[Invited] = field(default_factory=list)

    @property
    def imported(self) -> bool:
        return bool(self.invited)

    @property
    def mail_failures(self) -> list[Invited]:
        return [person for person in self.invited if person.mail_error is not None]


def _key(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def _decode(data: bytes) -> str | RowProblem:
    if len(data) > MAX_FILE_BYTES:
        return RowProblem(
            0,
            None,
            f"The file is larger than {MAX_FILE_BYTES // 1024} KB; at most "
            f"{MAX_FILE_BYTES // 1024} KB can be imported at once. Split it into several files.",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return RowProblem(
            line,
            None,
            "The file is not UTF-8 text. Save it as CSV UTF-8 (spreadsheets offer it under "
            "'Save as').",
        )


def _delimiter(text: str) -> str:
    """Commas, or the semicolons or tabs some spreadsheets write instead."""
    header = text.lstrip().partition("\n")[0]
    if "," in header:
        return ","
    return next((d for d in (";", "\t") if d in header), ",")


def _records(text: str, check: ImportCheck) -> list[tuple[int, list[str]]]:
    """The file's non-blank records with the line each starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    records: list[tuple[int, list[str]]] = []
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return records
        except csv.Error as exc:
            check.problems.append(
                RowProblem(start, None, f"This line cannot be read as CSV ({exc}).")
            )
            return records
        if any(value.strip() for value in record):
            records.append((start, record))


def _header(line: int, record: list[str], check: ImportCheck) -> dict[str, int] | None:
    """Column name → index, or None when the header has problems (all reported)."""
    columns: dict[str, int] = {}
    ok = True
    for index, title in enumerate(record):
        name = _COLUMN_ALIASES.get(_key(title), _key(title))
        if not name:
            continue
        if name not in COLUMNS:
            check.problems.append(
                RowProblem(
                    line,
                    title.strip(),
                    f"Unknown column. The columns are {', '.join(COLUMNS)}.",
                )
            )
            ok = False
        elif name in columns:
            check.problems.append(RowProblem(line, name, "This column appears twice."))
            ok = False
        else:
            columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        check.problems.append(
            RowProblem(
                line,
                None,
                f"The first line must name the columns; {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} missing. Example: {COLUMNS_LINE}",
            )
        )
        ok = False
    return columns if ok else None


COLUMNS_LINE = ",".join(COLUMNS)


async def _existing_accounts(db_session: AsyncSession, emails: list[str]) -> dict[str, str]:
    """Lowercased address → user name, for the addresses that have an account."""
    if not emails:
        return {}
    found = await db_session.execute(
        select(func.lower(Account.email), Account.username).where(
            func.lower(Account.email).in_([email.lower() for email in emails])
        )
    )
    return {str(email): str(username) for email, username in found}


@dataclass(frozen=True)
class _Rules:
    """What the rows may say: any organisation, role and plan (the platform's admins), or
    only those of one organisation (its admins)."""

    roles: tuple[str, ...]
    plans: dict[str, Plan]  # lowercased code → plan, every plan there is
    offered: frozenset[str]  # the codes the rows may use
    default_plan: str
    organisation: Tenant | None = None


async def _platform_rules(db_session: AsyncSession) -> _Rules:
    plans = {plan.code.lower(): plan for plan in await db_session.scalars(select(Plan))}
    return _Rules(ROLES, plans, frozenset(p.code for p in plans.values()), DEFAULT_PLAN)


async def _organisation_rules(db_session: AsyncSession, tenant: Tenant) -> _Rules:
    plans = {plan.code.lower(): plan for plan in await db_session.scalars(select(Plan))}
    offered = frozenset(plan.code for plan in await offered_plans(db_session, tenant))
    # An empty plan is the member plan, while the organisation may still give it.
    member_plan = tenant.member_plan_code if tenant.member_plan_code in offered else None
    return _Rules(ORGANISATION_ROLES, plans, offered, member_plan or DEFAULT_PLAN, tenant)


async def check_import(db_session: AsyncSession, data: bytes) -> ImportCheck:
    """Every problem of the file and the accounts it would create; changes nothing."""
    return await _check(db_session, data, await _platform_rules(db_session))


async def check_organisation_import(
    db_session: AsyncSession, data: bytes, tenant: Tenant
) -> ImportCheck:
    """``check_import`` for an admin of ``tenant``, in their scope: every row goes into
    ``tenant``, within its roles, plans and seats."""
    return await _check(db_session, data, await _organisation_rules(db_session, tenant))


def _plan_problem(line: int, plan_text: str, plan: Plan | None, rules: _Rules) -> RowProblem:
    tenant = rules.organisation
    if plan is None or tenant is None:
        listed = sorted(rules.plans) if tenant is None else sorted(rules.offered)
        return RowProblem(
            line, "plan", f"Unknown plan {plan_text!r}; the plans are {', '.join(listed)}."
        )
    ceiling = rules.plans.get((tenant.plan_code or "").lower())
    if ceiling is not None:
        reason = (
            f"The {plan.name} plan is above {tenant.name}'s own plan ({ceiling.name}): members "
            f"get at most {ceiling.name}. Use one of {', '.join(sorted(rules.offered))}."
        )
    else:
        reason = (
            f"{tenant.name} has no plan of its own yet, so its members get only the "
            f"platform's default plan ({DEFAULT_PLAN}); leave the plan empty or write "
            f"{DEFAULT_PLAN}."
        )
    return RowProblem(line, "plan", reason)


def _role_problem(line: int, role_text: str, role: str, rules: _Rules) -> RowProblem | None:
    if role in rules.roles:
        return None
    if role == PLATFORM_ADMIN and rules.organisation is not None:
        return RowProblem(
            line,
            "role",
            f"An organisation's import cannot make platform admins; use {', '.join(rules.roles)}.",
        )
    return RowProblem(line, "role", f"Unknown role {role_text!r}; use {', '.join(rules.roles)}.")


def _organisation_of_row(
    line: int, text: str, rules: _Rules, tenant_by_key: dict[str, Tenant]
) -> Tenant | RowProblem | None:
    own = rules.organisation
    if own is not None:
        # Only the own organisation: other organisations' names are not looked up at all.
        if not text or text.lower() in (own.slug.lower(), own.name.lower()):
            return own
        return RowProblem(
            line,
            "organisation",
            f"Every row goes into {own.name}, the organisation you run; this row names "
            f"{text!r}. Leave the column empty or write {own.slug}.",
        )
    tenant = tenant_by_key.get(text.lower()) if text else None
    if text and tenant is None:
        return RowProblem(
            line,
            "organisation",
            f"There is no organisation {text!r} "
            "(by name or slug); create it first or leave the column empty.",
        )
    return tenant


async def _organisations_of(db_session: AsyncSession, usernames: list[str]) -> dict[str, str]:
    """User name → the id (as text) of the organisation their profile is in, for those in
    one."""
    if not usernames:
        return {}
    # Platform-wide on purpose: a profile in another organisation is hidden from the
    # person's scope, and the import must tell "in another organisation" from "in none".
    # Only the organisation's id is read, and only to word the row's problem.
    async with across_organisations(db_session):
        found = await db_session.execute(
            select(UserProfile.hub_name, UserProfile.tenant_id).where(
                UserProfile.hub_name.in_(usernames), UserProfile.tenant_id.is_not(None)
            )
        )
        return {str(name): str(tenant_id) for name, tenant_id in found}


def _existing_problem(
    line: int, username: str, rules: _Rules, organisations: dict[str, str]
) -> RowProblem:
    own = rules.organisation
    if own is None:
        return RowProblem(line, "email", f"This address has an account already ({username}).")
    tenant_id = organisations.get(username)
    if tenant_id == str(own.id):
        return RowProblem(line, "email", f"This address is {username}'s, a member of {own.name}.")
    if tenant_id is not None:
        return RowProblem(
            line,
            "email",
            "This address has an account in another organisation; a person is in one "
            "organisation at a time.",
        )
    return RowProblem(
        line,
        "email",
        "This address has an account already: invite the person by e-mail on the "
        "organisation's page, and they join with that account.",
    )


async def _seats_problem(
    db_session: AsyncSession, rules: _Rules, check: ImportCheck
) -> RowProblem | None:
    """A file whose accounts would not fit into the organisation's seats."""
    tenant = rules.organisation
    if tenant is None or tenant.seats is None or not check.rows:
        return None
    used = await seats_used(db_session, tenant)
    free = max(tenant.seats - used, 0)
    if len(check.rows) <= free:
        return None
    return RowProblem(
        0,
        None,
        f"{tenant.name} has {free} free {'seat' if free == 1 else 'seats'} ({used} of "
        f"{tenant.seats} taken), and this file would add {len(check.rows)} members, so "
        "nothing can be imported. Its admins (you, too) can add seats in the organisation's "
        "settings; or import fewer rows.",
    )


async def _check(db_session: AsyncSession, data: bytes, rules: _Rules) -> ImportCheck:
    check = ImportCheck()
    text = _decode(data)
    if isinstance(text, RowProblem):
        check.problems.append(text)
        return check
    records = _records(text, check)
    if not records:
        if not check.problems:
            check.problems.append(
                RowProblem(
                    1, None, f"The file is empty. Its first line names the columns: {COLUMNS_LINE}"
                )
            )
        return check
    header_line, header = records[0]
    columns = _header(header_line, header, check)
    if columns is None:
        return check
    body = records[1:]
    if not body:
        check.problems.append(
            RowProblem(header_line, None, "The file has no rows after its header.")
        )
        return check
    if len(body) > MAX_ROWS:
        check.problems.append(
            RowProblem(
                body[MAX_ROWS][0],
                None,
                f"The file has {len(body)} rows; at most {MAX_ROWS} can be imported at once. "
                "Split it into several files.",
            )
        )

    plans = rules.plans
    plans_by_name = {plan.name.lower(): plan for plan in plans.values()}
    tenants = [] if rules.organisation else list(await db_session.scalars(select(Tenant)))
    tenant_by_key = {t.slug.lower(): t for t in tenants} | {t.name.lower(): t for t in tenants}

    def value(record: list[str], column: str) -> str:
        index = columns.get(column)
        return record[index].strip() if index is not None and index < len(record) else ""

    seen: dict[str, int] = {}
    candidates: list[tuple[ImportRow | None, str]] = []
    for line, record in body:
        problems: list[RowProblem] = []
        if len(record) > len(header) and any(v.strip() for v in record[len(header) :]):
            problems.append(
                RowProblem(
                    line,
                    None,
                    f"This line has more fields than the header's {len(header)}; "
                    "is a comma missing its quotes?",
                )
            )
        name = value(record, "name")
        if not name:
            problems.append(RowProblem(line, "name", "The name is missing."))
        elif len(name) > service.MAX_NAME_LENGTH:
            problems.append(
                RowProblem(
                    line, "name", f"The name is longer than {service.MAX_NAME_LENGTH} characters."
                )
            )
        email = value(record, "email")
        if not email:
            problems.append(RowProblem(line, "email", "The e-mail address is missing."))
        else:
            try:
                email = service.normal_email(email)
            except FormError:
                problems.append(RowProblem(line, "email", f"{email!r} is not an e-mail address."))
                email = ""
        if email:
            first = seen.setdefault(email.lower(), line)
            if first != line:
                problems.append(
                    RowProblem(
                        line, "email", f"The same address as line {first}: one account per address."
                    )
                )
        role_text = value(record, "role")
        role = _ROLE_ALIASES.get(_key(role_text), _key(role_text)) or DEFAULT_ROLE
        role_problem = _role_problem(line, role_text, role, rules)
        if role_problem is not None:
            problems.append(role_problem)
        plan_text = value(record, "plan")
        plan = (
            plans.get(plan_text.lower()) or plans_by_name.get(plan_text.lower())
            if plan_text
            else plans.get(rules.default_plan.lower())
        )
        if plan is None or plan.code not in rules.offered:
            problems.append(_plan_problem(line, plan_text or rules.default_plan, plan, rules))
        tenant = _organisation_of_row(line, value(record, "organisation"), rules, tenant_by_key)
        if isinstance(tenant, RowProblem):
            problems.append(tenant)
            tenant = None
        check.problems.extend(problems)
        row = None
        if not problems and plan is not None:
            row = ImportRow(
                line=line,
                name=name,
                email=email,
                role=role,
                plan_code=plan.code,
                organisation_id=tenant.id if tenant else None,
                organisation=tenant.name if tenant else None,
            )
        candidates.append((row, email))

    existing = await _existing_accounts(db_session, [email for _, email in candidates if email])
    organisations = (
        await _organisations_of(db_session, sorted(existing.values()))
        if rules.organisation is not None
        else {}
    )
    for (row, email), (line, _) in zip(candidates, body, strict=True):
        username = existing.get(email.lower()) if email else None
        if username is not None:
            check.problems.append(_existing_problem(line, username, rules, organisations))
        elif row is not None:
            check.rows.append(row)
    seats = await _seats_problem(db_session, rules, check)
    if seats is not None:
        check.problems.append(seats)
    check.problems.sort(key=lambda problem: problem.line)
    return check


class AddressTaken(Exception):
    """The row's address (or every user name tried for it) got an account after the file
    was checked."""


async def _new_account(
    db_session: AsyncSession, row: ImportRow, withheld: frozenset[str]
) -> Account:
    """The row's account, added and flushed (in a savepoint, so a clash undoes only it)."""
    try:
        # No password and no terms yet: the person chooses one and accepts them on the
        # invitation's page.
        account = await service.new_account(
            db_session,
            email=row.email,
            name=row.name,
            password_hash=None,
            role=row.role,
            withheld=withheld,
        )
    except FormError:
        raise AddressTaken(row.email) from None
    if account is None:
        raise AddressTaken(row.email)
    return account


async def _create(
    db_session: AsyncSession, row: ImportRow, *, actor: Account, withheld: frozenset[str]
) -> Account:
    account = await _new_account(db_session, row, withheld)
    keep_assigned_role(account)
    values = {
        "plan_code": row.plan_code,
        "tenant_id": row.organisation_id,
        # An organisation admin imported into an organisation runs it there too.
        "tenant_role": None
        if row.organisation_id is None
        else ("admin" if row.role == "org_admin" else "member"),
    }
    await db_session.execute(
        insert(UserProfile)
        .values(hub_name=account.username, display_name=row.name, email=row.email, **values)
        .on_conflict_do_update(index_elements=[UserProfile.hub_name], set_=values)
    )
    append_event(
        db_session,
        stream=f"account:{account.id}",
        type="account.imported",
        actor=actor.username,
        payload={
            "account": account.username,
            "line": row.line,
            "role": row.role,
            "plan": row.plan_code,
            "organisation": row.organisation,
        },
        tenant_id=row.organisation_id,
    )
    return account


async def run_import(
    db_session: AsyncSession,
    settings: Settings,
    mailer: Mailer,
    data: bytes,
    *,
    actor: Account,
    organisation: Tenant | None = None,
) -> ImportResult:
    """Create the file's accounts (all or none) and mail their invitations.

    With ``organisation`` (locked by the caller, an admin of it, in their scope) the file
    is checked by its rules and every account goes into it."""
    check = (
        await check_import(db_session, data)
        if organisation is None
        else await check_organisation_import(db_session, data, organisation)
    )
    result = ImportResult(check)
    if not check.can_import:
        return result
    created: list[tuple[ImportRow, Account, str]] = []
    for row in check.rows:
        try:
            account = await _create(
                db_session, row, actor=actor, withheld=listed_usernames(settings)
            )
        except AddressTaken:
            # The address got an account while this ran (a sign-up at the same moment).
            await db_session.rollback()
            check.problems.append(
                RowProblem(
                    row.line,
                    "email",
                    "This address (or the user name chosen for it) got an account while "
                    "the file was imported, so nothing was imported. Check the file again.",
                )
            )
            return result
        token = await invitations.issue_invitation(db_session, account, actor=actor.username)
        created.append((row, account, token))
    if organisation is None:
        append_event(
            db_session,
            stream="accounts",
            type="accounts.imported",
            actor=actor.username,
            payload={"created": len(created)},
        )
    else:
        record_tenant_event(
            db_session,
            organisation,
            "tenant.members_imported",
            actor.username,
            created=len(created),
        )
    await db_session.commit()
    log.info(
        "%s imported %d accounts%s",
        actor.username,
        len(created),
        f" into {organisation.slug}" if organisation else "",
    )

    invited_by = actor.display_name or actor.username
    if organisation is not None:
        invited_by = f"{invited_by} of {organisation.name}"
    for row, account, token in created:
        error = None
        try:
            await invitations.mail_invitation(
                settings, mailer, account, token, invited_by=invited_by
            )
        except MailUnavailable as exc:
            error = exc.message
        result.invited.append(Invited(row, account, error))
    failed = len(result.mail_failures)
    append_event(
        db_session,
        stream="accounts" if organisation is None else f"tenant:{organisation.slug}",
        type="accounts.invitations_mailed",
        actor=actor.username,
        payload={"sent": len(created) - failed, "failed": failed},
        tenant_id=organisation.id if organisation else None,
    )
    await db_session.commit()
    return result
