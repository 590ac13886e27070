"""Cars, their device keys and their owners (issue 3, DESIGN §3 and §6).

Conventions (shared by ``vehicles``, ``consent`` and ``ingest``): a service takes a SQLAlchemy ``Session``
and an explicit ``now`` (unix seconds, chain time); it validates its input, raises a typed error from
``ledger.errors`` with a clear message, and ``flush``es its writes but never commits: the caller owns the
transaction. A write that collides with a concurrent writer on a unique constraint becomes a
:class:`ConflictError` (each write runs in a SAVEPOINT, so the caller's transaction survives it).

Rules and invariants:

* **The VIN never leaves this module.** Only ``vin_hash(vin, salt) = "0x" + hex(HMAC-SHA256(salt, VIN))``
  is stored. The VIN is never stored, logged or put in an exception message; messages say "the VIN". The
  hash is keyed with a secret salt because VINs have little entropy (a maker's WMI, a model code and a
  serial), so a plain hash could be inverted by enumeration. A VIN is 17 characters of the ISO 3779
  alphabet (digits and capital letters except I, O and Q); lower case is folded to upper case first, so
  one VIN has one hash. The check digit is not verified: ISO 3779 does not mandate one.
* **Device keys.** A car has at most one unrevoked key: its newest. Rotation revokes the current key at
  ``now`` and activates the new one at once; revocation (a compromised or removed device) leaves the car
  with none until a rotation installs a new key. There is **no grace period** for the previous key: the
  payload hash excludes the signature (``docs/wire-format.md``), so a device re-signs the reports it
  still has queued with its new key and they are the same reports; a grace would only let a key that was
  rotated out because it was suspect keep adding mileage. A public key belongs to one car, once (a unique
  constraint): a retired key never comes back. P-256 keys are stored in the uncompressed SEC1 form so
  each key has exactly one stored form; either form is accepted as input.
* **Ownership** is a history of ``(account, from_time)`` rows per car. The owner at time ``t`` is the row
  with the greatest ``from_time <= t``; before registration a car has no owner. ``from_time`` strictly
  increases and consecutive owners differ, so each instant has exactly one owner. Accounts are stored
  EIP-55 checksummed; the zero address cannot own a car (tokens can't be minted to it). A transfer does
  not carry consent: the new owner's own consent decides whether the car earns after the transfer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Final, NamedTuple

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.merkle import MerkleError, normalize_address
from ledger.store.models import DeviceKey, Ownership, Vehicle
from ledger.store.sql import one_of
from ledger.telemetry import VEHICLE_ID_RE, Algorithm, load_public_key
from ledger.telemetry import DeviceKey as TelemetryKey

__all__ = [
    "MIN_SALT_BYTES",
    "VIN_LENGTH",
    "OwnershipRecord",
    "active_device_key",
    "check_time",
    "checksum_account",
    "get_vehicle",
    "latest_device_key",
    "latest_device_keys",
    "owner_at",
    "owner_in_history",
    "ownership_history",
    "register_vehicle",
    "revoke_device_key",
    "rotate_device_key",
    "transfer_ownership",
    "vin_hash",
]

VIN_LENGTH: Final = 17
# A salt shorter than this could itself be enumerated along with the VINs.
MIN_SALT_BYTES: Final = 16
# Same rule as the wire format's vehicle_id: a car must be able to name itself in its reports.
_VIN_RE: Final = re.compile(r"[A-HJ-NPR-Z0-9]{17}")
_ZERO_ADDRESS: Final = "0x" + "00" * 20
_ALGORITHMS: Final = frozenset(member.value for member in Algorithm)
# Bound on the ids in one IN (...) list: SQLite's default limit on bound parameters is far above it.
_ID_CHUNK: Final = 500


class OwnershipRecord(NamedTuple):
    vehicle_id: str
    account: str
    from_time: int


# --- validation ------------------------------------------------------------------------------------


def check_time(name: str, value: object) -> int:
    """``value`` as unix seconds, or :class:`ValidationError` (bool is refused: True is not 1 s)."""
    if type(value) is not int or value < 0:
        raise ValidationError(f"{name} must be a non-negative integer of unix seconds, got {value!r}")
    return value


def checksum_account(account: object) -> str:
    """The EIP-55 form of an account address; malformed, mis-checksummed and zero addresses are refused."""
    try:
        normalized = normalize_address(account)
    except MerkleError as exc:
        raise ValidationError(str(exc)) from None
    if normalized == _ZERO_ADDRESS:
        raise ValidationError("the zero address cannot be an account")
    return normalized


def _check_vehicle_id(vehicle_id: object) -> str:
    if type(vehicle_id) is not str or not VEHICLE_ID_RE.fullmatch(vehicle_id):
        raise ValidationError(f"vehicle id must be 1..64 characters of [A-Za-z0-9_-], got {vehicle_id!r}")
    return vehicle_id


def _algorithm(value: object) -> Algorithm:
    if isinstance(value, str) and value in _ALGORITHMS:
        return Algorithm(value)
    raise ValidationError(
        f"device key algorithm must be one of {', '.join(sorted(_ALGORITHMS))}, got {value!r}"
    )


def _stored_key_form(algorithm: Algorithm, raw: object) -> bytes:
    """The key as stored: validated, P-256 uncompressed so that one key has one form."""
    if not isinstance(raw, bytes | bytearray):
        raise ValidationError(f"device public key must be bytes, got {type(raw).__name__}")
    public = load_public_key(algorithm, bytes(raw))
    if algorithm is Algorithm.P256:
        return public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return bytes(raw)


# --- VIN ---------------------------------------------------------------------------------------------


def vin_hash(vin: str, salt: bytes) -> str:
    """``0x`` + hex HMAC-SHA256 of the upper-cased VIN under ``salt``; the VIN itself goes nowhere."""
    if type(vin) is not str:
        raise ValidationError(f"the VIN must be a string, got {type(vin).__name__}")
    folded = vin.upper()
    if not _VIN_RE.fullmatch(folded):
        # Deliberately no echo of the input: a near-valid VIN is still personal data.
        raise ValidationError(
            f"the VIN must be {VIN_LENGTH} characters of digits and capital letters without I, O and Q"
        )
    if not isinstance(salt, bytes) or len(salt) < MIN_SALT_BYTES:
        raise ValidationError(f"the VIN salt must be at least {MIN_SALT_BYTES} bytes")
    return "0x" + hmac.new(salt, folded.encode("ascii"), hashlib.sha256).hexdigest()


# --- lookups -----------------------------------------------------------------------------------------


def get_vehicle(session: Session, vehicle_id: str) -> Vehicle:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFoundError(f"vehicle {vehicle_id!r} is not registered")
    return vehicle


def _lock_vehicle(session: Session, vehicle_id: str) -> Vehicle:
    """The car's row, locked for the transaction (PostgreSQL ``FOR UPDATE``; SQLite locks the whole
    database on write), so that concurrent rotations or transfers of one car run one after the other."""
    vehicle = session.get(Vehicle, vehicle_id, with_for_update=True, populate_existing=True)
    if vehicle is None:
        raise NotFoundError(f"vehicle {vehicle_id!r} is not registered")
    return vehicle


def latest_device_key(session: Session, vehicle_id: str) -> DeviceKey | None:
    """The car's newest key, revoked or not (so verification can tell "revoked" from "unknown")."""
    query = select(DeviceKey).where(DeviceKey.vehicle_id == vehicle_id).order_by(DeviceKey.id.desc()).limit(1)
    return session.scalars(query).first()


def latest_device_keys(session: Session, vehicle_ids: Iterable[str]) -> dict[str, TelemetryKey]:
    """The newest key of each of ``vehicle_ids`` that has one, revoked or not, as verification reads it;
    one query per 500 cars."""
    latest: dict[str, TelemetryKey] = {}
    columns = (DeviceKey.vehicle_id, DeviceKey.algorithm, DeviceKey.public_key, DeviceKey.revoked_at)
    for chunk in _chunks(sorted(set(vehicle_ids)), _ID_CHUNK):
        query = select(*columns).where(one_of(session, DeviceKey.vehicle_id, chunk)).order_by(DeviceKey.id)
        for vehicle_id, algorithm, public_key, revoked_at in session.execute(query):  # newest wins
            latest[vehicle_id] = TelemetryKey(Algorithm(algorithm), public_key, revoked_at is not None)
    return latest


def active_device_key(session: Session, vehicle_id: str) -> DeviceKey | None:
    """The car's unrevoked key, if it has one."""
    key = latest_device_key(session, vehicle_id)
    return key if key is not None and key.revoked_at is None else None


def _latest_ownership(session: Session, vehicle_id: str) -> Ownership:
    query = (
        select(Ownership)
        .where(Ownership.vehicle_id == vehicle_id)
        .order_by(Ownership.from_time.desc())
        .limit(1)
    )
    ownership = session.scalars(query).first()
    if ownership is None:  # registration always writes one, so this is a broken store
        raise NotFoundError(f"vehicle {vehicle_id!r} has no ownership record")
    return ownership


def owner_at(session: Session, vehicle_id: str, at: int) -> str | None:
    """The account that owned the car at time ``at`` (None before its registration)."""
    get_vehicle(session, vehicle_id)
    query = (
        select(Ownership.account)
        .where(Ownership.vehicle_id == vehicle_id, Ownership.from_time <= at)
        .order_by(Ownership.from_time.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def _from_time(record: OwnershipRecord) -> int:
    return record.from_time


def owner_in_history(records: Sequence[OwnershipRecord], at: int) -> str | None:
    """The owner at ``at`` among one car's ``records`` sorted by time (as :func:`ownership_history` gives)."""
    index = bisect_right(records, at, key=_from_time)
    return records[index - 1].account if index else None


def _chunks(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def ownership_history(session: Session, vehicle_ids: Iterable[str]) -> list[OwnershipRecord]:
    """Every ownership row of the given cars, ordered by car id (code points = UTF-8 bytes), then time.

    Sorted here rather than by the database, whose collation may not order strings by their bytes.
    """
    records: list[OwnershipRecord] = []
    for chunk in _chunks(sorted(set(vehicle_ids)), _ID_CHUNK):
        query = select(Ownership.vehicle_id, Ownership.account, Ownership.from_time).where(
            one_of(session, Ownership.vehicle_id, chunk)
        )
        records.extend(OwnershipRecord(*row) for row in session.execute(query))
    return sorted(records, key=lambda record: (record.vehicle_id, record.from_time))


# --- writes ------------------------------------------------------------------------------------------


@contextmanager
def _savepoint(session: Session, conflict: str) -> Iterator[None]:
    """Runs the block's writes in a SAVEPOINT; a unique-constraint collision with a concurrent writer
    rolls back that savepoint only and becomes :class:`ConflictError` with the message ``conflict``."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        raise ConflictError(conflict) from None


def _require_unused_key(session: Session, public_key: bytes) -> None:
    if session.scalars(select(DeviceKey.id).where(DeviceKey.public_key == public_key)).first() is not None:
        raise ConflictError("this device public key is already registered; a key belongs to one car, once")


def _require_new_vehicle(session: Session, vehicle_id: str, hashed_vin: str) -> None:
    if session.get(Vehicle, vehicle_id) is not None:
        raise ConflictError(f"vehicle {vehicle_id!r} is already registered")
    if session.scalars(select(Vehicle.id).where(Vehicle.vin_hash == hashed_vin)).first() is not None:
        raise ConflictError("a vehicle with this VIN is already registered")


def register_vehicle(
    session: Session,
    vehicle_id: str,
    vin: str,
    salt: bytes,
    device_public_key: bytes,
    algorithm: Algorithm | str,
    owner: str,
    now: int,
) -> Vehicle:
    """Registers a car with its device key and first owner (from ``now``)."""
    _check_vehicle_id(vehicle_id)
    hashed_vin = vin_hash(vin, salt)
    scheme = _algorithm(algorithm)
    public_key = _stored_key_form(scheme, device_public_key)
    account = checksum_account(owner)
    check_time("now", now)
    _require_new_vehicle(session, vehicle_id, hashed_vin)
    _require_unused_key(session, public_key)
    vehicle = Vehicle(id=vehicle_id, vin_hash=hashed_vin, registered_at=now)
    with _savepoint(session, "vehicle id, VIN or device key was registered concurrently"):
        session.add(vehicle)
        session.flush()  # the parent row first: the other two refer to it
        session.add(
            DeviceKey(vehicle_id=vehicle_id, algorithm=scheme.value, public_key=public_key, created_at=now)
        )
        session.add(Ownership(vehicle_id=vehicle_id, account=account, from_time=now))
    return vehicle


def rotate_device_key(
    session: Session, vehicle_id: str, new_key: bytes, algorithm: Algorithm | str, now: int
) -> DeviceKey:
    """Revokes the car's current key (if any) at ``now`` and makes ``new_key`` its active key."""
    scheme = _algorithm(algorithm)
    public_key = _stored_key_form(scheme, new_key)
    check_time("now", now)
    _lock_vehicle(session, vehicle_id)
    _require_unused_key(session, public_key)
    current = active_device_key(session, vehicle_id)
    if current is not None and now < current.created_at:
        raise ValidationError(
            f"rotation at {now} precedes the current key's activation at {current.created_at}"
        )
    key = DeviceKey(vehicle_id=vehicle_id, algorithm=scheme.value, public_key=public_key, created_at=now)
    with _savepoint(session, "this device public key was registered concurrently"):
        if current is not None:
            current.revoked_at = now
        session.add(key)
    return key


def revoke_device_key(session: Session, vehicle_id: str, now: int) -> DeviceKey:
    """Revokes the car's active key at ``now``; its reports are refused until a rotation adds a new one."""
    check_time("now", now)
    _lock_vehicle(session, vehicle_id)
    current = active_device_key(session, vehicle_id)
    if current is None:
        raise ConflictError(f"vehicle {vehicle_id!r} has no active device key to revoke")
    current.revoked_at = now
    session.flush()
    return current


def transfer_ownership(session: Session, vehicle_id: str, new_owner: str, now: int) -> Ownership:
    """Records that ``new_owner`` owns the car from ``now`` on; earlier owners stay in the history."""
    account = checksum_account(new_owner)
    check_time("now", now)
    _lock_vehicle(session, vehicle_id)
    latest = _latest_ownership(session, vehicle_id)
    if latest.account == account:
        raise ConflictError(f"{account} already owns vehicle {vehicle_id!r}")
    if now <= latest.from_time:
        # Equal times too: two owners from the same second would make owner_at ambiguous.
        raise ValidationError(
            f"a transfer of {vehicle_id!r} at {now} must come after the latest one, at {latest.from_time}"
        )
    ownership = Ownership(vehicle_id=vehicle_id, account=account, from_time=now)
    with _savepoint(session, f"vehicle {vehicle_id!r} was transferred concurrently"):
        session.add(ownership)
    return ownership
