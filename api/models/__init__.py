"""SQLAlchemy 2 models of the platform database. Import from here so metadata is complete."""

from api.models.base import Base
from api.models.event import Event
from api.models.pattern import Pattern, PatternUse, PatternVersion, PatternVote
from api.models.plan import Plan
from api.models.profile import UserProfile
from api.models.project import Project, ProjectEvent
from api.models.tenant import Tenant
from api.models.usage import ServerSession

__all__ = [
    "Base",
    "Event",
    "Pattern",
    "PatternUse",
    "PatternVersion",
    "PatternVote",
    "Plan",
    "Project",
    "ProjectEvent",
    "ServerSession",
    "Tenant",
    "UserProfile",
]
