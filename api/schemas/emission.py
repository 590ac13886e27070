"""Emission: the schedule's state now, settled epochs and their manifests."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import AmountOut, Hash32, UnixTime

PoolName = Literal["driving", "cocreation"]


class PoolOut(BaseModel):
    pool: PoolName
    size: AmountOut = Field(description="the pool's whole supply")
    available: AmountOut = Field(description="what the schedule allows to have been emitted by now")
    emitted: AmountOut = Field(description="the pool's cumulative total in the latest posted root")
    remaining: AmountOut = Field(description="size - available: still to be emitted by the schedule")


class EmissionOut(BaseModel):
    now: UnixTime
    genesis: UnixTime
    slot_seconds: int
    started: bool
    slot: int = Field(description="whole slots elapsed since genesis")
    epoch: int
    era: int = Field(description="four-year era; output halves at each new one")
    drop_size: AmountOut = Field(description="stones one driving drop carries in the current slot")
    cocreation_per_slot: AmountOut
    next_halving_slot: int
    next_halving_at: UnixTime
    posted_epochs: int
    total_supply: AmountOut = Field(description="stones minted so far (claimed), minus burned")
    pools: list[PoolOut]


class EpochOut(BaseModel):
    epoch: int
    state: str
    start: UnixTime
    end: UnixTime
    commitment: Hash32
    inputs_root: Hash32 | None
    seed: Hash32 | None = Field(description="shown once the epoch is posted")
    root: Hash32 | None
    manifest_hash: Hash32 | None
    driving_allocated: AmountOut | None
    cocreation_allocated: AmountOut | None
    driving_total: AmountOut | None
    cocreation_total: AmountOut | None
    posted_at: UnixTime | None
    manifest_published: bool


class EpochPage(BaseModel):
    epochs: list[EpochOut]
    next_before: int | None = Field(description="pass as before= for older epochs; null: no more")


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    chain: Literal["ok"]
    chain_time: UnixTime
    deployed: bool
