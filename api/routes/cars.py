"""Cars (operator scope ``cars``): register, rotate or revoke the device key, transfer ownership."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, status
from sqlalchemy.orm import Session

from api.deps import NowDep, ServicesDep, SessionDep, operator
from api.schemas.cars import (
    AlgorithmName,
    CarOut,
    CarRegistration,
    DeviceKeyOut,
    KeyRotation,
    OwnerOut,
    OwnershipTransfer,
)
from api.schemas.common import problem_responses
from ledger import vehicles
from ledger.telemetry import VEHICLE_ID_PATTERN
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(
    prefix="/cars",
    tags=["cars"],
    responses=problem_responses(401, 403, 404, 409, 422, 429),
)
Operator = Annotated[TokenIdentity, Depends(operator(Scope.CARS))]
VehiclePath = Annotated[str, Path(pattern=rf"^{VEHICLE_ID_PATTERN}$", examples=["YS-DEMO-0001"])]


def _car(session: Session, vehicle_id: str) -> CarOut:
    vehicle = vehicles.get_vehicle(session, vehicle_id)
    owner = vehicles.ownership_history(session, [vehicle_id])[-1]
    key = vehicles.latest_device_key(session, vehicle_id)
    return CarOut(
        vehicle_id=vehicle.id,
        vin_hash=vehicle.vin_hash,
        registered_at=vehicle.registered_at,
        owner=OwnerOut(account=owner.account, from_time=owner.from_time),
        device_key=None
        if key is None
        else DeviceKeyOut(
            algorithm=cast(AlgorithmName, key.algorithm),
            public_key="0x" + key.public_key.hex(),
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        ),
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Register a car with its device key and owner")
def register(
    body: CarRegistration, svc: ServicesDep, session: SessionDep, now: NowDep, _: Operator
) -> CarOut:
    vehicles.register_vehicle(
        session,
        body.vehicle_id,
        body.vin,
        svc.vin_salt,
        bytes.fromhex(body.device_public_key[2:]),
        body.algorithm,
        body.owner,
        now,
    )
    return _car(session, body.vehicle_id)


@router.get("/{vehicle_id}", summary="A car: its owner and its newest device key")
def get_car(vehicle_id: VehiclePath, session: SessionDep, _: Operator) -> CarOut:
    return _car(session, vehicle_id)


@router.post(
    "/{vehicle_id}/keys",
    status_code=status.HTTP_201_CREATED,
    summary="Rotate the device key: the current key is revoked now and the new one is active at once",
)
def rotate_key(
    vehicle_id: VehiclePath, body: KeyRotation, session: SessionDep, now: NowDep, _: Operator
) -> CarOut:
    vehicles.rotate_device_key(
        session, vehicle_id, bytes.fromhex(body.device_public_key[2:]), body.algorithm, now
    )
    return _car(session, vehicle_id)


@router.post(
    "/{vehicle_id}/keys/revoke",
    summary="Revoke the active device key (a lost or compromised device) until a rotation installs a new one",
)
def revoke_key(vehicle_id: VehiclePath, session: SessionDep, now: NowDep, _: Operator) -> CarOut:
    vehicles.revoke_device_key(session, vehicle_id, now)
    return _car(session, vehicle_id)


@router.post(
    "/{vehicle_id}/transfers", summary="Record a new owner from now on (earlier owners stay in history)"
)
def transfer(
    vehicle_id: VehiclePath, body: OwnershipTransfer, session: SessionDep, now: NowDep, _: Operator
) -> CarOut:
    vehicles.transfer_ownership(session, vehicle_id, body.new_owner, now)
    return _car(session, vehicle_id)
