"""Co-creation tasks: the catalogue and completions reported by the app backend (operator scope ``tasks``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from api.schemas.common import EXAMPLE_ACCOUNT, EXAMPLE_HASH, Address, Strict, UnixTime

TaskId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,64}$"), Field(examples=["community_post"])]
CategoryName = Literal[
    "app_interaction", "community", "cocreation", "service_efficiency", "special_contribution"
]
Points = Annotated[StrictInt, Field(ge=1, le=10_000, examples=[20])]
Cap = Annotated[StrictInt, Field(ge=1, le=1_000_000)]
Title = Annotated[str, Field(min_length=1, max_length=200, examples=["Community post (社区发帖)"])]
Description = Annotated[str, Field(max_length=2_000)]
EvidenceKind = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$"), Field(examples=["post_id"])]

_TASK_EXAMPLE: dict[str, Any] = {
    "task_id": "community_post",
    "title": "Community post (社区发帖)",
    "category": "community",
    "points": 20,
    "daily_cap": 3,
    "lifetime_cap": 2000,
    "active_from": 2_000_000_000,
    "active_until": None,
    "evidence_kind": "post_id",
    "description": "Publish an original post in the owners' community.",
}


class TaskIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_TASK_EXAMPLE]})

    task_id: TaskId
    title: Title
    category: CategoryName
    points: Points
    daily_cap: Cap = Field(examples=[3])
    lifetime_cap: Cap = Field(examples=[2_000])
    active_from: UnixTime | None = Field(default=None, description="default: now")
    active_until: UnixTime | None = Field(default=None, description="exclusive end; null: no end")
    evidence_kind: EvidenceKind = "reference"
    description: Description = ""


class TaskPatch(Strict):
    """Only the fields present change; ``active_until`` may be set to null (no end)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"points": 25, "daily_cap": 5}]}
    )

    title: Title | None = None
    category: CategoryName | None = None
    points: Points | None = None
    daily_cap: Cap | None = None
    lifetime_cap: Cap | None = None
    active_from: UnixTime | None = None
    active_until: UnixTime | None = None
    evidence_kind: EvidenceKind | None = None
    description: Description | None = None


class TaskOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _TASK_EXAMPLE
                | {
                    "created_at": 2_000_000_000,
                    "updated_at": 2_000_000_000,
                    "deactivated_at": None,
                    "active_now": True,
                }
            ]
        }
    )

    task_id: TaskId
    title: str
    category: CategoryName
    points: int
    daily_cap: int
    lifetime_cap: int
    active_from: UnixTime
    active_until: UnixTime | None
    evidence_kind: str
    description: str
    created_at: UnixTime
    updated_at: UnixTime
    deactivated_at: UnixTime | None
    active_now: bool


class CompletionIn(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"account": EXAMPLE_ACCOUNT, "evidence": "post-8812734", "completed_at": 2_000_003_600}
            ]
        },
    )

    account: Address
    evidence: str = Field(
        min_length=1,
        max_length=512,
        description="an opaque reference the app can vouch for (a post id), never personal data",
    )
    completed_at: UnixTime


class CompletionOut(BaseModel):
    task_id: TaskId
    account: Address
    points: int
    seq: int = Field(description="the account's n-th completion of the task")
    completed_at: UnixTime
    recorded_at: UnixTime
    evidence_hash: str = Field(examples=[EXAMPLE_HASH])
