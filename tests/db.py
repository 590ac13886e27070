"""Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database on the local server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from ledger.store.db import make_engine, migrate

POSTGRES_ADMIN_URL = os.environ.get(
    "YUANSHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ("sqlite", "postgresql")


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database of ``backend`` that is dropped afterwards."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
        migrate(engine)
        yield engine
        engine.dispose()
        return
    name = f"yuanshi_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine = make_engine(str(admin.url.set(database=name)))
        migrate(engine)
        yield engine
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
