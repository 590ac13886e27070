"""Trip-report ingest against the store: verification in order, persistence, holds and their review.

``ledger.telemetry`` decides each report's verdict; this module supplies the stored state it reads
(:class:`StoreTelemetryContext`) and records what the verdict says to record.

Rules:

* A batch holds at most ``MAX_BATCH`` reports (:class:`ValidationError` beyond). Reports are verified and
  recorded one by one, in order, so a later report sees the earlier ones of its batch (its sequence,
  payload hash and the car's last trip). One bad report never sinks its batch: every report gets a
  verdict, in the order given.
* ACCEPTED and HELD reports become ``Trip`` rows with their status, reason code and detail. REJECTED
  reports store nothing. DUPLICATE changes nothing, so resubmitting a batch is harmless.
* Each report is written in its own SAVEPOINT. If a concurrent writer recorded the same sequence or
  payload between our check and our insert, the unique constraint fires, the savepoint alone rolls back,
  and the report is verified again, which now answers duplicate or replayed sequence.
* Consent is that of the car's owner at the trip's end, and it must have held without a break from
  then until now (superseding grants chain; a revocation breaks the chain, and a later grant does not
  mend it): the owner's trip details were forgotten at the break, and a late report must not bring
  them back.
* A car's history for plausibility (``last_trip``) is its recorded trip with the highest sequence that
  was not denied, so an old sequence sent late can't reset it and a denied trip is no precedent.
* Review: only a HELD trip can be reviewed, once (:class:`ConflictError` otherwise, even when two
  reviewers race). RELEASED counts like ACCEPTED from then on; DENIED never counts, yet its sequence
  and payload hash stay used, so the same report sent again is a duplicate.
* Valid metres: the summed odometer advance of ACCEPTED and RELEASED trips whose ``ended_at`` is in
  ``(window_start, window_end]``; a trip whose odometer ran backwards adds zero, never a negative.
* A car has an open hold at time ``t`` when one of its reports was held at or before ``t`` and not
  reviewed by ``t``; asking about a past ``t`` gives the answer ``t`` had, whatever happened since.

Conventions as in :mod:`ledger.vehicles`: services flush, callers commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any, Final, cast

from sqlalchemy import CursorResult, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger import consent, telemetry
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.store.models import Trip, TripStatus
from ledger.telemetry import Algorithm, Status, TripSummary, Verdict
from ledger.vehicles import (
    OwnershipRecord,
    check_time,
    latest_device_key,
    owner_in_history,
    ownership_history,
)

__all__ = [
    "MAX_BATCH",
    "ReviewDecision",
    "StoreTelemetryContext",
    "review_hold",
    "submit_reports",
    "valid_metres_by_vehicle",
    "vehicles_with_open_holds",
]

MAX_BATCH: Final = 1_000
# A collision means a concurrent writer won; a second one in a row for the same report would be a bug.
_MAX_ATTEMPTS: Final = 3
_REVIEWER_RE: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,63}")
_COUNTED: Final = (TripStatus.ACCEPTED, TripStatus.RELEASED)
_EVER_HELD: Final = (TripStatus.HELD, TripStatus.RELEASED, TripStatus.DENIED)
_RECORDED_STATUS: Final = {Status.ACCEPTED: TripStatus.ACCEPTED, Status.HELD: TripStatus.HELD}


class ReviewDecision(StrEnum):
    RELEASE = "release"
    DENY = "deny"


_DECISIONS: Final = frozenset(member.value for member in ReviewDecision)


def _hex(digest: bytes) -> str:
    return "0x" + digest.hex()


class StoreTelemetryContext:
    """``ledger.telemetry.TelemetryContext`` over the session's view of the store.

    Reads go through the session, so rows flushed earlier in the same transaction (earlier reports of the
    batch) are seen. Device keys, ownership histories and consent spans are memoised for the context's
    life, one batch, because ingest never writes them: a batch costs one lookup of each per car or owner,
    not per report. A change by a concurrent writer during the batch is seen by the next batch.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._keys: dict[str, telemetry.DeviceKey | None] = {}
        self._owners: dict[str, list[OwnershipRecord]] = {}
        self._consents: dict[str, list[tuple[int, int | None]]] = {}

    def device_key(self, vehicle_id: str) -> telemetry.DeviceKey | None:
        if vehicle_id not in self._keys:
            row = latest_device_key(self._session, vehicle_id)
            self._keys[vehicle_id] = (
                None
                if row is None
                else telemetry.DeviceKey(Algorithm(row.algorithm), row.public_key, row.revoked_at is not None)
            )
        return self._keys[vehicle_id]

    def seen_sequence(self, vehicle_id: str, seq: int) -> bool:
        query = select(Trip.id).where(Trip.vehicle_id == vehicle_id, Trip.seq == seq)
        return self._session.scalars(query).first() is not None

    def seen_payload(self, payload_hash: bytes) -> bool:
        query = select(Trip.id).where(Trip.payload_hash == _hex(payload_hash))
        return self._session.scalars(query).first() is not None

    def last_trip(self, vehicle_id: str) -> TripSummary | None:
        # The highest sequence, not the latest arrival: an old sequence sent late must not reset history.
        query = (
            select(Trip.seq, Trip.started_at, Trip.ended_at, Trip.odometer_end_m)
            .where(Trip.vehicle_id == vehicle_id, Trip.status != TripStatus.DENIED)
            .order_by(Trip.seq.desc())
            .limit(1)
        )
        row = self._session.execute(query).first()
        return None if row is None else TripSummary(*row)

    def consent_active(self, vehicle_id: str, at: int) -> bool:
        if vehicle_id not in self._owners:
            self._owners[vehicle_id] = ownership_history(self._session, [vehicle_id])
        owner = owner_in_history(self._owners[vehicle_id], at)
        if owner is None:
            return False
        if owner not in self._consents:
            self._consents[owner] = consent.consent_spans(self._session, owner)
        return consent.unbroken_since(self._consents[owner], at)


# --- submission --------------------------------------------------------------------------------------


def _trip_row(verdict: Verdict, now: int) -> Trip:
    report, digest = verdict.report, verdict.payload_hash
    # A recorded verdict always carries both.
    assert report is not None
    assert digest is not None
    return Trip(
        vehicle_id=report.vehicle_id,
        seq=report.seq,
        payload_hash=_hex(digest),
        started_at=report.started_at,
        ended_at=report.ended_at,
        odometer_start_m=report.odometer_start_m,
        odometer_end_m=report.odometer_end_m,
        energy_wh=report.energy_wh,
        drive_mode=report.drive_mode.wire_name,
        checkin_ids=json.dumps(list(report.checkin_ids)),
        status=_RECORDED_STATUS[verdict.status],
        reason=verdict.reason.value,
        detail=verdict.detail,
        received_at=now,
    )


def _ingest_one(session: Session, ctx: StoreTelemetryContext, raw: object, now: int) -> Verdict:
    for _ in range(_MAX_ATTEMPTS):
        verdict = telemetry.verify(raw, ctx, now)
        if not verdict.recorded:
            return verdict
        try:
            with session.begin_nested():
                session.add(_trip_row(verdict, now))
        except IntegrityError:
            continue  # a concurrent writer recorded this sequence or payload first: verify again
        return verdict
    raise ConflictError(f"report kept colliding with concurrent writes after {_MAX_ATTEMPTS} attempts")


def submit_reports(session: Session, raw_reports: Sequence[Mapping[str, object]], now: int) -> list[Verdict]:
    """Verifies and records each report in order; one verdict per report (module docstring)."""
    check_time("now", now)
    if not isinstance(raw_reports, Sequence) or isinstance(raw_reports, str | bytes):
        raise ValidationError(f"reports must be a list, got {type(raw_reports).__name__}")
    if len(raw_reports) > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} reports per call, got {len(raw_reports)}")
    ctx = StoreTelemetryContext(session)
    return [_ingest_one(session, ctx, raw, now) for raw in raw_reports]


# --- review ------------------------------------------------------------------------------------------


def _decision(value: object) -> ReviewDecision:
    if isinstance(value, str) and value in _DECISIONS:
        return ReviewDecision(value)
    raise ValidationError(f"decision must be 'release' or 'deny', got {value!r}")


def review_hold(
    session: Session, trip_id: int, decision: ReviewDecision | str, reviewer: str, now: int
) -> Trip:
    """Releases or denies a held trip; ``reviewer`` (1..64 printable ASCII) is recorded with ``now``."""
    choice = _decision(decision)
    if type(reviewer) is not str or not _REVIEWER_RE.fullmatch(reviewer):
        raise ValidationError("reviewer must be 1..64 printable ASCII characters, not starting with a space")
    check_time("now", now)
    trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFoundError(f"trip {trip_id} does not exist")
    outcome = TripStatus.RELEASED if choice is ReviewDecision.RELEASE else TripStatus.DENIED
    # Conditional on still being held, so of two racing reviewers exactly one wins.
    result = session.execute(
        update(Trip)
        .where(Trip.id == trip_id, Trip.status == TripStatus.HELD)
        .values(status=outcome, reviewed_at=now, reviewer=reviewer)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        session.refresh(trip)
        raise ConflictError(f"trip {trip_id} is {trip.status.value}; only a held trip can be reviewed")
    session.refresh(trip)
    return trip


# --- settlement inputs -------------------------------------------------------------------------------


def valid_metres_by_vehicle(session: Session, window_start: int, window_end: int) -> dict[str, int]:
    """Valid metres per car from trips ended in ``(window_start, window_end]``; cars without any omitted."""
    check_time("window_start", window_start)
    if check_time("window_end", window_end) < window_start:
        raise ValidationError(f"window ends at {window_end}, before it starts at {window_start}")
    advance = Trip.odometer_end_m - Trip.odometer_start_m
    distance = case((Trip.odometer_end_m > Trip.odometer_start_m, advance), else_=0)
    query = (
        select(Trip.vehicle_id, func.sum(distance))
        .where(Trip.status.in_(_COUNTED), Trip.ended_at > window_start, Trip.ended_at <= window_end)
        .group_by(Trip.vehicle_id)
    )
    # PostgreSQL sums BIGINT as NUMERIC (a Decimal here): back to int, exactly.
    return {vehicle_id: int(total) for vehicle_id, total in session.execute(query) if total}


def vehicles_with_open_holds(session: Session, at: int) -> set[str]:
    """Cars with a report held at or before ``at`` and not reviewed by ``at``."""
    check_time("at", at)
    query = (
        select(Trip.vehicle_id)
        .where(
            Trip.status.in_(_EVER_HELD),
            Trip.received_at <= at,
            or_(Trip.reviewed_at.is_(None), Trip.reviewed_at > at),
        )
        .distinct()
    )
    return set(session.scalars(query))
