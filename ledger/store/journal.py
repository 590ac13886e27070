"""The operator's transaction journal in the database (``ledger.chain.client.TxJournal``).

Each write commits at once, in its own transaction: the signed transaction must be durable before it is
broadcast, whatever the caller's transaction does afterwards.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.chain.client import JournaledTx
from ledger.store.models import ChainTx


class StoreTxJournal:
    def __init__(self, sessions: sessionmaker[Session], clock: int = 0) -> None:
        self.sessions = sessions
        self.clock = clock

    def get(self, purpose: str) -> JournaledTx | None:
        with self.sessions() as session:
            row = session.scalars(select(ChainTx).where(ChainTx.purpose == purpose)).one_or_none()
            if row is None:
                return None
            return JournaledTx(row.purpose, row.sender, row.nonce, row.tx_hash, row.raw, row.status)

    def record(self, tx: JournaledTx) -> None:
        with self.sessions.begin() as session:
            session.add(
                ChainTx(
                    purpose=tx.purpose,
                    sender=tx.sender,
                    nonce=tx.nonce,
                    tx_hash=tx.tx_hash,
                    raw=tx.raw,
                    status=tx.status,
                    created_at=self.clock,
                )
            )

    def mark(self, purpose: str, status: str, block: int | None) -> None:
        with self.sessions.begin() as session:
            row = session.scalars(select(ChainTx).where(ChainTx.purpose == purpose)).one()
            row.status = status
            row.block = block
