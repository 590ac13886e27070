"""What an account can claim: its cumulative entitlement in a settled epoch and the proof for it.

Proofs are walked from the stored tree (``EpochTree``), so every proof of every epoch is available without
storing ~700 bytes per account per epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.errors import NotFoundError
from ledger.merkle import normalize_address, proof_from_nodes
from ledger.store.models import Entitlement, Epoch, EpochState, EpochTree

CLAIMABLE_STATES = (EpochState.CONFIRMED, EpochState.FINAL)


@dataclass(frozen=True)
class ClaimTicket:
    account: str
    epoch: int
    cumulative: int
    proof: tuple[bytes, ...]


def claim_many_args(batch: Sequence[ClaimTicket]) -> tuple[list[str], list[int], list[list[bytes]]]:
    """``RewardDistributor.claimMany``'s three parallel arrays (accounts, cumulative amounts, proofs) for
    ``batch``: ``distributor.functions.claimMany(*claim_many_args(batch))``."""
    return [t.account for t in batch], [t.cumulative for t in batch], [list(t.proof) for t in batch]


def latest_settled_epoch(session: Session, states: tuple[EpochState, ...] = CLAIMABLE_STATES) -> int | None:
    return session.scalars(
        select(Epoch.number).where(Epoch.state.in_(states)).order_by(Epoch.number.desc()).limit(1)
    ).first()


def ticket(session: Session, account: str, epoch: int | None = None) -> ClaimTicket:
    """The account's cumulative entitlement and proof against ``epoch`` (default: the latest final one)."""
    account = normalize_address(account)
    if epoch is None:
        epoch = latest_settled_epoch(session, (EpochState.FINAL,))
        if epoch is None:
            raise NotFoundError("no epoch is final yet")
    row = session.get(Entitlement, (epoch, account))
    if row is None:
        raise NotFoundError(f"{account} has no entitlement in epoch {epoch}")
    tree = session.get(EpochTree, epoch)
    if tree is None:
        raise NotFoundError(f"epoch {epoch} has no stored tree")
    return ClaimTicket(account, epoch, row.cumulative, tuple(proof_from_nodes(tree.nodes, row.tree_index)))


def tickets(session: Session, epoch: int) -> list[ClaimTicket]:
    """Every account's ticket for ``epoch``, for a relayer's batch claims."""
    tree = session.get(EpochTree, epoch)
    if tree is None:
        raise NotFoundError(f"epoch {epoch} has no stored tree")
    rows = session.scalars(
        select(Entitlement).where(Entitlement.epoch == epoch).order_by(Entitlement.account)
    )
    return [
        ClaimTicket(r.account, epoch, r.cumulative, tuple(proof_from_nodes(tree.nodes, r.tree_index)))
        for r in rows
    ]


def tickets_for(session: Session, epoch: int, accounts: Sequence[str]) -> dict[str, ClaimTicket]:
    """The tickets of those ``accounts`` (checksummed) that have an entitlement in ``epoch``, by account;
    one query however many accounts, for a relayer's batch claim."""
    tree = session.get(EpochTree, epoch)
    if tree is None:
        raise NotFoundError(f"epoch {epoch} has no stored tree")
    wanted = [normalize_address(account) for account in accounts]
    rows = session.scalars(
        select(Entitlement).where(Entitlement.epoch == epoch, Entitlement.account.in_(wanted))
    )
    return {
        r.account: ClaimTicket(
            r.account, epoch, r.cumulative, tuple(proof_from_nodes(tree.nodes, r.tree_index))
        )
        for r in rows
    }
