"""Alembic environment: runs against the engine the ledger hands over (see ``ledger.store.db.migrate``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from ledger.store.models import Base

engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through ledger.store.db.migrate(engine)")

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
