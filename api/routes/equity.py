"""Equity value: the vault and its settlement token, rounds (read from the vault; opened, rooted and swept
with scope ``treasury``), what an account can claim with its proof, relayed round claims, buy-back windows
(opened and closed with scope ``treasury``) and relayed sell-backs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import Response

from api.deps import NowDep, ServicesDep, SessionDep, operator
from api.idempotent import IdempotencyKeyHeader, idempotent
from api.schemas.common import Address, Amount, QueryTime, Tx, TypedData, problem_responses
from api.schemas.equity import (
    BuybackChange,
    BuybackCloseOut,
    BuybackIn,
    BuybackOut,
    EquityOut,
    PayeeIn,
    RoundChange,
    RoundClaimDone,
    RoundClaimIn,
    RoundClaimOut,
    RoundIn,
    RoundOut,
    RoundSweepOut,
    SellBackIn,
    SellBackOut,
    SettlementTokenOut,
    SnapshotOut,
)
from ledger import buybacks, eip712, equity
from ledger.buybacks import BuybackView
from ledger.equity import RoundClaim, RoundView
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(prefix="/equity", tags=["equity"], responses=problem_responses(404, 409, 422, 429, 502))
Treasury = Annotated[TokenIdentity, Depends(operator(Scope.TREASURY))]
RoundPath = Annotated[int, Path(ge=1, lt=2**256, examples=[1])]
BuybackPath = Annotated[int, Path(ge=1, lt=2**256, examples=[1])]


def _round(view: RoundView) -> RoundOut:
    return RoundOut(**vars(view))


def _claim(entry: RoundClaim) -> RoundClaimOut:
    return RoundClaimOut(
        round_id=entry.round_id,
        account=entry.account,
        balance=entry.balance,
        payout=entry.payout,
        proof=["0x" + node.hex() for node in entry.proof],
        claimed=entry.claimed,
        claimable_at=entry.claimable_at,
        claim_deadline=entry.claim_deadline,
    )


def _buyback(view: BuybackView) -> BuybackOut:
    return BuybackOut(**vars(view))


@router.get("", summary="The vault, the settlement token it pays in (address, symbol, decimals), counts")
def overview(svc: ServicesDep) -> EquityOut:
    found = equity.overview(svc.relay())
    return EquityOut(
        vault=found.vault,
        settlement_token=SettlementTokenOut(**vars(found.settlement_token)),
        challenge_window=found.challenge_window,
        rounds=found.rounds,
        buybacks=found.buybacks,
    )


@router.get("/rounds", summary="Every equity-value round")
def rounds(svc: ServicesDep) -> list[RoundOut]:
    return [_round(view) for view in equity.rounds(svc.relay())]


@router.get("/rounds/{round_id}", summary="One round")
def get_round(round_id: RoundPath, svc: ServicesDep) -> RoundOut:
    return _round(equity.get_round(svc.relay(), round_id))


@router.post(
    "/rounds",
    status_code=status.HTTP_201_CREATED,
    response_model=RoundChange,
    summary="Open and fund a round from the treasurer's settlement tokens (operator scope `treasury`)",
    responses=problem_responses(401, 403),
)
def open_round(
    body: RoundIn,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    _: Treasury,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def run() -> RoundChange:
        view, sent = equity.open_round(svc.relay(), body.record_date, body.funding, body.claim_deadline)
        return RoundChange(round=_round(view), txs=[Tx.of(tx) for tx in sent])

    request = body.model_dump(mode="json")
    return idempotent(
        svc, session, now, "equity.rounds", idempotency_key, request, run, status.HTTP_201_CREATED
    )


@router.post(
    "/rounds/{round_id}/balance-root",
    summary="Compute the record-date balance tree, store it, and post its root (operator scope `treasury`)",
    responses=problem_responses(401, 403),
)
def post_balance_root(
    round_id: RoundPath, svc: ServicesDep, session: SessionDep, now: NowDep, _: Treasury
) -> SnapshotOut:
    built, sent = equity.post_balance_root(session, svc.relay(), round_id, now)
    return SnapshotOut(**vars(built), tx=None if sent is None else Tx.of(sent))


@router.post(
    "/rounds/{round_id}/sweep",
    summary="Return what a round did not pay, from its claim deadline on, once (operator scope `treasury`)",
    responses=problem_responses(401, 403),
)
def sweep_round(round_id: RoundPath, body: PayeeIn, svc: ServicesDep, _: Treasury) -> RoundSweepOut:
    view, swept = equity.sweep_round(svc.relay(), round_id, body.to)
    return RoundSweepOut(
        round=_round(view),
        to=swept.to,
        amount=swept.amount,
        tx=None if swept.tx is None else Tx.of(swept.tx),
    )


@router.get(
    "/rounds/{round_id}/accounts/{address}",
    summary="What an account can claim from a round: record-date balance, payout and proof",
)
def round_claim(
    round_id: RoundPath, address: Annotated[Address, Path()], svc: ServicesDep, session: SessionDep
) -> RoundClaimOut:
    return _claim(equity.round_claim(session, svc.relay(), round_id, address))


@router.post(
    "/rounds/{round_id}/claims",
    summary="Claim an account's payout, relayed (the payout goes to the account)",
    responses=problem_responses(503),
)
def claim_round(
    round_id: RoundPath, body: RoundClaimIn, svc: ServicesDep, session: SessionDep
) -> RoundClaimDone:
    entry, sent = equity.claim_round(session, svc.relay(), round_id, body.account)
    return RoundClaimDone(claim=_claim(entry), tx=Tx.of(sent))


@router.get("/buybacks", summary="Every buy-back window")
def list_buybacks(svc: ServicesDep) -> list[BuybackOut]:
    return [_buyback(view) for view in buybacks.buybacks(svc.relay())]


@router.get("/buybacks/{buyback_id}", summary="One buy-back window")
def get_buyback(buyback_id: BuybackPath, svc: ServicesDep) -> BuybackOut:
    return _buyback(buybacks.get_buyback(svc.relay(), buyback_id))


@router.post(
    "/buybacks",
    status_code=status.HTTP_201_CREATED,
    response_model=BuybackChange,
    summary="Open and fund a buy-back window (operator scope `treasury`)",
    responses=problem_responses(401, 403),
)
def open_buyback(
    body: BuybackIn,
    svc: ServicesDep,
    session: SessionDep,
    now: NowDep,
    _: Treasury,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    def run() -> BuybackChange:
        view, sent = buybacks.open_buyback(
            svc.relay(), body.price_per_stone, body.stone_budget, body.start, body.end
        )
        return BuybackChange(buyback=_buyback(view), txs=[Tx.of(tx) for tx in sent])

    request = body.model_dump(mode="json")
    return idempotent(
        svc, session, now, "equity.buybacks", idempotency_key, request, run, status.HTTP_201_CREATED
    )


@router.post(
    "/buybacks/{buyback_id}/close",
    summary="Refund what a window did not pay out, from its end on, once (operator scope `treasury`)",
    responses=problem_responses(401, 403),
)
def close_buyback(buyback_id: BuybackPath, body: PayeeIn, svc: ServicesDep, _: Treasury) -> BuybackCloseOut:
    view, closed = buybacks.close_buyback(svc.relay(), buyback_id, body.to)
    return BuybackCloseOut(
        buyback=_buyback(view),
        to=closed.to,
        refund=closed.refund,
        tx=None if closed.tx is None else Tx.of(closed.tx),
    )


@router.get(
    "/buybacks/{buyback_id}/sell-backs/typed-data",
    summary="The EIP-712 sell-back the seller's wallet signs (with the current nonce)",
)
def sellback_typed_data(
    buyback_id: BuybackPath,
    svc: ServicesDep,
    seller: Annotated[Address, Query()],
    stones: Annotated[Amount, Query()],
    min_payout: Annotated[Amount, Query()],
    deadline: Annotated[QueryTime, Query()],
) -> TypedData:
    data = buybacks.sellback_typed_data(svc.relay(), seller, buyback_id, stones, min_payout, deadline)
    return TypedData(typed_data=eip712.to_json(data), digest="0x" + eip712.digest(data).hex())


@router.post(
    "/buybacks/{buyback_id}/sell-backs",
    status_code=status.HTTP_201_CREATED,
    summary="Sell stones into a buy-back with the seller's signature, relayed; the stones are burned",
    responses=problem_responses(403, 503),
)
def sell_back(buyback_id: BuybackPath, body: SellBackIn, svc: ServicesDep, now: NowDep) -> SellBackOut:
    result = buybacks.sell_back(
        svc.relay(), body.seller, buyback_id, body.stones, body.min_payout, body.deadline, body.signature, now
    )
    return SellBackOut(
        buyback_id=result.buyback_id,
        seller=result.seller,
        stones=result.stones,
        payout=result.payout,
        tx=Tx.of(result.tx),
    )
