"""The ledger's tables. Times are unix seconds (chain time), amounts are :class:`Amount` (exact integers).

Personal data is limited to what settlement needs: a salted VIN hash (never the VIN), trip summaries (never
GPS traces) and consent receipts. Revoking consent deletes trip details that no open epoch still needs.
"""

from __future__ import annotations

import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ledger.store.types import Amount

ADDRESS = String(42)
HASH = String(66)
SIGNATURE = String(130)  # 0x + 64 bytes in hex


class Base(DeclarativeBase):
    pass


class Vehicle(Base):
    __tablename__ = "vehicles"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vin_hash: Mapped[str] = mapped_column(HASH, unique=True)
    registered_at: Mapped[int] = mapped_column(BigInteger)


class DeviceKey(Base):
    """A car's device keys, newest last; at most one is unrevoked. A public key (P-256 stored uncompressed, so
    each key has one form) belongs to one car once: a revoked key never comes back."""

    __tablename__ = "device_keys"
    __table_args__ = (UniqueConstraint("public_key", name="uq_device_keys_public_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65))
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Ownership(Base):
    """Who owned a car from when: each slot's stones go to the owner at that slot."""

    __tablename__ = "ownerships"
    __table_args__ = (UniqueConstraint("vehicle_id", "from_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"), index=True)
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    from_time: Mapped[int] = mapped_column(BigInteger)


class Consent(Base):
    """An owner's signed data-rights agreement (EIP-712) and its revocation."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    version: Mapped[str] = mapped_column(String(32))
    categories: Mapped[str] = mapped_column(Text)  # JSON list
    granted_at: Mapped[int] = mapped_column(BigInteger)
    signature: Mapped[str] = mapped_column(String(140))
    receipt_hash: Mapped[str] = mapped_column(HASH, unique=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    revocation_signature: Mapped[str | None] = mapped_column(String(140), default=None)
    # The signed fields besides those above, so anyone can re-verify both signatures from the row alone.
    chain_id: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[int] = mapped_column(BigInteger)
    revocation_issued_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class TripStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    HELD = "held"
    RELEASED = "released"  # held, then released by a reviewer: counts like accepted
    DENIED = "denied"  # held, then denied by a reviewer: never counts


class Trip(Base):
    __tablename__ = "trips"
    __table_args__ = (
        UniqueConstraint("vehicle_id", "seq"),
        Index("ix_trips_vehicle_ended", "vehicle_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    payload_hash: Mapped[str] = mapped_column(HASH, unique=True)
    started_at: Mapped[int] = mapped_column(BigInteger)
    ended_at: Mapped[int] = mapped_column(BigInteger, index=True)
    odometer_start_m: Mapped[int] = mapped_column(BigInteger)
    odometer_end_m: Mapped[int] = mapped_column(BigInteger)
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    drive_mode: Mapped[str] = mapped_column(String(16))
    checkin_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    # Indexed for the open-holds query: held trips are few among many accepted ones.
    status: Mapped[TripStatus] = mapped_column(Enum(TripStatus, native_enum=False, length=16), index=True)
    reason: Mapped[str | None] = mapped_column(String(64), default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[int] = mapped_column(BigInteger)
    reviewed_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    reviewer: Mapped[str | None] = mapped_column(String(64), default=None)
    details_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # How the report was signed, so an auditor can verify it again from the store: its own signature, or
    # the upload envelope whose signature covers its payload hash (null on trips stored before 0005).
    signature: Mapped[str | None] = mapped_column(SIGNATURE, default=None)
    upload_hash: Mapped[str | None] = mapped_column(HASH, default=None, index=True)


class Upload(Base):
    """An upload envelope (``ledger.uploads``) that brought at least one recorded trip: the car's signature
    over the listed payload hashes, in order. Written in the transaction that records its trips."""

    __tablename__ = "uploads"

    upload_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(ForeignKey("vehicles.id"), index=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(SIGNATURE)
    payload_hashes: Mapped[str] = mapped_column(Text)  # JSON list of 0x-hex SHA-256, in signed order
    received_at: Mapped[int] = mapped_column(BigInteger)


class TaskCategory(enum.StrEnum):
    APP_INTERACTION = "app_interaction"
    COMMUNITY = "community"
    COCREATION = "cocreation"
    SERVICE_EFFICIENCY = "service_efficiency"
    SPECIAL_CONTRIBUTION = "special_contribution"


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[TaskCategory] = mapped_column(Enum(TaskCategory, native_enum=False, length=32))
    points: Mapped[int] = mapped_column(Integer)
    daily_cap: Mapped[int] = mapped_column(Integer)
    lifetime_cap: Mapped[int] = mapped_column(Integer)
    active_from: Mapped[int] = mapped_column(BigInteger)
    active_until: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # Server defaults only because migration 0003 added these columns in place to a populated table.
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    evidence_kind: Mapped[str] = mapped_column(String(32), default="reference", server_default="reference")
    created_at: Mapped[int] = mapped_column(BigInteger, server_default="0")
    updated_at: Mapped[int] = mapped_column(BigInteger, server_default="0")
    # Deactivation ends the window at this time but keeps the configured window for the record.
    deactivated_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class Completion(Base):
    """One task done by one account. ``points`` is the task's value when recorded, so later catalogue
    edits never change settled history; ``seq`` numbers an account's completions of a task (1, 2, …) and
    its unique constraint makes two racing completions of the same task by the same account collide."""

    __tablename__ = "completions"
    __table_args__ = (
        UniqueConstraint("task_id", "evidence_hash"),
        UniqueConstraint("task_id", "account", "seq", name="uq_completions_task_account_seq"),
        Index("ix_completions_account_task", "account", "task_id", "completed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    account: Mapped[str] = mapped_column(ADDRESS)
    evidence_hash: Mapped[str] = mapped_column(HASH)
    completed_at: Mapped[int] = mapped_column(BigInteger, index=True)
    points: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[int] = mapped_column(BigInteger)


class EpochState(enum.StrEnum):
    """Settlement steps in order; each is recorded only after its work is durable."""

    SECRET_CREATED = "secret_created"  # secret stored; its commitment not yet confirmed on chain
    COMMITTED = "committed"  # the commitment is on chain
    CLOSED = "closed"  # ended, grace period over: no more reports for it
    INPUTS_FIXED = "inputs_fixed"
    ALLOCATED = "allocated"
    TREE_BUILT = "tree_built"
    MANIFEST_WRITTEN = "manifest_written"
    POSTED = "posted"
    CONFIRMED = "confirmed"
    FINAL = "final"
    VETOED = "vetoed"  # the guardian rejected the posted root: an operator must look before it is redone


class Epoch(Base):
    __tablename__ = "epochs"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[EpochState] = mapped_column(Enum(EpochState, native_enum=False, length=24))
    secret: Mapped[bytes] = mapped_column(LargeBinary(32))
    commitment: Mapped[str] = mapped_column(HASH)
    inputs: Mapped[str | None] = mapped_column(Text, default=None)  # canonical JSON of the fixed inputs
    inputs_root: Mapped[str | None] = mapped_column(HASH, default=None)
    seed: Mapped[str | None] = mapped_column(HASH, default=None)
    driving_budget: Mapped[int | None] = mapped_column(Amount, default=None)
    driving_allocated: Mapped[int | None] = mapped_column(Amount, default=None)
    driving_carry_in: Mapped[int | None] = mapped_column(Amount, default=None)
    driving_carry_out: Mapped[int | None] = mapped_column(Amount, default=None)
    cocreation_budget: Mapped[int | None] = mapped_column(Amount, default=None)
    cocreation_allocated: Mapped[int | None] = mapped_column(Amount, default=None)
    cocreation_carry_in: Mapped[int | None] = mapped_column(Amount, default=None)
    cocreation_carry_out: Mapped[int | None] = mapped_column(Amount, default=None)
    driving_total: Mapped[int | None] = mapped_column(Amount, default=None)  # cumulative since genesis
    cocreation_total: Mapped[int | None] = mapped_column(Amount, default=None)
    root: Mapped[str | None] = mapped_column(HASH, default=None)
    manifest: Mapped[str | None] = mapped_column(Text, default=None)
    manifest_hash: Mapped[str | None] = mapped_column(HASH, default=None)
    post_tx: Mapped[str | None] = mapped_column(HASH, default=None)
    posted_at: Mapped[int | None] = mapped_column(BigInteger, default=None)
    confirmed_block: Mapped[int | None] = mapped_column(BigInteger, default=None)
    vetoed: Mapped[int] = mapped_column(Integer, default=0)  # how many times the guardian vetoed it
    updated_at: Mapped[int] = mapped_column(BigInteger)


class Pool(enum.StrEnum):
    DRIVING = "driving"
    COCREATION = "cocreation"


class Allocation(Base):
    """What one account earned from one pool in one epoch."""

    __tablename__ = "allocations"

    epoch: Mapped[int] = mapped_column(ForeignKey("epochs.number"), primary_key=True)
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    pool: Mapped[Pool] = mapped_column(Enum(Pool, native_enum=False, length=16), primary_key=True)
    amount: Mapped[int] = mapped_column(Amount)


class DropWin(Base):
    """Why an owner earned driving stones: shares a car won in a slot."""

    __tablename__ = "drop_wins"

    epoch: Mapped[int] = mapped_column(ForeignKey("epochs.number"), primary_key=True)
    vehicle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account: Mapped[str] = mapped_column(ADDRESS, index=True)
    shares: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Amount)


class Entitlement(Base):
    """An account's cumulative entitlement after an epoch and its leaf's place in that epoch's tree."""

    __tablename__ = "entitlements"

    epoch: Mapped[int] = mapped_column(ForeignKey("epochs.number"), primary_key=True)
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    cumulative: Mapped[int] = mapped_column(Amount)
    tree_index: Mapped[int] = mapped_column(Integer)


class EpochTree(Base):
    """Every node of an epoch's Merkle tree (OpenZeppelin's array layout, 32 bytes each): every proof is
    a walk of O(log n) nodes, and storing nodes costs 64 bytes a leaf where stored proofs would cost ~700."""

    __tablename__ = "epoch_trees"

    epoch: Mapped[int] = mapped_column(ForeignKey("epochs.number"), primary_key=True)
    nodes: Mapped[bytes] = mapped_column(LargeBinary)


class ChainTx(Base):
    """Every transaction the operator sends, recorded before it is broadcast so a retry never sends twice."""

    __tablename__ = "chain_txs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    purpose: Mapped[str] = mapped_column(String(128), unique=True)
    sender: Mapped[str] = mapped_column(ADDRESS)
    nonce: Mapped[int] = mapped_column(BigInteger)
    tx_hash: Mapped[str] = mapped_column(HASH, unique=True)
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # signed | sent | mined | failed
    block: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger)


# --- the API (migration 0004) ---------------------------------------------------------------------------


class ApiToken(Base):
    """An operator's bearer token: only its SHA-256 is kept, so a database leak yields no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(Text)  # space-separated, sorted
    created_at: Mapped[int] = mapped_column(BigInteger)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger, default=None)


class IdempotencyKey(Base):
    """The answer given to a request sent with an ``Idempotency-Key``, replayed when the key comes again.

    ``status_code`` and ``response`` are None only inside the transaction that claimed the key."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    response: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)


class EquitySnapshot(Base):
    """An equity round's record-date balance tree (nodes in OpenZeppelin's layout, as ``EpochTree``)."""

    __tablename__ = "equity_snapshots"

    round_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    record_date: Mapped[int] = mapped_column(BigInteger)
    block: Mapped[int] = mapped_column(BigInteger)  # the last block at or before the record date
    root: Mapped[str] = mapped_column(HASH)
    total_eligible: Mapped[int] = mapped_column(Amount)
    holders: Mapped[int] = mapped_column(Integer)
    nodes: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[int] = mapped_column(BigInteger)


class EquityBalance(Base):
    """One holder's balance at a round's record date and its leaf's place in the snapshot tree."""

    __tablename__ = "equity_balances"

    round_id: Mapped[int] = mapped_column(ForeignKey("equity_snapshots.round_id"), primary_key=True)
    account: Mapped[str] = mapped_column(ADDRESS, primary_key=True)
    balance: Mapped[int] = mapped_column(Amount)
    tree_index: Mapped[int] = mapped_column(Integer)


class CatalogueItem(Base):
    """What an upgrade on the redemption desk is: the chain keeps only ``metadata_hash`` of these words."""

    __tablename__ = "catalogue_items"

    item_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    metadata_hash: Mapped[str] = mapped_column(HASH)
    updated_at: Mapped[int] = mapped_column(BigInteger)
