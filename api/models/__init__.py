"""SQLAlchemy 2 models of the platform database. Import from here so metadata is complete."""

from api.models.base import Base
from api.models.event import Event
from api.models.plan import Plan
from api.models.profile import UserProfile
from api.models.tenant import Tenant

__all__ = ["Base", "Event", "Plan", "Tenant", "UserProfile"]
