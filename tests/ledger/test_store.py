"""The schema migrates on both databases, and amounts survive exactly."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session

from ledger.store.db import migrate
from ledger.store.models import Allocation, Base, Epoch, EpochState, Pool


def test_migrations_create_every_model_table_and_rerun_is_a_no_op(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    migrate(engine)
    assert set(inspect(engine).get_table_names()) == tables


@pytest.mark.parametrize("amount", [0, 1, 2**64 + 1, 300_000_000 * 10**18, 2**256 - 1])
def test_amounts_round_trip_exactly(session: Session, amount: int) -> None:
    session.add(
        Epoch(
            number=0,
            state=EpochState.COMMITTED,
            secret=b"\x01" * 32,
            commitment="0x" + "00" * 32,
            updated_at=0,
        )
    )
    session.flush()
    session.add(Allocation(epoch=0, account="0x" + "11" * 20, pool=Pool.DRIVING, amount=amount))
    session.commit()
    session.expunge_all()
    stored = session.scalars(select(Allocation)).one()
    assert stored.amount == amount
    assert isinstance(stored.amount, int)


@pytest.mark.parametrize("bad", [-1, 2**256, 1.5, True])
def test_amounts_out_of_range_are_refused(session: Session, bad: object) -> None:
    session.add(
        Epoch(
            number=0,
            state=EpochState.COMMITTED,
            secret=b"\x01" * 32,
            commitment="0x" + "00" * 32,
            updated_at=0,
        )
    )
    session.flush()
    session.add(Allocation(epoch=0, account="0x" + "11" * 20, pool=Pool.DRIVING, amount=bad))
    with pytest.raises(Exception, match="amount must be an integer"):
        session.commit()
