"""Telemetry: batches of signed trip reports in, one verdict per report out; review of held reports.

Authentication is each report's device signature, so the batch endpoint takes no token. Limits, in order:
the client's request rate (every /v1 request), the batch size, then each car's report rate. A car's
bucket is charged before its report is verified and refunded when the report turns out unauthenticated
(malformed, unknown or revoked device, bad signature), so nobody but the car can use up its rate.
Reports over the rate are answered ``rejected`` / ``rate_limited`` with ``retry_after`` and not stored;
when every report of a batch is over its car's rate, the request is answered 429 with ``Retry-After``.

With an ``Idempotency-Key`` the answer is stored with the batch's effects, in one transaction, and a retry
with the same key and the same reports gets the same answer byte for byte (``Idempotent-Replayed: true``).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.deps import NowDep, ServicesDep, SessionDep, operator
from api.idempotent import IdempotencyKeyHeader, idempotent
from api.limits import RateLimitedError
from api.schemas.common import problem_responses
from api.schemas.telemetry import BatchResult, HoldReview, HoldReviewOut, ReportResult, TripBatch
from api.services import Services
from ledger import ingest
from ledger.errors import ValidationError
from ledger.telemetry import VEHICLE_ID_RE, Reason, Verdict
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(prefix="/telemetry", tags=["telemetry"])

IDEMPOTENCY_SCOPE: Final = "telemetry.trips"
RATE_LIMITED: Final = "rate_limited"
# Verdicts reached before the device signature verified: they prove nothing about who sent the report.
_UNAUTHENTICATED: Final = frozenset(
    {
        Reason.MALFORMED,
        Reason.UNKNOWN_DEVICE,
        Reason.DEVICE_REVOKED,
        Reason.ALGORITHM_MISMATCH,
        Reason.BAD_SIGNATURE,
    }
)


def _vehicle_of(raw: Any) -> str | None:
    vehicle_id = raw.get("vehicle_id") if isinstance(raw, dict) else None
    return vehicle_id if isinstance(vehicle_id, str) and VEHICLE_ID_RE.fullmatch(vehicle_id) else None


def _result(index: int, verdict: Verdict) -> ReportResult:
    report = verdict.report
    return ReportResult(
        index=index,
        status=verdict.status.value,
        reason=verdict.reason.value,
        detail=verdict.detail,
        vehicle_id=None if report is None else report.vehicle_id,
        seq=None if report is None else report.seq,
        payload_hash=None if verdict.payload_hash is None else "0x" + verdict.payload_hash.hex(),
    )


def _ingest(svc: Services, session: Session, reports: list[Any], now: int) -> BatchResult:
    results: list[ReportResult | None] = [None] * len(reports)
    admitted: list[int] = []
    for index, raw in enumerate(reports):
        vehicle_id = _vehicle_of(raw)
        wait = 0 if vehicle_id is None else svc.vehicle_limits.take(vehicle_id)
        if wait:
            results[index] = ReportResult(
                index=index,
                status="rejected",
                reason=RATE_LIMITED,
                detail=f"car {vehicle_id!r} is over its report rate; send this report again in {wait} s",
                vehicle_id=vehicle_id,
                retry_after=wait,
            )
        else:
            admitted.append(index)
    if reports and not admitted:  # every report is over its car's rate: so is the request
        wait = max(r.retry_after or 1 for r in results if r is not None)
        raise RateLimitedError(f"every report is over its car's report rate; retry in {wait} s", wait)
    try:
        verdicts = ingest.submit_reports(session, [reports[i] for i in admitted], now)
    except BaseException:  # nothing will be stored, so nothing may count against the cars
        for index in admitted:
            if (vehicle_id := _vehicle_of(reports[index])) is not None:
                svc.vehicle_limits.give_back(vehicle_id)
        raise
    for index, verdict in zip(admitted, verdicts, strict=True):
        vehicle_id = _vehicle_of(reports[index])
        if vehicle_id is not None and verdict.reason in _UNAUTHENTICATED:
            svc.vehicle_limits.give_back(vehicle_id)
        results[index] = _result(index, verdict)
    final = [result for result in results if result is not None]
    counts = {
        status: sum(1 for r in final if r.status == status)
        for status in ("accepted", "held", "rejected", "duplicate")
    }
    for (status, reason), count in Counter((r.status, r.reason) for r in final).items():
        svc.metrics.reports.labels(status, reason).inc(count)
    return BatchResult(results=final, **counts)


@router.post(
    "/trips",
    response_model=BatchResult,
    summary="Submit up to 1,000 signed trip reports; each gets its own verdict",
    responses=problem_responses(400, 409, 413, 422, 429),
)
def submit_trips(
    body: TripBatch,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    if len(body.reports) > svc.settings.max_batch:
        raise ValidationError(
            f"reports: at most {svc.settings.max_batch} reports per batch, got {len(body.reports)}"
        )
    return idempotent(
        svc,
        session,
        now,
        IDEMPOTENCY_SCOPE,
        idempotency_key,
        body.reports,
        lambda: _ingest(svc, session, body.reports, now),
    )


ReviewOperator = Annotated[TokenIdentity, Depends(operator(Scope.REVIEW))]


@router.post(
    "/holds/{trip_id}/review",
    summary="Release or deny a held trip (operator scope `review`); a trip is reviewed once",
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
def review(
    trip_id: Annotated[int, Path(ge=1, lt=2**63)],
    body: HoldReview,
    session: SessionDep,
    now: NowDep,
    _: ReviewOperator,
) -> HoldReviewOut:
    trip = ingest.review_hold(session, trip_id, body.decision, body.reviewer, now)
    return HoldReviewOut(
        trip_id=trip.id,
        vehicle_id=trip.vehicle_id,
        seq=trip.seq,
        status=trip.status.value,
        reason=trip.reason,
        reviewed_at=trip.reviewed_at,
        reviewer=trip.reviewer,
    )
