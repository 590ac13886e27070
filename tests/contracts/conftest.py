"""One deployed system per test session; every test runs on a snapshot and leaves the chain as it found it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.chain.deploy import DeployParams, RoleHolders, System, deploy_system
from ledger.chain.embedded import EmbeddedChain
from tests.contracts.helpers import commitment_for

PRECOMMITTED_EPOCHS = 12


@pytest.fixture(scope="session")
def chain() -> EmbeddedChain:
    return EmbeddedChain()


@pytest.fixture(scope="session")
def roles(chain: EmbeddedChain) -> RoleHolders:
    return RoleHolders.from_accounts(chain.accounts)


@pytest.fixture(scope="session")
def stranger(chain: EmbeddedChain) -> str:
    return chain.accounts[8]


@pytest.fixture(scope="session")
def deployed(chain: EmbeddedChain, roles: RoleHolders) -> System:
    """The whole system, genesis an hour ahead, seeds committed for epochs 0..11."""
    system = deploy_system(chain, roles, DeployParams(genesis=chain.now() + 3600))
    for epoch in range(PRECOMMITTED_EPOCHS):
        chain.send(system.distributor.functions.commitSeed(epoch, commitment_for(epoch)), roles.oracle)
    return system


@pytest.fixture
def system(chain: EmbeddedChain, deployed: System) -> Iterator[System]:
    snapshot = chain.snapshot()
    yield deployed
    chain.revert_to(snapshot)
