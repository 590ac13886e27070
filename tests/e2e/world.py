"""A whole ledger in a test: embedded chain, deployed system, database, fleet, settler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from ledger import ingest, tasks
from ledger.chain.deploy import DeployParams, System, deploy_system
from ledger.chain.embedded import EmbeddedChain, test_accounts
from ledger.chain.gateway import DistributorGateway
from ledger.merkle import keccak256
from ledger.runtime import embedded_roles
from ledger.settlement import SettlementParams, Settler
from ledger.store.db import session_factory
from ledger.store.journal import StoreTxJournal
from tests.db import fresh_database
from yuanshi.fleet import TASK_CHOICES, Fleet

START = 2_000_000_000  # a fixed chain time, so two worlds built alike are alike to the second
VIN_SALT = b"test-salt-0123456789abcdef"


def fixed_secret(epoch: int) -> bytes:
    return keccak256(b"e2e-secret" + epoch.to_bytes(8, "big"))


@dataclass
class World:
    chain: EmbeddedChain
    system: System
    sessions: sessionmaker[Session]
    params: SettlementParams
    fleet: Fleet
    gateway: DistributorGateway

    def settler(self) -> Settler:
        return Settler(self.sessions, self.gateway, self.params, secret_source=fixed_secret)

    def live_epoch(self, epoch: int, implausible_rate: float = 0.02) -> None:
        """Cars drive and app users complete tasks during ``epoch``; reports arrive just after it ends."""
        start, end = self.params.epoch_start(epoch), self.params.epoch_end(epoch)
        reports = self.fleet.trips_between(start, end, implausible_rate)
        self.chain.travel_to(end + 60)
        now = self.chain.now()
        with self.sessions.begin() as session:
            for offset in range(0, len(reports), 1000):
                ingest.submit_reports(session, reports[offset : offset + 1000], now)
            for index, owner in enumerate(self.fleet.owners):
                for n in range(1 + (index + epoch) % 3):
                    task = TASK_CHOICES[(index + n + epoch) % len(TASK_CHOICES)]
                    tasks.record_completion(
                        session,
                        task,
                        owner.address,
                        f"{task}-{owner.address}-{epoch}-{n}",
                        completed_at=start + 600 * (index + n + 1),
                        now=now,
                        genesis=self.params.genesis,
                    )

    def settle_after(self, epoch: int) -> None:
        self.chain.travel_to(
            max(self.chain.now() + 1, self.params.epoch_end(epoch) + self.params.grace_seconds + 1)
        )
        self.settler().run()


@contextmanager
def build_world(tmp_path: Path, backend: str = "sqlite", cars: int = 50, owners: int = 20) -> Iterator[World]:
    chain = EmbeddedChain()
    for account in test_accounts():
        chain.add_signer(account)
    chain.travel_to(START)
    roles = embedded_roles()
    system = deploy_system(chain, roles, DeployParams(genesis=START + 3600, challenge_window=6 * 3600))
    with fresh_database(backend, tmp_path) as engine:
        sessions = session_factory(engine)
        gateway = DistributorGateway(system, roles.oracle, StoreTxJournal(sessions))
        params = SettlementParams(
            genesis=START + 3600, slot_seconds=600, grace_seconds=1800, seed_lookahead=3
        )
        fleet = Fleet.create(cars, owners, seed=11)
        world = World(chain, system, sessions, params, fleet, gateway)
        world.settler().run()  # commits the first seeds before genesis
        now = chain.now()
        with sessions.begin() as session:
            tasks.seed_default_catalogue(session, now)
            fleet.enrol(session, VIN_SALT, chain.chain_id, now)
        yield world
