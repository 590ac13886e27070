"""Data-rights consent: grants and revocations signed by the owner (EIP-712, docs/consent.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import (
    EXAMPLE_ACCOUNT,
    EXAMPLE_HASH,
    EXAMPLE_SIGNATURE,
    Address,
    Hash32,
    Signature,
    Strict,
    UnixTime,
)


class ConsentGrantIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "owner": EXAMPLE_ACCOUNT,
                    "version": "1.0",
                    "categories": ["trip_summaries", "app_activity"],
                    "issued_at": 2_000_000_000,
                    "signature": EXAMPLE_SIGNATURE,
                }
            ]
        },
    )

    owner: Address
    version: str = Field(min_length=1, max_length=32, description="version of the consent terms shown")
    categories: list[str] = Field(min_length=1, max_length=8, examples=[["trip_summaries", "app_activity"]])
    issued_at: UnixTime
    signature: Signature


class ConsentRevocationIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "owner": EXAMPLE_ACCOUNT,
                    "receipt": EXAMPLE_HASH,
                    "issued_at": 2_000_000_600,
                    "signature": EXAMPLE_SIGNATURE,
                }
            ]
        },
    )

    owner: Address
    receipt: Hash32 = Field(description="receipt of the active consent being revoked")
    issued_at: UnixTime
    signature: Signature


class ConsentOut(BaseModel):
    owner: Address
    receipt: Hash32
    version: str
    categories: list[str]
    chain_id: int
    issued_at: UnixTime
    granted_at: UnixTime
    revoked_at: UnixTime | None
    active: bool


class RevocationOut(BaseModel):
    receipt: Hash32
    revoked_at: UnixTime
    trips_deleted: int = Field(description="trips removed (ended outside every open window)")
    trips_redacted: int = Field(description="trips reduced to what replay protection needs")
