"""Held trip reports for review: the queue of trips still HELD, and any once-held trip with its outcome.

Ingest (:mod:`ledger.ingest`) records an implausible report as a ``HELD`` trip and reviewers release or
deny it (``ingest.review_hold``); this module only reads.

Rules:

* The queue lists trips whose status is ``HELD`` now, oldest first: in the order they were received,
  which is the order of their trip ids (ids are assigned on insert, as reports arrive). It pages by id:
  ``after`` is the last id of the previous page, so a page never repeats or skips a trip that stays
  held, while trips reviewed in the meantime simply drop out.
* A page holds ``1..MAX_PAGE`` trips; ``next_after`` is the id to pass for the next page, or None when
  this page reached the end of the queue (one row more than the page is read to tell).
* One trip is shown whatever became of it (held, released or denied) with its reviewer and review time;
  a trip that was never held (accepted outright) is not a hold and is :class:`NotFoundError`, as is an
  unknown id.
* When the owner revoked consent, a trip's personal details are erased (``ledger.consent``): its
  odometer readings, energy and drive mode are then shown as None, never as the zeros stored in their
  place, and ``details_deleted`` says so.

Services only read; callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import NotFoundError, ValidationError
from ledger.store.models import Trip, TripStatus

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "HeldTrip", "HoldPage", "get_hold", "held_trips"]

DEFAULT_PAGE: Final = 100
MAX_PAGE: Final = 500
_ID_LIMIT: Final = 2**63
_EVER_HELD: Final = (TripStatus.HELD, TripStatus.RELEASED, TripStatus.DENIED)


@dataclass(frozen=True)
class HeldTrip:
    """A trip that was held for review, as a reviewer sees it."""

    trip_id: int
    vehicle_id: str
    seq: int
    status: TripStatus
    started_at: int
    ended_at: int
    odometer_start_m: int | None
    odometer_end_m: int | None
    energy_wh: int | None
    drive_mode: str | None
    reason: str | None
    detail: str | None
    payload_hash: str
    received_at: int
    reviewed_at: int | None
    reviewer: str | None
    details_deleted: bool


@dataclass(frozen=True)
class HoldPage:
    holds: list[HeldTrip]
    next_after: int | None


def _held(trip: Trip) -> HeldTrip:
    erased = trip.details_deleted
    return HeldTrip(
        trip_id=trip.id,
        vehicle_id=trip.vehicle_id,
        seq=trip.seq,
        status=trip.status,
        started_at=trip.started_at,
        ended_at=trip.ended_at,
        odometer_start_m=None if erased else trip.odometer_start_m,
        odometer_end_m=None if erased else trip.odometer_end_m,
        energy_wh=None if erased else trip.energy_wh,
        drive_mode=None if erased else trip.drive_mode,
        reason=trip.reason,
        detail=trip.detail,
        payload_hash=trip.payload_hash,
        received_at=trip.received_at,
        reviewed_at=trip.reviewed_at,
        reviewer=trip.reviewer,
        details_deleted=erased,
    )


def held_trips(session: Session, after: int | None = None, limit: int = DEFAULT_PAGE) -> HoldPage:
    """Trips held now, oldest first, with ids above ``after`` (all when None); at most ``limit``."""
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1..{MAX_PAGE}, got {limit!r}")
    if after is not None and (type(after) is not int or not 0 <= after < _ID_LIMIT):
        raise ValidationError(f"after must be a trip id in [0, 2**63), got {after!r}")
    query = select(Trip).where(Trip.status == TripStatus.HELD).order_by(Trip.id).limit(limit + 1)
    if after is not None:
        query = query.where(Trip.id > after)
    rows = list(session.scalars(query))
    page = rows[:limit]
    more = len(rows) > limit
    return HoldPage([_held(trip) for trip in page], page[-1].id if more else None)


def get_hold(session: Session, trip_id: int) -> HeldTrip:
    """One trip that was held, whatever its review made of it since."""
    if type(trip_id) is not int or not 1 <= trip_id < _ID_LIMIT:
        raise ValidationError(f"trip id must be an integer in [1, 2**63), got {trip_id!r}")
    trip = session.get(Trip, trip_id)
    if trip is None:
        raise NotFoundError(f"trip {trip_id} does not exist")
    if trip.status not in _EVER_HELD:
        raise NotFoundError(f"trip {trip_id} was never held for review: it was {trip.status.value}")
    return _held(trip)
