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
from collections.abc import Callable
from itertools import accumulate
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path
from fastapi.responses import Response

from api.deps import NowDep, ServicesDep, SessionDep, operator
from api.idempotent import IdempotencyKeyHeader, idempotent
from api.limits import RateLimitedError
from api.schemas.common import problem_responses
from api.schemas.telemetry import (
    BatchResult,
    HoldReview,
    HoldReviewOut,
    ReportResult,
    TripBatch,
    UploadBatch,
)
from api.services import Services
from ledger import ingest
from ledger.errors import ValidationError
from ledger.telemetry import VEHICLE_ID_RE, Reason, Verdict
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(prefix="/telemetry", tags=["telemetry"])

IDEMPOTENCY_SCOPE: Final = "telemetry.trips"
UPLOADS_IDEMPOTENCY_SCOPE: Final = "telemetry.uploads"
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


def _result(position: tuple[int | None, int], verdict: Verdict) -> ReportResult:
    report = verdict.report
    # Built from the ledger's own typed values, so validating them again would only cost time per report.
    return ReportResult.model_construct(
        upload=position[0],
        index=position[1],
        status=verdict.status.value,
        reason=verdict.reason.value,
        detail=verdict.detail,
        vehicle_id=None if report is None else report.vehicle_id,
        seq=None if report is None else report.seq,
        payload_hash=None if verdict.payload_hash is None else "0x" + verdict.payload_hash.hex(),
        retry_after=None,
    )


def _ingest(
    svc: Services,
    units: list[Any],
    sizes: list[int],
    uploads: bool,
    submit: Callable[[list[Any]], list[list[Verdict]]],
) -> BatchResult:
    """Charges each car's rate per report, submits the units (reports, or uploads of ``sizes`` reports)
    that are within it, refunds what verification found unauthenticated; one result per report."""
    results: list[ReportResult | None] = []
    admitted: list[int] = []
    for unit, (raw, size) in enumerate(zip(units, sizes, strict=True)):
        vehicle_id = _vehicle_of(raw)
        wait = 0 if vehicle_id is None else svc.vehicle_limits.take(vehicle_id, size)
        if not wait:
            admitted.append(unit)
            results.extend([None] * size)
            continue
        detail = f"car {vehicle_id!r} is over its report rate; send this report again in {wait} s"
        results.extend(
            ReportResult(
                upload=unit if uploads else None,
                index=index if uploads else unit,
                status="rejected",
                reason=RATE_LIMITED,
                detail=detail,
                vehicle_id=vehicle_id,
                retry_after=wait,
            )
            for index in range(size)
        )
    if units and not admitted:  # every report is over its car's rate: so is the request
        wait = max(r.retry_after or 1 for r in results if r is not None)
        raise RateLimitedError(f"every report is over its car's report rate; retry in {wait} s", wait)
    try:
        groups = submit([units[unit] for unit in admitted])
    except BaseException:  # nothing will be stored, so nothing may count against the cars
        for unit in admitted:
            if (vehicle_id := _vehicle_of(units[unit])) is not None:
                svc.vehicle_limits.give_back(vehicle_id, sizes[unit])
        raise
    starts = [0, *accumulate(sizes)]  # each unit's first position in results
    for unit, verdicts in zip(admitted, groups, strict=True):
        vehicle_id = _vehicle_of(units[unit])
        for index, verdict in enumerate(verdicts):
            if vehicle_id is not None and verdict.reason in _UNAUTHENTICATED:
                svc.vehicle_limits.give_back(vehicle_id)
            position = (unit, index) if uploads else (None, unit)
            results[starts[unit] + index] = _result(position, verdict)
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

    def submit(reports: list[Any]) -> list[list[Verdict]]:
        return [[verdict] for verdict in ingest.submit_reports(session, reports, now)]

    sizes = [1] * len(body.reports)
    return idempotent(
        svc,
        session,
        now,
        IDEMPOTENCY_SCOPE,
        idempotency_key,
        body.reports,
        lambda: _ingest(svc, body.reports, sizes, False, submit),
    )


@router.post(
    "/uploads",
    response_model=BatchResult,
    summary="Submit upload envelopes: each car's reports under one signature; each report gets its verdict",
    responses=problem_responses(400, 409, 413, 422, 429),
)
def submit_uploads(
    body: UploadBatch,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    sizes = [ingest.upload_verdicts(raw) for raw in body.uploads]
    if sum(sizes) > svc.settings.max_batch:
        raise ValidationError(f"uploads: at most {svc.settings.max_batch} reports in all, got {sum(sizes)}")
    burst = svc.vehicle_limits.burst
    if svc.vehicle_limits.enabled and max(sizes, default=0) > burst:
        raise ValidationError(f"uploads: a car may send at most {burst} reports at once, got {max(sizes)}")
    return idempotent(
        svc,
        session,
        now,
        UPLOADS_IDEMPOTENCY_SCOPE,
        idempotency_key,
        body.uploads,
        lambda: _ingest(
            svc, body.uploads, sizes, True, lambda raws: ingest.submit_uploads(session, raws, now)
        ),
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
