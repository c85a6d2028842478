"""With the platform's own sign-in, a server starts only for an account whose e-mail
address is verified: the address is how the platform reaches the person (resets, plan
mails), and unverified accounts are how throwaway sign-ups would use free compute."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.core.config import Settings
from api.core.names import API_PREFIX
from api.models.account import Account


async def unverified_refusal(
    session: AsyncSession, settings: Settings, hub_name: str
) -> str | None:
    """Why ``hub_name`` may not start a server yet, or None if nothing stands in the way.

    Hub users without an account (created by an admin on the hub itself) are not held back:
    they have no address to verify."""
    if settings.authenticator != "platform":
        return None
    account = await session.scalar(select(Account).where(Account.username == hub_name))
    if account is None or account.email_verified_at is not None:
        return None
    where = f"the address {account.email}" if account.email else "your e-mail address"
    return (
        f"Verify your e-mail address before starting a server: open the link we sent to "
        f"{where}. No mail? Ask for a new link at "
        f"{settings.public_base_url}{API_PREFIX.lstrip('/')}accounts/verify/resend."
    )
