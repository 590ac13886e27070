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
from typing import Any, Final

from psycopg import Cursor
from sqlalchemy.orm import Session

__all__ = [
    "consent_rows",
    "cursor",
    "insert_trips",
    "insert_uploads",
    "last_trips",
    "latest_device_keys",
    "ownerships",
]

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
_CONSENTS: Final = (
    "SELECT account, granted_at, revoked_at, categories FROM consents "
    "WHERE account = ANY(%(accounts)s::varchar[]) ORDER BY granted_at, id"
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


def cursor(session: Session) -> Cursor[Any]:
    """A cursor on the psycopg connection behind ``session``'s current transaction."""
    driver: Any = session.connection().connection.driver_connection
    result: Cursor[Any] = driver.cursor()
    return result


def _rows(session: Session, statement: str, params: dict[str, object]) -> list[tuple[Any, ...]]:
    with cursor(session) as cur:
        cur.execute(statement, params, prepare=True)
        return cur.fetchall()


def latest_device_keys(
    session: Session, vehicle_ids: Sequence[str]
) -> list[tuple[str, str, bytes, int | None]]:
    """``(vehicle_id, algorithm, public_key, revoked_at)`` of each car's newest key."""
    return [
        (row[0], row[1], bytes(row[2]), row[3]) for row in _rows(session, _KEYS, {"cars": list(vehicle_ids)})
    ]


def last_trips(
    session: Session, vehicle_ids: Sequence[str], denied: str
) -> list[tuple[str, int, int, int, int]]:
    """``(vehicle_id, seq, started_at, ended_at, odometer_end_m)`` of each car's top trip whose stored status
    is not ``denied``."""
    return [tuple(row) for row in _rows(session, _LAST, {"cars": list(vehicle_ids), "denied": denied})]


def ownerships(session: Session, vehicle_ids: Sequence[str]) -> list[tuple[str, str, int]]:
    """``(vehicle_id, account, from_time)`` of every ownership of the cars, in no particular order."""
    return [tuple(row) for row in _rows(session, _OWNERSHIPS, {"cars": list(vehicle_ids)})]


def consent_rows(session: Session, accounts: Sequence[str]) -> list[tuple[str, int, int | None, str]]:
    """``(account, granted_at, revoked_at, categories)`` of the accounts' consents, by grant time then id."""
    return [tuple(row) for row in _rows(session, _CONSENTS, {"accounts": list(accounts)})]


def insert_trips(session: Session, rows_json: str) -> list[int]:
    """Inserts the trips of ``rows_json`` (a JSON array of row objects), skipping any that collide with a
    stored sequence or payload hash; the ids of those inserted."""
    return [row[0] for row in _rows(session, _INSERT_TRIPS, {"rows": rows_json})]


def insert_uploads(session: Session, rows_json: str) -> None:
    """Inserts the upload rows of ``rows_json`` that are not stored yet."""
    with cursor(session) as cur:
        cur.execute(_INSERT_UPLOADS, {"rows": rows_json}, prepare=True)
