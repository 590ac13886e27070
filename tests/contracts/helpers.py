"""Shared test vocabulary for the contract tests: revert assertions, secrets, epochs posted end to end."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import Wei

from ledger.chain.deploy import System
from ledger.chain.embedded import EmbeddedChain
from ledger.errors import ContractRevert
from ledger.merkle import MerkleTree
from ledger.merkle import keccak256 as keccak
from ledger.schedule import SLOTS_PER_EPOCH

ZERO32 = b"\x00" * 32

# eth-tester's pre-funded accounts use the private keys 1..10.
TESTER_KEYS = [(i + 1).to_bytes(32, "big") for i in range(10)]


@contextmanager
def reverts(name: str, *args: object) -> Iterator[None]:
    """Asserts that the block reverts with custom error ``name`` and exactly ``args`` (when given)."""
    try:
        yield
    except ContractRevert as exc:
        assert exc.name == name, f"expected {name}{args}, got {exc.name}{exc.args_}"
        if args:
            assert exc.args_ == args, f"expected {name}{args}, got {exc.name}{exc.args_}"
    else:
        raise AssertionError(f"expected revert {name}{args}, but the call succeeded")


def secret_for(epoch: int) -> bytes:
    return keccak(b"yuanshi-test-secret" + epoch.to_bytes(32, "big"))


def commitment_for(epoch: int) -> bytes:
    return keccak(secret_for(epoch))


def epoch_end(system: System, epoch: int) -> int:
    return int(system.params.genesis + (epoch + 1) * SLOTS_PER_EPOCH * system.params.slot_seconds)


def epoch_start(system: System, epoch: int) -> int:
    return epoch_end(system, epoch - 1) if epoch > 0 else int(system.params.genesis)


def travel_to_at_least(chain: EmbeddedChain, timestamp: int) -> None:
    if chain.now() < timestamp:
        chain.travel_to(timestamp)


@dataclass
class PostedEpoch:
    epoch: int
    tree: MerkleTree
    entries: dict[str, int]
    driving: int
    cocreation: int


def post_epoch(
    chain: EmbeddedChain,
    system: System,
    epoch: int,
    entries: dict[str, int],
    driving: int | None = None,
    cocreation: int = 0,
    *,
    finalize: bool = True,
) -> PostedEpoch:
    """Posts ``epoch`` with cumulative ``entries`` (seed committed by the fixture) and, with ``finalize``,
    moves time past the challenge window so its root is claimable."""
    tree = MerkleTree.build(list(entries.items()))
    driving_total = sum(entries.values()) - cocreation if driving is None else driving
    travel_to_at_least(chain, epoch_end(system, epoch))
    chain.send(
        system.distributor.functions.postEpoch(
            epoch,
            tree.root,
            driving_total,
            cocreation,
            keccak(b"inputs"),
            secret_for(epoch),
            keccak(b"manifest"),
        ),
        system.roles.oracle,
    )
    if finalize:
        chain.advance(system.params.challenge_window)
    return PostedEpoch(epoch, tree, dict(entries), driving_total, cocreation)


def new_account(chain: EmbeddedChain, eth: int = 10**18) -> LocalAccount:
    """A fresh key with some ether, registered with the embedded chain so it can send transactions."""
    account: LocalAccount = Account.create()
    chain.tester.add_account("0x" + bytes(account.key).hex())
    chain.w3.eth.send_transaction({"from": chain.accounts[0], "to": account.address, "value": Wei(eth)})
    return account


def checksum(addresses: Sequence[str]) -> list[str]:
    return [Web3.to_checksum_address(a) for a in addresses]
