"""Re-verifying stored device signatures: every trip in the operator's database checked again against the
signature it arrived with (``docs/audit.md``, "Re-verifying stored device signatures").

Since migration 0005 each recorded trip keeps how it was signed: ``trips.signature`` (its own device
signature) or ``trips.upload_hash`` (the upload envelope, stored in ``uploads`` with its hash list in signed
order). :func:`check_trips` walks ``trips`` in id order, a chunk at a time, and yields one
:class:`TripCheck` per trip:

* **Signed alone**: the canonical bytes (``docs/wire-format.md`` §2) are rebuilt from the stored fields with
  the algorithm of each key of the car that was current at the trip's ``received_at`` (``created_at ≤ t``,
  ``revoked_at`` null or ``≥ t``: two keys in the second of a rotation; ``trips`` stores no algorithm);
  they must hash to ``payload_hash`` and the signature must verify over them under that key.
* **In an envelope**: the ``uploads`` row must exist and be the trip's car's; its upload bytes (§7.2),
  rebuilt from its car, algorithm and hash list, must hash to ``upload_hash``; the list must hold the trip's
  ``payload_hash``; the envelope's signature must verify over the upload bytes under a key of its algorithm
  current at the *envelope's* ``received_at``; then the trip's fields, rebuilt with that algorithm, must
  hash to ``payload_hash``.
* **Neither** (stored before 0005): not checkable. **Both**: a row ingest never writes, so it fails.

What a result proves: ``VERIFIED`` means a key registered for the car at the time signed exactly the stored
fields; a row written or edited without the car's key fails. It does not prove:

* anything about erased trips' details: after a consent revocation a trip keeps no details to rebuild.
  Signed alone it is ``NOT_CHECKABLE``; in an envelope ``HASH_VERIFIED`` only says the car signed a report
  with that payload hash, not what the report said;
* anything about trips stored before migration 0005 (``NOT_CHECKABLE``);
* that the keys are the cars' keys: the operator registers device keys, so compare them with the car
  maker's record where one exists;
* what is missing: rejected reports are not stored, a deleted row leaves no trace, and an envelope's list
  also names reports not recorded from it (rejected ones, duplicates);
* that the verdicts (accepted, held, released, denied) were right: only who signed.

The caches keep each car's keys and each envelope's check (one signature per envelope, not per trip) for
the cars and envelopes seen recently, so a large table costs one signature check per trip signed alone
plus one per envelope, and a few queries per chunk. Nothing here writes; :func:`open_readonly` opens a
database so that it cannot (a read-only snapshot on PostgreSQL, a read-only connection on SQLite).
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import urllib.parse
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Final, Generic, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ledger import telemetry, uploads
from ledger.errors import ValidationError, YuanshiError
from ledger.store.db import make_engine
from ledger.store.models import DeviceKey, Trip, Upload
from ledger.store.sql import one_of
from ledger.telemetry import Algorithm, DriveMode, TripReport

__all__ = [
    "CHUNK_SIZE",
    "Outcome",
    "Reason",
    "Summary",
    "TripAuditInputError",
    "TripCheck",
    "audit_trips",
    "check_trips",
    "open_readonly",
]

CHUNK_SIZE: Final = 1_000  # trips read per query
_CACHED_CARS: Final = 50_000
_CACHED_UPLOADS: Final = 10_000
_DIGEST_RE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_DRIVE_MODES: Final = {mode.wire_name: mode for mode in DriveMode}


class TripAuditInputError(YuanshiError):
    """The database cannot be audited: not a database URL, no such file, unreachable, or a schema without
    the columns of migration 0005. A command reports it as bad input, not as a failed trip."""


class Outcome(StrEnum):
    VERIFIED = "verified"
    HASH_VERIFIED = "hash_verified_details_erased"  # the envelope covers the hash; the details are erased
    NOT_CHECKABLE = "not_checkable"
    FAILED = "failed"


class Reason(StrEnum):
    """Why a trip failed or could not be checked."""

    # not checkable
    DETAILS_ERASED = "details_erased"
    STORED_BEFORE_0005 = "stored_before_0005"
    # failed
    MALFORMED = "malformed"  # a stored value that cannot be decoded, or a row ingest never writes
    NO_KEY = "no_key"
    PAYLOAD_HASH_MISMATCH = "payload_hash_mismatch"
    BAD_SIGNATURE = "bad_signature"
    NO_UPLOAD = "no_upload"
    UPLOAD_OF_ANOTHER_CAR = "upload_of_another_car"
    UPLOAD_HASH_MISMATCH = "upload_hash_mismatch"
    NOT_IN_UPLOAD = "not_in_upload"
    BAD_UPLOAD_SIGNATURE = "bad_upload_signature"

    @property
    def outcome(self) -> Outcome:
        """The outcome of a trip with this reason."""
        return Outcome.NOT_CHECKABLE if self in _NOT_CHECKABLE else Outcome.FAILED


_NOT_CHECKABLE: Final = frozenset({Reason.DETAILS_ERASED, Reason.STORED_BEFORE_0005})


@dataclass(frozen=True, slots=True)
class TripCheck:
    """The result for one stored trip; ``reason`` is set when it failed or could not be checked."""

    trip_id: int
    vehicle_id: str
    seq: int
    outcome: Outcome
    reason: Reason | None = None
    detail: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "trip": self.trip_id,
            "vehicle_id": self.vehicle_id,
            "seq": self.seq,
            "outcome": self.outcome.value,
            "reason": None if self.reason is None else self.reason.value,
            "detail": self.detail,
        }


@dataclass
class Summary:
    """Counts over a walk, and the first ``keep_failures`` failed trips."""

    keep_failures: int = 20
    trips: int = 0
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    reasons: Counter[Reason] = field(default_factory=Counter)
    failures: list[TripCheck] = field(default_factory=list)

    def add(self, check: TripCheck) -> None:
        self.trips += 1
        self.outcomes[check.outcome] += 1
        if check.reason is not None:
            self.reasons[check.reason] += 1
        if check.outcome is Outcome.FAILED and len(self.failures) < self.keep_failures:
            self.failures.append(check)

    @property
    def failed(self) -> int:
        return self.outcomes[Outcome.FAILED]

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_json(self) -> dict[str, object]:
        return {
            "trips": self.trips,
            **{outcome.value: self.outcomes[outcome] for outcome in Outcome},
            "reasons": {reason.value: self.reasons[reason] for reason in Reason if self.reasons[reason]},
            "failures": [check.to_json() for check in self.failures],
        }


# --- stored rows --------------------------------------------------------------------------------------


_TRIP_COLUMNS: Final = (
    Trip.id,
    Trip.vehicle_id,
    Trip.seq,
    Trip.payload_hash,
    Trip.started_at,
    Trip.ended_at,
    Trip.odometer_start_m,
    Trip.odometer_end_m,
    Trip.energy_wh,
    Trip.drive_mode,
    Trip.checkin_ids,
    Trip.received_at,
    Trip.details_deleted,
    Trip.signature,
    Trip.upload_hash,
)


@dataclass(frozen=True, slots=True)
class _StoredTrip:
    id: int
    vehicle_id: str
    seq: int
    payload_hash: str
    started_at: int
    ended_at: int
    odometer_start_m: int
    odometer_end_m: int
    energy_wh: int
    drive_mode: str
    checkin_ids: str
    received_at: int
    details_deleted: bool
    signature: str | None
    upload_hash: str | None


_UPLOAD_COLUMNS: Final = (
    Upload.upload_hash,
    Upload.vehicle_id,
    Upload.algorithm,
    Upload.signature,
    Upload.payload_hashes,
    Upload.received_at,
)


@dataclass(frozen=True, slots=True)
class _StoredUpload:
    upload_hash: str
    vehicle_id: str
    algorithm: str
    signature: str
    payload_hashes: str
    received_at: int


class _Malformed(Exception):
    """A stored value that cannot be decoded; the message says which."""


def _digest(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _DIGEST_RE.fullmatch(value):
        raise _Malformed(f"{what} is not 0x-prefixed hex of 32 bytes")
    return bytes.fromhex(value[2:])


def _signature(value: str, what: str) -> bytes:
    try:
        return telemetry.parse_signature(value)
    except ValidationError:
        raise _Malformed(f"{what} is not 0x-prefixed hex of {telemetry.SIGNATURE_LEN} bytes") from None


def _canonical(trip: _StoredTrip, algorithm: Algorithm) -> bytes:
    """The report's canonical bytes, rebuilt from the trip's stored fields."""
    if trip.drive_mode not in _DRIVE_MODES:
        raise _Malformed(f"drive_mode {trip.drive_mode[:20]!r} is not a drive mode")
    try:
        checkin_ids = json.loads(trip.checkin_ids)
    except ValueError:
        raise _Malformed("checkin_ids is not JSON") from None
    if not isinstance(checkin_ids, list):
        raise _Malformed("checkin_ids is not a JSON list")
    try:
        report = TripReport(
            vehicle_id=trip.vehicle_id,
            seq=trip.seq,
            started_at=trip.started_at,
            ended_at=trip.ended_at,
            odometer_start_m=trip.odometer_start_m,
            odometer_end_m=trip.odometer_end_m,
            energy_wh=trip.energy_wh,
            drive_mode=_DRIVE_MODES[trip.drive_mode],
            checkin_ids=tuple(checkin_ids),
            algorithm=algorithm,
        )
    except ValidationError as exc:
        raise _Malformed(f"the stored fields are not a report: {exc}") from None
    return telemetry.canonical_bytes(report)


@dataclass(frozen=True, slots=True)
class _Key:
    key: telemetry.DeviceKey
    created_at: int
    revoked_at: int | None

    def current_at(self, at: int) -> bool:
        return self.created_at <= at and (self.revoked_at is None or self.revoked_at >= at)


def _keys_at(keys: Sequence[_Key], at: int) -> list[telemetry.DeviceKey]:
    """The car's keys that were current at ``at`` (two in the second of a rotation)."""
    return [key.key for key in keys if key.current_at(at)]


@dataclass(frozen=True, slots=True)
class _Envelope:
    """An ``uploads`` row checked once for all of its trips: the failure of its hash check, or its hash
    list; and the failure of its signature check, if any."""

    vehicle_id: str
    algorithm: Algorithm | None
    digests: frozenset[bytes]
    structure: tuple[Reason, str] | None
    signature: tuple[Reason, str] | None


def _check_envelope(row: _StoredUpload, keys: Sequence[_Key]) -> _Envelope:
    def failed(reason: Reason, detail: str) -> _Envelope:
        return _Envelope(row.vehicle_id, None, frozenset(), (reason, detail), None)

    try:
        algorithm = Algorithm(row.algorithm)
        hashes = json.loads(row.payload_hashes)
        if not isinstance(hashes, list):
            raise _Malformed("its payload_hashes is not a JSON list")
        digests = [_digest(value, "a listed payload hash") for value in hashes]
        expected = _digest(row.upload_hash, "its upload_hash")
        message = uploads.upload_bytes(row.vehicle_id, algorithm, digests)
    except (_Malformed, ValueError, OverflowError) as exc:
        return failed(Reason.MALFORMED, f"upload envelope {row.upload_hash[:66]}: {exc}")
    if hashlib.sha256(message).digest() != expected:
        detail = "the envelope's car, algorithm and hash list do not hash to its upload_hash"
        return failed(Reason.UPLOAD_HASH_MISMATCH, detail)
    try:
        signature = _signature(row.signature, "the envelope's signature")
    except _Malformed as exc:
        return _Envelope(row.vehicle_id, algorithm, frozenset(digests), None, (Reason.MALFORMED, str(exc)))
    candidates = [key for key in _keys_at(keys, row.received_at) if key.algorithm is algorithm]
    problem: tuple[Reason, str] | None = None
    if not candidates:
        detail = f"no {algorithm} key of {row.vehicle_id} was current at the envelope's {row.received_at}"
        problem = (Reason.NO_KEY, detail)
    elif not any(telemetry.signature_valid(key, message, signature) for key in candidates):
        detail = f"the envelope's signature does not verify under the key of {row.vehicle_id} then"
        problem = (Reason.BAD_UPLOAD_SIGNATURE, detail)
    return _Envelope(row.vehicle_id, algorithm, frozenset(digests), None, problem)


# --- one trip -----------------------------------------------------------------------------------------


def _check(
    trip: _StoredTrip, keys: Sequence[_Key], envelope: _Envelope | None
) -> tuple[Outcome, Reason | None, str]:
    try:
        if trip.signature is not None and trip.upload_hash is not None:
            raise _Malformed("the trip has both a signature and an upload envelope; ingest stores one")
        if trip.signature is not None:
            return _check_signed(trip, keys)
        if trip.upload_hash is not None:
            return _check_uploaded(trip, envelope)
    except _Malformed as exc:
        return Outcome.FAILED, Reason.MALFORMED, str(exc)
    detail = "neither a signature nor an upload envelope is stored (stored before migration 0005)"
    return Outcome.NOT_CHECKABLE, Reason.STORED_BEFORE_0005, detail


def _check_signed(trip: _StoredTrip, keys: Sequence[_Key]) -> tuple[Outcome, Reason | None, str]:
    if trip.details_deleted:
        return Outcome.NOT_CHECKABLE, Reason.DETAILS_ERASED, "details erased: nothing left to check"
    signature = _signature(trip.signature or "", "signature")
    expected = _digest(trip.payload_hash, "payload_hash")
    candidates = _keys_at(keys, trip.received_at)
    if not candidates:
        detail = f"no key of {trip.vehicle_id} was current at the trip's {trip.received_at}"
        return Outcome.FAILED, Reason.NO_KEY, detail
    hashed = False
    for key in candidates:
        message = _canonical(trip, key.algorithm)
        if hashlib.sha256(message).digest() != expected:
            continue  # a key of another algorithm: its bytes give another hash
        hashed = True
        if telemetry.signature_valid(key, message, signature):
            return Outcome.VERIFIED, None, ""
    if not hashed:
        schemes = " and ".join(sorted({key.algorithm.value for key in candidates}))
        detail = (
            f"the stored fields, encoded for the {schemes} key current at {trip.received_at}, "
            "do not hash to the payload hash"
        )
        return Outcome.FAILED, Reason.PAYLOAD_HASH_MISMATCH, detail
    detail = f"the signature does not verify under the key of {trip.vehicle_id} at {trip.received_at}"
    return Outcome.FAILED, Reason.BAD_SIGNATURE, detail


def _envelope_problem(trip: _StoredTrip, envelope: _Envelope | None) -> tuple[Reason, str] | None:
    """Why the trip's envelope does not vouch for its payload hash, in the order of ``docs/audit.md``."""
    if envelope is None:
        return Reason.NO_UPLOAD, "no upload envelope with the trip's upload_hash"
    if envelope.vehicle_id != trip.vehicle_id:
        return Reason.UPLOAD_OF_ANOTHER_CAR, f"the envelope is {envelope.vehicle_id}'s"
    if envelope.structure is not None:
        return envelope.structure
    if _digest(trip.payload_hash, "payload_hash") not in envelope.digests:
        return Reason.NOT_IN_UPLOAD, "the envelope's hash list does not hold the payload hash"
    return envelope.signature


def _check_uploaded(trip: _StoredTrip, envelope: _Envelope | None) -> tuple[Outcome, Reason | None, str]:
    problem = _envelope_problem(trip, envelope)
    if problem is not None:
        return Outcome.FAILED, *problem
    if trip.details_deleted:
        return Outcome.HASH_VERIFIED, None, "payload hash verified; details erased"
    assert envelope is not None  # the checks above passed, so there is one, and it parsed
    assert envelope.algorithm is not None
    message = _canonical(trip, envelope.algorithm)
    if hashlib.sha256(message).digest() != _digest(trip.payload_hash, "payload_hash"):
        detail = "the stored fields do not hash to the payload hash"
        return Outcome.FAILED, Reason.PAYLOAD_HASH_MISMATCH, detail
    return Outcome.VERIFIED, None, ""


# --- the walk -----------------------------------------------------------------------------------------

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A dictionary that forgets its least recently used entries beyond ``size``."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class _Walk:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.keys: _Lru[str, tuple[_Key, ...]] = _Lru(_CACHED_CARS)
        # None: no row with that hash.
        self.envelopes: _Lru[str, tuple[_Envelope | None]] = _Lru(_CACHED_UPLOADS)

    def car_keys(self, vehicle_ids: Iterable[str]) -> dict[str, tuple[_Key, ...]]:
        found: dict[str, tuple[_Key, ...]] = {}
        missing = []
        for vehicle_id in set(vehicle_ids):
            cached = self.keys.get(vehicle_id)
            if cached is None:
                missing.append(vehicle_id)
            else:
                found[vehicle_id] = cached
        if missing:
            loaded: dict[str, list[_Key]] = {vehicle_id: [] for vehicle_id in missing}
            columns = (
                DeviceKey.vehicle_id,
                DeviceKey.algorithm,
                DeviceKey.public_key,
                DeviceKey.created_at,
                DeviceKey.revoked_at,
            )
            query = (
                select(*columns)
                .where(one_of(self.session, DeviceKey.vehicle_id, sorted(missing)))
                .order_by(DeviceKey.id)  # oldest first, as registered
            )
            for vehicle_id, algorithm, public_key, created_at, revoked_at in self.session.execute(query):
                try:
                    key = telemetry.DeviceKey(Algorithm(algorithm), bytes(public_key))
                except ValueError:
                    continue  # a malformed key verifies nothing; a trip with no other key fails NO_KEY
                loaded[vehicle_id].append(_Key(key, created_at, revoked_at))
            for vehicle_id, keys in loaded.items():
                found[vehicle_id] = tuple(keys)
                self.keys.put(vehicle_id, found[vehicle_id])
        return found

    def upload_rows(
        self, upload_hashes: Iterable[str]
    ) -> tuple[dict[str, _Envelope | None], list[_StoredUpload]]:
        """The cached envelope checks, and the rows of the envelopes still to check."""
        found: dict[str, _Envelope | None] = {}
        missing = []
        for upload_hash in set(upload_hashes):
            cached = self.envelopes.get(upload_hash)
            if cached is None:
                missing.append(upload_hash)
            else:
                found[upload_hash] = cached[0]
        rows: list[_StoredUpload] = []
        if missing:
            query = select(*_UPLOAD_COLUMNS).where(one_of(self.session, Upload.upload_hash, sorted(missing)))
            rows = [_StoredUpload(**row._asdict()) for row in self.session.execute(query)]
            present = {row.upload_hash for row in rows}
            for upload_hash in missing:
                if upload_hash not in present:
                    found[upload_hash] = None
                    self.envelopes.put(upload_hash, (None,))
        return found, rows

    def chunk(self, trips: Sequence[_StoredTrip]) -> Iterator[TripCheck]:
        envelopes, rows = self.upload_rows(trip.upload_hash for trip in trips if trip.upload_hash)
        keys = self.car_keys([trip.vehicle_id for trip in trips] + [row.vehicle_id for row in rows])
        for row in rows:
            envelopes[row.upload_hash] = _check_envelope(row, keys[row.vehicle_id])
            self.envelopes.put(row.upload_hash, (envelopes[row.upload_hash],))
        for trip in trips:
            envelope = None if trip.upload_hash is None else envelopes[trip.upload_hash]
            outcome, reason, detail = _check(trip, keys[trip.vehicle_id], envelope)
            yield TripCheck(trip.id, trip.vehicle_id, trip.seq, outcome, reason, detail)


def check_trips(session: Session, *, chunk_size: int = CHUNK_SIZE) -> Iterator[TripCheck]:
    """One :class:`TripCheck` per stored trip, in id order, reading ``chunk_size`` trips per query.

    Read-only. For one consistent view of a database that is being written, run it in one snapshot
    (:func:`open_readonly` does)."""
    if chunk_size < 1:
        raise ValidationError(f"chunk_size must be positive, got {chunk_size}")
    walk = _Walk(session)
    after = -1
    while True:
        query = select(*_TRIP_COLUMNS).where(Trip.id > after).order_by(Trip.id).limit(chunk_size)
        trips = [_StoredTrip(**row._asdict()) for row in session.execute(query)]
        if not trips:
            return
        yield from walk.chunk(trips)
        after = trips[-1].id


def audit_trips(session: Session, *, keep_failures: int = 20, chunk_size: int = CHUNK_SIZE) -> Summary:
    """The :class:`Summary` of :func:`check_trips` over every stored trip."""
    summary = Summary(keep_failures=keep_failures)
    for check in check_trips(session, chunk_size=chunk_size):
        summary.add(check)
    return summary


# --- opening a database to audit ----------------------------------------------------------------------


def _sqlite_readonly(url: URL) -> Engine:
    """A read-only SQLite engine whose transactions are deferred: a snapshot that blocks no writer (WAL)."""
    database = url.database
    if not database or database == ":memory:":
        raise TripAuditInputError("an in-memory SQLite database holds no trips to audit")
    path = Path(database)
    if not path.is_file():
        raise TripAuditInputError(f"no SQLite database at {path}")
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(uri, uri=True, timeout=30)
        connection.isolation_level = None  # let the "begin" listener below open transactions
        connection.execute("PRAGMA query_only=ON")
        return connection

    engine = create_engine("sqlite://", creator=connect, poolclass=NullPool)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")  # deferred: a read snapshot, not the ledger's write lock

    return engine


def _engine(url: str) -> tuple[Engine, Engine]:
    """The engine to read with, and the one to dispose of afterwards."""
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            engine = _sqlite_readonly(parsed)
            return engine, engine
        if backend == "postgresql":
            base = make_engine(url)
            # One snapshot for the whole walk, and a transaction the server refuses to write in.
            return base.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True), base
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise TripAuditInputError(f"not a usable database URL: {exc}") from None
    raise TripAuditInputError(f"unsupported database {backend!r}: the ledger runs on SQLite or PostgreSQL")


def _require_schema(engine: Engine, shown: str) -> None:
    try:
        with engine.connect() as connection:
            inspector = inspect(connection)
            tables = set(inspector.get_table_names())
            missing = sorted({"trips", "uploads", "device_keys"} - tables)
            columns = {column["name"] for column in inspector.get_columns("trips")} if not missing else set()
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise TripAuditInputError(f"cannot read the database {shown}: {reason}") from None
    if "trips" in missing:
        raise TripAuditInputError(f"{shown} has no trips table: not a Yuanshi database, or not migrated")
    if missing or not {"signature", "upload_hash"} <= columns:
        raise TripAuditInputError(
            f"{shown} predates migration 0005 (no stored signatures or upload envelopes): "
            "migrate it first; trips stored before 0005 cannot be re-verified"
        )


@contextmanager
def open_readonly(url: str) -> Iterator[Session]:
    """A session on the database at ``url`` that cannot write, over one consistent snapshot.

    Raises :class:`TripAuditInputError` when the database cannot be audited: a URL that is not SQLite or
    PostgreSQL, a missing SQLite file (never created), a server that does not answer, a schema before
    migration 0005."""
    engine, disposable = _engine(url)
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        _require_schema(engine, shown)
        with Session(engine) as session:
            yield session
    finally:
        disposable.dispose()
