"""Accounts: stones held, claimable and pending, why they were earned, claims and the data export."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import (
    EXAMPLE_ACCOUNT,
    EXAMPLE_HASH,
    ONE_STONE,
    Address,
    AmountOut,
    Hash32,
    Tx,
    UnixTime,
)


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
