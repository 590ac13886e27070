"""Accounts: stones held, claimable and pending, why they were earned, claims and the data export."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import (
    EXAMPLE_ACCOUNT,
    EXAMPLE_HASH,
    ONE_STONE,
    Address,
    AmountOut,
    Hash32,
    Strict,
    Tx,
    UnixTime,
)
from ledger.relay import MAX_CLAIMS

ClaimStatusName = Literal["claimed", "claimed_already", "not_entitled"]


class DropOut(BaseModel):
    vehicle_id: str
    slot: int = Field(description="absolute slot number since genesis")
    slot_start: UnixTime
    shares: int = Field(description="shares of the slot's drop this car won")
    amount: AmountOut


class TaskPointsOut(BaseModel):
    task_id: str
    title: str
    category: str
    completions: int
    points: int


class EpochActivityOut(BaseModel):
    epoch: int
    start: UnixTime
    end: UnixTime
    state: str | None = Field(description="settlement state; null while the epoch is open")
    driving: AmountOut
    cocreation: AmountOut
    points: int = Field(description="co-creation points earned in the epoch")
    drops: list[DropOut]
    tasks: list[TaskPointsOut]


class AccountOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account": EXAMPLE_ACCOUNT,
                    "balance": ONE_STONE,
                    "claimed": ONE_STONE,
                    "claimable_epoch": 3,
                    "claimable_now": "250000000000000000",
                    "pending": "499087000000000000000",
                    "pending_epochs": [4],
                    "history": [],
                    "history_next_until": None,
                }
            ]
        }
    )

    account: Address
    balance: AmountOut = Field(description="stones held on chain")
    claimed: AmountOut = Field(description="stones minted to the account by claims so far")
    claimable_epoch: int | None = Field(description="the epoch whose root claims are paid against now")
    claimable_now: AmountOut
    pending: AmountOut = Field(description="allocated in epochs not yet claimable")
    pending_epochs: list[int]
    history: list[EpochActivityOut] = Field(description="per epoch with activity, newest first")
    history_next_until: int | None = Field(description="pass as until_epoch for older history; null: no more")


class ProofOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account": EXAMPLE_ACCOUNT,
                    "epoch": 3,
                    "root": EXAMPLE_HASH,
                    "cumulative": ONE_STONE,
                    "claimed": "0",
                    "claimable": ONE_STONE,
                    "proof": [EXAMPLE_HASH],
                }
            ]
        }
    )

    account: Address
    epoch: int
    root: Hash32
    cumulative: AmountOut = Field(description="the leaf's cumulative entitlement")
    claimed: AmountOut
    claimable: AmountOut = Field(description="what a claim with this ticket mints now")
    proof: list[Hash32]


class ClaimOut(BaseModel):
    account: Address
    epoch: int
    amount: AmountOut = Field(description="stones minted by this claim")
    cumulative: AmountOut
    tx: Tx


class ClaimsIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"accounts": [EXAMPLE_ACCOUNT, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"]}]
        },
    )

    accounts: list[Address] = Field(
        min_length=1,
        max_length=MAX_CLAIMS,
        description=f"1..{MAX_CLAIMS} accounts, each once; all claimed in one claimMany transaction",
    )


class BatchClaimOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "account": EXAMPLE_ACCOUNT,
                    "status": "claimed",
                    "amount": "250000000000000000",
                    "cumulative": ONE_STONE,
                    "detail": "minted 250000000000000000 base units, all it is owed up to epoch 3",
                }
            ]
        }
    )

    account: Address
    status: ClaimStatusName = Field(
        description=(
            "claimed: this batch minted `amount`; claimed_already: paid all it is owed up to the epoch; "
            "not_entitled: no entitlement up to the epoch"
        )
    )
    amount: AmountOut = Field(description="stones minted to the account by this batch (0 unless claimed)")
    cumulative: AmountOut = Field(description="the account's cumulative entitlement up to the epoch")
    detail: str = Field(examples=["nothing to claim: no entitlement up to epoch 3"])


class ClaimsOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "epoch": 3,
                    "claimed": 1,
                    "minted": "250000000000000000",
                    "claims": [
                        {
                            "account": EXAMPLE_ACCOUNT,
                            "status": "claimed",
                            "amount": "250000000000000000",
                            "cumulative": ONE_STONE,
                            "detail": "minted 250000000000000000 base units, all it is owed up to epoch 3",
                        },
                        {
                            "account": "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf",
                            "status": "not_entitled",
                            "amount": "0",
                            "cumulative": "0",
                            "detail": "nothing to claim: no entitlement up to epoch 3",
                        },
                    ],
                    "tx": {"tx_hash": EXAMPLE_HASH, "block": 512, "gas_used": 118_204},
                }
            ]
        }
    )

    epoch: int = Field(description="the epoch whose root the claims were paid against", examples=[3])
    claimed: int = Field(description="accounts paid by this batch", examples=[1])
    minted: AmountOut = Field(description="stones minted by this batch in all")
    claims: list[BatchClaimOut] = Field(description="one per account, in the order given")
    tx: Tx | None = Field(description="the claimMany transaction; null when nobody had anything to claim")
