"""An account as its owner sees it: stones held, claimable and pending; why they were earned; and a data
export of everything the ledger holds about the account (the personal-information access right).

Definitions (amounts in base units):

* ``claimable_now`` = the account's cumulative entitlement in the epoch the distributor pays against now
  (its *claimable epoch*: the latest posted root past its challenge window) minus what it has claimed.
* ``pending`` = what the account was allocated in epochs after the claimable one that settlement has
  allocated and nobody vetoed: it becomes claimable as their roots clear the challenge window. Activity in
  the open epoch (trips, tasks) is not counted until settlement allocates it; the history shows its task
  points already.
* The history lists, per epoch with activity: the driving and co-creation stones allocated, the drops won
  (car, slot, shares, amount) and the task points (per task: completions and points).

The chain facts (balance, claimed, claimable epoch, claims) come from :mod:`ledger.relay`; everything else
is read from the store. A data export is authorised by the owner's EIP-712 signature over
``DataExport(address account,uint256 issuedAt)`` in the data-rights domain of :mod:`ledger.consent`
(``issuedAt`` within the same ±600 s), or by an operator acting for the owner.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import consent, eip712
from ledger.errors import SignatureError, ValidationError
from ledger.relay import AccountFacts, ClaimRecord
from ledger.schedule import SLOTS_PER_EPOCH
from ledger.store.models import (
    Allocation,
    Completion,
    Consent,
    DropWin,
    Entitlement,
    Epoch,
    EpochState,
    Ownership,
    Pool,
    Trip,
    Vehicle,
)
from ledger.tasks import completions_for_account
from ledger.vehicles import check_time, checksum_account, ownership_history

__all__ = [
    "EXPORT_FIELDS",
    "MAX_HISTORY_EPOCHS",
    "AccountSummary",
    "DropRecord",
    "EpochActivity",
    "TaskPoints",
    "authorize_export",
    "export",
    "export_typed_data",
    "history",
    "summary",
]

MAX_HISTORY_EPOCHS: Final = 400
EXPORT_FIELDS: Final = [("account", "address"), ("issuedAt", "uint256")]
_ALLOCATED_STATES: Final = tuple(
    state
    for state in EpochState
    if list(EpochState).index(state) >= list(EpochState).index(EpochState.ALLOCATED)
    and state is not EpochState.VETOED
)


@dataclass(frozen=True)
class AccountSummary:
    account: str
    balance: int
    claimed: int
    claimable_epoch: int | None
    claimable_now: int
    pending: int
    pending_epochs: tuple[int, ...]


@dataclass(frozen=True)
class DropRecord:
    vehicle_id: str
    slot: int
    slot_start: int
    shares: int
    amount: int


@dataclass(frozen=True)
class TaskPoints:
    task_id: str
    title: str
    category: str
    completions: int
    points: int


@dataclass
class EpochActivity:
    epoch: int
    start: int
    end: int
    state: str | None  # None: settlement has not started on the epoch yet
    driving: int = 0
    cocreation: int = 0
    drops: list[DropRecord] = field(default_factory=list)
    tasks: list[TaskPoints] = field(default_factory=list)

    @property
    def points(self) -> int:
        return sum(task.points for task in self.tasks)


# --- summary -----------------------------------------------------------------------------------------


def summary(session: Session, account: str, facts: AccountFacts) -> AccountSummary:
    account = checksum_account(account)
    cumulative = 0
    if facts.claimable_epoch is not None:
        row = session.get(Entitlement, (facts.claimable_epoch, account))
        cumulative = 0 if row is None else row.cumulative
    later = -1 if facts.claimable_epoch is None else facts.claimable_epoch
    rows = session.execute(
        select(Allocation.epoch, Allocation.amount)
        .join(Epoch, Epoch.number == Allocation.epoch)
        .where(Allocation.account == account, Allocation.epoch > later, Epoch.state.in_(_ALLOCATED_STATES))
    ).all()
    return AccountSummary(
        account,
        facts.balance,
        facts.claimed,
        facts.claimable_epoch,
        max(0, cumulative - facts.claimed),
        sum(amount for _, amount in rows),
        tuple(sorted({epoch for epoch, _ in rows})),
    )


# --- history -----------------------------------------------------------------------------------------


def history(
    session: Session, account: str, genesis: int, slot_seconds: int, until_epoch: int, count: int
) -> list[EpochActivity]:
    """The account's activity in epochs ``until_epoch - count + 1 .. until_epoch``, newest first; epochs
    without any activity are left out."""
    account = checksum_account(account)
    check_time("until_epoch", until_epoch)
    if type(count) is not int or not 1 <= count <= MAX_HISTORY_EPOCHS:
        raise ValidationError(f"count must be 1..{MAX_HISTORY_EPOCHS}, got {count!r}")
    epoch_seconds = SLOTS_PER_EPOCH * slot_seconds
    first = max(0, until_epoch - count + 1)
    states = dict(
        session.execute(
            select(Epoch.number, Epoch.state).where(Epoch.number >= first, Epoch.number <= until_epoch)
        ).all()
    )
    activity: dict[int, EpochActivity] = {}

    def entry(epoch: int) -> EpochActivity:
        if epoch not in activity:
            start = genesis + epoch * epoch_seconds
            state = states.get(epoch)
            activity[epoch] = EpochActivity(
                epoch, start, start + epoch_seconds, None if state is None else state.value
            )
        return activity[epoch]

    in_range = (first, until_epoch)
    for epoch, pool, amount in session.execute(
        select(Allocation.epoch, Allocation.pool, Allocation.amount).where(
            Allocation.account == account, Allocation.epoch.between(*in_range)
        )
    ):
        if pool is Pool.DRIVING:
            entry(epoch).driving += amount
        else:
            entry(epoch).cocreation += amount
    for win in session.scalars(
        select(DropWin)
        .where(DropWin.account == account, DropWin.epoch.between(*in_range))
        .order_by(DropWin.slot, DropWin.vehicle_id)
    ):
        entry(win.epoch).drops.append(
            DropRecord(win.vehicle_id, win.slot, genesis + win.slot * slot_seconds, win.shares, win.amount)
        )
    start_time = genesis + first * epoch_seconds
    end_time = genesis + (until_epoch + 1) * epoch_seconds
    per_task: dict[tuple[int, str], list[Any]] = defaultdict(lambda: ["", "", 0, 0])
    for record in completions_for_account(session, account, start_time, end_time):
        tally = per_task[((record.completed_at - genesis) // epoch_seconds, record.task_id)]
        tally[0], tally[1] = record.title, record.category.value
        tally[2] += 1
        tally[3] += record.points
    for (epoch, task_id), (title, category, done, points) in sorted(per_task.items()):
        entry(epoch).tasks.append(TaskPoints(task_id, title, category, done, points))
    return [activity[epoch] for epoch in sorted(activity, reverse=True)]


# --- data export -------------------------------------------------------------------------------------


def export_typed_data(account: str, issued_at: int, chain_id: int) -> dict[str, Any]:
    """The EIP-712 request an owner signs to download the export (data-rights domain, no contract)."""
    domain = {"name": consent.DOMAIN_NAME, "version": consent.DOMAIN_VERSION, "chainId": chain_id}
    message = {"account": checksum_account(account), "issuedAt": check_time("issuedAt", issued_at)}
    return eip712.typed_data(domain, "DataExport", EXPORT_FIELDS, message)


def authorize_export(account: str, issued_at: int, signature: str, chain_id: int, now: int) -> None:
    """:class:`SignatureError` unless the owner of ``account`` signed the export request recently."""
    data = export_typed_data(account, issued_at, chain_id)
    eip712.verify(data, signature, data["message"]["account"])
    if abs(issued_at - check_time("now", now)) > consent.REPLAY_WINDOW_S:
        raise SignatureError(
            f"export request issued at {issued_at} has expired: it must be within "
            f"{consent.REPLAY_WINDOW_S} s of now ({now})"
        )


def _owned_spans(session: Session, account: str) -> dict[str, list[tuple[int, int | None]]]:
    owned = session.scalars(select(Ownership.vehicle_id).where(Ownership.account == account).distinct())
    records = ownership_history(session, owned)
    spans: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for index, record in enumerate(records):
        if record.account != account:
            continue
        following = records[index + 1] if index + 1 < len(records) else None
        until = following.from_time if following and following.vehicle_id == record.vehicle_id else None
        spans[record.vehicle_id].append((record.from_time, until))
    return spans


def _consents(session: Session, account: str) -> list[dict[str, Any]]:
    rows = session.scalars(select(Consent).where(Consent.account == account).order_by(Consent.id))
    return [
        {
            "receipt": row.receipt_hash,
            "version": row.version,
            "categories": json.loads(row.categories),
            "chain_id": row.chain_id,
            "issued_at": row.issued_at,
            "granted_at": row.granted_at,
            "signature": row.signature,
            "revoked_at": row.revoked_at,
            "revocation_issued_at": row.revocation_issued_at,
            "revocation_signature": row.revocation_signature,
        }
        for row in rows
    ]


def _trip(row: Trip) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "payload_hash": row.payload_hash,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "odometer_start_m": row.odometer_start_m,
        "odometer_end_m": row.odometer_end_m,
        "energy_wh": row.energy_wh,
        "drive_mode": row.drive_mode,
        "checkin_ids": json.loads(row.checkin_ids),
        "status": row.status.value,
        "reason": row.reason,
        "detail": row.detail,
        "received_at": row.received_at,
        "reviewed_at": row.reviewed_at,
        "details_deleted": row.details_deleted,
    }


def _vehicles(session: Session, account: str) -> list[dict[str, Any]]:
    exported = []
    for vehicle_id, spans in sorted(_owned_spans(session, account).items()):
        vehicle = session.get(Vehicle, vehicle_id)
        trips: list[dict[str, Any]] = []
        for from_time, until in spans:
            query = select(Trip).where(Trip.vehicle_id == vehicle_id, Trip.ended_at >= from_time)
            if until is not None:
                query = query.where(Trip.ended_at < until)
            trips.extend(_trip(row) for row in session.scalars(query.order_by(Trip.seq)))
        exported.append(
            {
                "vehicle_id": vehicle_id,
                "vin_hash": None if vehicle is None else vehicle.vin_hash,
                "registered_at": None if vehicle is None else vehicle.registered_at,
                "owned": [{"from": start, "until": until} for start, until in spans],
                "trips": trips,
            }
        )
    return exported


def export(session: Session, account: str, claims: list[ClaimRecord], now: int) -> dict[str, Any]:
    """Everything the ledger holds about ``account``, as JSON-ready data (amounts as decimal strings)."""
    account = checksum_account(account)
    allocations = session.scalars(
        select(Allocation).where(Allocation.account == account).order_by(Allocation.epoch, Allocation.pool)
    )
    wins = session.scalars(
        select(DropWin).where(DropWin.account == account).order_by(DropWin.slot, DropWin.vehicle_id)
    )
    completions = session.scalars(
        select(Completion).where(Completion.account == account).order_by(Completion.completed_at)
    )
    return {
        "account": account,
        "generated_at": now,
        "consents": _consents(session, account),
        "vehicles": _vehicles(session, account),
        "allocations": [
            {"epoch": row.epoch, "pool": row.pool.value, "amount": str(row.amount)} for row in allocations
        ],
        "drop_wins": [
            {
                "epoch": row.epoch,
                "vehicle_id": row.vehicle_id,
                "slot": row.slot,
                "shares": row.shares,
                "amount": str(row.amount),
            }
            for row in wins
        ],
        "completions": [
            {
                "task_id": row.task_id,
                "evidence_hash": row.evidence_hash,
                "completed_at": row.completed_at,
                "points": row.points,
                "recorded_at": row.recorded_at,
            }
            for row in completions
        ],
        "claims": [
            {
                "block": claim.block,
                "tx_hash": claim.tx_hash,
                "amount": str(claim.amount),
                "cumulative": str(claim.cumulative),
            }
            for claim in claims
        ],
    }
