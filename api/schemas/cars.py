"""Cars: registration, device keys, ownership (operator scope ``cars``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import EXAMPLE_ACCOUNT, Address, Strict, UnixTime
from ledger.telemetry import VEHICLE_ID_PATTERN

VehicleId = Annotated[
    str, StringConstraints(pattern=rf"^{VEHICLE_ID_PATTERN}$"), Field(examples=["YS-DEMO-0001"])
]
PublicKeyHex = Annotated[
    str,
    StringConstraints(pattern=r"^0x([0-9a-fA-F]{2}){32,65}$"),
    Field(
        description="device public key: Ed25519 raw 32 bytes, or P-256 SEC1 (33 or 65 bytes), as 0x hex",
        examples=["0x79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664"],
    ),
]
AlgorithmName = Literal["ed25519", "p256"]


class CarRegistration(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "vehicle_id": "YS-DEMO-0001",
                    "vin": "LYSABCDEFGH123456",
                    "device_public_key": "0x79b5562e8fe654f94078b112e8a98ba7901f853ae695bed7e0e3910bad049664",
                    "algorithm": "ed25519",
                    "owner": EXAMPLE_ACCOUNT,
                }
            ]
        },
    )

    vehicle_id: VehicleId
    vin: str = Field(
        min_length=1,
        max_length=64,
        description="17 characters of ISO 3779; only its salted hash is stored, and it is never echoed",
    )
    device_public_key: PublicKeyHex
    algorithm: AlgorithmName
    owner: Address


class KeyRotation(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "device_public_key": "0x031f140146bfb1b251f84f4ddbe0d4cd"
                    "cfd77afd984a9520e35794021f8312bb9e",
                    "algorithm": "p256",
                }
            ]
        },
    )

    device_public_key: PublicKeyHex
    algorithm: AlgorithmName


class OwnershipTransfer(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"new_owner": EXAMPLE_ACCOUNT}]}
    )

    new_owner: Address


class DeviceKeyOut(BaseModel):
    algorithm: AlgorithmName
    public_key: str = Field(description="as stored: P-256 keys uncompressed")
    created_at: UnixTime
    revoked_at: UnixTime | None


class OwnerOut(BaseModel):
    account: Address
    from_time: UnixTime


class CarOut(BaseModel):
    vehicle_id: VehicleId
    vin_hash: str = Field(description="HMAC-SHA256 of the VIN under the ledger's secret salt")
    registered_at: UnixTime
    owner: OwnerOut
    device_key: DeviceKeyOut | None = Field(description="the newest key, revoked or not")
