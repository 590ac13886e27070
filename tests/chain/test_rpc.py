"""The chain adapter over JSON-RPC, against a real Hardhat node, with locally signed transactions only."""

from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import TransactionNotFound
from web3.types import Nonce, TxParams, Wei

from ledger.chain import client as client_module
from ledger.chain import rpc
from ledger.chain.client import ChainClient, JournaledTx
from ledger.chain.deploy import DeployParams, RoleHolders, System, role_id
from ledger.chain.embedded import EmbeddedChain
from ledger.errors import ChainError, ContractRevert
from ledger.merkle import MerkleTree
from ledger.merkle import keccak256 as keccak
from ledger.schedule import UNIT
from tests.chain.conftest import CHAIN_ID, Keys, free_port
from tests.contracts.helpers import commitment_for, epoch_end, reverts, secret_for

pytestmark = pytest.mark.node


class MemoryJournal:
    """In-memory stand-in for the store's TxJournal: the same Protocol, no database."""

    def __init__(self) -> None:
        self.entries: dict[str, JournaledTx] = {}
        self.marks: list[tuple[str, str, int | None]] = []

    def get(self, purpose: str) -> JournaledTx | None:
        return self.entries.get(purpose)

    def record(self, tx: JournaledTx) -> None:
        assert tx.purpose not in self.entries, "a purpose is journaled once"
        self.entries[tx.purpose] = tx

    def mark(self, purpose: str, status: str, block: int | None) -> None:
        self.entries[purpose] = replace(self.entries[purpose], status=status)
        self.marks.append((purpose, status, block))


def advance_to(client: ChainClient, timestamp: int) -> None:
    if client.now() < timestamp:
        rpc.increase_time(client, timestamp - client.now())


def post_args(epoch: int, tree: MerkleTree, driving: int) -> tuple[Any, ...]:
    return (epoch, tree.root, driving, 0, keccak(b"inputs"), secret_for(epoch), keccak(b"manifest"))


def nonce_of(client: ChainClient, address: str) -> int:
    return int(client.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "pending"))


# --- connecting ---------------------------------------------------------------------------------------------


def test_connect_reports_chain_and_the_node_unlocks_nothing(
    hardhat_url: str, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ledger.chain.rpc")
    client = rpc.connect(hardhat_url, [keys.alice], expected_chain_id=CHAIN_ID)

    assert client.chain_id == CHAIN_ID
    assert f"chain id {CHAIN_ID}" in caplog.text
    # No unlocked accounts: whatever the tests send succeeds only because it was signed here.
    assert len(client.w3.eth.accounts) == 0


def test_connect_fails_clearly_when_no_node_answers() -> None:
    port = free_port()  # probed and closed again: nothing listens there
    started = time.monotonic()
    with pytest.raises(ChainError, match=rf"no Ethereum JSON-RPC node answers at http://127\.0\.0\.1:{port}"):
        rpc.connect(f"http://127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - started < 15


def test_connect_hides_url_secrets_and_checks_scheme_and_chain(hardhat_url: str) -> None:
    password, api_key = "hunter2", "abcdef0123"
    url = f"http://user:{password}@127.0.0.1:{free_port()}/v3/{api_key}"
    with pytest.raises(ChainError) as refused:
        rpc.connect(url, timeout=2)
    # The whole printed traceback, not only the message: a chained cause would repeat the URL.
    shown = "".join(traceback.format_exception(refused.value))
    assert "no Ethereum JSON-RPC node answers at http://127.0.0.1:" in shown
    assert password not in shown
    assert api_key not in shown
    with pytest.raises(ChainError, match="http:// or https://"):
        rpc.connect("ws://127.0.0.1:8546")
    with pytest.raises(ChainError, match="expected chain 1"):
        rpc.connect(hardhat_url, expected_chain_id=1)


def test_dev_helpers_move_the_node_clock(node: ChainClient, system: System) -> None:
    before = node.now()
    after = rpc.increase_time(node, 3 * 86_400)
    assert after == node.now()
    assert after >= before + 3 * 86_400
    assert rpc.mine(node) >= after
    assert rpc.mine(node, after + 10_000) == after + 10_000


# --- the whole cycle ----------------------------------------------------------------------------------------


def test_deploy_commit_post_claim_cycle(node: ChainClient, keys: Keys, system: System) -> None:
    roles, distributor, token = system.roles, system.distributor, system.token
    alice, bob = keys.alice.address, keys.bob.address
    entries = {alice: 7 * UNIT, bob: 3 * UNIT}
    tree = MerkleTree.build(list(entries.items()))
    assert node.call(distributor.functions.seedCommitment(0)) == commitment_for(0)

    # Posting before the epoch has ended is refused on the node's clock.
    with reverts("EpochNotEnded", 0, epoch_end(system, 0)):
        node.send(distributor.functions.postEpoch(*post_args(0, tree, 10 * UNIT)), roles.oracle)
    advance_to(node, epoch_end(system, 0))
    node.send(distributor.functions.postEpoch(*post_args(0, tree, 10 * UNIT)), roles.oracle)
    assert node.call(distributor.functions.nextEpoch()) == 1

    # Inside the challenge window nothing is claimable yet.
    with reverts("NoClaimableEpoch"):
        node.send(distributor.functions.claim(alice, entries[alice], tree.proof(alice)), alice)
    rpc.increase_time(node, system.params.challenge_window)

    for account in (alice, bob):
        node.send(distributor.functions.claim(account, entries[account], tree.proof(account)), account)
    assert node.call(token.functions.balanceOf(alice)) == 7 * UNIT
    assert node.call(token.functions.balanceOf(bob)) == 3 * UNIT
    assert node.call(token.functions.totalSupply()) == 10 * UNIT
    assert node.call(distributor.functions.claimed(alice)) == 7 * UNIT

    # A second claim of the same leaf and a transfer between holders are refused with their reasons.
    with reverts("NothingToClaim", alice, 7 * UNIT, 7 * UNIT):
        node.send(distributor.functions.claim(alice, entries[alice], tree.proof(alice)), alice)
    with reverts("StoneNonTransferable", alice, bob):
        node.send(token.functions.transfer(bob, UNIT), alice)


def test_deployment_record(node: ChainClient, system: System) -> None:
    record = system.record()

    assert record["chain_id"] == CHAIN_ID
    assert record["block"] <= node.w3.eth.block_number
    empty = "0x" + hashlib.sha256(b"").hexdigest()
    assert set(record["code_sha256"]) == set(record["addresses"])
    for name, address in record["addresses"].items():
        code = bytes(node.w3.eth.get_code(address))
        assert code, f"{name} has no code"
        assert record["code_sha256"][name] == "0x" + hashlib.sha256(code).hexdigest() != empty


# --- reverts decode as on the embedded chain ----------------------------------------------------------------


@dataclass
class Embedded:
    """The contracts the compared reverts touch, on the embedded chain, with the same role keys."""

    client: EmbeddedChain
    roles: RoleHolders
    token: Contract
    distributor: Contract


@pytest.fixture(scope="module")
def embedded(keys: Keys, roles: RoleHolders) -> Embedded:
    # Three contracts rather than deploy_system's whole wiring: py-evm takes seconds per large deployment.
    chain = EmbeddedChain()
    for account in keys.all():
        chain.add_signer(account)
        chain.w3.eth.send_transaction(
            {"from": chain.accounts[0], "to": account.address, "value": Wei(10**20)}
        )
    params = DeployParams(genesis=chain.now() + 3600)
    schedule, _ = chain.deploy("EmissionSchedule", roles.admin, params.genesis, params.slot_seconds)
    token, _ = chain.deploy("StoneToken", roles.admin, roles.admin, params.admin_delay, params.recovery_delay)
    distributor, _ = chain.deploy(
        "RewardDistributor",
        roles.admin,
        roles.admin,
        params.admin_delay,
        token.address,
        schedule.address,
        params.challenge_window,
    )
    chain.send(distributor.functions.grantRole(role_id("ORACLE_ROLE"), roles.oracle), roles.admin)
    chain.send(distributor.functions.commitSeed(0, commitment_for(0)), roles.oracle)
    return Embedded(chain, roles, token, distributor)


RevertCase = Callable[[System | Embedded, Keys], tuple[Any, str, tuple[object, ...]]]

REVERT_CASES: dict[str, RevertCase] = {
    "EpochOutOfOrder": lambda s, k: (
        s.distributor.functions.postEpoch(*post_args(5, MerkleTree.build([(k.alice.address, 1)]), 1)),
        s.roles.oracle,
        (5, 0),
    ),
    "StoneNonTransferable": lambda s, k: (
        s.token.functions.transfer(k.bob.address, 0),
        k.alice.address,
        (k.alice.address, k.bob.address),
    ),
    "SeedAlreadyCommitted": lambda s, k: (
        s.distributor.functions.commitSeed(0, commitment_for(0)),
        s.roles.oracle,
        (0,),
    ),
    "AccessControlUnauthorizedAccount": lambda s, k: (
        s.distributor.functions.commitSeed(9, commitment_for(9)),
        k.stranger.address,
        (k.stranger.address, role_id("ORACLE_ROLE")),
    ),
}


@pytest.mark.parametrize("error", sorted(REVERT_CASES))
def test_reverts_decode_like_the_embedded_chain(
    error: str, node: ChainClient, keys: Keys, system: System, embedded: Embedded
) -> None:
    outcomes: list[tuple[str, tuple[object, ...]]] = []
    for target in (system, embedded):
        fn, sender, expected = REVERT_CASES[error](target, keys)
        nonce = nonce_of(target.client, sender)
        with pytest.raises(ContractRevert) as sent:
            target.client.send(fn, sender)
        # eth_call reports the same revert as the gas estimate behind a send.
        with pytest.raises(ContractRevert) as called:
            target.client.call(fn, sender)
        assert (
            (sent.value.name, sent.value.args_)
            == (called.value.name, called.value.args_)
            == (error, expected)
        )
        assert nonce_of(target.client, sender) == nonce, "a reverting send must not reach the chain"
        outcomes.append((sent.value.name, sent.value.args_))
    assert outcomes[0] == outcomes[1]


def test_an_answer_that_does_not_fit_the_abi_is_a_chain_error(
    node: ChainClient, keys: Keys, system: System, embedded: Embedded
) -> None:
    # The token's ABI pointed at an account without code: the call answers no bytes, which no string
    # decodes from (as an ERC-20 answering symbol() with a bytes32 would not).
    for client, abi in ((node, system.token.abi), (embedded.client, embedded.token.abi)):
        stranger = client.w3.eth.contract(address=keys.stranger.address, abi=abi)
        with pytest.raises(ChainError, match="does not match its ABI"):
            client.call(stranger.functions.symbol())


# --- once-only sends ----------------------------------------------------------------------------------------


def test_send_once_sends_one_transaction_per_purpose(node: ChainClient, system: System) -> None:
    oracle, journal = system.roles.oracle, MemoryJournal()
    commit = system.distributor.functions.commitSeed(7, commitment_for(7))

    first = node.send_once("commit-seed-7", commit, oracle, journal)
    nonce = nonce_of(node, oracle)
    again = node.send_once("commit-seed-7", commit, oracle, journal)
    # The purpose is the identity: even a different call under the same purpose sends nothing new.
    other = node.send_once(
        "commit-seed-7", system.distributor.functions.commitSeed(8, b"\x01" * 32), oracle, journal
    )

    assert first["status"] == 1
    assert again["transactionHash"] == other["transactionHash"] == first["transactionHash"]
    assert nonce_of(node, oracle) == nonce
    assert journal.entries["commit-seed-7"].tx_hash == "0x" + first["transactionHash"].hex()
    assert journal.entries["commit-seed-7"].status == "mined"
    assert node.call(system.distributor.functions.seedCommitment(8)) == b"\x00" * 32


def test_send_once_after_a_crash_before_broadcast_sends_the_journaled_tx(
    node: ChainClient, keys: Keys, system: System
) -> None:
    oracle, journal = keys.roles[1], MemoryJournal()
    assert oracle.address == system.roles.oracle
    commit = system.distributor.functions.commitSeed(7, commitment_for(7))
    # What send_once journals before broadcasting, written by hand: the process "died" right after this.
    nonce = nonce_of(node, oracle.address)
    params: TxParams = {"from": oracle.address, "nonce": Nonce(nonce), "chainId": CHAIN_ID}
    tx = cast(dict[str, Any], commit.build_transaction(params))
    raw = bytes(oracle.sign_transaction(tx).raw_transaction)
    tx_hash = "0x" + Web3.keccak(raw).hex()
    journal.record(JournaledTx("commit-seed-7", oracle.address, nonce, tx_hash, "0x" + raw.hex(), "signed"))
    with pytest.raises(TransactionNotFound):
        node.w3.eth.get_transaction(HexBytes(tx_hash))

    receipt = node.send_once("commit-seed-7", commit, oracle.address, journal)

    assert "0x" + receipt["transactionHash"].hex() == tx_hash
    assert receipt["status"] == 1
    assert nonce_of(node, oracle.address) == nonce + 1
    assert journal.marks == [("commit-seed-7", "mined", receipt["blockNumber"])]
    assert node.call(system.distributor.functions.seedCommitment(7)) == commitment_for(7)


def test_send_once_after_a_crash_before_marking_sends_nothing(node: ChainClient, system: System) -> None:
    oracle, journal = system.roles.oracle, MemoryJournal()
    commit = system.distributor.functions.commitSeed(7, commitment_for(7))
    first = node.send_once("commit-seed-7", commit, oracle, journal)
    # The process "died" after broadcasting, before it could mark the entry mined.
    journal.entries["commit-seed-7"] = replace(journal.entries["commit-seed-7"], status="signed")
    nonce = nonce_of(node, oracle)

    receipt = node.send_once("commit-seed-7", commit, oracle, journal)

    assert receipt["transactionHash"] == first["transactionHash"]
    assert nonce_of(node, oracle) == nonce
    assert journal.entries["commit-seed-7"].status == "mined"


# --- rebroadcasts as Hardhat words them ---------------------------------------------------------------------


def signed_transfer(keys: Keys, node: ChainClient, nonce: int, value: int) -> bytes:
    """A plain ether transfer from the stranger's key, signed here with explicit EIP-1559 fees."""
    base_fee = int(node.w3.eth.get_block("latest")["baseFeePerGas"])
    tx = {
        "to": keys.bob.address,
        "value": value,
        "gas": 21_000,
        "maxPriorityFeePerGas": 10**9,
        "maxFeePerGas": 2 * base_fee + 10**9,
        "nonce": nonce,
        "chainId": CHAIN_ID,
    }
    return bytes(Account.sign_transaction(tx, keys.stranger.key).raw_transaction)


def test_rebroadcast_of_a_mined_tx_returns_its_receipt(node: ChainClient, keys: Keys, system: System) -> None:
    raw = signed_transfer(keys, node, nonce_of(node, keys.stranger.address), 1)
    first = node.send_raw(raw)
    # Hardhat answers "Nonce too low. Expected nonce to be n+1 but got n".
    again = node.send_raw(raw)
    assert again["transactionHash"] == first["transactionHash"]


def test_rebroadcast_of_a_pending_tx_waits_for_it(node: ChainClient, keys: Keys, system: System) -> None:
    raw = signed_transfer(keys, node, nonce_of(node, keys.stranger.address), 1)
    rpc_call = node.w3.manager.request_blocking
    rpc_call("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        node.w3.eth.send_raw_transaction(raw)
        # The transaction now waits in the mempool: Hardhat answers the rebroadcast "Known transaction".
        rpc_call("evm_setIntervalMining", [300])  # type: ignore[arg-type]
        receipt = node.send_raw(raw)
    finally:
        rpc_call("evm_setIntervalMining", [0])  # type: ignore[arg-type]
        rpc_call("evm_setAutomine", [True])  # type: ignore[arg-type]
    assert receipt["transactionHash"] == Web3.keccak(raw)
    assert receipt["status"] == 1


def test_tx_whose_nonce_another_tx_took_fails_fast(
    node: ChainClient, keys: Keys, system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "_RECEIPT_GRACE_SECONDS", 0.5)
    nonce = nonce_of(node, keys.stranger.address)
    node.send_raw(signed_transfer(keys, node, nonce, 1))
    orphan = signed_transfer(keys, node, nonce, 2)

    with pytest.raises(ChainError, match="was used by another transaction"):
        node.send_raw(orphan)


def test_a_refused_tx_raises_chain_error(node: ChainClient, keys: Keys, system: System) -> None:
    pauper = Account.create()
    tx = {
        "to": keys.bob.address,
        "value": 1,
        "gas": 21_000,
        "gasPrice": 10**10,
        "nonce": 0,
        "chainId": CHAIN_ID,
    }
    raw = bytes(Account.sign_transaction(tx, pauper.key).raw_transaction)
    with pytest.raises(ChainError, match="node refused transaction"):
        node.send_raw(raw)
