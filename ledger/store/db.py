"""Engines, sessions, migrations and the one-settlement-worker lock."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ledger.errors import YuanshiError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SETTLEMENT_LOCK_KEY = 0x59554153  # "YUAS": the PostgreSQL advisory lock id of the settlement worker


class SettlementBusy(YuanshiError):
    """Another settlement worker holds the lock."""


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get WAL and foreign keys, and their folder is created."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
            # pysqlite opens transactions lazily, so a SAVEPOINT taken before the first write would start
            # (and its release commit) a transaction behind SQLAlchemy's back: let SQLAlchemy emit BEGIN.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # IMMEDIATE takes the write lock up front: a transaction that reads, then writes, can never
            # fail to upgrade its lock half-way (SQLite has one writer at a time anyway).
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest migration (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


@contextmanager
def settlement_lock(engine: Engine) -> Iterator[None]:
    """Holds the settlement lock for the block, or raises :class:`SettlementBusy` at once."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": SETTLEMENT_LOCK_KEY}
            ).scalar()
            if not got:
                raise SettlementBusy("another settlement worker is running (PostgreSQL advisory lock held)")
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SETTLEMENT_LOCK_KEY})
        return
    database = engine.url.database or ":memory:"
    lock_path = Path(database + ".settle.lock") if database != ":memory:" else None
    if lock_path is None:
        yield
        return
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise SettlementBusy(f"another settlement worker is running (lock file {lock_path})") from exc
        yield
    finally:
        os.close(fd)
