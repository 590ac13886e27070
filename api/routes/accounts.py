"""Accounts: the wallet's view, claim tickets, relayed claims and the personal-data export.

Reads need no credentials: balances are on chain and the history is in the published manifests. The
export holds personal data (trips), so it needs either an operator token with scope ``accounts`` (the app
backend, acting for a signed-in owner) or the owner's EIP-712 signature over
``DataExport(address account,uint256 issuedAt)`` in the ``X-Owner-Signature`` header, with ``issued_at``
within 600 s of the ledger's clock.

Batch claims (``POST /v1/accounts/claims``) send one ``claimMany`` for up to 200 accounts with the relayer's
gas, so they need an operator token with scope ``accounts`` (the app backend, for custodial wallets). With
an ``Idempotency-Key`` the answer is stored in the request's transaction and a retry with the same key and
accounts gets it again byte for byte (``Idempotent-Replayed: true``); without one a retry is harmless too:
the accounts come back ``claimed_already``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Header, Path, Query
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials

from api.deps import NowDep, ServicesDep, SessionDep, authenticate, bearer, operator
from api.idempotent import IdempotencyKeyHeader, idempotent
from api.schemas.accounts import (
    AccountOut,
    BatchClaimOut,
    ClaimOut,
    ClaimsIn,
    ClaimsOut,
    DropOut,
    EpochActivityOut,
    ProofOut,
    TaskPointsOut,
)
from api.schemas.common import Address, QueryTime, Signature, Tx, TypedData, problem_responses
from ledger import accounts, eip712, relay
from ledger.accounts import MAX_HISTORY_EPOCHS, EpochActivity
from ledger.relay import BatchClaimResult, ClaimStatus
from ledger.tokens import AuthenticationError, Scope, TokenIdentity

router = APIRouter(
    prefix="/accounts", tags=["accounts"], responses=problem_responses(404, 409, 422, 429, 502)
)
AccountPath = Annotated[Address, Path(description="the account (any letter case)")]
AccountsOperator = Annotated[TokenIdentity, Depends(operator(Scope.ACCOUNTS))]
CLAIMS_IDEMPOTENCY_SCOPE: Final = "accounts.claims"


def _activity(entry: EpochActivity) -> EpochActivityOut:
    return EpochActivityOut(
        epoch=entry.epoch,
        start=entry.start,
        end=entry.end,
        state=entry.state,
        driving=entry.driving,
        cocreation=entry.cocreation,
        points=entry.points,
        drops=[DropOut(**vars(drop)) for drop in entry.drops],
        tasks=[TaskPointsOut(**vars(task)) for task in entry.tasks],
    )


def _batch(result: BatchClaimResult) -> ClaimsOut:
    paid = [entry for entry in result.claims if entry.status is ClaimStatus.CLAIMED]
    return ClaimsOut(
        epoch=result.epoch,
        claimed=len(paid),
        minted=sum(entry.amount for entry in paid),
        claims=[
            BatchClaimOut(
                account=entry.account,
                status=entry.status.value,
                amount=entry.amount,
                cumulative=entry.cumulative,
                detail=entry.detail,
            )
            for entry in result.claims
        ],
        tx=None if result.tx is None else Tx.of(result.tx),
    )


@router.post(
    "/claims",
    response_model=ClaimsOut,
    summary="Claim for up to 200 accounts in one relayed claimMany (operator scope `accounts`)",
    responses=problem_responses(401, 403, 503),
)
def claim_many(
    body: ClaimsIn,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    _: AccountsOperator,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    return idempotent(
        svc,
        session,
        now,
        CLAIMS_IDEMPOTENCY_SCOPE,
        idempotency_key,
        body.accounts,
        lambda: _batch(relay.relay_claims(session, svc.relay(), body.accounts)),
    )


@router.get("/{address}", summary="Balance, claimable and pending stones, and why they were earned")
def account(
    address: AccountPath,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    history_epochs: Annotated[
        int, Query(ge=1, le=MAX_HISTORY_EPOCHS, description="how many epochs of history to cover")
    ] = 30,
    until_epoch: Annotated[
        int | None, Query(ge=0, description="newest epoch to cover; default: the current")
    ] = None,
) -> AccountOut:
    facts = svc.relay().account_facts(address)
    summary = accounts.summary(session, address, facts)
    newest = svc.epoch_at(now) if until_epoch is None else until_epoch
    history = (
        accounts.history(session, address, svc.genesis, svc.slot_seconds, newest, history_epochs)
        if newest >= 0
        else []
    )
    oldest = newest - history_epochs + 1
    return AccountOut(
        account=summary.account,
        balance=summary.balance,
        claimed=summary.claimed,
        claimable_epoch=summary.claimable_epoch,
        claimable_now=summary.claimable_now,
        pending=summary.pending,
        pending_epochs=list(summary.pending_epochs),
        history=[_activity(entry) for entry in history],
        history_next_until=oldest - 1 if oldest > 0 else None,
    )


@router.get("/{address}/proof", summary="The claim ticket: cumulative entitlement and Merkle proof")
def proof(
    address: AccountPath,
    svc: ServicesDep,
    session: SessionDep,
    epoch: Annotated[
        int | None, Query(ge=0, description="default: the epoch claims are paid against now")
    ] = None,
) -> ProofOut:
    chain = svc.relay()
    ticket = relay.claim_ticket(session, chain, address, epoch)
    facts = chain.account_facts(address)
    root = chain.epoch_record(ticket.epoch).root
    return ProofOut(
        account=ticket.account,
        epoch=ticket.epoch,
        root="0x" + root.hex(),
        cumulative=ticket.cumulative,
        claimed=facts.claimed,
        claimable=max(0, ticket.cumulative - facts.claimed) if facts.claimable_epoch == ticket.epoch else 0,
        proof=["0x" + node.hex() for node in ticket.proof],
    )


@router.post(
    "/{address}/claim",
    summary="Claim everything owed, relayed: the service pays the gas and the stones go to the account",
    responses=problem_responses(503),
)
def claim(address: AccountPath, svc: ServicesDep, session: SessionDep) -> ClaimOut:
    result = relay.relay_claim(session, svc.relay(), address)
    return ClaimOut(
        account=result.account,
        epoch=result.epoch,
        amount=result.amount,
        cumulative=result.cumulative,
        tx=Tx.of(result.tx),
    )


@router.get(
    "/{address}/export/typed-data", summary="The EIP-712 request the owner signs to download the export"
)
def export_typed_data(
    address: AccountPath, svc: ServicesDep, issued_at: Annotated[QueryTime, Query()]
) -> TypedData:
    data = accounts.export_typed_data(address, issued_at, svc.chain_id)
    return TypedData(typed_data=eip712.to_json(data), digest="0x" + eip712.digest(data).hex())


@router.get(
    "/{address}/export",
    summary="Everything the ledger holds about the account (personal-information access right)",
    responses=problem_responses(401, 403),
)
def export(
    address: AccountPath,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    issued_at: Annotated[QueryTime | None, Query(description="when the owner signed the request")] = None,
    signature: Annotated[Signature | None, Header(alias="X-Owner-Signature")] = None,
) -> dict[str, Any]:
    if credentials is not None:
        authenticate(svc, session, credentials, Scope.ACCOUNTS)
    elif signature is not None and issued_at is not None:
        accounts.authorize_export(address, issued_at, signature, svc.chain_id, now)
    else:
        raise AuthenticationError(
            "the export needs the owner's signature (X-Owner-Signature and issued_at) or an operator token"
        )
    return accounts.export(session, address, svc.relay().claims_of(address), now)
