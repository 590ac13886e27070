"""Held trip reports: the review queue and one held trip with its outcome."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import EXAMPLE_HASH, UnixTime

HoldStatus = Literal["held", "released", "denied"]

HOLD_EXAMPLE: Final[dict[str, Any]] = {
    "trip_id": 1207,
    "vehicle_id": "YS-DEMO-0001",
    "seq": 43,
    "status": "held",
    "started_at": 1767229200,
    "ended_at": 1767231000,
    "odometer_start_m": 12369134,
    "odometer_end_m": 12769134,
    "energy_wh": 60000,
    "drive_mode": "eco",
    "reason": "too_fast",
    "detail": "400000 m in 1800 s exceeds 250 km/h",
    "payload_hash": EXAMPLE_HASH,
    "received_at": 1767231060,
    "reviewed_at": None,
    "reviewer": None,
    "details_deleted": False,
}


class HoldOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [HOLD_EXAMPLE]})

    trip_id: int = Field(description="the trip's id: review it at /v1/telemetry/holds/{trip_id}/review")
    vehicle_id: str = Field(examples=["YS-DEMO-0001"])
    seq: int = Field(description="the car's report sequence number", examples=[43])
    status: HoldStatus = Field(description="held until reviewed; then released (counts) or denied (never)")
    started_at: UnixTime
    ended_at: UnixTime
    odometer_start_m: int | None = Field(
        description="metres; null once the owner's consent revocation erased the trip's details",
        examples=[12369134],
    )
    odometer_end_m: int | None = Field(description="metres; null once erased", examples=[12769134])
    energy_wh: int | None = Field(description="watt-hours; null once erased", examples=[60000])
    drive_mode: str | None = Field(description="null once erased", examples=["eco"])
    reason: str | None = Field(
        description="why it was held: a reason code of docs/wire-format.md §6", examples=["too_fast"]
    )
    detail: str | None = Field(
        description="the verdict's explanation", examples=["400000 m in 1800 s exceeds 250 km/h"]
    )
    payload_hash: str = Field(description="SHA-256 of the report's canonical bytes", examples=[EXAMPLE_HASH])
    received_at: UnixTime = Field(description="when the ledger recorded the report")
    reviewed_at: UnixTime | None = Field(description="null while held", examples=[None])
    reviewer: str | None = Field(description="who released or denied it; null while held", examples=[None])
    details_deleted: bool = Field(description="the owner revoked consent and the personal details are gone")


class HoldPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"holds": [HOLD_EXAMPLE], "next_after": 1207}]})

    holds: list[HoldOut] = Field(description="trips held now, oldest (lowest id) first")
    next_after: int | None = Field(
        description="pass as after= for the next page; null: this page reached the end of the queue",
        examples=[1207],
    )
