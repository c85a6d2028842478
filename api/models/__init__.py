"""SQLAlchemy 2 models of the platform database. Import from here so metadata is complete."""

from api.models.account import (
    Account,
    AccountIdentity,
    AccountSession,
    AccountToken,
    RetiredUsername,
    SignInAttempt,
)
from api.models.assistant import AssistantConversation, AssistantMessage, AssistantUsage
from api.models.base import Base
from api.models.billing import (
    BillingCustomer,
    BundlePurchase,
    MeterReport,
    StripeEvent,
    Subscription,
    UsageMeter,
    UsageNotice,
)
from api.models.event import Event
from api.models.marketplace import Bundle, BundleInstall, BundlePattern, BundleRating
from api.models.oidc import OAuthAuthorizationCode, OAuthClient, OAuthSigningKey, OAuthToken
from api.models.organisation import OrganisationInvitation
from api.models.pattern import Pattern, PatternUse, PatternVersion, PatternVote
from api.models.plan import Plan
from api.models.profile import UserProfile
from api.models.project import Project, ProjectEvent
from api.models.tenant import Tenant
from api.models.usage import ServerSession

__all__ = [
    "Account",
    "AccountIdentity",
    "AccountSession",
    "AccountToken",
    "AssistantConversation",
    "AssistantMessage",
    "AssistantUsage",
    "Base",
    "BillingCustomer",
    "Bundle",
    "BundleInstall",
    "BundlePattern",
    "BundlePurchase",
    "BundleRating",
    "Event",
    "MeterReport",
    "OAuthAuthorizationCode",
    "OAuthClient",
    "OAuthSigningKey",
    "OAuthToken",
    "OrganisationInvitation",
    "Pattern",
    "PatternUse",
    "PatternVersion",
    "PatternVote",
    "Plan",
    "Project",
    "ProjectEvent",
    "RetiredUsername",
    "ServerSession",
    "SignInAttempt",
    "StripeEvent",
    "Subscription",
    "Tenant",
    "UsageMeter",
    "UsageNotice",
    "UserProfile",
]
