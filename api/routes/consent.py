"""Data-rights consent, signed by the owner (EIP-712, docs/consent.md): grant, revoke, read the receipt.

The owner's signature is the authentication: no token is needed, and a signature that is not the owner's,
or that was issued more than 600 s from the ledger's clock, is refused (403).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from sqlalchemy.orm import Session

from api.deps import NowDep, ServicesDep, SessionDep
from api.schemas.common import Address, QueryTime, TypedData, problem_responses
from api.schemas.consent import ConsentGrantIn, ConsentOut, ConsentRevocationIn, RevocationOut
from ledger import consent, eip712
from ledger.errors import NotFoundError
from ledger.store.models import Consent

router = APIRouter(prefix="/consents", tags=["consent"], responses=problem_responses(403, 404, 409, 422, 429))


def _out(row: Consent) -> ConsentOut:
    return ConsentOut(
        owner=row.account,
        receipt=row.receipt_hash,
        version=row.version,
        categories=json.loads(row.categories),
        chain_id=row.chain_id,
        issued_at=row.issued_at,
        granted_at=row.granted_at,
        revoked_at=row.revoked_at,
        active=row.revoked_at is None,
    )


def _current(session: Session, owner: str) -> ConsentOut:
    row = consent.current_consent(session, owner)
    if row is None:
        raise NotFoundError(f"{owner} has no active consent")
    return _out(row)


@router.get(
    "/typed-data",
    summary="The EIP-712 consent message for the owner's wallet to sign",
)
def grant_typed_data(
    svc: ServicesDep,
    owner: Annotated[Address, Query()],
    version: Annotated[str, Query(min_length=1, max_length=32, examples=["1.0"])],
    categories: Annotated[list[str], Query(min_length=1, max_length=8, examples=[["trip_summaries"]])],
    issued_at: Annotated[QueryTime, Query()],
) -> TypedData:
    grant = consent.ConsentGrant(owner, version, tuple(categories), issued_at)
    data = grant.typed_data(svc.chain_id)
    return TypedData(typed_data=eip712.to_json(data), digest=consent.receipt_of(grant, svc.chain_id))


@router.post(
    "", status_code=status.HTTP_201_CREATED, summary="Grant consent (supersedes the owner's active one)"
)
def grant(body: ConsentGrantIn, svc: ServicesDep, session: SessionDep, now: NowDep) -> ConsentOut:
    message = consent.ConsentGrant(body.owner, body.version, tuple(body.categories), body.issued_at)
    consent.grant_consent(session, message, body.signature, svc.chain_id, now)
    return _current(session, body.owner)


@router.post(
    "/revocations",
    summary="Revoke the active consent: the cars stop earning and the owner's trip details are forgotten",
)
def revoke(body: ConsentRevocationIn, svc: ServicesDep, session: SessionDep, now: NowDep) -> RevocationOut:
    message = consent.ConsentRevocation(body.owner, body.receipt, body.issued_at)
    result = consent.revoke_consent(session, message, body.signature, svc.chain_id, now)
    return RevocationOut(
        receipt=result.receipt,
        revoked_at=now,
        trips_deleted=result.purge.deleted,
        trips_redacted=result.purge.redacted,
    )


@router.get("/{owner}", summary="The owner's active consent and its receipt")
def current(owner: Annotated[Address, Path()], session: SessionDep) -> ConsentOut:
    return _current(session, owner)
