"""Plans: the limits (CPU, memory, daily minutes, idle timeout, servers, storage) and price."""

from sqlalchemy import CheckConstraint, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from api.models.base import Base, Timestamped


class Plan(Timestamped, Base):
    """A subscription plan and the limits it grants. Limits are data: edit a row to change them.

    ``None`` in a limit means "no limit".
    """

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(
            "generation_concurrency IS NULL OR generation_concurrency > 0",
            name="generation_concurrency",
        ),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer, doc="Orders plans from smallest to largest.")
    price_cents_per_month: Mapped[int | None] = mapped_column(Integer)
    cpu_limit: Mapped[float] = mapped_column(Numeric(5, 2, asdecimal=False))
    memory_limit_mb: Mapped[int] = mapped_column(Integer)
    daily_minutes: Mapped[int | None] = mapped_column(Integer)
    idle_timeout_minutes: Mapped[int] = mapped_column(Integer)
    named_servers: Mapped[int] = mapped_column(Integer)
    storage_gb: Mapped[int] = mapped_column(Integer)
    generations_per_day: Mapped[int | None] = mapped_column(Integer)
    assistant_requests_per_day: Mapped[int | None] = mapped_column(Integer)
    # How many of one organisation's (or one person's) generation jobs run at once.
    generation_concurrency: Mapped[int | None] = mapped_column(Integer)
