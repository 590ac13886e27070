"""Vehicles (issue 3): the salted VIN hash, registration, key rotation and revocation, ownership history.

Every test runs on SQLite and on PostgreSQL. The helpers and the two fixtures at the top are shared with
``test_consent`` and ``test_ingest``: they make one fresh database per module and backend (with
``tests.db.fresh_database``, as the conftest fixtures do) and empty its tables after each test, because
creating and migrating a PostgreSQL database for every test costs about two seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import Engine, LargeBinary, String, Text, inspect, select
from sqlalchemy.orm import Session

from ledger import vehicles
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.store.db import session_factory
from ledger.store.models import Base, DeviceKey, Ownership, Vehicle
from ledger.telemetry import Algorithm, PrivateKey
from tests.db import BACKENDS, fresh_database

T0: Final = 1_767_000_000
VIN: Final = "LSVAU2180N2183294"
OTHER_VIN: Final = "WVWZZZ1JZXW000001"
SALT: Final = b"yuanshi-test-salt-0123456789abcdef"
ALICE: Final = "0x1a642f0E3c3aF545E7AcBD38b07251B3990914F1"  # the account of private key 0x01 * 32
BOB: Final = vehicles.checksum_account("0x" + "b0" * 20)
CAROL: Final = vehicles.checksum_account("0x" + "ca" * 20)
ED_KEY: Final = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([0x11]) * 32)
ED_KEY_2: Final = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([0x22]) * 32)
P256_KEY: Final = ec.derive_private_key(0x5EED, ec.SECP256R1())
VEHICLE: Final = "YS-0001"


@pytest.fixture(name="engine", scope="module", params=BACKENDS)
def module_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    folder: Path = tmp_path_factory.mktemp("ledger")
    with fresh_database(str(request.param), folder) as engine:
        yield engine


@pytest.fixture(name="session")
def emptied_session(engine: Engine) -> Iterator[Session]:
    """A session on the module's database, whose tables are emptied afterwards (commits are fine)."""
    with session_factory(engine)() as session:
        yield session
    present = set(inspect(engine).get_table_names())
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in present:
                connection.execute(table.delete())


def raw_public(key: PrivateKey, *, compressed: bool = False) -> bytes:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    form = (
        serialization.PublicFormat.CompressedPoint
        if compressed
        else serialization.PublicFormat.UncompressedPoint
    )
    return key.public_key().public_bytes(serialization.Encoding.X962, form)


def algorithm_of(key: PrivateKey) -> Algorithm:
    return Algorithm.ED25519 if isinstance(key, ed25519.Ed25519PrivateKey) else Algorithm.P256


def register(
    session: Session,
    vehicle_id: str = VEHICLE,
    *,
    vin: str = VIN,
    key: PrivateKey = ED_KEY,
    owner: str = ALICE,
    now: int = T0,
) -> Vehicle:
    return vehicles.register_vehicle(
        session, vehicle_id, vin, SALT, raw_public(key), algorithm_of(key), owner, now
    )


def synthetic_vin(n: int) -> str:
    return f"LSVAU2180N{n:07d}"


# --- the VIN hash -------------------------------------------------------------------------------------


def test_vin_hash_is_a_keyed_sha256_and_case_folds() -> None:
    digest = vehicles.vin_hash(VIN, SALT)
    assert len(digest) == 66
    assert digest.startswith("0x")
    assert vehicles.vin_hash(VIN.lower(), SALT) == digest
    assert vehicles.vin_hash(VIN, SALT + b"!") != digest
    assert vehicles.vin_hash(OTHER_VIN, SALT) != digest


@pytest.mark.parametrize(
    "vin",
    [
        VIN[:-1],  # 16 characters
        VIN + "1",  # 18
        "LSVAU2180N218329I",  # I, O and Q are not in the ISO 3779 alphabet
        "LSVAU2180N218329O",
        "LSVAU2180Q2183294",
        "LSVAU2180N-183294",
        "LSVAU2180N\uff12183294",  # a full-width digit
        " LSVAU2180N218329",
    ],
)
def test_malformed_vins_are_refused_without_echoing_them(vin: str) -> None:
    with pytest.raises(ValidationError) as caught:
        vehicles.vin_hash(vin, SALT)
    assert vin.strip().upper()[:10] not in str(caught.value)


def test_vin_hash_refuses_non_strings_and_short_salts() -> None:
    with pytest.raises(ValidationError):
        vehicles.vin_hash(12345, SALT)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="salt"):
        vehicles.vin_hash(VIN, b"short")


# --- registration -------------------------------------------------------------------------------------


def test_register_writes_vehicle_key_and_first_owner(session: Session) -> None:
    register(session, owner=ALICE.lower())
    vehicle = session.get(Vehicle, VEHICLE)
    assert vehicle is not None
    assert vehicle.vin_hash == vehicles.vin_hash(VIN, SALT)
    assert vehicle.registered_at == T0
    key = vehicles.active_device_key(session, VEHICLE)
    assert key is not None
    assert (key.algorithm, key.public_key, key.created_at, key.revoked_at) == (
        "ed25519",
        raw_public(ED_KEY),
        T0,
        None,
    )
    assert vehicles.ownership_history(session, [VEHICLE]) == [(VEHICLE, ALICE, T0)]


def test_p256_keys_are_stored_uncompressed_whatever_form_was_sent(session: Session) -> None:
    vehicles.register_vehicle(
        session, VEHICLE, VIN, SALT, raw_public(P256_KEY, compressed=True), "p256", ALICE, T0
    )
    key = vehicles.active_device_key(session, VEHICLE)
    assert key is not None
    assert key.public_key == raw_public(P256_KEY)


def test_duplicate_vehicle_id_vin_or_key_is_a_conflict(session: Session) -> None:
    register(session)
    with pytest.raises(ConflictError, match="already registered"):
        register(session, vin=OTHER_VIN, key=ED_KEY_2)
    with pytest.raises(ConflictError, match="VIN") as caught:
        register(session, "YS-0002", vin=VIN.lower(), key=ED_KEY_2)
    assert VIN not in str(caught.value)
    assert VIN.lower() not in str(caught.value)
    with pytest.raises(ConflictError, match="device public key"):
        register(session, "YS-0002", vin=OTHER_VIN, key=ED_KEY)
    assert session.scalars(select(Vehicle.id)).all() == [VEHICLE]


def test_the_same_p256_key_in_its_other_form_is_still_the_same_key(session: Session) -> None:
    register(session, key=P256_KEY)
    with pytest.raises(ConflictError, match="device public key"):
        vehicles.register_vehicle(
            session, "YS-0002", OTHER_VIN, SALT, raw_public(P256_KEY, compressed=True), "p256", BOB, T0
        )


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("vehicle_id", "YS 0001", "vehicle id"),
        ("vehicle_id", "", "vehicle id"),
        ("vehicle_id", "x" * 65, "vehicle id"),
        ("key", b"\x01" * 31, "Ed25519"),
        ("key", "not bytes", "bytes"),
        ("algorithm", "rsa", "algorithm"),
        ("owner", "0x1A642F0E3C3AF545E7ACBD38B07251B3990914F1x", "malformed"),
        ("owner", "0x1a642f0E3c3aF545E7AcBD38b07251B3990914f1", "checksum"),
        ("owner", "0x" + "00" * 20, "zero address"),
        ("now", -1, "now"),
        ("now", True, "now"),
    ],
)
def test_register_validates_every_field(session: Session, field: str, value: object, match: str) -> None:
    args: dict[str, object] = {
        "vehicle_id": VEHICLE,
        "key": raw_public(ED_KEY),
        "algorithm": "ed25519",
        "owner": ALICE,
        "now": T0,
    }
    args[field] = value
    with pytest.raises(ValidationError, match=match):
        vehicles.register_vehicle(
            session,
            args["vehicle_id"],  # type: ignore[arg-type]
            VIN,
            SALT,
            args["key"],  # type: ignore[arg-type]
            args["algorithm"],  # type: ignore[arg-type]
            args["owner"],  # type: ignore[arg-type]
            args["now"],  # type: ignore[arg-type]
        )
    assert session.scalars(select(Vehicle)).all() == []


def test_a_p256_key_off_the_curve_is_refused(session: Session) -> None:
    off_curve = b"\x04" + b"\x01" * 64
    with pytest.raises(ValidationError, match="curve"):
        vehicles.register_vehicle(session, VEHICLE, VIN, SALT, off_curve, Algorithm.P256, ALICE, T0)


def _text_values(session: Session) -> list[str]:
    """Every stored string and byte value of every column of every table, as text."""
    values: list[str] = []
    for table in Base.metadata.sorted_tables:
        columns = [column for column in table.columns if isinstance(column.type, String | Text | LargeBinary)]
        for row in session.execute(select(*columns)) if columns else []:
            for value in row:
                if isinstance(value, bytes):
                    values.extend([value.hex(), value.decode("latin-1")])
                elif value is not None:
                    values.append(str(value))
    return values


def test_the_vin_is_in_no_stored_column_and_no_sql_log(
    session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    register(session, vin=VIN.lower())
    register(session, "YS-0002", vin=OTHER_VIN, key=P256_KEY)
    vehicles.transfer_ownership(session, VEHICLE, BOB, T0 + 1)
    vehicles.rotate_device_key(session, VEHICLE, raw_public(ED_KEY_2), "ed25519", T0 + 2)
    session.commit()
    assert "INSERT INTO vehicles" in caplog.text  # statement logging was on
    stored = _text_values(session)
    assert vehicles.vin_hash(VIN, SALT) in stored
    for vin in (VIN, OTHER_VIN):
        for form in (vin, vin.lower(), vin.encode().hex()):
            assert not any(form in value for value in stored)
            assert form not in caplog.text


# --- device keys --------------------------------------------------------------------------------------


def test_rotation_revokes_the_old_key_and_activates_the_new(session: Session) -> None:
    register(session)
    old = vehicles.active_device_key(session, VEHICLE)
    new = vehicles.rotate_device_key(session, VEHICLE, raw_public(P256_KEY), Algorithm.P256, T0 + 100)
    assert old is not None
    assert old.revoked_at == T0 + 100
    assert vehicles.active_device_key(session, VEHICLE) is new
    assert (new.algorithm, new.created_at, new.revoked_at) == ("p256", T0 + 100, None)
    keys = session.scalars(select(DeviceKey).where(DeviceKey.vehicle_id == VEHICLE)).all()
    assert [key.revoked_at is None for key in keys] == [False, True]


def test_rotation_never_reuses_a_key(session: Session) -> None:
    register(session)
    with pytest.raises(ConflictError, match="already registered"):
        vehicles.rotate_device_key(session, VEHICLE, raw_public(ED_KEY), "ed25519", T0 + 1)
    vehicles.rotate_device_key(session, VEHICLE, raw_public(ED_KEY_2), "ed25519", T0 + 2)
    with pytest.raises(ConflictError, match="already registered"):
        vehicles.rotate_device_key(session, VEHICLE, raw_public(ED_KEY), "ed25519", T0 + 3)
    key = vehicles.active_device_key(session, VEHICLE)
    assert key is not None
    assert key.public_key == raw_public(ED_KEY_2)


def test_rotation_checks_vehicle_key_and_time(session: Session) -> None:
    with pytest.raises(NotFoundError):
        vehicles.rotate_device_key(session, "YS-NONE", raw_public(ED_KEY_2), "ed25519", T0)
    register(session)
    with pytest.raises(ValidationError):
        vehicles.rotate_device_key(session, VEHICLE, b"\x04" + b"\x01" * 64, "p256", T0 + 1)
    with pytest.raises(ValidationError, match="precedes"):
        vehicles.rotate_device_key(session, VEHICLE, raw_public(ED_KEY_2), "ed25519", T0 - 1)


def test_revocation_leaves_no_active_key_until_a_rotation(session: Session) -> None:
    register(session)
    revoked = vehicles.revoke_device_key(session, VEHICLE, T0 + 5)
    assert revoked.revoked_at == T0 + 5
    assert vehicles.active_device_key(session, VEHICLE) is None
    assert vehicles.latest_device_key(session, VEHICLE) is revoked
    with pytest.raises(ConflictError, match="no active device key"):
        vehicles.revoke_device_key(session, VEHICLE, T0 + 6)
    fresh = vehicles.rotate_device_key(session, VEHICLE, raw_public(ED_KEY_2), "ed25519", T0 + 7)
    assert vehicles.active_device_key(session, VEHICLE) is fresh
    assert revoked.revoked_at == T0 + 5  # the rotation did not touch the already revoked key
    with pytest.raises(NotFoundError):
        vehicles.revoke_device_key(session, "YS-NONE", T0)


# --- ownership ----------------------------------------------------------------------------------------


def test_transfers_keep_history_and_owner_at_switches_exactly_at_the_transfer(session: Session) -> None:
    register(session)
    vehicles.transfer_ownership(session, VEHICLE, BOB.lower(), T0 + 1_000)
    vehicles.transfer_ownership(session, VEHICLE, ALICE, T0 + 2_000)  # bought back
    assert vehicles.owner_at(session, VEHICLE, T0 - 1) is None
    assert vehicles.owner_at(session, VEHICLE, T0) == ALICE
    assert vehicles.owner_at(session, VEHICLE, T0 + 999) == ALICE
    assert vehicles.owner_at(session, VEHICLE, T0 + 1_000) == BOB
    assert vehicles.owner_at(session, VEHICLE, T0 + 1_999) == BOB
    assert vehicles.owner_at(session, VEHICLE, T0 + 2_000) == ALICE
    assert vehicles.owner_at(session, VEHICLE, 2**62) == ALICE
    assert vehicles.ownership_history(session, [VEHICLE]) == [
        (VEHICLE, ALICE, T0),
        (VEHICLE, BOB, T0 + 1_000),
        (VEHICLE, ALICE, T0 + 2_000),
    ]


def test_transfer_rules(session: Session) -> None:
    register(session)
    with pytest.raises(ConflictError, match="already owns"):
        vehicles.transfer_ownership(session, VEHICLE, ALICE.lower(), T0 + 1)
    vehicles.transfer_ownership(session, VEHICLE, BOB, T0 + 10)
    with pytest.raises(ValidationError, match="must come after"):
        vehicles.transfer_ownership(session, VEHICLE, CAROL, T0 + 9)
    with pytest.raises(ValidationError, match="must come after"):
        vehicles.transfer_ownership(session, VEHICLE, CAROL, T0 + 10)
    with pytest.raises(ValidationError, match="zero address"):
        vehicles.transfer_ownership(session, VEHICLE, "0x" + "00" * 20, T0 + 11)
    with pytest.raises(NotFoundError):
        vehicles.transfer_ownership(session, "YS-NONE", CAROL, T0 + 11)
    with pytest.raises(NotFoundError):
        vehicles.owner_at(session, "YS-NONE", T0)
    assert len(session.scalars(select(Ownership)).all()) == 2


def test_ownership_history_orders_by_car_id_bytes_then_time(session: Session) -> None:
    for n, vehicle_id in enumerate(["b-car", "A-car", "a-car"]):
        register(
            session,
            vehicle_id,
            vin=synthetic_vin(n),
            key=ed25519.Ed25519PrivateKey.from_private_bytes(bytes([n + 1]) * 32),
        )
    vehicles.transfer_ownership(session, "a-car", BOB, T0 + 5)
    wanted = ["a-car", "b-car", "A-car", "never-registered"] + [f"missing-{n}" for n in range(1_200)]
    assert vehicles.ownership_history(session, wanted) == [
        ("A-car", ALICE, T0),
        ("a-car", ALICE, T0),
        ("a-car", BOB, T0 + 5),
        ("b-car", ALICE, T0),
    ]
    assert vehicles.ownership_history(session, []) == []


def test_owner_in_history_is_owner_at_without_the_database() -> None:
    records = [vehicles.OwnershipRecord(VEHICLE, ALICE, 10), vehicles.OwnershipRecord(VEHICLE, BOB, 20)]
    assert [vehicles.owner_in_history(records, at) for at in (9, 10, 19, 20, 99)] == [
        None,
        ALICE,
        ALICE,
        BOB,
        BOB,
    ]
    assert vehicles.owner_in_history([], 10) is None
