"""Redemptions: the upgrade catalogue on the desk, orders signed by the owner, fulfilment."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

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

OrderStatusName = Literal["escrowed", "fulfilled", "cancelled"]


class ItemIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "price": "5000000000000000000000",
                    "stock": 100,
                    "active": True,
                    "title": "Lidar upgrade (激光雷达升级)",
                    "description": "Roof lidar with installation at a service centre.",
                }
            ]
        },
    )

    price: Amount = Field(description="stones (base units) per order; positive, below 2**128")
    stock: StrictInt = Field(ge=0, lt=2**64, description="orders left; 2**64-1 means unlimited")
    active: StrictBool
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)


class ItemOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "item_id": 1,
                    "price": "5000000000000000000000",
                    "stock": 99,
                    "active": True,
                    "metadata_hash": EXAMPLE_HASH,
                    "title": "Lidar upgrade (激光雷达升级)",
                    "description": "Roof lidar with installation at a service centre.",
                    "metadata_verified": True,
                }
            ]
        }
    )

    item_id: int
    price: AmountOut
    stock: int
    active: bool
    metadata_hash: Hash32
    title: str | None = Field(description="null when the ledger holds no words matching the chain's hash")
    description: str | None
    metadata_verified: bool


class ItemChange(BaseModel):
    item: ItemOut
    tx: Tx


class OrderIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "buyer": EXAMPLE_ACCOUNT,
                    "item_id": 1,
                    "max_price": "5000000000000000000000",
                    "deadline": 2_000_090_000,
                    "signature": EXAMPLE_SIGNATURE,
                }
            ]
        },
    )

    buyer: Address
    item_id: StrictInt = Field(ge=0, lt=2**256)
    max_price: Amount = Field(description="the most the buyer agreed to pay (base units)")
    deadline: UnixTime = Field(description="the signature is void after this time")
    signature: Signature = Field(description="the buyer's EIP-712 Order signature (see /orders/typed-data)")


class OrderOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": 1,
                    "buyer": EXAMPLE_ACCOUNT,
                    "item_id": 1,
                    "price": ONE_STONE,
                    "status": "escrowed",
                    "created_at": 2_000_086_400,
                }
            ]
        }
    )

    order_id: int
    buyer: Address
    item_id: int
    price: AmountOut
    status: OrderStatusName
    created_at: UnixTime


class OrderChange(BaseModel):
    order: OrderOut
    tx: Tx
