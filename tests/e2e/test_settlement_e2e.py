"""End to end on the embedded chain: signed trips and tasks in, daily roots on chain, claims out.

Issue 3's acceptance run: 50 cars and 20 accounts doing tasks over 10 epochs with fast-forwarded time;
after claims, minted per pool equals the ledger's allocations and stays within ``available``; killing
the settlement between any two steps (or just after a transaction left) and running it again gives the
same roots and sends nothing twice.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger.chain.gateway import DistributorGateway
from ledger.claims import claim_many_args, tickets
from ledger.schedule import Pool as SchedulePool
from ledger.schedule import available
from ledger.store.models import Allocation, Epoch, EpochState, Pool, Trip, TripStatus
from tests.e2e.world import World, build_world

EPOCHS = 10


def test_ten_epochs_settle_and_every_account_claims_its_entitlement(tmp_path: Path) -> None:
    with build_world(tmp_path, cars=50, owners=20) as world:
        for epoch in range(EPOCHS):
            world.live_epoch(epoch)
            world.settle_after(epoch)
        world.chain.advance(world.gateway.challenge_window + 1)
        world.settler().run()

        with world.sessions() as session:
            states = {number: state for number, state in session.execute(select(Epoch.number, Epoch.state))}
            assert [states[e] for e in range(EPOCHS)] == [EpochState.FINAL] * EPOCHS
            last = session.get(Epoch, EPOCHS - 1)
            assert last is not None
            per_pool = {
                pool: count
                for pool, count in session.execute(
                    select(Allocation.pool, func.count()).group_by(Allocation.pool)
                )
            }
            allocated = {
                pool: sum(session.scalars(select(Allocation.amount).where(Allocation.pool == pool)))
                for pool in Pool
            }
            held = session.scalar(select(func.count()).where(Trip.status == TripStatus.HELD))
            batch = tickets(session, EPOCHS - 1)

        assert per_pool[Pool.DRIVING] > 0
        assert per_pool[Pool.COCREATION] > 0
        assert held, "the fleet's impossible trips must be held, not paid"
        assert allocated[Pool.DRIVING] == last.driving_total
        assert allocated[Pool.COCREATION] == last.cocreation_total
        slots = EPOCHS * 144
        assert 0 < last.driving_total <= available(SchedulePool.DRIVING, slots)
        assert 0 < last.cocreation_total <= available(SchedulePool.COCREATION, slots)
        # Nothing is lost: what the draws did not allocate is carried, to the base unit.
        assert last.driving_total + (last.driving_carry_out or 0) == available(SchedulePool.DRIVING, slots)

        onchain = world.gateway.epoch_record(EPOCHS - 1)
        assert onchain.root.hex() == (last.root or "")[2:]
        assert (onchain.driving_total, onchain.cocreation_total) == (
            last.driving_total,
            last.cocreation_total,
        )

        relayer = world.chain.accounts[9]
        distributor = world.system.distributor
        for offset in range(0, len(batch), 25):
            chunk = batch[offset : offset + 25]
            world.chain.send(distributor.functions.claimMany(*claim_many_args(chunk)), relayer)
        token = world.system.token.functions
        assert len(batch) == 20
        for t in batch:
            assert token.balanceOf(t.account).call() == t.cumulative
        supply = token.totalSupply().call()
        assert supply == sum(t.cumulative for t in batch) == last.driving_total + last.cocreation_total


class CrashingGateway(DistributorGateway):
    """Dies right after each transaction leaves, once per transaction: the worst moment to crash."""

    crashed: set[str]

    def commit_seed(self, epoch: int, commitment: bytes) -> None:
        super().commit_seed(epoch, commitment)
        self._crash(f"commit:{epoch}")

    def post_epoch(self, epoch: int, attempt: int, *args: bytes | int) -> tuple[int, int]:
        result = super().post_epoch(epoch, attempt, *args)  # type: ignore[arg-type]
        self._crash(f"post:{epoch}")
        return result

    def _crash(self, what: str) -> None:
        if what not in self.crashed:
            self.crashed.add(what)
            raise SimulatedCrash(what)


class SimulatedCrash(Exception):
    pass


def roots_of(world: World) -> dict[int, str | None]:
    with world.sessions() as session:
        rows = session.execute(select(Epoch.number, Epoch.root).where(Epoch.root.is_not(None)))
        return {number: root for number, root in rows}


def run_step_by_step(world: World) -> int:
    """Runs settlement one step per 'process', restarting after every step and every crash."""
    restarts = 0
    while True:
        try:
            steps = world.settler().run(max_steps=1)
        except SimulatedCrash:
            restarts += 1
            continue
        if not steps:
            return restarts
        restarts += 1


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_crash_between_any_two_steps_resumes_to_the_same_roots(tmp_path: Path, backend: str) -> None:
    epochs = 3
    with build_world(tmp_path / "straight", backend, cars=12, owners=5) as straight:
        for epoch in range(epochs):
            straight.live_epoch(epoch)
            straight.settle_after(epoch)
        expected = roots_of(straight)
    assert sorted(expected) == list(range(epochs))

    with build_world(tmp_path / "crashy", backend, cars=12, owners=5) as crashy:
        gateway = CrashingGateway(crashy.system, crashy.gateway.oracle, crashy.gateway.journal)
        gateway.crashed = set()
        crashy.gateway = gateway
        restarts = 0
        for epoch in range(epochs):
            crashy.live_epoch(epoch)
            crashy.chain.travel_to(crashy.params.epoch_end(epoch) + crashy.params.grace_seconds + 1)
            restarts += run_step_by_step(crashy)
        assert roots_of(crashy) == expected
        assert restarts > epochs * 8  # every step of every epoch ran in a process of its own
        assert any(c.startswith("post:") for c in gateway.crashed)

        distributor = crashy.system.distributor
        posted = distributor.events.EpochPosted().get_logs(from_block=0)
        committed = distributor.events.SeedCommitted().get_logs(from_block=0)
        assert [log["args"]["epoch"] for log in posted] == list(range(epochs)), (
            "each epoch posted exactly once"
        )
        assert len({log["args"]["epoch"] for log in committed}) == len(committed), "no seed committed twice"
        assert distributor.functions.nextEpoch().call() == epochs
