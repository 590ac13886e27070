"""Trip-report ingest (issue 3): each rejection with its reason, each hold, review, batches, idempotency,
consent and ownership at the trip's end, concurrent writers, and the settlement inputs.

Reports are built with ``ledger.telemetry.sign_report`` under Ed25519 and P-256 keys from ``cryptography``.
Database tests run on SQLite and PostgreSQL through the module fixtures of ``test_vehicles``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session

from ledger import consent, ingest, telemetry, uploads, vehicles
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.ingest import BatchTelemetryContext, StoreTelemetryContext, review_hold, submit_reports
from ledger.store.db import session_factory
from ledger.store.models import DeviceKey as DeviceKeyRow
from ledger.store.models import Trip, TripStatus
from ledger.store.models import Upload as UploadRow
from ledger.telemetry import (
    MAX_REPORT_AGE_S,
    Algorithm,
    DeviceKey,
    DriveMode,
    PrivateKey,
    Reason,
    Status,
    TripReport,
    TripSummary,
    Verdict,
    canonical_bytes,
    payload_hash,
    report_to_json,
    sign_report,
)
from tests.ledger.test_consent import ALICE_KEY, BOB, BOB_KEY, grant, revoke
from tests.ledger.test_vehicles import (  # the shared module fixtures and helpers
    ALICE,
    ED_KEY,
    ED_KEY_2,
    OTHER_VIN,
    P256_KEY,
    T0,
    VEHICLE,
    emptied_session,  # noqa: F401
    module_engine,  # noqa: F401
    raw_public,
    register,
    synthetic_vin,
)

NOW: Final = T0 + 86_400
P256_KEY_2: Final = ec.derive_private_key(0xBEEF, ec.SECP256R1())
P256_CAR: Final = "YS-P256"
TRIP_M: Final = 30_000
Raw = dict[str, object]


@pytest.fixture
def fleet(session: Session) -> Session:
    """Alice owns an Ed25519 car and a P-256 car and has consented since T0."""
    register(session, now=T0)
    register(session, P256_CAR, vin=OTHER_VIN, key=P256_KEY, now=T0)
    grant(session, now=T0, key=ALICE_KEY)
    session.commit()
    return session


def trip(seq: int, vehicle_id: str = VEHICLE, **changes: Any) -> TripReport:
    """Trip ``seq`` of a car driving 30 km in 30 minutes at 150 Wh/km every hour from T0; consecutive
    trips chain (each starts where and after the previous one ended)."""
    start = T0 + 3_600 * seq
    base = TripReport(
        vehicle_id=vehicle_id,
        seq=seq,
        started_at=start,
        ended_at=start + 1_800,
        odometer_start_m=1_000_000 + TRIP_M * seq,
        odometer_end_m=1_000_000 + TRIP_M * (seq + 1),
        energy_wh=4_500,
        drive_mode=DriveMode.ECO,
        checkin_ids=("app-checkin-1",),
        algorithm=Algorithm.P256 if vehicle_id == P256_CAR else Algorithm.ED25519,
    )
    return replace(base, **changes)


def signed(report: TripReport, key: PrivateKey | None = None) -> Raw:
    if key is None:
        key = P256_KEY if report.algorithm is Algorithm.P256 else ED_KEY
    return report_to_json(sign_report(report, key))


def submit(session: Session, *reports: Raw | object, now: int = NOW) -> list[Verdict]:
    return submit_reports(session, list(reports), now)  # type: ignore[arg-type]


def reasons(verdicts: list[Verdict]) -> list[Reason]:
    return [verdict.reason for verdict in verdicts]


def trip_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Trip)) or 0


def stored(session: Session, verdict: Verdict) -> Trip:
    assert verdict.payload_hash is not None
    return session.scalars(select(Trip).where(Trip.payload_hash == "0x" + verdict.payload_hash.hex())).one()


def snapshot(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    columns = [column for column in Trip.__table__.columns if column.name != "id"]
    return sorted(tuple(row) for row in session.execute(select(*columns)))


# --- accepted -----------------------------------------------------------------------------------------


def test_an_accepted_report_is_stored_with_every_field(fleet: Session) -> None:
    report = trip(1)
    [verdict] = submit(fleet, signed(report))
    assert (verdict.status, verdict.reason) == (Status.ACCEPTED, Reason.OK)
    row = stored(fleet, verdict)
    assert (row.vehicle_id, row.seq, row.started_at, row.ended_at) == (
        VEHICLE,
        1,
        report.started_at,
        report.ended_at,
    )
    assert (row.odometer_start_m, row.odometer_end_m, row.energy_wh) == (1_030_000, 1_060_000, 4_500)
    assert (row.drive_mode, row.checkin_ids) == ("eco", '["app-checkin-1"]')
    assert (row.status, row.reason, row.detail, row.received_at) == (
        TripStatus.ACCEPTED,
        "ok",
        verdict.detail,
        NOW,
    )
    assert (row.reviewed_at, row.reviewer, row.details_deleted) == (None, None, False)


def test_a_p256_car_reports_like_any_other(fleet: Session) -> None:
    verdicts = submit(fleet, signed(trip(1, P256_CAR)), signed(trip(2, P256_CAR)))
    assert reasons(verdicts) == [Reason.OK, Reason.OK]
    assert ingest.valid_metres_by_vehicle(fleet, T0, NOW) == {P256_CAR: 2 * TRIP_M}


# --- rejections ---------------------------------------------------------------------------------------


def _missing_field(session: Session) -> Raw:
    raw = signed(trip(1))
    del raw["energy_wh"]
    return raw


def _unknown_device(session: Session) -> Raw:
    return signed(trip(1, "YS-UNKNOWN"))


def _revoked_device(session: Session) -> Raw:
    vehicles.revoke_device_key(session, VEHICLE, NOW - 10)
    return signed(trip(1))


def _algorithm_mismatch(session: Session) -> Raw:
    return signed(trip(1, algorithm=Algorithm.P256), P256_KEY)


def _bad_signature(session: Session) -> Raw:
    return signed(trip(1), ED_KEY_2)


def _replayed_sequence(session: Session) -> Raw:
    assert reasons(submit(session, signed(trip(1)))) == [Reason.OK]
    return signed(trip(1, energy_wh=4_600))


def _stale(session: Session) -> Raw:
    return signed(trip(1))


def _from_future(session: Session) -> Raw:
    return signed(trip(1, started_at=NOW + 100, ended_at=NOW + 301))


def _no_consent(session: Session) -> Raw:
    register(session, "YS-BOB", vin=synthetic_vin(9), key=ED_KEY_2, owner=BOB, now=T0)
    return signed(trip(1, "YS-BOB"), ED_KEY_2)


REJECTIONS: Final[list[tuple[Callable[[Session], Raw], Reason, int]]] = [
    (_missing_field, Reason.MALFORMED, NOW),
    (_unknown_device, Reason.UNKNOWN_DEVICE, NOW),
    (_revoked_device, Reason.DEVICE_REVOKED, NOW),
    (_algorithm_mismatch, Reason.ALGORITHM_MISMATCH, NOW),
    (_bad_signature, Reason.BAD_SIGNATURE, NOW),
    (_replayed_sequence, Reason.REPLAYED_SEQUENCE, NOW),
    (_stale, Reason.STALE, T0 + 3_600 + 1_800 + MAX_REPORT_AGE_S + 1),
    (_from_future, Reason.FROM_FUTURE, NOW),
    (_no_consent, Reason.NO_CONSENT, NOW),
]


@pytest.mark.parametrize(
    ("make", "reason", "now"), [pytest.param(*case, id=case[1].value) for case in REJECTIONS]
)
def test_each_rejection_stores_nothing_and_says_why(
    fleet: Session, make: Callable[[Session], Raw], reason: Reason, now: int
) -> None:
    raw = make(fleet)
    before = snapshot(fleet)
    [verdict] = submit(fleet, raw, now=now)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, reason)
    assert verdict.detail
    assert snapshot(fleet) == before


# --- holds --------------------------------------------------------------------------------------------

HOLDS: Final[list[tuple[Reason, dict[str, Any]]]] = [
    (Reason.NON_POSITIVE_DURATION, {"ended_at": T0 + 7_200}),
    (Reason.ODOMETER_DECREASING, {"odometer_end_m": 1_050_000}),
    (Reason.TRIP_TOO_LONG, {"started_at": T0 + 9_000 - 86_401}),
    (Reason.OUT_OF_ORDER, {"seq": 0}),
    (Reason.ODOMETER_WENT_BACK, {"odometer_start_m": 1_059_999}),
    (Reason.OVERLAPS_PREVIOUS, {"started_at": T0 + 3_600 + 1_799}),
    (Reason.TOO_FAST, {"started_at": T0 + 7_200 + 1_800 - 60}),
    (Reason.ENERGY_TOO_LOW, {"energy_wh": 1_000}),
    (Reason.ENERGY_TOO_HIGH, {"energy_wh": 30_000}),
]


@pytest.mark.parametrize(("reason", "changes"), [pytest.param(r, c, id=r.value) for r, c in HOLDS])
def test_each_implausible_report_is_held_and_stored(
    fleet: Session, reason: Reason, changes: dict[str, Any]
) -> None:
    first, second = submit(fleet, signed(trip(1)), signed(replace(trip(2), **changes)))
    assert first.reason is Reason.OK
    assert (second.status, second.reason) == (Status.HELD, reason)
    row = stored(fleet, second)
    assert (row.status, row.reason, row.detail) == (TripStatus.HELD, reason.value, second.detail)
    assert ingest.vehicles_with_open_holds(fleet, NOW) == {VEHICLE}
    assert ingest.valid_metres_by_vehicle(fleet, T0, 2**62) == {
        VEHICLE: TRIP_M
    }  # the held trip counts nothing


def test_missing_consent_outranks_a_hold(fleet: Session) -> None:
    register(fleet, "YS-BOB", vin=synthetic_vin(9), key=ED_KEY_2, owner=BOB, now=T0)
    [verdict] = submit(fleet, signed(trip(1, "YS-BOB", energy_wh=30_000), ED_KEY_2))
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Reason.NO_CONSENT)
    assert trip_count(fleet) == 0


# --- batches ------------------------------------------------------------------------------------------


def test_resubmitting_a_batch_changes_nothing_and_answers_duplicate(fleet: Session) -> None:
    batch = [
        signed(trip(1)),
        signed(trip(2, energy_wh=30_000)),
        signed(trip(3), ED_KEY_2),
        signed(trip(1, P256_CAR)),
    ]
    assert reasons(submit(fleet, *batch)) == [
        Reason.OK,
        Reason.ENERGY_TOO_HIGH,
        Reason.BAD_SIGNATURE,
        Reason.OK,
    ]
    fleet.commit()
    before = snapshot(fleet)
    again = submit(fleet, *batch, now=NOW + 60)
    assert reasons(again) == [Reason.DUPLICATE, Reason.DUPLICATE, Reason.BAD_SIGNATURE, Reason.DUPLICATE]
    assert [verdict.status for verdict in again] == [Status.DUPLICATE] * 2 + [
        Status.REJECTED,
        Status.DUPLICATE,
    ]
    assert snapshot(fleet) == before


def test_reports_in_one_batch_see_each_other(fleet: Session) -> None:
    overlapping = trip(2, started_at=T0 + 3_600 + 1_000, ended_at=T0 + 3_600 + 2_800)
    verdicts = submit(
        fleet,
        signed(trip(1)),
        signed(overlapping),  # checked against trip 1 of this same batch
        signed(trip(3)),
        signed(trip(3, energy_wh=4_400)),  # same sequence, other content
        signed(trip(4)),
        signed(trip(4)),  # the very same report
    )
    assert reasons(verdicts) == [
        Reason.OK,
        Reason.OVERLAPS_PREVIOUS,
        Reason.OK,
        Reason.REPLAYED_SEQUENCE,
        Reason.OK,
        Reason.DUPLICATE,
    ]
    assert trip_count(fleet) == 4


def test_one_bad_report_never_sinks_its_batch(fleet: Session) -> None:
    verdicts = submit(fleet, signed(trip(1)), "not an object", {}, signed(trip(2), ED_KEY_2), signed(trip(2)))
    assert reasons(verdicts) == [
        Reason.OK,
        Reason.MALFORMED,
        Reason.MALFORMED,
        Reason.BAD_SIGNATURE,
        Reason.OK,
    ]
    assert verdicts[1].report is None
    assert trip_count(fleet) == 2


def test_batch_limits(session: Session) -> None:
    assert submit_reports(session, [], NOW) == []
    with pytest.raises(ValidationError, match="at most 1000"):
        submit_reports(session, [{}] * (ingest.MAX_BATCH + 1), NOW)
    with pytest.raises(ValidationError, match="must be a list"):
        submit_reports(session, "reports", NOW)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="now"):
        submit_reports(session, [], -5)


# --- device keys --------------------------------------------------------------------------------------


def test_after_rotation_only_the_new_key_verifies_no_grace(fleet: Session) -> None:
    # The trip ended before the rotation, and the old key signed it then: still refused, by design.
    report = trip(1)
    vehicles.rotate_device_key(fleet, VEHICLE, raw_public(ED_KEY_2), "ed25519", T0 + 2 * 3_600)
    [old] = submit(fleet, signed(report, ED_KEY))
    assert old.reason is Reason.BAD_SIGNATURE
    assert trip_count(fleet) == 0
    # The device re-signs its queued report with its new key: the same report, by its payload hash.
    [new] = submit(fleet, signed(report, ED_KEY_2))
    assert new.reason is Reason.OK
    assert new.payload_hash == old.payload_hash
    vehicles.rotate_device_key(
        fleet, VEHICLE, raw_public(P256_KEY_2, compressed=True), Algorithm.P256, NOW - 5
    )
    [ed25519_after] = submit(fleet, signed(trip(2), ED_KEY_2))
    assert ed25519_after.reason is Reason.ALGORITHM_MISMATCH
    [p256_after] = submit(fleet, signed(trip(2, algorithm=Algorithm.P256), P256_KEY_2))
    assert p256_after.reason is Reason.OK


def test_reports_of_a_revoked_device_are_refused_until_a_new_key(fleet: Session) -> None:
    vehicles.revoke_device_key(fleet, VEHICLE, NOW - 100)
    assert reasons(submit(fleet, signed(trip(1)))) == [Reason.DEVICE_REVOKED]
    vehicles.rotate_device_key(fleet, VEHICLE, raw_public(ED_KEY_2), "ed25519", NOW - 50)
    assert reasons(submit(fleet, signed(trip(1), ED_KEY_2))) == [Reason.OK]


# --- review -------------------------------------------------------------------------------------------


def _held(session: Session) -> tuple[Trip, Raw]:
    raw = signed(trip(2, started_at=T0 + 7_200 + 1_800 - 60))  # 30 km in a minute
    first, held = submit(session, signed(trip(1)), raw)
    assert (first.reason, held.reason) == (Reason.OK, Reason.TOO_FAST)
    return stored(session, held), raw


def test_a_released_trip_counts_from_its_release(fleet: Session) -> None:
    held, _ = _held(fleet)
    released_at = NOW + 3_600
    reviewed = review_hold(fleet, held.id, "release", "ops@yuanshi", released_at)
    assert (reviewed.status, reviewed.reviewed_at, reviewed.reviewer) == (
        TripStatus.RELEASED,
        released_at,
        "ops@yuanshi",
    )
    assert ingest.valid_metres_by_vehicle(fleet, T0, NOW) == {VEHICLE: 2 * TRIP_M}
    assert ingest.vehicles_with_open_holds(fleet, released_at - 1) == {VEHICLE}
    assert ingest.vehicles_with_open_holds(fleet, released_at) == set()
    assert ingest.vehicles_with_open_holds(fleet, NOW - 1) == set()  # not yet received then
    with pytest.raises(ConflictError, match="is released"):
        review_hold(fleet, held.id, "deny", "ops@yuanshi", released_at + 1)


def test_a_denied_trip_never_counts_yet_its_sequence_and_hash_stay_used(fleet: Session) -> None:
    held, raw = _held(fleet)
    review_hold(fleet, held.id, ingest.ReviewDecision.DENY, "ops@yuanshi", NOW + 10)
    assert ingest.valid_metres_by_vehicle(fleet, T0, 2**62) == {VEHICLE: TRIP_M}
    assert ingest.vehicles_with_open_holds(fleet, NOW + 10) == set()
    assert reasons(submit(fleet, raw, now=NOW + 20)) == [Reason.DUPLICATE]
    assert reasons(submit(fleet, signed(trip(2)), now=NOW + 20)) == [Reason.REPLAYED_SEQUENCE]
    # The denied trip is no history for plausibility: trip 3 is checked against trip 1.
    context = StoreTelemetryContext(fleet)
    assert context.last_trip(VEHICLE) == TripSummary(1, T0 + 3_600, T0 + 3_600 + 1_800, 1_060_000)
    assert context.seen_sequence(VEHICLE, 2)
    assert reasons(submit(fleet, signed(trip(3)), now=NOW + 20)) == [Reason.OK]


def test_only_held_trips_can_be_reviewed(fleet: Session) -> None:
    [accepted] = submit(fleet, signed(trip(1)))
    trip_id = stored(fleet, accepted).id
    with pytest.raises(ConflictError, match="is accepted; only a held trip"):
        review_hold(fleet, trip_id, "release", "ops", NOW)
    with pytest.raises(NotFoundError):
        review_hold(fleet, trip_id + 1_000, "release", "ops", NOW)
    with pytest.raises(ValidationError, match="decision"):
        review_hold(fleet, trip_id, "approve", "ops", NOW)
    with pytest.raises(ValidationError, match="reviewer"):
        review_hold(fleet, trip_id, "deny", "", NOW)
    assert stored(fleet, accepted).status is TripStatus.ACCEPTED


def test_of_two_racing_reviewers_one_wins(fleet: Session, engine: Engine) -> None:
    held, _ = _held(fleet)
    fleet.commit()
    with session_factory(engine)() as other:
        review_hold(other, held.id, "deny", "second", NOW + 5)
        other.commit()
    # Our session still holds the trip as held in memory; the conditional update sees the truth.
    with pytest.raises(ConflictError, match="is denied"):
        review_hold(fleet, held.id, "release", "first", NOW + 6)


# --- consent and ownership ----------------------------------------------------------------------------


def test_revoking_consent_stops_earning_and_refuses_later_reports(fleet: Session) -> None:
    accepted = submit(fleet, signed(trip(1)), signed(trip(2)))
    assert ingest.valid_metres_by_vehicle(fleet, T0, NOW) == {VEHICLE: 2 * TRIP_M}
    receipt = consent.current_receipt(fleet, ALICE)
    assert receipt is not None
    result = revoke(fleet, receipt, now=NOW, key=ALICE_KEY)
    assert result.purge == consent.TripPurge(deleted=0, redacted=2)
    assert ingest.valid_metres_by_vehicle(fleet, T0, NOW) == {}
    # A trip that ended under consent but arrives after its revocation would bring the data back.
    assert reasons(submit(fleet, signed(trip(3)), now=NOW + 1)) == [Reason.NO_CONSENT]
    assert reasons(submit(fleet, signed(trip(30, started_at=NOW - 900, ended_at=NOW)), now=NOW + 1)) == [
        Reason.NO_CONSENT
    ]
    # The skeletons still stop a replay of the original reports.
    assert reasons(submit(fleet, signed(trip(1)), now=NOW + 1)) == [Reason.DUPLICATE]
    assert stored(fleet, accepted[0]).details_deleted
    # A fresh consent lets the car earn again from its grant on, but does not mend the break before it.
    grant(fleet, now=NOW + 100, key=ALICE_KEY)
    assert reasons(submit(fleet, signed(trip(3)), now=NOW + 200)) == [Reason.NO_CONSENT]
    late = trip(
        31, started_at=NOW + 110, ended_at=NOW + 150, odometer_start_m=2_000_000, odometer_end_m=2_000_500
    )
    assert reasons(submit(fleet, signed(late), now=NOW + 200)) == [Reason.OK]


def test_consent_is_the_owners_at_the_trips_end(fleet: Session) -> None:
    sale = T0 + 5 * 3_600
    vehicles.transfer_ownership(fleet, VEHICLE, BOB, sale)
    before_sale, after_sale = trip(4), trip(5)  # trip 4 ends before the sale, trip 5 after it
    assert before_sale.ended_at < sale < after_sale.ended_at
    assert reasons(submit(fleet, signed(after_sale))) == [Reason.NO_CONSENT]  # Bob has not consented
    assert reasons(submit(fleet, signed(before_sale))) == [Reason.OK]  # Alice's trip, Alice's consent
    grant(fleet, now=NOW - 700, key=BOB_KEY, owner=BOB)
    assert reasons(submit(fleet, signed(trip(25, started_at=NOW - 600, ended_at=NOW - 60)))) == [Reason.OK]


def test_the_owner_at_a_trips_end_is_found_by_time_whatever_the_accounts_order(fleet: Session) -> None:
    # The new owner's address sorts before the first owner's: the history must still be read in time order.
    carol = str(Account.from_key(bytes([0x06]) * 32).address)
    assert carol < ALICE
    sale = T0 + 5 * 3_600
    vehicles.transfer_ownership(fleet, VEHICLE, carol, sale)
    before_sale, after_sale = trip(4), trip(5)
    assert before_sale.ended_at < sale < after_sale.ended_at
    assert reasons(submit(fleet, signed(after_sale))) == [Reason.NO_CONSENT]  # Carol has not consented
    assert reasons(submit(fleet, signed(before_sale))) == [Reason.OK]  # Alice's trip, Alice's consent


# --- settlement inputs --------------------------------------------------------------------------------


def test_valid_metres_window_is_open_at_the_start_and_closed_at_the_end(fleet: Session) -> None:
    submit(fleet, signed(trip(1)), signed(trip(2)), signed(trip(3)), signed(trip(1, P256_CAR)))
    end_1, end_2 = trip(1).ended_at, trip(2).ended_at
    assert ingest.valid_metres_by_vehicle(fleet, end_1, end_2) == {VEHICLE: TRIP_M}
    assert ingest.valid_metres_by_vehicle(fleet, end_1 - 1, end_2) == {VEHICLE: 2 * TRIP_M, P256_CAR: TRIP_M}
    assert ingest.valid_metres_by_vehicle(fleet, end_1, end_2 - 1) == {}
    assert ingest.valid_metres_by_vehicle(fleet, 0, 2**62) == {VEHICLE: 3 * TRIP_M, P256_CAR: TRIP_M}
    with pytest.raises(ValidationError, match="before it starts"):
        ingest.valid_metres_by_vehicle(fleet, end_2, end_1)


def test_a_released_trip_whose_odometer_ran_back_adds_zero(fleet: Session) -> None:
    submit(fleet, signed(trip(1)))
    [held] = submit(fleet, signed(trip(2, odometer_end_m=1_050_000)))
    assert held.reason is Reason.ODOMETER_DECREASING
    review_hold(fleet, stored(fleet, held).id, "release", "ops", NOW + 1)
    assert ingest.valid_metres_by_vehicle(fleet, 0, 2**62) == {VEHICLE: TRIP_M}


# --- concurrent writers -------------------------------------------------------------------------------


def _stale_once(
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    stale_key: object = None,
    context: type[BatchTelemetryContext | StoreTelemetryContext] = BatchTelemetryContext,
    misses: int = 2,
) -> list[object]:
    """Makes ``context``'s ``method`` miss ``stale_key`` the first ``misses`` times, as if a concurrent
    writer had not committed yet when we looked (with None, nothing is missed); returns the log of lookups.

    A batch is verified against a snapshot (:class:`BatchTelemetryContext`) twice at most: optimistically,
    without reading stored sequences and payloads (the insert's conflicts find them), then, after a
    conflict, with them. When that second insert collides too, the batch is verified again report by
    report against the store (:class:`StoreTelemetryContext`)."""
    real = getattr(context, method)
    lookups: list[object] = []

    def lookup(self: object, *args: Any) -> bool:
        lookups.append(args)
        if args == stale_key and lookups.count(args) <= misses:
            return False
        return bool(real(self, *args))

    monkeypatch.setattr(context, method, lookup)
    return lookups


def test_a_payload_collision_becomes_a_duplicate_and_spares_the_batch(
    fleet: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = submit(fleet, signed(trip(1)))
    assert first.payload_hash is not None
    # Both replay lookups miss trip 1 once, as if its writer had not committed when we looked.
    lookups = _stale_once(monkeypatch, "seen_payload", (first.payload_hash,))
    _stale_once(monkeypatch, "seen_sequence", (VEHICLE, 1))
    again = _stale_once(monkeypatch, "seen_payload", context=StoreTelemetryContext)
    verdicts = submit(fleet, signed(trip(2)), signed(trip(1)), signed(trip(3)))
    assert reasons(verdicts) == [Reason.OK, Reason.DUPLICATE, Reason.OK]
    assert lookups.count((first.payload_hash,)) == 2  # both snapshots missed it, so both inserts collided
    assert again.count((first.payload_hash,)) == 1  # and the batch was verified again, report by report
    fleet.commit()
    assert trip_count(fleet) == 3


def test_a_sequence_collision_becomes_a_replayed_sequence(
    fleet: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit(fleet, signed(trip(1)))
    lookups = _stale_once(monkeypatch, "seen_sequence", (VEHICLE, 1))
    again = _stale_once(monkeypatch, "seen_sequence", context=StoreTelemetryContext)
    assert reasons(submit(fleet, signed(trip(1, energy_wh=4_400)))) == [Reason.REPLAYED_SEQUENCE]
    assert lookups.count((VEHICLE, 1)) == 2
    assert again.count((VEHICLE, 1)) == 1
    assert trip_count(fleet) == 1


def test_a_real_concurrent_writer_on_postgresql(
    fleet: Session, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises writers with a database lock; the race needs row-level locking")
    raw = signed(trip(1))
    sessions = session_factory(engine)
    with sessions() as writer, sessions() as racer:
        assert reasons(submit(writer, raw)) == [Reason.OK]  # inserted, not committed: holds the index entry
        lookups = _stale_once(monkeypatch, "seen_payload")
        again = _stale_once(monkeypatch, "seen_payload", context=StoreTelemetryContext)
        commit = threading.Timer(1.0, writer.commit)
        commit.start()
        try:
            verdicts = submit(racer, raw)  # does not see the row, inserts, waits for the writer, conflicts
        finally:
            commit.join()
        assert reasons(verdicts) == [Reason.DUPLICATE]
        # The optimistic insert waited for the writer, then skipped the row; the second snapshot, read after
        # the writer committed, saw it: no need to go report by report.
        assert (len(lookups), len(again)) == (2, 0)
        racer.commit()
    assert trip_count(fleet) == 1


def test_a_caller_rollback_undoes_the_whole_batch(fleet: Session) -> None:
    # Savepoints nest inside the caller's transaction on both databases: releasing one commits nothing.
    submit(fleet, signed(trip(1)), signed(trip(2)))
    fleet.rollback()
    assert trip_count(fleet) == 0


# --- the batch path answers as report-by-report verification does ---------------------------------------

# Reports a car may send: new ones in and out of order, the same ones again, a replayed sequence with other
# content, a stale one, impossible ones (held), one of the other car, one signed by the wrong key.
_POOL: Final[tuple[Raw, ...]] = (
    signed(trip(1)),
    signed(trip(2)),
    signed(trip(3)),
    signed(trip(2, energy_wh=4_600)),
    signed(trip(4, odometer_end_m=1_000_000 + TRIP_M * 4 + 900_000)),
    signed(trip(5, started_at=T0 - MAX_REPORT_AGE_S - 10_000, ended_at=T0 - MAX_REPORT_AGE_S - 9_000)),
    signed(trip(1, P256_CAR)),
    signed(trip(6), ED_KEY_2),
    {"vehicle_id": VEHICLE, "seq": "seven"},
)


def _one_by_one(session: Session, raws: list[Raw], now: int) -> list[Verdict]:
    """The reference: each report verified against the store and inserted before the next is read."""
    context = StoreTelemetryContext(session)
    return [
        item if isinstance(item, Verdict) else ingest._ingest_one(session, context, item, [], [], now)
        for item in ingest._parse(raws)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored_before=st.lists(st.sampled_from(range(len(_POOL))), max_size=4),
    batch=st.lists(st.sampled_from(range(len(_POOL))), min_size=1, max_size=10),
)
def test_a_batch_answers_and_stores_as_one_by_one_verification(
    fleet: Session, stored_before: list[int], batch: list[int]
) -> None:
    outcomes = []
    for way in (submit_reports, _one_by_one):
        with fleet.begin_nested() as savepoint:
            _one_by_one(fleet, [_POOL[i] for i in stored_before], NOW)
            verdicts = way(fleet, [_POOL[i] for i in batch], NOW)
            outcomes.append((verdicts, snapshot(fleet)))
            savepoint.rollback()
    assert outcomes[0] == outcomes[1]


def test_a_batch_of_new_reports_costs_the_same_few_statements_whatever_its_size(
    fleet: Session, engine: Engine
) -> None:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        later = T0 + 3_600 * 103  # every trip below has ended, none is a week old
        assert reasons(submit(fleet, signed(trip(1)), now=later)) == [Reason.OK]
        fleet.commit()
        small = len(statements)
        statements.clear()
        many = [signed(trip(seq)) for seq in range(2, 102)] + [signed(trip(1, P256_CAR))]
        assert set(reasons(submit(fleet, *many, now=later))) == {Reason.OK}
        fleet.commit()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == small <= 8
    assert trip_count(fleet) == 102


# --- upload envelopes (issue 4) ---------------------------------------------------------------------------


def envelope(*reports: TripReport, key: PrivateKey | None = None) -> Raw:
    """``reports`` of one car in an upload envelope signed once, by ``key`` (the car's by default)."""
    first = reports[0]
    if key is None:
        key = P256_KEY if first.algorithm is Algorithm.P256 else ED_KEY
    upload = uploads.Upload(vehicle_id=first.vehicle_id, algorithm=first.algorithm, reports=reports)
    return uploads.upload_to_json(uploads.sign_upload(upload, key))


def submit_up(session: Session, *raw_uploads: object, now: int = NOW) -> list[list[Verdict]]:
    return ingest.submit_uploads(session, list(raw_uploads), now)  # type: ignore[arg-type]


def grouped_reasons(groups: list[list[Verdict]]) -> list[list[Reason]]:
    return [reasons(group) for group in groups]


def upload_rows(session: Session) -> list[UploadRow]:
    session.expire_all()
    return list(session.scalars(select(UploadRow).order_by(UploadRow.received_at, UploadRow.upload_hash)))


def trip_rows(session: Session) -> list[Trip]:
    session.expire_all()
    return list(session.scalars(select(Trip).order_by(Trip.vehicle_id, Trip.seq)))


def test_an_upload_is_accepted_report_by_report_and_stored_with_its_envelope(fleet: Session) -> None:
    groups = submit_up(fleet, envelope(trip(1), trip(2)), envelope(trip(1, P256_CAR)))
    assert grouped_reasons(groups) == [[Reason.OK, Reason.OK], [Reason.OK]]
    assert [verdict.payload_hash for verdict in groups[0]] == [payload_hash(trip(1)), payload_hash(trip(2))]
    assert ingest.valid_metres_by_vehicle(fleet, T0, NOW) == {VEHICLE: 2 * TRIP_M, P256_CAR: TRIP_M}
    assert {(row.vehicle_id, row.algorithm) for row in upload_rows(fleet)} == {
        (VEHICLE, "ed25519"),
        (P256_CAR, "p256"),
    }
    assert {(row.signature, row.upload_hash is not None) for row in trip_rows(fleet)} == {(None, True)}


# (a) the verdicts of an upload's reports are those of the same reports signed and sent alone

_CAR_POOLS: Final[dict[str, tuple[TripReport, ...]]] = {
    # New reports in and out of order, a replayed sequence with other content, an implausible (held) one,
    # a stale one, one from the future.
    VEHICLE: (
        trip(1),
        trip(2),
        trip(3),
        trip(2, energy_wh=4_600),
        trip(4, odometer_end_m=1_000_000 + TRIP_M * 4 + 900_000),
        trip(5, started_at=T0 - MAX_REPORT_AGE_S - 10_000, ended_at=T0 - MAX_REPORT_AGE_S - 9_000),
        trip(6, started_at=NOW + 400, ended_at=NOW + 1_000),
    ),
    P256_CAR: (trip(1, P256_CAR), trip(2, P256_CAR), trip(1, P256_CAR, energy_wh=4_400)),
}
_FORGERS: Final[dict[str, PrivateKey]] = {VEHICLE: ED_KEY_2, P256_CAR: P256_KEY_2}


@st.composite
def _groupings(draw: st.DrawFn) -> tuple[str, list[TripReport], bool]:
    car = draw(st.sampled_from(sorted(_CAR_POOLS)))
    reports = draw(st.lists(st.sampled_from(_CAR_POOLS[car]), min_size=1, max_size=5))
    return car, reports, draw(st.integers(0, 3)) == 0  # one upload in four is forged


def _without_signing(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    names = [column.name for column in Trip.__table__.columns if column.name != "id"]
    kept = [i for i, name in enumerate(names) if name not in ("signature", "upload_hash")]
    return sorted(tuple(row[i] for i in kept) for row in rows)


def _signing_columns(rows: list[tuple[object, ...]]) -> set[tuple[bool, bool]]:
    names = [column.name for column in Trip.__table__.columns if column.name != "id"]
    signature, upload_hash = names.index("signature"), names.index("upload_hash")
    return {(row[signature] is not None, row[upload_hash] is not None) for row in rows}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored_before=st.lists(st.sampled_from(_CAR_POOLS[VEHICLE] + _CAR_POOLS[P256_CAR]), max_size=3),
    groups=st.lists(_groupings(), min_size=1, max_size=4),
)
def test_an_uploads_reports_get_the_verdicts_they_get_signed_alone(
    fleet: Session, stored_before: list[TripReport], groups: list[tuple[str, list[TripReport], bool]]
) -> None:
    outcomes = []
    for as_uploads in (True, False):
        with fleet.begin_nested() as savepoint:
            submit_reports(fleet, [signed(report) for report in stored_before], NOW)
            before = snapshot(fleet)
            if as_uploads:
                raws = [
                    envelope(*reports, key=_FORGERS[car] if forged else None)
                    for car, reports, forged in groups
                ]
                answers = submit_up(fleet, *raws)
                assert [len(answer) for answer in answers] == [len(reports) for _, reports, _ in groups]
                verdicts = [verdict for answer in answers for verdict in answer]
            else:
                raws = [
                    signed(report, _FORGERS[car] if forged else None)
                    for car, reports, forged in groups
                    for report in reports
                ]
                verdicts = submit(fleet, *raws)
            after = snapshot(fleet)
            new = [row for row in after if row not in before]
            assert _signing_columns(new) <= ({(False, True)} if as_uploads else {(True, False)})
            outcomes.append(
                (
                    [(v.status, v.reason, v.payload_hash) for v in verdicts],
                    [v.detail for v in verdicts if v.reason is not Reason.BAD_SIGNATURE],
                    _without_signing(after),
                )
            )
            savepoint.rollback()
    assert outcomes[0] == outcomes[1]


# (b) a bad envelope signature


def test_a_bad_upload_signature_rejects_each_of_its_reports_and_spares_the_other_uploads(
    fleet: Session,
) -> None:
    forged = envelope(trip(1), trip(2), key=ED_KEY_2)
    tampered = envelope(trip(1, P256_CAR), trip(2, P256_CAR))
    tampered["reports"][1]["energy_wh"] = 4_400  # type: ignore[index]  # after signing
    reordered = envelope(trip(3), trip(4))
    reordered["reports"].reverse()  # type: ignore[attr-defined]
    groups = submit_up(fleet, forged, tampered, reordered, envelope(trip(1), trip(2)))
    assert grouped_reasons(groups) == [[Reason.BAD_SIGNATURE] * 2] * 3 + [[Reason.OK, Reason.OK]]
    for verdict in [verdict for group in groups[:3] for verdict in group]:
        assert verdict.status is Status.REJECTED
        assert verdict.detail.startswith("the upload's signature does not verify under the key of")
    assert [verdict.payload_hash for verdict in groups[0]] == [verdict.payload_hash for verdict in groups[3]]
    assert [(row.vehicle_id, row.seq) for row in trip_rows(fleet)] == [(VEHICLE, 1), (VEHICLE, 2)]
    [row] = upload_rows(fleet)
    assert row.signature == envelope(trip(1), trip(2))["signature"]
    # Only the forged upload in a call of its own: nothing stored at all.
    before = snapshot(fleet)
    assert grouped_reasons(submit_up(fleet, envelope(trip(3), key=ED_KEY_2))) == [[Reason.BAD_SIGNATURE]]
    assert snapshot(fleet) == before
    assert len(upload_rows(fleet)) == 1


# (c) the car's key


def test_an_upload_of_an_unknown_revoked_or_other_algorithm_car_is_refused_per_report(fleet: Session) -> None:
    unknown = envelope(trip(1, "YS-UNKNOWN"), trip(2, "YS-UNKNOWN"))
    mismatch = envelope(trip(1, algorithm=Algorithm.P256), key=P256_KEY)
    assert grouped_reasons(submit_up(fleet, unknown, mismatch)) == [
        [Reason.UNKNOWN_DEVICE] * 2,
        [Reason.ALGORITHM_MISMATCH],
    ]
    vehicles.revoke_device_key(fleet, VEHICLE, NOW - 10)
    groups = submit_up(fleet, envelope(trip(1), trip(2)), envelope(trip(1, P256_CAR)))
    assert grouped_reasons(groups) == [[Reason.DEVICE_REVOKED] * 2, [Reason.OK]]
    assert all(verdict.status is Status.REJECTED for verdict in groups[0])
    assert [row.vehicle_id for row in trip_rows(fleet)] == [P256_CAR]
    assert [row.vehicle_id for row in upload_rows(fleet)] == [P256_CAR]


# (d) one malformed report makes its whole upload malformed


def test_one_malformed_report_makes_its_whole_upload_malformed(fleet: Session) -> None:
    broken = envelope(trip(1), trip(2), trip(3))
    del broken["reports"][1]["energy_wh"]  # type: ignore[index]
    own_signature = envelope(trip(4), trip(5))
    own_signature["reports"][0]["signature"] = signed(trip(4))["signature"]  # type: ignore[index]
    no_envelope_signature = envelope(trip(6), trip(7))
    del no_envelope_signature["signature"]
    groups = submit_up(
        fleet,
        broken,
        "not an object",
        {"vehicle_id": VEHICLE, "reports": "three"},
        {"reports": []},
        own_signature,
        no_envelope_signature,
        envelope(trip(1, P256_CAR)),
    )
    assert grouped_reasons(groups) == [
        [Reason.MALFORMED] * 3,
        [Reason.MALFORMED],
        [Reason.MALFORMED],
        [Reason.MALFORMED],
        [Reason.MALFORMED] * 2,
        [Reason.MALFORMED] * 2,
        [Reason.OK],
    ]
    assert {verdict.detail for verdict in groups[0]} == {
        "upload report 1: trip report is missing fields: energy_wh"
    }
    assert "upload report 0: trip report has unknown fields: 'signature'" in groups[4][0].detail
    assert "missing ['signature']" in groups[5][1].detail
    for verdict in [verdict for group in groups[:-1] for verdict in group]:
        assert (verdict.status, verdict.report, verdict.payload_hash) == (Status.REJECTED, None, None)
    assert [row.vehicle_id for row in trip_rows(fleet)] == [P256_CAR]
    # The good reports of the broken upload were not recorded: they are new when sent properly.
    assert grouped_reasons(submit_up(fleet, envelope(trip(1), trip(3)))) == [[Reason.OK, Reason.OK]]


# (e) what is stored, and the auditor's re-verification from it alone


def _rebuilt(row: Trip, algorithm: Algorithm, signature: bytes = b"") -> TripReport:
    """The report as the car sent it, from the stored trip alone."""
    return TripReport(
        vehicle_id=row.vehicle_id,
        seq=row.seq,
        started_at=row.started_at,
        ended_at=row.ended_at,
        odometer_start_m=row.odometer_start_m,
        odometer_end_m=row.odometer_end_m,
        energy_wh=row.energy_wh,
        drive_mode=DriveMode[row.drive_mode.upper()],
        checkin_ids=tuple(json.loads(row.checkin_ids)),
        algorithm=algorithm,
        signature=signature,
    )


def _stored_key(session: Session, vehicle_id: str) -> DeviceKey:
    row = vehicles.latest_device_key(session, vehicle_id)
    assert row is not None
    return DeviceKey(Algorithm(row.algorithm), row.public_key)


def _audit(session: Session) -> int:
    """Re-verifies every stored trip from stored data only: the trip's fields, the car's device key, and its
    own signature or its upload envelope. Answers how many trips verified."""
    envelopes = {row.upload_hash: row for row in upload_rows(session)}
    verified = 0
    for row in trip_rows(session):
        key = _stored_key(session, row.vehicle_id)
        if row.upload_hash is None:
            assert row.signature is not None
            report = _rebuilt(row, key.algorithm, bytes.fromhex(row.signature[2:]))
            assert "0x" + payload_hash(report).hex() == row.payload_hash
            assert telemetry.signature_valid(key, canonical_bytes(report), report.signature)
        else:
            assert row.signature is None
            upload = envelopes[row.upload_hash]
            algorithm = Algorithm(upload.algorithm)
            hashes = [bytes.fromhex(value[2:]) for value in json.loads(upload.payload_hashes)]
            report = _rebuilt(row, algorithm)
            assert payload_hash(report) in hashes
            assert "0x" + payload_hash(report).hex() == row.payload_hash
            assert upload.vehicle_id == row.vehicle_id
            assert (
                "0x" + uploads.upload_hash(upload.vehicle_id, algorithm, hashes).hex() == upload.upload_hash
            )
            message = uploads.upload_bytes(upload.vehicle_id, algorithm, hashes)
            assert telemetry.signature_valid(key, message, bytes.fromhex(upload.signature[2:]))
        verified += 1
    return verified


def test_stored_trips_keep_their_signature_or_envelope_and_re_verify_from_the_store(fleet: Session) -> None:
    held = trip(2, energy_wh=30_000)
    stale = trip(3, started_at=T0 - MAX_REPORT_AGE_S - 10_000, ended_at=T0 - MAX_REPORT_AGE_S - 9_000)
    ed_upload = envelope(trip(1), held, stale, trip(1))
    p256_upload = envelope(trip(1, P256_CAR), trip(2, P256_CAR))
    groups = submit_up(fleet, ed_upload, p256_upload)
    assert grouped_reasons(groups) == [
        [Reason.OK, Reason.ENERGY_TOO_HIGH, Reason.STALE, Reason.DUPLICATE],
        [Reason.OK, Reason.OK],
    ]
    assert reasons(submit(fleet, signed(trip(4)), signed(trip(3, P256_CAR)))) == [Reason.OK, Reason.OK]
    fleet.commit()

    rows = {(row.vehicle_id, row.seq): row for row in trip_rows(fleet)}
    assert set(rows) == {
        (P256_CAR, 1),
        (P256_CAR, 2),
        (P256_CAR, 3),
        (VEHICLE, 1),
        (VEHICLE, 2),
        (VEHICLE, 4),
    }
    assert rows[VEHICLE, 2].status is TripStatus.HELD
    ed_hashes = [payload_hash(report) for report in (trip(1), held, stale, trip(1))]
    ed_hash = "0x" + uploads.upload_hash(VEHICLE, Algorithm.ED25519, ed_hashes).hex()
    p256_hashes = [payload_hash(trip(1, P256_CAR)), payload_hash(trip(2, P256_CAR))]
    p256_hash = "0x" + uploads.upload_hash(P256_CAR, Algorithm.P256, p256_hashes).hex()
    for key, upload_hash in [((VEHICLE, 1), ed_hash), ((VEHICLE, 2), ed_hash), ((P256_CAR, 1), p256_hash)]:
        assert (rows[key].upload_hash, rows[key].signature) == (upload_hash, None)
    for key, report in [((VEHICLE, 4), trip(4)), ((P256_CAR, 3), trip(3, P256_CAR))]:
        assert rows[key].upload_hash is None
        assert rows[key].signature == signed(report)["signature"]

    stored_uploads = {row.upload_hash: row for row in upload_rows(fleet)}
    assert set(stored_uploads) == {ed_hash, p256_hash}
    ed_row = stored_uploads[ed_hash]
    assert (ed_row.vehicle_id, ed_row.algorithm, ed_row.signature, ed_row.received_at) == (
        VEHICLE,
        "ed25519",
        ed_upload["signature"],
        NOW,
    )
    # Every report the signature covers, in the signed order: the stale one and the repeat too.
    assert json.loads(ed_row.payload_hashes) == ["0x" + digest.hex() for digest in ed_hashes]
    assert (stored_uploads[p256_hash].algorithm, stored_uploads[p256_hash].signature) == (
        "p256",
        p256_upload["signature"],
    )

    assert _audit(fleet) == 6
    # The audit would catch a stored trip altered after the fact.
    rows[VEHICLE, 1].energy_wh += 1
    rows[P256_CAR, 3].energy_wh += 1
    with pytest.raises(AssertionError):
        _audit_one(fleet, rows[VEHICLE, 1])
    with pytest.raises(AssertionError):
        _audit_one(fleet, rows[P256_CAR, 3])
    fleet.rollback()


def _audit_one(session: Session, row: Trip) -> None:
    key = _stored_key(session, row.vehicle_id)
    if row.upload_hash is None:
        assert row.signature is not None
        report = _rebuilt(row, key.algorithm, bytes.fromhex(row.signature[2:]))
        assert telemetry.signature_valid(key, canonical_bytes(report), report.signature)
        return
    upload = session.get(UploadRow, row.upload_hash)
    assert upload is not None
    hashes = [bytes.fromhex(value[2:]) for value in json.loads(upload.payload_hashes)]
    assert payload_hash(_rebuilt(row, Algorithm(upload.algorithm))) in hashes


def test_an_upload_that_records_nothing_stores_no_envelope(fleet: Session) -> None:
    stale = trip(3, started_at=T0 - MAX_REPORT_AGE_S - 10_000, ended_at=T0 - MAX_REPORT_AGE_S - 9_000)
    assert grouped_reasons(submit_up(fleet, envelope(stale))) == [[Reason.STALE]]
    assert upload_rows(fleet) == []
    assert trip_count(fleet) == 0


# (f) the same upload again


def test_resending_an_upload_answers_duplicate_and_adds_no_rows(fleet: Session) -> None:
    raw = envelope(trip(1), trip(2, energy_wh=30_000), trip(3))
    assert grouped_reasons(submit_up(fleet, raw)) == [[Reason.OK, Reason.ENERGY_TOO_HIGH, Reason.OK]]
    fleet.commit()
    before, envelopes_before = snapshot(fleet), upload_rows(fleet)
    assert len(envelopes_before) == 1
    again = submit_up(fleet, raw, raw, now=NOW + 60)
    assert grouped_reasons(again) == [[Reason.DUPLICATE] * 3] * 2
    assert all(verdict.status is Status.DUPLICATE for group in again for verdict in group)
    fleet.commit()
    assert snapshot(fleet) == before
    assert [(row.upload_hash, row.received_at) for row in upload_rows(fleet)] == [
        (row.upload_hash, row.received_at) for row in envelopes_before
    ]
    # The same reports signed alone are the same reports too.
    assert reasons(submit(fleet, signed(trip(1)), signed(trip(3)), now=NOW + 60)) == [Reason.DUPLICATE] * 2
    # A new upload repeating old reports with a new one: only the new trip points at the new envelope.
    bigger = envelope(trip(3), trip(4))
    assert grouped_reasons(submit_up(fleet, bigger, now=NOW + 120)) == [[Reason.DUPLICATE, Reason.OK]]
    rows = {row.seq: row for row in trip_rows(fleet)}
    assert rows[3].upload_hash == rows[1].upload_hash != rows[4].upload_hash
    assert len(upload_rows(fleet)) == 2
    assert _audit(fleet) == 4


def test_a_re_signed_upload_keeps_the_envelope_stored_first(fleet: Session) -> None:
    future = trip(6, started_at=NOW + 400, ended_at=NOW + 1_000)
    reports = (trip(1, P256_CAR), replace(future, vehicle_id=P256_CAR, algorithm=Algorithm.P256))
    raw = envelope(*reports)
    assert grouped_reasons(submit_up(fleet, raw)) == [[Reason.OK, Reason.FROM_FUTURE]]
    fleet.commit()
    [first] = upload_rows(fleet)
    # The same upload re-signed (a randomised ECDSA signature) once the second trip's time has come.
    upload = uploads.parse_upload(raw)
    digests = [payload_hash(report) for report in upload.reports]
    message = uploads.upload_bytes(P256_CAR, Algorithm.P256, digests)
    r, s = decode_dss_signature(P256_KEY.sign(message, ec.ECDSA(hashes.SHA256())))
    re_signed = raw | {"signature": "0x" + (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()}
    assert re_signed["signature"] != raw["signature"]
    assert grouped_reasons(submit_up(fleet, re_signed, now=NOW + 1_000)) == [[Reason.DUPLICATE, Reason.OK]]
    fleet.commit()
    [row] = upload_rows(fleet)
    assert (row.upload_hash, row.signature, row.received_at) == (first.upload_hash, raw["signature"], NOW)
    assert {trip_row.upload_hash for trip_row in trip_rows(fleet)} == {first.upload_hash}
    assert _audit(fleet) == 2


def test_the_same_upload_twice_in_one_call_records_once(fleet: Session) -> None:
    raw = envelope(trip(1), trip(2))
    assert grouped_reasons(submit_up(fleet, raw, raw)) == [[Reason.OK] * 2, [Reason.DUPLICATE] * 2]
    assert trip_count(fleet) == 2
    assert len(upload_rows(fleet)) == 1


# (g) limits


def test_upload_batch_limits(session: Session) -> None:
    assert ingest.submit_uploads(session, [], NOW) == []
    with pytest.raises(ValidationError, match="at most 1000 reports per call in all uploads, got 1001"):
        submit_up(session, {"reports": [{}] * 500}, {"reports": [{}] * 501})
    with pytest.raises(ValidationError, match="at most 1000 reports per call in all uploads, got 1001"):
        submit_up(session, *(["junk"] * 1001))  # an upload without a report list counts one
    with pytest.raises(ValidationError, match="at most 1000 reports per call in all uploads, got 1001"):
        submit_up(session, {"reports": [{}] * 1000}, {"reports": []})
    with pytest.raises(ValidationError, match="uploads must be a list"):
        ingest.submit_uploads(session, "uploads", NOW)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="now"):
        ingest.submit_uploads(session, [], -5)
    answered = submit_up(session, {"reports": [{}] * 999}, "junk")
    assert [len(group) for group in answered] == [999, 1]
    assert {verdict.reason for group in answered for verdict in group} == {Reason.MALFORMED}
    assert trip_count(session) == 0


def test_an_upload_on_the_report_by_report_path_is_verified_and_stored_alike(
    fleet: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    [first] = submit(fleet, signed(trip(1)))
    assert first.payload_hash is not None
    # Both snapshots miss trip 1, so both inserts collide and the batch goes report by report.
    lookups = _stale_once(monkeypatch, "seen_payload", (first.payload_hash,))
    _stale_once(monkeypatch, "seen_sequence", (VEHICLE, 1))
    again = _stale_once(monkeypatch, "seen_payload", context=StoreTelemetryContext)
    groups = submit_up(
        fleet,
        envelope(trip(2), trip(1), trip(3)),
        envelope(trip(4), key=ED_KEY_2),
        envelope(trip(1, P256_CAR)),
    )
    assert grouped_reasons(groups) == [
        [Reason.OK, Reason.DUPLICATE, Reason.OK],
        [Reason.BAD_SIGNATURE],
        [Reason.OK],
    ]
    assert lookups.count((first.payload_hash,)) == 2
    assert again.count((first.payload_hash,)) == 1
    fleet.commit()
    rows = {(row.vehicle_id, row.seq): row for row in trip_rows(fleet)}
    assert sorted(rows) == [(VEHICLE, 1), (VEHICLE, 2), (VEHICLE, 3), (P256_CAR, 1)]
    assert rows[VEHICLE, 1].upload_hash is None
    assert rows[VEHICLE, 2].upload_hash == rows[VEHICLE, 3].upload_hash is not None
    assert len(upload_rows(fleet)) == 2
    assert _audit(fleet) == 4


def test_ingest_sees_the_callers_unflushed_changes(fleet: Session) -> None:
    # The PostgreSQL path reads through the session's driver connection, which does not autoflush.
    key = fleet.scalars(select(DeviceKeyRow).where(DeviceKeyRow.vehicle_id == VEHICLE)).one()
    key.revoked_at = NOW - 10  # pending, not flushed
    assert reasons(submit(fleet, signed(trip(1)))) == [Reason.DEVICE_REVOKED]
