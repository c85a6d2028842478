"""Alembic environment: runs migrations with a synchronous psycopg 3 connection."""

from alembic import context
from sqlalchemy import create_engine, pool, text

from api.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic needs sqlalchemy.url; run migrations through api.core.migrate")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Migrations change every organisation's rows: a non-superuser owner is bound by
        # the forced policies too, so the migration's session is platform-wide.
        connection.execute(text("SELECT set_config('datazentr.platform', 'on', false)"))
        connection.commit()
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
