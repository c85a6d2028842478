"""Plans: the limits (CPU, memory, daily minutes, idle timeout, servers, storage) and price."""

from sqlalchemy import Boolean, CheckConstraint, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
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

    # Selling it (api.billing). A plan with no monthly price is "contact us"; one priced 0
    # is never sold. Stripe's ids are written by the catalogue sync.
    price_cents_per_year: Mapped[int | None] = mapped_column(Integer)
    trial_days: Mapped[int] = mapped_column(Integer, server_default="0")
    per_seat: Mapped[bool] = mapped_column(Boolean, server_default="false")
    requires_student_status: Mapped[bool] = mapped_column(Boolean, server_default="false")
    stripe_product_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_month_id: Mapped[str | None] = mapped_column(String(255))
    stripe_price_year_id: Mapped[str | None] = mapped_column(String(255))

    # Metered limits per person and day (api.billing.meters); None: no limit.
    api_calls_per_day: Mapped[int | None] = mapped_column(Integer)
    agent_steps_per_day: Mapped[int | None] = mapped_column(Integer)
    patterns_used_per_day: Mapped[int | None] = mapped_column(Integer)
    assistant_tokens_per_day: Mapped[int | None] = mapped_column(Integer)
    # Meters whose use beyond the limit is billed (reported to Stripe) instead of refused.
    overage_meters: Mapped[list[str]] = mapped_column(ARRAY(Text()), server_default="{}")

    @property
    def sold(self) -> bool:
        """Whether people can buy it through Checkout (priced, not free, not "contact us")."""
        return bool(self.price_cents_per_month)

    @property
    def contact_sales(self) -> bool:
        return self.price_cents_per_month is None
