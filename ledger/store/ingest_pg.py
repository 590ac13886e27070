"""Ingest's statements on PostgreSQL, run on the session's own psycopg connection (so inside its
transaction) as fixed, server-side prepared statements with array or JSON parameters.

Why not SQLAlchemy here: a batch of trip reports costs a handful of statements, and on this path their
Python-side cost (cache keys, ORM execution contexts, result metadata) was about a third of the worker's
CPU per report. The statements read and write exactly what the SQLAlchemy forms in ``ledger.ingest``,
``ledger.vehicles`` and ``ledger.consent`` do (the batch-versus-one-by-one property test runs on
PostgreSQL too), and SQLite keeps those forms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from psycopg import Connection
from sqlalchemy.orm import Session

__all__ = ["Snapshot", "insert_trips", "insert_uploads", "snapshot"]

_KEYS: Final = (
    "SELECT DISTINCT ON (vehicle_id) vehicle_id, algorithm, public_key, revoked_at FROM device_keys "
    "WHERE vehicle_id = ANY(%(cars)s::varchar[]) ORDER BY vehicle_id, id DESC"
)
# Each car's top sequence that is not denied: the LATERAL subquery walks the (vehicle_id, seq) index
# backwards from its top.
_LAST: Final = (
    "SELECT cars.vehicle_id, top.seq, top.started_at, top.ended_at, top.odometer_end_m "
    "FROM unnest(%(cars)s::varchar[]) AS cars(vehicle_id) CROSS JOIN LATERAL ("
    "SELECT seq, started_at, ended_at, odometer_end_m FROM trips WHERE trips.vehicle_id = cars.vehicle_id "
    "AND trips.status <> %(denied)s ORDER BY seq DESC LIMIT 1) AS top"
)
_OWNERSHIPS: Final = (
    "SELECT vehicle_id, account, from_time FROM ownerships WHERE vehicle_id = ANY(%(cars)s::varchar[])"
)
# Accounts are stored in their EIP-55 form everywhere, so the owners' consents are found by equality.
_CONSENTS: Final = (
    "SELECT account, granted_at, revoked_at, categories FROM consents WHERE account IN "
    "(SELECT account FROM ownerships WHERE vehicle_id = ANY(%(cars)s::varchar[])) ORDER BY granted_at, id"
)
_TRIP_COLUMNS: Final = (
    "vehicle_id, seq, payload_hash, started_at, ended_at, odometer_start_m, odometer_end_m, energy_wh, "
    "drive_mode, checkin_ids, status, reason, detail, received_at, details_deleted, signature, upload_hash"
)
# Rows of the table's own type from one JSON parameter: the rows are encoded by the json module's C
# encoder, and the statement's text does not grow with the batch.
_INSERT_TRIPS: Final = (
    f"INSERT INTO trips ({_TRIP_COLUMNS}) SELECT {_TRIP_COLUMNS} "
    "FROM json_populate_recordset(NULL::trips, %(rows)s::json) ON CONFLICT DO NOTHING RETURNING id"
)
_UPLOAD_COLUMNS: Final = "upload_hash, vehicle_id, algorithm, signature, payload_hashes, received_at"
_INSERT_UPLOADS: Final = (
    f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) SELECT {_UPLOAD_COLUMNS} "
    "FROM json_populate_recordset(NULL::uploads, %(rows)s::json) ON CONFLICT DO NOTHING"
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The stored state a batch of reports asks about, for its cars."""

    # each car's newest key: car, algorithm, public key, revoked_at
    keys: list[tuple[str, str, bytes, int | None]]
    # each car's top trip that was not denied: car, seq, started_at, ended_at, odometer_end_m
    last: list[tuple[str, int, int, int, int]]
    # every ownership of the cars, in no order: car, account, from_time
    ownerships: list[tuple[str, str, int]]
    # their owners' consents by grant time, then id: account, granted_at, revoked_at, categories
    consents: list[tuple[str, int, int | None, str]]


def _driver(session: Session) -> Connection[Any]:
    """The psycopg connection behind ``session``'s current transaction, after the session's pending changes
    were flushed to it (SQLAlchemy's own statements autoflush; these would otherwise not see them)."""
    session.flush()
    driver: Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
    return driver


def snapshot(session: Session, vehicle_ids: Sequence[str], denied: str) -> Snapshot:
    """The cars' snapshot: four prepared statements on one cursor; ``denied`` is the stored form of the
    status whose trips are no precedent. (A psycopg pipeline saves round trips but cost more CPU here.)"""
    driver = _driver(session)
    cars = {"cars": list(vehicle_ids)}
    with driver.cursor() as cursor:
        keys = cursor.execute(_KEYS, cars, prepare=True).fetchall()
        last = cursor.execute(_LAST, {**cars, "denied": denied}, prepare=True).fetchall()
        ownerships = cursor.execute(_OWNERSHIPS, cars, prepare=True).fetchall()
        consents = cursor.execute(_CONSENTS, cars, prepare=True).fetchall()
    return Snapshot([(row[0], row[1], bytes(row[2]), row[3]) for row in keys], last, ownerships, consents)


def insert_trips(session: Session, rows_json: str) -> list[int]:
    """Inserts the trips of ``rows_json`` (a JSON array of row objects), skipping any that collide with a
    stored sequence or payload hash; the ids of those inserted."""
    with _driver(session).cursor() as cursor:
        cursor.execute(_INSERT_TRIPS, {"rows": rows_json}, prepare=True)
        return [row[0] for row in cursor.fetchall()]


def insert_uploads(session: Session, rows_json: str) -> None:
    """Inserts the upload rows of ``rows_json`` that are not stored yet."""
    with _driver(session).cursor() as cursor:
        cursor.execute(_INSERT_UPLOADS, {"rows": rows_json}, prepare=True)
