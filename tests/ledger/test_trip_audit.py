"""Re-verifying stored device signatures (``ledger.trip_audit``, ``docs/audit.md``).

Trips are ingested through ``ledger.ingest`` as real signed reports and upload envelopes (the helpers of
``test_ingest``), then ``trips`` and ``uploads`` are edited the way someone with write access to the
database could: each edit fails with its reason, erased and pre-0005 trips are not checkable, and a key
rotation leaves older trips verified.

Database tests run on SQLite and PostgreSQL through the module fixtures of ``test_vehicles``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest
from alembic import command
from sqlalchemy import Engine, delete, event, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger import consent, telemetry, uploads, vehicles
from ledger.store.db import alembic_config, make_engine
from ledger.store.models import DeviceKey as DeviceKeyRow
from ledger.store.models import Trip
from ledger.store.models import Upload as UploadRow
from ledger.telemetry import Algorithm, Reason, payload_hash
from ledger.trip_audit import (
    Outcome,
    TripAuditInputError,
    TripCheck,
    audit_trips,
    check_trips,
    open_readonly,
)
from ledger.trip_audit import Reason as Why
from tests.ledger.test_consent import ALICE_KEY, grant, revoke
from tests.ledger.test_ingest import (
    NOW,
    P256_CAR,
    P256_KEY_2,
    envelope,
    grouped_reasons,
    reasons,
    signed,
    submit,
    submit_up,
    trip,
)
from tests.ledger.test_vehicles import (  # the shared module fixtures and helpers
    ALICE,
    ED_KEY_2,
    OTHER_VIN,
    P256_KEY,
    T0,
    VEHICLE,
    emptied_session,  # noqa: F401
    module_engine,  # noqa: F401
    raw_public,
    register,
)

OK: Final = Reason.OK
Key = tuple[str, int]
VERIFIED: Final = (Outcome.VERIFIED, None)


@pytest.fixture(name="fleet")
def alices_cars(session: Session) -> Session:
    """Alice owns an Ed25519 car and a P-256 car and has consented since T0 (``test_ingest``'s fleet)."""
    register(session, now=T0)
    register(session, P256_CAR, vin=OTHER_VIN, key=P256_KEY, now=T0)
    grant(session, now=T0, key=ALICE_KEY)
    session.commit()
    return session


def hexed(digest: bytes) -> str:
    return "0x" + digest.hex()


def checks(session: Session, **options: Any) -> dict[Key, TripCheck]:
    return {(check.vehicle_id, check.seq): check for check in check_trips(session, **options)}


def outcomes(session: Session) -> dict[Key, tuple[Outcome, Why | None]]:
    return {key: (check.outcome, check.reason) for key, check in checks(session).items()}


def row(session: Session, vehicle_id: str, seq: int) -> Trip:
    return session.scalars(select(Trip).where(Trip.vehicle_id == vehicle_id, Trip.seq == seq)).one()


def upload_of(session: Session, vehicle_id: str, seq: int) -> UploadRow:
    upload = session.get(UploadRow, row(session, vehicle_id, seq).upload_hash)
    assert upload is not None
    return upload


def ingest_mixed(session: Session) -> None:
    """Seven trips of an Ed25519 and a P-256 car: signed alone and in envelopes, one held, one repeated."""
    assert reasons(submit(session, signed(trip(1)), signed(trip(1, P256_CAR)))) == [OK, OK]
    groups = submit_up(
        session,
        envelope(trip(2), trip(3, energy_wh=30_000), trip(2)),
        envelope(trip(2, P256_CAR), trip(3, P256_CAR)),
    )
    assert grouped_reasons(groups) == [[OK, Reason.ENERGY_TOO_HIGH, Reason.DUPLICATE], [OK, OK]]
    assert reasons(submit(session, signed(trip(4)), now=NOW + 60)) == [OK]


SIGNED_ALONE: Final = [(VEHICLE, 1), (VEHICLE, 4), (P256_CAR, 1)]
IN_ENVELOPES: Final = [(VEHICLE, 2), (VEHICLE, 3), (P256_CAR, 2), (P256_CAR, 3)]
ALL: Final = sorted(SIGNED_ALONE + IN_ENVELOPES)


def test_every_ingested_trip_verifies_in_id_order(fleet: Session) -> None:
    ingest_mixed(fleet)
    fleet.commit()
    results = list(check_trips(fleet))
    assert [check.trip_id for check in results] == list(fleet.scalars(select(Trip.id).order_by(Trip.id)))
    assert sorted((check.vehicle_id, check.seq) for check in results) == ALL
    assert {(check.outcome, check.reason, check.detail) for check in results} == {(*VERIFIED, "")}
    summary = audit_trips(fleet)
    assert summary.ok
    assert summary.to_json() == {
        "trips": 7,
        "verified": 7,
        "hash_verified_details_erased": 0,
        "not_checkable": 0,
        "failed": 0,
        "reasons": {},
        "failures": [],
    }
    for size in (1, 2, 3):
        assert list(check_trips(fleet, chunk_size=size)) == results


def test_a_trip_edited_after_the_fact_fails(fleet: Session) -> None:
    ingest_mixed(fleet)
    alone, in_envelope, p256 = row(fleet, VEHICLE, 1), row(fleet, VEHICLE, 2), row(fleet, P256_CAR, 3)
    alone.energy_wh += 1
    in_envelope.odometer_end_m += 1_000
    p256.checkin_ids = '["app-checkin-2"]'
    results = checks(fleet)
    for key in [(VEHICLE, 1), (VEHICLE, 2), (P256_CAR, 3)]:
        assert (results[key].outcome, results[key].reason) == (Outcome.FAILED, Why.PAYLOAD_HASH_MISMATCH)
    assert "encoded for the ed25519 key current at" in results[VEHICLE, 1].detail
    assert {key for key in ALL if results[key].outcome is Outcome.VERIFIED} == {
        (P256_CAR, 1),
        (P256_CAR, 2),
        (VEHICLE, 3),
        (VEHICLE, 4),
    }

    # Whoever also rewrites the payload hash to match is caught by the signature, or by the envelope's list.
    alone.payload_hash = hexed(payload_hash(trip(1, energy_wh=4_501)))
    in_envelope.payload_hash = hexed(payload_hash(trip(2, odometer_end_m=trip(2).odometer_end_m + 1_000)))
    # A signature that verifies, but under another key.
    row(fleet, VEHICLE, 4).signature = signed(trip(4), ED_KEY_2)["signature"]  # type: ignore[assignment]
    results = checks(fleet)
    assert (results[VEHICLE, 1].outcome, results[VEHICLE, 1].reason) == (Outcome.FAILED, Why.BAD_SIGNATURE)
    assert (results[VEHICLE, 2].outcome, results[VEHICLE, 2].reason) == (Outcome.FAILED, Why.NOT_IN_UPLOAD)
    assert (results[VEHICLE, 4].outcome, results[VEHICLE, 4].reason) == (Outcome.FAILED, Why.BAD_SIGNATURE)
    summary = audit_trips(fleet, keep_failures=2)
    assert not summary.ok
    assert (summary.failed, len(summary.failures)) == (4, 2)
    failing = sorted(check.trip_id for check in results.values() if check.outcome is Outcome.FAILED)
    assert [check.trip_id for check in summary.failures] == failing[:2]  # the first ones, in id order
    fleet.rollback()


def test_a_forged_envelope_signature_fails_every_trip_it_covers(fleet: Session) -> None:
    ingest_mixed(fleet)
    upload = upload_of(fleet, VEHICLE, 2)
    upload.signature = envelope(trip(2), trip(3, energy_wh=30_000), trip(2), key=ED_KEY_2)["signature"]  # type: ignore[assignment]
    p256_upload = upload_of(fleet, P256_CAR, 2)
    p256_upload.signature = envelope(trip(2, P256_CAR), trip(3, P256_CAR), key=P256_KEY_2)["signature"]  # type: ignore[assignment]
    results = outcomes(fleet)
    for key in IN_ENVELOPES:
        assert results[key] == (Outcome.FAILED, Why.BAD_UPLOAD_SIGNATURE)
    for key in SIGNED_ALONE:
        assert results[key] == VERIFIED
    upload.signature = "0x1234"
    assert outcomes(fleet)[VEHICLE, 2] == (Outcome.FAILED, Why.MALFORMED)
    fleet.rollback()


def _rehash(session: Session, upload: UploadRow, hashes: list[str]) -> None:
    """Gives ``upload`` the hash list ``hashes`` and the upload_hash that goes with it, trips re-pointed."""
    digests = [bytes.fromhex(value[2:]) for value in hashes]
    new_hash = hexed(uploads.upload_hash(upload.vehicle_id, Algorithm(upload.algorithm), digests))
    old_hash = upload.upload_hash
    upload.payload_hashes = json.dumps(hashes)
    upload.upload_hash = new_hash
    session.flush()
    session.execute(update(Trip).where(Trip.upload_hash == old_hash).values(upload_hash=new_hash))
    session.expire_all()


def test_an_edited_hash_list_fails(fleet: Session) -> None:
    ingest_mixed(fleet)
    fleet.commit()
    hashes: list[str] = json.loads(upload_of(fleet, VEHICLE, 2).payload_hashes)
    edits: list[tuple[Callable[[UploadRow], object], dict[Key, tuple[Outcome, Why]]]] = [
        # Reordered: the upload bytes no longer hash to the envelope's upload_hash.
        (
            lambda upload: setattr(upload, "payload_hashes", json.dumps([hashes[1], hashes[0], hashes[2]])),
            {(VEHICLE, 2): (Outcome.FAILED, Why.UPLOAD_HASH_MISMATCH)},
        ),
        # A forged report's hash added and the upload_hash recomputed: the car never signed that list.
        (
            lambda upload: _rehash(fleet, upload, [*hashes, hexed(payload_hash(trip(9)))]),
            {(VEHICLE, 2): (Outcome.FAILED, Why.BAD_UPLOAD_SIGNATURE)},
        ),
        # Trip 3's hash removed, consistently: trip 3 is not covered, trip 2 not signed.
        (
            lambda upload: _rehash(fleet, upload, [hashes[0], hashes[0]]),
            {
                (VEHICLE, 2): (Outcome.FAILED, Why.BAD_UPLOAD_SIGNATURE),
                (VEHICLE, 3): (Outcome.FAILED, Why.NOT_IN_UPLOAD),
            },
        ),
        (
            lambda upload: setattr(upload, "payload_hashes", "not json"),
            {(VEHICLE, 2): (Outcome.FAILED, Why.MALFORMED)},
        ),
        (
            lambda upload: setattr(upload, "payload_hashes", json.dumps([*hashes, "0x00"])),
            {(VEHICLE, 2): (Outcome.FAILED, Why.MALFORMED)},
        ),
        (
            lambda upload: setattr(upload, "algorithm", "p256"),
            {(VEHICLE, 2): (Outcome.FAILED, Why.UPLOAD_HASH_MISMATCH)},
        ),
        (
            lambda upload: setattr(upload, "vehicle_id", P256_CAR),
            {(VEHICLE, 2): (Outcome.FAILED, Why.UPLOAD_OF_ANOTHER_CAR)},
        ),
        (
            lambda upload: fleet.execute(
                delete(UploadRow).where(UploadRow.upload_hash == upload.upload_hash)
            ),
            {(VEHICLE, 2): (Outcome.FAILED, Why.NO_UPLOAD)},
        ),
    ]
    for edit, expected in edits:
        with fleet.begin_nested() as savepoint:
            edit(upload_of(fleet, VEHICLE, 2))
            fleet.flush()
            results = outcomes(fleet)
            default = results[VEHICLE, 2]  # trip 3 shares the envelope, and its fate unless told otherwise
            for key in ALL:
                want = expected.get(key, default if key == (VEHICLE, 3) else VERIFIED)
                assert results[key] == want, (key, expected)
            savepoint.rollback()
        fleet.expire_all()
    assert set(outcomes(fleet).values()) == {VERIFIED}


def test_a_trip_with_neither_column_is_not_checkable_and_with_both_fails(fleet: Session) -> None:
    ingest_mixed(fleet)
    row(fleet, VEHICLE, 1).signature = None
    row(fleet, VEHICLE, 2).signature = signed(trip(2))["signature"]  # type: ignore[assignment]
    results = checks(fleet)
    assert (results[VEHICLE, 1].outcome, results[VEHICLE, 1].reason) == (
        Outcome.NOT_CHECKABLE,
        Why.STORED_BEFORE_0005,
    )
    assert (results[VEHICLE, 2].outcome, results[VEHICLE, 2].reason) == (Outcome.FAILED, Why.MALFORMED)
    assert "both a signature and an upload envelope" in results[VEHICLE, 2].detail
    row(fleet, VEHICLE, 2).signature = None
    summary = audit_trips(fleet)
    assert summary.ok  # not checkable is not a failure
    assert summary.to_json() | {"failures": []} == {
        "trips": 7,
        "verified": 6,
        "hash_verified_details_erased": 0,
        "not_checkable": 1,
        "failed": 0,
        "reasons": {"stored_before_0005": 1},
        "failures": [],
    }
    fleet.rollback()


def test_consent_revocation_leaves_the_envelopes_hashes_to_check(fleet: Session) -> None:
    ingest_mixed(fleet)
    receipt = consent.current_receipt(fleet, ALICE)
    assert receipt is not None
    assert revoke(fleet, receipt, now=NOW + 120, key=ALICE_KEY).purge == consent.TripPurge(0, 7)
    results = checks(fleet)
    for key in SIGNED_ALONE:
        assert (results[key].outcome, results[key].reason) == (Outcome.NOT_CHECKABLE, Why.DETAILS_ERASED)
    for key in IN_ENVELOPES:
        assert (results[key].outcome, results[key].reason) == (Outcome.HASH_VERIFIED, None)
    summary = audit_trips(fleet)
    assert summary.ok
    assert {name: summary.to_json()[name] for name in ("verified", "hash_verified_details_erased")} == {
        "verified": 0,
        "hash_verified_details_erased": 4,
    }
    assert summary.to_json()["reasons"] == {"details_erased": 3}
    # The envelope vouches for an erased trip's hash only: a rewritten hash, or a forged envelope, fails.
    row(fleet, VEHICLE, 2).payload_hash = hexed(hashlib.sha256(b"another report").digest())
    upload_of(fleet, P256_CAR, 2).signature = envelope(  # type: ignore[assignment]
        trip(2, P256_CAR), trip(3, P256_CAR), key=P256_KEY_2
    )["signature"]
    results = checks(fleet)
    assert (results[VEHICLE, 2].outcome, results[VEHICLE, 2].reason) == (Outcome.FAILED, Why.NOT_IN_UPLOAD)
    assert (results[VEHICLE, 3].outcome, results[VEHICLE, 3].reason) == (Outcome.HASH_VERIFIED, None)
    for seq in (2, 3):
        assert results[P256_CAR, seq].reason is Why.BAD_UPLOAD_SIGNATURE
    fleet.rollback()


def test_a_key_rotation_keeps_older_trips_verified(fleet: Session) -> None:
    assert reasons(submit(fleet, signed(trip(1)))) == [OK]
    assert grouped_reasons(submit_up(fleet, envelope(trip(2), trip(3)))) == [[OK, OK]]
    rotated = NOW + 100
    vehicles.rotate_device_key(fleet, VEHICLE, raw_public(ED_KEY_2), "ed25519", rotated)
    assert reasons(submit(fleet, signed(trip(4), ED_KEY_2), now=NOW + 200)) == [OK]
    assert grouped_reasons(submit_up(fleet, envelope(trip(5), key=ED_KEY_2), now=NOW + 200)) == [[OK]]
    # In the very second of a rotation to P-256: the old key signed one trip before it, the new key after.
    second = NOW + 300
    assert reasons(submit(fleet, signed(trip(6), ED_KEY_2), now=second)) == [OK]
    p256 = raw_public(P256_KEY_2, compressed=True)
    vehicles.rotate_device_key(fleet, VEHICLE, p256, Algorithm.P256, second)
    p256_trips = [trip(7, algorithm=Algorithm.P256), trip(8, algorithm=Algorithm.P256)]
    assert reasons(submit(fleet, signed(p256_trips[0], P256_KEY_2), now=second)) == [OK]
    assert grouped_reasons(submit_up(fleet, envelope(p256_trips[1], key=P256_KEY_2), now=second)) == [[OK]]
    assert outcomes(fleet) == {(VEHICLE, seq): VERIFIED for seq in range(1, 9)}

    # Had the first trip arrived after a rotation, no key current then would have signed it.
    first = row(fleet, VEHICLE, 1)
    for received_at, reason in [
        (rotated + 1, Why.BAD_SIGNATURE),  # an Ed25519 key, not the one that signed
        (second + 1, Why.PAYLOAD_HASH_MISMATCH),  # a P-256 key: the fields encode another report
        (T0 - 1, Why.NO_KEY),  # before the car was registered
    ]:
        first.received_at = received_at
        assert outcomes(fleet)[VEHICLE, 1] == (Outcome.FAILED, reason)
    first.received_at = NOW
    upload_of(fleet, VEHICLE, 2).received_at = rotated + 1
    assert outcomes(fleet)[VEHICLE, 2] == (Outcome.FAILED, Why.BAD_UPLOAD_SIGNATURE)
    upload_of(fleet, VEHICLE, 2).received_at = second + 1
    assert outcomes(fleet)[VEHICLE, 2] == (Outcome.FAILED, Why.NO_KEY)
    fleet.rollback()


def test_stored_values_that_do_not_decode_fail_without_stopping_the_walk(fleet: Session) -> None:
    ingest_mixed(fleet)
    row(fleet, VEHICLE, 1).signature = "0x" + "zz" * 64
    row(fleet, VEHICLE, 2).drive_mode = "warp"
    row(fleet, VEHICLE, 3).checkin_ids = "{"
    row(fleet, VEHICLE, 4).payload_hash = "0xabc"
    fleet.execute(update(DeviceKeyRow).where(DeviceKeyRow.vehicle_id == P256_CAR).values(algorithm="rsa"))
    results = checks(fleet)
    for seq in (1, 2, 3, 4):
        assert (results[VEHICLE, seq].outcome, results[VEHICLE, seq].reason) == (
            Outcome.FAILED,
            Why.MALFORMED,
        )
    assert "drive_mode 'warp'" in results[VEHICLE, 2].detail
    for seq in (1, 2, 3):  # a key that does not decode verifies nothing
        assert results[P256_CAR, seq].reason is Why.NO_KEY
    fleet.rollback()


def test_the_walk_reads_in_chunks_and_checks_each_envelope_once(
    fleet: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = [signed(trip(seq)) for seq in range(1, 13)]
    assert reasons(submit(fleet, *alone)) == [OK] * 12
    p256_trips = [trip(seq, P256_CAR) for seq in range(1, 11)]
    assert grouped_reasons(submit_up(fleet, envelope(*p256_trips))) == [[OK] * 10]
    fleet.commit()
    verified = [0]
    original = telemetry.signature_valid

    def counting(key: telemetry.DeviceKey, message: bytes, signature: bytes) -> bool:
        verified[0] += 1
        return original(key, message, signature)

    monkeypatch.setattr(telemetry, "signature_valid", counting)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        summary = audit_trips(fleet, chunk_size=5)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (summary.trips, summary.outcomes[Outcome.VERIFIED]) == (22, 22)
    assert verified[0] == 12 + 1  # one per trip signed alone, one for the envelope
    tables = [
        name for text in statements for name in ("trips", "device_keys", "uploads") if f"FROM {name}" in text
    ]
    assert tables.count("trips") == 6  # five chunks of five (the last one short), and the empty one
    assert tables.count("uploads") == 1
    assert tables.count("device_keys") <= 2  # each car's keys read once


def test_open_readonly_reads_a_snapshot_and_cannot_write(fleet: Session, engine: Engine) -> None:
    ingest_mixed(fleet)
    fleet.commit()
    row(fleet, VEHICLE, 1).energy_wh += 1
    fleet.flush()  # a writer's uncommitted change: the audit neither waits for it nor sees it
    with open_readonly(engine.url.render_as_string(hide_password=False)) as session:
        assert audit_trips(session).outcomes[Outcome.VERIFIED] == 7
        with pytest.raises(DBAPIError):
            session.execute(update(Trip).values(energy_wh=0))
    fleet.rollback()


def test_open_readonly_refuses_what_it_cannot_audit(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with (
        pytest.raises(TripAuditInputError, match="no SQLite database at"),
        open_readonly(f"sqlite:///{missing}"),
    ):
        pass
    assert not missing.exists()
    with pytest.raises(TripAuditInputError, match="in-memory"), open_readonly("sqlite://"):
        pass
    with pytest.raises(TripAuditInputError, match="not a usable database URL"), open_readonly("::"):
        pass
    with (
        pytest.raises(TripAuditInputError, match="unsupported database 'mysql'"),
        open_readonly("mysql://a@b/c"),
    ):
        pass
    empty = tmp_path / "empty.db"
    empty.touch()  # an empty file is an empty SQLite database
    with pytest.raises(TripAuditInputError, match="no trips table"), open_readonly(f"sqlite:///{empty}"):
        pass
    old = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{old}")
    command.upgrade(alembic_config(engine), "0004")
    engine.dispose()
    with (
        pytest.raises(TripAuditInputError, match="predates migration 0005"),
        open_readonly(f"sqlite:///{old}"),
    ):
        pass
    with (
        pytest.raises(TripAuditInputError) as caught,
        open_readonly("postgresql://auditor:secret@127.0.0.1:9/x"),
    ):
        pass
    assert str(caught.value).startswith("cannot read the database postgresql://auditor:***@127.0.0.1:9/x: ")
    assert "secret" not in str(caught.value)
