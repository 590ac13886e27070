"""Settled epochs as published: their state, totals and roots, and their manifests for download.

A manifest is published once its epoch is posted (its secret is on chain then); before that it exists only
inside the ledger. The manifest is served as stored: the canonical JSON bytes whose keccak256 is the
``manifestHash`` posted on chain, so a download can be checked against the chain byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import NotFoundError, ValidationError
from ledger.schedule import SLOTS_PER_EPOCH
from ledger.store.models import Epoch, EpochState

__all__ = ["MAX_PAGE", "PUBLISHED_STATES", "EpochSummary", "get_epoch", "list_epochs", "manifest"]

MAX_PAGE: Final = 500
PUBLISHED_STATES: Final = (EpochState.POSTED, EpochState.CONFIRMED, EpochState.FINAL, EpochState.VETOED)


@dataclass(frozen=True)
class EpochSummary:
    number: int
    state: EpochState
    start: int
    end: int
    commitment: str
    inputs_root: str | None
    seed: str | None
    root: str | None
    manifest_hash: str | None
    driving_allocated: int | None
    cocreation_allocated: int | None
    driving_total: int | None
    cocreation_total: int | None
    posted_at: int | None
    manifest_published: bool


def _summary(epoch: Epoch, genesis: int, slot_seconds: int) -> EpochSummary:
    start = genesis + epoch.number * SLOTS_PER_EPOCH * slot_seconds
    published = epoch.state in PUBLISHED_STATES
    return EpochSummary(
        epoch.number,
        epoch.state,
        start,
        start + SLOTS_PER_EPOCH * slot_seconds,
        epoch.commitment,
        epoch.inputs_root,
        # The seed reveals the secret's effect; both are public once the epoch is posted, not before.
        epoch.seed if published else None,
        epoch.root,
        epoch.manifest_hash,
        epoch.driving_allocated,
        epoch.cocreation_allocated,
        epoch.driving_total,
        epoch.cocreation_total,
        epoch.posted_at,
        published and epoch.manifest is not None,
    )


def list_epochs(
    session: Session, genesis: int, slot_seconds: int, before: int | None, limit: int
) -> list[EpochSummary]:
    """Epochs known to the ledger, newest first: those numbered below ``before`` (all when None)."""
    if type(limit) is not int or not 1 <= limit <= MAX_PAGE:
        raise ValidationError(f"limit must be 1..{MAX_PAGE}, got {limit!r}")
    query = select(Epoch).order_by(Epoch.number.desc()).limit(limit)
    if before is not None:
        query = query.where(Epoch.number < before)
    return [_summary(epoch, genesis, slot_seconds) for epoch in session.scalars(query)]


def get_epoch(session: Session, number: int, genesis: int, slot_seconds: int) -> EpochSummary:
    epoch = session.get(Epoch, number)
    if epoch is None:
        raise NotFoundError(f"epoch {number} is not in the ledger")
    return _summary(epoch, genesis, slot_seconds)


def manifest(session: Session, number: int) -> tuple[bytes, str]:
    """The epoch's manifest (canonical JSON bytes) and its keccak256, once the epoch is posted."""
    epoch = session.get(Epoch, number)
    if epoch is None:
        raise NotFoundError(f"epoch {number} is not in the ledger")
    if epoch.state not in PUBLISHED_STATES or epoch.manifest is None or epoch.manifest_hash is None:
        raise NotFoundError(
            f"epoch {number} is {epoch.state.value}: its manifest is published once it is posted"
        )
    return epoch.manifest.encode("utf-8"), epoch.manifest_hash
