"""Equity value: rounds paid pro rata to record-date balances, buy-back windows and sell-backs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import (
    EXAMPLE_ACCOUNT,
    EXAMPLE_HASH,
    EXAMPLE_SIGNATURE,
    ONE_STONE,
    Address,
    Amount,
    AmountOut,
    Hash32,
    Signature,
    Strict,
    Tx,
    UnixTime,
)


class RoundIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"record_date": 2_000_172_800, "funding": "1000000000000", "claim_deadline": 2_002_764_800}
            ]
        },
    )

    record_date: UnixTime = Field(description="balances after the last block at or before this time count")
    funding: Amount = Field(description="settlement-token base units paid out pro rata (tCNY: 6 decimals)")
    claim_deadline: UnixTime


class RoundOut(BaseModel):
    round_id: int
    record_date: UnixTime
    claim_deadline: UnixTime
    root_posted_at: UnixTime | None
    claimable_at: UnixTime | None = Field(description="claims open once the root's challenge window is over")
    swept: bool
    balance_root: Hash32 | None
    funding: AmountOut
    total_eligible: AmountOut
    paid: AmountOut


class RoundChange(BaseModel):
    round: RoundOut
    txs: list[Tx]


class SnapshotOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "round_id": 1,
                    "record_date": 2_000_172_800,
                    "block": 412,
                    "root": EXAMPLE_HASH,
                    "total_eligible": ONE_STONE,
                    "holders": 20,
                    "tx": None,
                }
            ]
        }
    )

    round_id: int
    record_date: UnixTime
    block: int = Field(description="the last block at or before the record date")
    root: Hash32
    total_eligible: AmountOut
    holders: int
    tx: Tx | None = Field(description="the posting transaction; null when the chain had this root already")


class RoundClaimOut(BaseModel):
    round_id: int
    account: Address
    balance: AmountOut = Field(description="stones held at the record date")
    payout: AmountOut = Field(description="settlement-token base units: floor(funding * balance / total)")
    proof: list[Hash32]
    claimed: bool
    claimable_at: UnixTime | None
    claim_deadline: UnixTime


class RoundClaimIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"account": EXAMPLE_ACCOUNT}]})

    account: Address


class RoundClaimDone(BaseModel):
    claim: RoundClaimOut
    tx: Tx


class BuybackIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "price_per_stone": "2500000",
                    "stone_budget": "1000000000000000000000",
                    "start": 2_000_090_000,
                    "end": 2_000_694_800,
                }
            ]
        },
    )

    price_per_stone: Amount = Field(description="settlement-token base units per whole stone (10**18)")
    stone_budget: Amount = Field(description="stones (base units) the window buys at most")
    start: UnixTime
    end: UnixTime


class BuybackOut(BaseModel):
    buyback_id: int
    start: UnixTime
    end: UnixTime
    closed: bool
    open_now: bool
    price_per_stone: AmountOut
    stone_budget: AmountOut
    stones_bought: AmountOut
    funding: AmountOut
    paid: AmountOut


class BuybackChange(BaseModel):
    buyback: BuybackOut
    txs: list[Tx]


class SellBackIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "seller": EXAMPLE_ACCOUNT,
                    "stones": ONE_STONE,
                    "min_payout": "2500000",
                    "deadline": 2_000_090_000,
                    "signature": EXAMPLE_SIGNATURE,
                }
            ]
        },
    )

    seller: Address
    stones: Amount = Field(description="base units to sell (burned)")
    min_payout: Amount = Field(description="the least the seller accepts, settlement-token base units")
    deadline: UnixTime
    signature: Signature = Field(description="the seller's EIP-712 SellBack signature (see typed-data)")


class SellBackOut(BaseModel):
    buyback_id: int
    seller: Address
    stones: AmountOut
    payout: AmountOut
    tx: Tx
