"""Telemetry: signed trip reports in batches, per-report verdicts, review of held reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import EXAMPLE_HASH, Strict, UnixTime
from ledger.ingest import MAX_BATCH

WIRE_EXAMPLE: dict[str, Any] = {
    "vehicle_id": "YS-DEMO-0001",
    "seq": 42,
    "started_at": 1767225600,
    "ended_at": 1767227400,
    "odometer_start_m": 12345678,
    "odometer_end_m": 12369134,
    "energy_wh": 3518,
    "drive_mode": "eco",
    "checkin_ids": ["chk-20260101-0001", "chk-20260101-0002"],
    "algorithm": "ed25519",
    "signature": "0x8c0e91b7140d2fb9d6cc22bb9e836e419b963cb0bf7dee54e32f4941e5d28a9c"
    "5fba931fadc3d310a44ae4e01b2c813958966acd0fb6e2c99bcc28658fac6b0c",
}


class TripBatch(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reports": [WIRE_EXAMPLE]}]})

    reports: list[Any] = Field(
        max_length=MAX_BATCH,
        description=(
            "signed trip reports in the wire format of docs/wire-format.md; each is verified on its own, "
            "so a malformed one is answered as rejected without failing the batch"
        ),
    )


UPLOAD_EXAMPLE: dict[str, Any] = {
    "vehicle_id": "YS-DEMO-0001",
    "algorithm": "ed25519",
    "reports": [
        {
            key: value
            for key, value in WIRE_EXAMPLE.items()
            if key not in ("vehicle_id", "algorithm", "signature")
        }
    ],
    # The envelope over that one report, signed with the key of docs/wire-format.md §8.
    "signature": "0xa5776cb3cb66c6c7abe55846a3e2636f4c931e56074440bba2b14994c8a0423d"
    "632d88ddf2fcdcf0753d6c3226688fdbfd324e66a7fb654fffb6081dd5371704",
}


class UploadBatch(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"uploads": [UPLOAD_EXAMPLE]}]})

    uploads: list[Any] = Field(
        max_length=MAX_BATCH,
        description=(
            "upload envelopes in the wire format of docs/wire-format.md §7: a car's reports without their "
            "own signatures and one signature over their payload hashes; at most 1,000 reports in all"
        ),
    )


ReportStatus = Literal["accepted", "held", "rejected", "duplicate"]


class ReportResult(BaseModel):
    index: int = Field(description="position of the report in the batch, or in its upload")
    upload: int | None = Field(default=None, description="for an upload: position of its upload in the batch")
    status: ReportStatus
    reason: str = Field(
        description="reason code (docs/wire-format.md §6), or rate_limited",
        examples=["ok", "too_fast", "bad_signature"],
    )
    detail: str
    vehicle_id: str | None = None
    seq: int | None = None
    payload_hash: str | None = Field(default=None, examples=[EXAMPLE_HASH])
    retry_after: int | None = Field(
        default=None, description="for rate_limited: seconds before the car may resend"
    )


class BatchResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "held": 0,
                    "rejected": 0,
                    "duplicate": 0,
                    "results": [
                        {
                            "index": 0,
                            "status": "accepted",
                            "reason": "ok",
                            "detail": "report accepted",
                            "vehicle_id": "YS-DEMO-0001",
                            "seq": 42,
                            "payload_hash": EXAMPLE_HASH,
                        }
                    ],
                }
            ]
        }
    )

    accepted: int
    held: int
    rejected: int
    duplicate: int
    results: list[ReportResult]


class HoldReview(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"decision": "release", "reviewer": "ops-li"}]}
    )

    decision: Literal["release", "deny"]
    reviewer: str = Field(min_length=1, max_length=64, description="who decided (printable ASCII)")


class HoldReviewOut(BaseModel):
    trip_id: int
    vehicle_id: str
    seq: int
    status: str = Field(examples=["released"])
    reason: str | None
    reviewed_at: UnixTime | None
    reviewer: str | None
