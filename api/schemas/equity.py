"""Equity value: rounds paid pro rata to record-date balances, buy-back windows and sell-backs."""

from __future__ import annotations

from typing import Any, Final

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

EXAMPLE_CONTRACT: Final = "0xF2E246BB76DF876Cef8b38ae84130F4F55De395b"
EXAMPLE_TOKEN: Final = "0x6Bc32575ACb8754886dC283c2c8ac54B1Bd93195"
TX_EXAMPLE: Final[dict[str, Any]] = {"tx_hash": EXAMPLE_HASH, "block": 418, "gas_used": 41_211}
ROUND_EXAMPLE: Final[dict[str, Any]] = {
    "round_id": 1,
    "record_date": 2_000_172_800,
    "claim_deadline": 2_002_764_800,
    "root_posted_at": 2_000_173_000,
    "claimable_at": 2_000_259_400,
    "swept": False,
    "balance_root": EXAMPLE_HASH,
    "funding": "1000000000000",
    "total_eligible": "400000000000000000000000",
    "paid": "750000000000",
}
BUYBACK_EXAMPLE: Final[dict[str, Any]] = {
    "buyback_id": 1,
    "start": 2_000_090_000,
    "end": 2_000_694_800,
    "closed": False,
    "open_now": True,
    "price_per_stone": "2500000",
    "stone_budget": "1000000000000000000000",
    "stones_bought": "1000000000000000000",
    "funding": "2500000000",
    "paid": "2500000",
}


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
    model_config = ConfigDict(json_schema_extra={"examples": [ROUND_EXAMPLE]})

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
    model_config = ConfigDict(json_schema_extra={"examples": [BUYBACK_EXAMPLE]})

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


class PayeeIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"to": EXAMPLE_ACCOUNT}]})

    to: Address = Field(
        description="the account that receives what is left (an account, never one of the system's contracts)"
    )


class RoundSweepOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "round": ROUND_EXAMPLE | {"swept": True},
                    "to": EXAMPLE_ACCOUNT,
                    "amount": "250000000000",
                    "tx": TX_EXAMPLE,
                }
            ]
        }
    )

    round: RoundOut
    to: Address
    amount: AmountOut = Field(description="settlement-token base units returned: funding - paid")
    tx: Tx | None = Field(
        description="the sweeping transaction; null when the round had been swept to this account already"
    )


class BuybackCloseOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "buyback": BUYBACK_EXAMPLE | {"closed": True, "open_now": False},
                    "to": EXAMPLE_ACCOUNT,
                    "refund": "2497500000",
                    "tx": TX_EXAMPLE,
                }
            ]
        }
    )

    buyback: BuybackOut
    to: Address
    refund: AmountOut = Field(description="settlement-token base units refunded: funding - paid")
    tx: Tx | None = Field(
        description="the closing transaction; null when the window had been closed to this account already"
    )


class SettlementTokenOut(BaseModel):
    address: Address = Field(description="the ERC-20 the vault pays rounds and buy-backs with")
    name: str = Field(examples=["Test Settlement Yuan"])
    symbol: str = Field(examples=["tCNY"])
    decimals: int = Field(
        description="settlement-token amounts are base units: divide by 10**decimals to show them",
        examples=[6],
    )


class EquityOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vault": EXAMPLE_CONTRACT,
                    "settlement_token": {
                        "address": EXAMPLE_TOKEN,
                        "name": "Test Settlement Yuan",
                        "symbol": "tCNY",
                        "decimals": 6,
                    },
                    "challenge_window": 86_400,
                    "rounds": 1,
                    "buybacks": 2,
                }
            ]
        }
    )

    vault: Address = Field(description="the EquityVault contract")
    settlement_token: SettlementTokenOut
    challenge_window: int = Field(
        description="seconds a round's balance root waits, open to a veto, before claims open",
        examples=[86_400],
    )
    rounds: int = Field(description="rounds opened so far (ids 1..rounds)", examples=[1])
    buybacks: int = Field(description="buy-back windows opened so far (ids 1..buybacks)", examples=[2])
