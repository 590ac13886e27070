"""Held trip reports for reviewers (operator scope ``review``): the queue of trips held now, oldest first,
and one held trip with its outcome. Releasing or denying is ``POST /v1/telemetry/holds/{trip_id}/review``
(``api.routes.telemetry``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.deps import SessionDep, operator
from api.schemas.common import problem_responses
from api.schemas.holds import HoldOut, HoldPage
from ledger import holds
from ledger.holds import DEFAULT_PAGE, MAX_PAGE, HeldTrip
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(
    prefix="/telemetry/holds", tags=["telemetry"], responses=problem_responses(401, 403, 422, 429)
)
ReviewOperator = Annotated[TokenIdentity, Depends(operator(Scope.REVIEW))]


def _hold(trip: HeldTrip) -> HoldOut:
    return HoldOut(**(vars(trip) | {"status": trip.status.value}))


@router.get("", summary="Trips held for review now, oldest first (operator scope `review`)")
def list_holds(
    session: SessionDep,
    _: ReviewOperator,
    after: Annotated[
        int | None, Query(ge=0, lt=2**63, description="the previous page's next_after", examples=[1207])
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE, description="trips per page", examples=[100])
    ] = DEFAULT_PAGE,
) -> HoldPage:
    page = holds.held_trips(session, after, limit)
    return HoldPage(holds=[_hold(trip) for trip in page.holds], next_after=page.next_after)


@router.get(
    "/{trip_id}",
    summary="One held trip, whether still held, released or denied (operator scope `review`)",
    responses=problem_responses(404),
)
def get_hold(
    trip_id: Annotated[int, Path(ge=1, lt=2**63, examples=[1207])], session: SessionDep, _: ReviewOperator
) -> HoldOut:
    return _hold(holds.get_hold(session, trip_id))
