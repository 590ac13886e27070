"""Opens what a command needs from the settings: the database, the chain, the deployed system, the settler."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ledger.chain.client import ChainClient
from ledger.chain.deploy import DeployParams, RoleHolders, System, deploy_system, load_system
from ledger.chain.embedded import EmbeddedChain, test_accounts
from ledger.chain.gateway import DistributorGateway
from ledger.config import LedgerSettings
from ledger.errors import YuanshiError
from ledger.settlement import SettlementParams, Settler
from ledger.store.db import make_engine, migrate, session_factory
from ledger.store.journal import StoreTxJournal


class NotDeployedError(YuanshiError):
    """No deployment record: run `yuanshi deploy` first."""


@dataclass
class Runtime:
    settings: LedgerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    client: ChainClient
    embedded: bool

    def system(self) -> System:
        path = self.settings.deployment_file
        if not path.exists():
            raise NotDeployedError(f"no deployment record at {path}: run `yuanshi deploy` first")
        record: dict[str, Any] = json.loads(path.read_text())
        return load_system(self.client, record)

    def oracle_key(self, system: System) -> str:
        return system.roles.oracle

    def settler(self) -> Settler:
        system = self.system()
        gateway = DistributorGateway(system, system.roles.oracle, StoreTxJournal(self.sessions))
        return Settler(
            self.sessions,
            gateway,
            SettlementParams(
                genesis=system.params.genesis,
                slot_seconds=system.params.slot_seconds,
                grace_seconds=self.settings.grace_seconds,
                seed_lookahead=self.settings.seed_lookahead,
                weight_cap_metres=self.settings.weight_cap_metres,
                shares_per_drop=self.settings.shares_per_drop,
                confirmations=self.settings.confirmations,
            ),
        )

    def deploy(self, params: DeployParams, roles: RoleHolders) -> System:
        system = deploy_system(self.client, roles, params)
        self.settings.deployment_file.parent.mkdir(parents=True, exist_ok=True)
        self.settings.deployment_file.write_text(json.dumps(system.record(), indent=2) + "\n")
        return system


def open_runtime(settings: LedgerSettings, signers: list[LocalAccount] | None = None) -> Runtime:
    """Connects to the configured database (migrated) and chain (embedded and journaled by default)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    client: ChainClient
    if settings.chain_url is None:
        client = EmbeddedChain(settings.chain_journal)
        embedded = True
    else:
        from ledger.chain.rpc import connect

        client = connect(settings.chain_url, signers or [])
        embedded = False
    return Runtime(settings, engine, session_factory(engine), client, embedded)


def embedded_roles() -> RoleHolders:
    """The embedded chain's role holders: its first eight pre-funded test accounts, one role each."""
    return RoleHolders.from_accounts([a.address for a in test_accounts()])
