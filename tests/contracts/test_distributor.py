"""RewardDistributor: every function and every revert path (IRewardDistributor NatSpec, issue 2, DESIGN §3-4).

Clock: transactions execute at the pending block's timestamp, while views (``eth_call``) see the latest
mined block's. Boundaries are therefore tested with transactions placed by :func:`tx_at`; where a view
must see time ``t``, :func:`mine_block_at` mines a block at ``t``.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain.deploy import RoleHolders, System
from ledger.chain.embedded import EmbeddedChain
from ledger.merkle import MerkleTree
from ledger.schedule import UNIT, Pool, available_at_epoch_end
from tests.contracts.helpers import (
    ZERO32,
    commitment_for,
    epoch_end,
    epoch_start,
    post_epoch,
    reverts,
    secret_for,
)

ZERO_ADDRESS = "0x" + "00" * 20
ORACLE_ROLE = bytes(Web3.keccak(text="ORACLE_ROLE"))
GUARDIAN_ROLE = bytes(Web3.keccak(text="GUARDIAN_ROLE"))
PAUSER_ROLE = bytes(Web3.keccak(text="PAUSER_ROLE"))
INPUTS = bytes(Web3.keccak(text="inputs"))
MANIFEST = bytes(Web3.keccak(text="manifest"))
# Deliberately not the post_epoch helper's values, so the event assertions prove what was passed through.
OWN_INPUTS = bytes(Web3.keccak(text="inputs root of this test"))
OWN_MANIFEST = bytes(Web3.keccak(text="manifest of this test"))


def emitted(contract: Contract, event: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """The arguments of every ``event`` that ``contract`` emitted in ``receipt``, in log order."""
    logs = contract.events[event]().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs if log["address"] == contract.address]


def block_time(chain: EmbeddedChain, receipt: TxReceipt) -> int:
    return int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def pending_time(chain: EmbeddedChain) -> int:
    """The timestamp the next transaction will execute at."""
    return int(chain.w3.eth.get_block("pending")["timestamp"])


def tx_at(chain: EmbeddedChain, timestamp: int) -> None:
    """Moves the clock so that the next transaction executes at exactly ``timestamp``."""
    chain.travel_to(timestamp)
    assert pending_time(chain) == timestamp, "the next transaction would not run at the time asked for"


def mine_block_at(chain: EmbeddedChain, timestamp: int) -> None:
    """Mines a block at exactly ``timestamp`` so that views (``eth_call``) see that time."""
    tx_at(chain, timestamp)
    chain.tester.mine_blocks()
    assert chain.now() == timestamp


def root_of(label: str) -> bytes:
    return bytes(Web3.keccak(text=f"root {label}"))


def addresses(n: int) -> list[str]:
    """``n`` fresh addresses; claims are sent by a stranger, so they need no ether."""
    return [str(Account.create().address) for _ in range(n)]


def post(
    chain: EmbeddedChain,
    system: System,
    epoch: int,
    *,
    root: bytes | None = None,
    driving: int = 0,
    cocreation: int = 0,
    secret: bytes | None = None,
    sender: str | None = None,
) -> TxReceipt:
    """Calls postEpoch directly (no Merkle tree), with this module's inputs root and manifest."""
    return chain.send(
        system.distributor.functions.postEpoch(
            epoch,
            root_of(str(epoch)) if root is None else root,
            driving,
            cocreation,
            OWN_INPUTS,
            secret_for(epoch) if secret is None else secret,
            OWN_MANIFEST,
        ),
        system.roles.oracle if sender is None else sender,
    )


def record(system: System, epoch: int) -> tuple[bytes, int, int, int]:
    root, posted_at, driving, cocreation = system.distributor.functions.epochRecord(epoch).call()
    return bytes(root), int(posted_at), int(driving), int(cocreation)


def next_epoch(system: System) -> int:
    return int(system.distributor.functions.nextEpoch().call())


def claimable(system: System) -> tuple[bool, int]:
    found, epoch = system.distributor.functions.claimableEpoch().call()
    return bool(found), int(epoch)


def balance(system: System, account: str) -> int:
    return int(system.token.functions.balanceOf(account).call())


def claimed(system: System, account: str) -> int:
    return int(system.distributor.functions.claimed(account).call())


def total_claimed(system: System) -> int:
    return int(system.distributor.functions.totalClaimed().call())


def claim(chain: EmbeddedChain, system: System, tree: MerkleTree, account: str, sender: str) -> TxReceipt:
    fn = system.distributor.functions.claim(account, tree.amount(account), tree.proof(account))
    return chain.send(fn, sender)


def batch(tree: MerkleTree, accounts: list[str]) -> tuple[list[str], list[int], list[list[bytes]]]:
    return accounts, [tree.amount(a) for a in accounts], [tree.proof(a) for a in accounts]


# --- wiring and views ------------------------------------------------------------------------------


def test_initial_state(system: System) -> None:
    distributor = system.distributor
    assert distributor.functions.token().call() == system.token.address
    assert distributor.functions.schedule().call() == system.schedule.address
    assert distributor.functions.challengeWindow().call() == system.params.challenge_window == 86_400
    assert next_epoch(system) == 0
    assert total_claimed(system) == 0
    assert claimable(system) == (False, 0)
    assert distributor.functions.paused().call() is False
    for epoch in range(12):
        assert distributor.functions.seedCommitment(epoch).call() == commitment_for(epoch)
    assert distributor.functions.seedCommitment(12).call() == ZERO32
    assert record(system, 0) == (ZERO32, 0, 0, 0)


# --- commitSeed ------------------------------------------------------------------------------------


def test_commit_seed_stores_the_commitment(
    chain: EmbeddedChain, system: System, roles: RoleHolders, stranger: str
) -> None:
    distributor = system.distributor
    commitment = commitment_for(12)
    for caller in (stranger, roles.guardian):
        with reverts("AccessControlUnauthorizedAccount", caller, ORACLE_ROLE):
            chain.send(distributor.functions.commitSeed(12, commitment), caller)
    with reverts("ZeroHash"):
        chain.send(distributor.functions.commitSeed(12, ZERO32), roles.oracle)

    receipt = chain.send(distributor.functions.commitSeed(12, commitment), roles.oracle)
    assert emitted(distributor, "SeedCommitted", receipt) == [{"epoch": 12, "commitment": commitment}]
    assert distributor.functions.seedCommitment(12).call() == commitment

    # A commitment is final: neither the same nor another value replaces it.
    with reverts("SeedAlreadyCommitted", 12):
        chain.send(distributor.functions.commitSeed(12, commitment), roles.oracle)
    with reverts("SeedAlreadyCommitted", 12):
        chain.send(distributor.functions.commitSeed(12, commitment_for(99)), roles.oracle)
    with reverts("SeedAlreadyCommitted", 0):
        chain.send(distributor.functions.commitSeed(0, commitment_for(99)), roles.oracle)
    assert distributor.functions.seedCommitment(12).call() == commitment
    assert distributor.functions.seedCommitment(0).call() == commitment_for(0)

    # A far-future epoch can be committed early.
    receipt = chain.send(distributor.functions.commitSeed(5_000, commitment_for(5_000)), roles.oracle)
    assert emitted(distributor, "SeedCommitted", receipt) == [
        {"epoch": 5_000, "commitment": commitment_for(5_000)}
    ]


def test_commit_seed_must_precede_the_epoch(chain: EmbeddedChain, system: System, roles: RoleHolders) -> None:
    distributor = system.distributor
    start12 = epoch_start(system, 12)
    assert distributor.functions.schedule().call() == system.schedule.address
    assert system.schedule.functions.epochStart(12).call() == start12

    snapshot = chain.snapshot()
    tx_at(chain, start12 - 1)  # the last second before epoch 12
    receipt = chain.send(distributor.functions.commitSeed(12, commitment_for(12)), roles.oracle)
    assert block_time(chain, receipt) == start12 - 1
    assert distributor.functions.seedCommitment(12).call() == commitment_for(12)
    chain.revert_to(snapshot)

    tx_at(chain, start12)  # the first second of epoch 12: too late
    with reverts("EpochAlreadyStarted", 12, start12):
        chain.send(distributor.functions.commitSeed(12, commitment_for(12)), roles.oracle)

    # Half-way through epoch 13, both it (current) and epoch 12 (past) are closed to commitments.
    start13 = epoch_start(system, 13)
    tx_at(chain, start13 + 43_200)
    with reverts("EpochAlreadyStarted", 13, start13):
        chain.send(distributor.functions.commitSeed(13, commitment_for(13)), roles.oracle)
    with reverts("EpochAlreadyStarted", 12, start12):
        chain.send(distributor.functions.commitSeed(12, commitment_for(12)), roles.oracle)
    # An already committed past epoch reports the commitment first; a zero hash is refused before both.
    with reverts("SeedAlreadyCommitted", 3):
        chain.send(distributor.functions.commitSeed(3, commitment_for(3)), roles.oracle)
    with reverts("ZeroHash"):
        chain.send(distributor.functions.commitSeed(12, ZERO32), roles.oracle)
    assert distributor.functions.seedCommitment(12).call() == ZERO32

    receipt = chain.send(distributor.functions.commitSeed(14, commitment_for(14)), roles.oracle)
    assert emitted(distributor, "SeedCommitted", receipt) == [{"epoch": 14, "commitment": commitment_for(14)}]


# --- postEpoch -------------------------------------------------------------------------------------


def test_post_epoch_waits_for_the_end_and_records_everything(
    chain: EmbeddedChain, system: System, roles: RoleHolders, stranger: str
) -> None:
    distributor, window = system.distributor, system.params.challenge_window
    end0 = epoch_end(system, 0)
    assert system.schedule.functions.epochEnd(0).call() == end0
    root = root_of("epoch 0")

    tx_at(chain, end0 - 1)
    with reverts("EpochNotEnded", 0, end0):
        post(chain, system, 0, root=root, driving=3 * UNIT, cocreation=2 * UNIT)
    for caller in (stranger, roles.guardian):
        with reverts("AccessControlUnauthorizedAccount", caller, ORACLE_ROLE):
            post(chain, system, 0, root=root, sender=caller)
    assert next_epoch(system) == 0

    tx_at(chain, end0)
    receipt = post(chain, system, 0, root=root, driving=3 * UNIT, cocreation=2 * UNIT)
    assert block_time(chain, receipt) == end0
    assert emitted(distributor, "EpochPosted", receipt) == [
        {
            "epoch": 0,
            "root": root,
            "drivingTotal": 3 * UNIT,
            "cocreationTotal": 2 * UNIT,
            "inputsRoot": OWN_INPUTS,
            "secret": secret_for(0),
            "manifestHash": OWN_MANIFEST,
            "claimableAt": end0 + window,
        }
    ]
    assert record(system, 0) == (root, end0, 3 * UNIT, 2 * UNIT)
    assert record(system, 1) == (ZERO32, 0, 0, 0)
    assert next_epoch(system) == 1
    # Posting mints nothing.
    assert system.token.functions.totalSupply().call() == 0
    assert total_claimed(system) == 0


def test_post_epoch_is_sequential_and_refuses_a_zero_root(chain: EmbeddedChain, system: System) -> None:
    # Order of checks: sequence, then root, then the epoch's end.
    with reverts("EpochOutOfOrder", 1, 0):
        post(chain, system, 1)
    with reverts("ZeroHash"):
        post(chain, system, 0, root=ZERO32)

    tx_at(chain, epoch_end(system, 2))
    with reverts("EpochOutOfOrder", 1, 0):
        post(chain, system, 1)
    with reverts("ZeroHash"):
        post(chain, system, 0, root=ZERO32)
    assert next_epoch(system) == 0

    post(chain, system, 0)
    with reverts("EpochOutOfOrder", 0, 1):
        post(chain, system, 0)
    with reverts("EpochOutOfOrder", 2, 1):
        post(chain, system, 2)
    with reverts("ZeroHash"):
        post(chain, system, 1, root=ZERO32)
    post(chain, system, 1)
    assert next_epoch(system) == 2
    # Epoch 2 has ended too; epoch 3 has not, and the end check comes after the root check.
    post(chain, system, 2)
    with reverts("ZeroHash"):
        post(chain, system, 3, root=ZERO32)
    with reverts("EpochNotEnded", 3, epoch_end(system, 3)):
        post(chain, system, 3)
    assert next_epoch(system) == 3


def test_post_epoch_checks_the_revealed_secret(chain: EmbeddedChain, system: System) -> None:
    tx_at(chain, epoch_end(system, 0))
    commitment = commitment_for(0)
    wrong = secret_for(1)
    with reverts("SecretMismatch", 0, commitment, bytes(Web3.keccak(wrong))):
        post(chain, system, 0, secret=wrong)
    with reverts("SecretMismatch", 0, commitment, bytes(Web3.keccak(ZERO32))):
        post(chain, system, 0, secret=ZERO32)
    # The commitment itself is not the secret.
    with reverts("SecretMismatch", 0, commitment, bytes(Web3.keccak(commitment))):
        post(chain, system, 0, secret=commitment)
    assert next_epoch(system) == 0
    post(chain, system, 0, secret=secret_for(0))
    assert next_epoch(system) == 1


def test_post_epoch_needs_a_seed_commitment(chain: EmbeddedChain, system: System, roles: RoleHolders) -> None:
    # Epochs 0..11 were committed in time; epoch 12 never was, and now it is too late to commit it.
    tx_at(chain, epoch_end(system, 12))
    with reverts("EpochAlreadyStarted", 12, epoch_start(system, 12)):
        chain.send(system.distributor.functions.commitSeed(12, commitment_for(12)), roles.oracle)
    for epoch in range(12):
        post(chain, system, epoch)
    assert next_epoch(system) == 12

    with reverts("SeedNotCommitted", 12):
        post(chain, system, 12)
    with reverts("SeedNotCommitted", 12):
        post(chain, system, 12, secret=ZERO32)
    assert next_epoch(system) == 12
    assert record(system, 12) == (ZERO32, 0, 0, 0)


def test_post_epoch_totals_are_capped_by_the_schedule(chain: EmbeddedChain, system: System) -> None:
    schedule = system.schedule
    tx_at(chain, epoch_end(system, 1))
    for epoch in (0, 1):
        driving_cap = available_at_epoch_end(Pool.DRIVING, epoch)
        cocreation_cap = available_at_epoch_end(Pool.COCREATION, epoch)
        assert schedule.functions.availableAtEpochEnd(int(Pool.DRIVING), epoch).call() == driving_cap
        assert schedule.functions.availableAtEpochEnd(int(Pool.COCREATION), epoch).call() == cocreation_cap

        with reverts("TotalExceedsSchedule", int(Pool.DRIVING), driving_cap + 1, driving_cap):
            post(chain, system, epoch, driving=driving_cap + 1, cocreation=cocreation_cap)
        with reverts("TotalExceedsSchedule", int(Pool.COCREATION), cocreation_cap + 1, cocreation_cap):
            post(chain, system, epoch, driving=driving_cap, cocreation=cocreation_cap + 1)
        # With both pools over, the driving pool is reported.
        with reverts("TotalExceedsSchedule", int(Pool.DRIVING), driving_cap + 1, driving_cap):
            post(chain, system, epoch, driving=driving_cap + 1, cocreation=cocreation_cap + 1)
        # A total far beyond uint96 is refused by the schedule check, never truncated.
        with reverts("TotalExceedsSchedule", int(Pool.DRIVING), 2**96 + 1, driving_cap):
            post(chain, system, epoch, driving=2**96 + 1)

        receipt = post(chain, system, epoch, driving=driving_cap, cocreation=cocreation_cap)
        [event] = emitted(system.distributor, "EpochPosted", receipt)
        assert (event["drivingTotal"], event["cocreationTotal"]) == (driving_cap, cocreation_cap)
        assert record(system, epoch)[2:] == (driving_cap, cocreation_cap)
    assert next_epoch(system) == 2


def test_post_epoch_totals_never_decrease(chain: EmbeddedChain, system: System) -> None:
    tx_at(chain, epoch_end(system, 2))
    post(chain, system, 0, driving=100 * UNIT, cocreation=50 * UNIT)

    with reverts("TotalDecreased", int(Pool.DRIVING), 100 * UNIT, 100 * UNIT - 1):
        post(chain, system, 1, driving=100 * UNIT - 1, cocreation=50 * UNIT)
    with reverts("TotalDecreased", int(Pool.COCREATION), 50 * UNIT, 50 * UNIT - 1):
        post(chain, system, 1, driving=100 * UNIT, cocreation=50 * UNIT - 1)
    with reverts("TotalDecreased", int(Pool.DRIVING), 100 * UNIT, 0):
        post(chain, system, 1, driving=0, cocreation=0)
    with reverts("TotalDecreased", int(Pool.COCREATION), 50 * UNIT, 0):
        post(chain, system, 1, driving=200 * UNIT, cocreation=0)
    assert next_epoch(system) == 1

    # Equal totals (an epoch in which nothing was allocated) and growth are both fine.
    post(chain, system, 1, driving=100 * UNIT, cocreation=50 * UNIT)
    post(chain, system, 2, driving=130 * UNIT, cocreation=50 * UNIT)
    assert record(system, 2)[2:] == (130 * UNIT, 50 * UNIT)


# --- veto ------------------------------------------------------------------------------------------


def test_veto_needs_a_posted_epoch_inside_its_window(
    chain: EmbeddedChain, system: System, roles: RoleHolders, stranger: str
) -> None:
    distributor, window = system.distributor, system.params.challenge_window
    # Unposted epochs report the window as measured from a zero posting time.
    with reverts("NotChallengeable", 0, window):
        chain.send(distributor.functions.veto(0), roles.guardian)

    tx_at(chain, epoch_end(system, 0))
    receipt = post(chain, system, 0, root=root_of("bad"))
    posted_at = block_time(chain, receipt)
    with reverts("NotChallengeable", 1, window):
        chain.send(distributor.functions.veto(1), roles.guardian)
    for caller in (stranger, roles.oracle, roles.pauser):
        with reverts("AccessControlUnauthorizedAccount", caller, GUARDIAN_ROLE):
            chain.send(distributor.functions.veto(0), caller)

    snapshot = chain.snapshot()
    tx_at(chain, posted_at + window)  # the window has closed: the root is final
    with reverts("NotChallengeable", 0, posted_at + window):
        chain.send(distributor.functions.veto(0), roles.guardian)
    assert record(system, 0)[0] == root_of("bad")
    chain.revert_to(snapshot)

    tx_at(chain, posted_at + window - 1)  # the window's last second
    receipt = chain.send(distributor.functions.veto(0), roles.guardian)
    assert emitted(distributor, "EpochVetoed", receipt) == [
        {"epoch": 0, "root": root_of("bad"), "guardian": roles.guardian}
    ]
    assert record(system, 0) == (ZERO32, 0, 0, 0)
    assert next_epoch(system) == 0
    with reverts("NotChallengeable", 0, window):
        chain.send(distributor.functions.veto(0), roles.guardian)

    # The oracle posts the epoch again, revealing the same committed secret.
    receipt = post(chain, system, 0, root=root_of("good"))
    reposted_at = block_time(chain, receipt)
    assert record(system, 0) == (root_of("good"), reposted_at, 0, 0)
    assert next_epoch(system) == 1
    [event] = emitted(distributor, "EpochPosted", receipt)
    assert event["secret"] == secret_for(0)
    assert event["claimableAt"] == reposted_at + window


def test_veto_removes_every_later_pending_epoch(
    chain: EmbeddedChain, system: System, roles: RoleHolders, stranger: str
) -> None:
    distributor, window = system.distributor, system.params.challenge_window
    alice, bob = addresses(2)
    first = post_epoch(chain, system, 0, {alice: 10 * UNIT, bob: 5 * UNIT})
    posted_at_0 = record(system, 0)[1]

    tx_at(chain, epoch_end(system, 3))
    post(chain, system, 1, root=root_of("1"), driving=20 * UNIT)
    post(chain, system, 2, root=root_of("2"), driving=30 * UNIT)
    post(chain, system, 3, root=root_of("3"), driving=40 * UNIT)
    assert next_epoch(system) == 4

    # Epoch 0 is final and cannot be vetoed any more; epoch 2 falls with epoch 3.
    with reverts("NotChallengeable", 0, posted_at_0 + window):
        chain.send(distributor.functions.veto(0), roles.guardian)
    receipt = chain.send(distributor.functions.veto(2), roles.guardian)
    assert emitted(distributor, "EpochVetoed", receipt) == [
        {"epoch": 2, "root": root_of("2"), "guardian": roles.guardian}
    ]
    assert next_epoch(system) == 2
    assert record(system, 1)[0] == root_of("1")
    assert record(system, 2) == (ZERO32, 0, 0, 0)
    assert record(system, 3) == (ZERO32, 0, 0, 0)
    with reverts("NotChallengeable", 3, window):
        chain.send(distributor.functions.veto(3), roles.guardian)

    # The totals are checked against the surviving epoch 1, not the vetoed ones.
    with reverts("TotalDecreased", int(Pool.DRIVING), 20 * UNIT, 19 * UNIT):
        post(chain, system, 2, driving=19 * UNIT)
    post(chain, system, 2, root=root_of("2 again"), driving=21 * UNIT)
    post(chain, system, 3, root=root_of("3 again"), driving=21 * UNIT)
    assert next_epoch(system) == 4
    assert record(system, 3)[0] == root_of("3 again")

    # Vetoing epoch 1 now drops 1, 2 and 3; epoch 0 stays claimable throughout.
    chain.send(distributor.functions.veto(1), roles.guardian)
    assert next_epoch(system) == 1
    assert [record(system, e)[0] for e in range(4)] == [first.tree.root, ZERO32, ZERO32, ZERO32]
    mine_block_at(chain, chain.now() + 1)
    assert claimable(system) == (True, 0)
    claim(chain, system, first.tree, alice, stranger)
    assert balance(system, alice) == 10 * UNIT


# --- claimableEpoch --------------------------------------------------------------------------------


def test_nothing_is_claimable_before_a_window_passes(
    chain: EmbeddedChain, system: System, stranger: str
) -> None:
    distributor, window = system.distributor, system.params.challenge_window
    alice, bob = addresses(2)
    with reverts("NoClaimableEpoch"):
        chain.send(distributor.functions.claim(alice, UNIT, []), stranger)
    with reverts("NoClaimableEpoch"):
        chain.send(distributor.functions.claimMany([alice], [UNIT], [[]]), stranger)

    posted = post_epoch(chain, system, 0, {alice: 10 * UNIT, bob: 5 * UNIT}, finalize=False)
    posted_at = record(system, 0)[1]
    assert claimable(system) == (False, 0)

    tx_at(chain, posted_at + window - 1)
    with reverts("NoClaimableEpoch"):
        claim(chain, system, posted.tree, alice, stranger)
    with reverts("NoClaimableEpoch"):
        chain.send(distributor.functions.claimMany(*batch(posted.tree, [alice])), stranger)
    assert claimable(system) == (False, 0)

    tx_at(chain, posted_at + window)
    receipt = claim(chain, system, posted.tree, alice, stranger)
    assert block_time(chain, receipt) == posted_at + window
    assert claimable(system) == (True, 0)
    assert balance(system, alice) == 10 * UNIT


def test_claimable_epoch_is_the_latest_past_its_window(chain: EmbeddedChain, system: System) -> None:
    window = system.params.challenge_window
    tx_at(chain, epoch_end(system, 1))
    p0 = block_time(chain, post(chain, system, 0))
    tx_at(chain, p0 + window // 2)
    p1 = block_time(chain, post(chain, system, 1))
    assert claimable(system) == (False, 0)

    mine_block_at(chain, p0 + window - 1)
    assert claimable(system) == (False, 0)
    mine_block_at(chain, p0 + window)
    assert claimable(system) == (True, 0)

    # Epoch 2 ends at p0 + window; post it while epoch 1 is still pending.
    assert epoch_end(system, 2) <= p0 + window + 1
    p2 = block_time(chain, post(chain, system, 2))
    assert claimable(system) == (True, 0)

    mine_block_at(chain, p1 + window - 1)
    assert claimable(system) == (True, 0)
    mine_block_at(chain, p1 + window)
    assert claimable(system) == (True, 1)
    mine_block_at(chain, p2 + window - 1)
    assert claimable(system) == (True, 1)
    mine_block_at(chain, p2 + window)
    assert claimable(system) == (True, 2)


# --- claim -----------------------------------------------------------------------------------------


def test_anyone_claims_for_an_account(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor, token = system.distributor, system.token
    alice, bob, carol = addresses(3)
    posted = post_epoch(chain, system, 0, {alice: 100 * UNIT, bob: 50 * UNIT, carol: 1}, cocreation=30 * UNIT)

    receipt = claim(chain, system, posted.tree, alice, stranger)
    assert emitted(distributor, "Claimed", receipt) == [
        {"account": alice, "amount": 100 * UNIT, "cumulativeAmount": 100 * UNIT}
    ]
    assert emitted(token, "Transfer", receipt) == [{"from": ZERO_ADDRESS, "to": alice, "value": 100 * UNIT}]
    assert balance(system, alice) == 100 * UNIT
    assert balance(system, stranger) == 0
    assert claimed(system, alice) == 100 * UNIT
    assert total_claimed(system) == 100 * UNIT
    assert token.functions.totalSupply().call() == 100 * UNIT

    # Whoever sends the claim, the stones go to the account in the leaf.
    receipt = claim(chain, system, posted.tree, bob, system.roles.oracle)
    assert emitted(distributor, "Claimed", receipt) == [
        {"account": bob, "amount": 50 * UNIT, "cumulativeAmount": 50 * UNIT}
    ]
    claim(chain, system, posted.tree, carol, stranger)
    assert balance(system, carol) == 1
    assert total_claimed(system) == 150 * UNIT + 1
    assert token.functions.totalSupply().call() == 150 * UNIT + 1

    # A repeat pays nothing and says why.
    with reverts("NothingToClaim", alice, 100 * UNIT, 100 * UNIT):
        claim(chain, system, posted.tree, alice, stranger)
    with reverts("NothingToClaim", alice, 0, 100 * UNIT):
        chain.send(distributor.functions.claim(alice, 0, posted.tree.proof(alice)), stranger)
    # An account without any entitlement has nothing to claim for zero.
    outsider = addresses(1)[0]
    with reverts("NothingToClaim", outsider, 0, 0):
        chain.send(distributor.functions.claim(outsider, 0, []), stranger)
    assert balance(system, alice) == 100 * UNIT
    assert total_claimed(system) == 150 * UNIT + 1


def test_claim_rejects_invalid_proofs(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor = system.distributor
    alice, bob, carol, dave = addresses(4)
    posted = post_epoch(chain, system, 0, {alice: 100 * UNIT, bob: 50 * UNIT, carol: 20 * UNIT})
    tree = posted.tree

    def attempt(account: str, amount: int, proof: list[bytes]) -> None:
        with reverts("InvalidProof", account, amount):
            chain.send(distributor.functions.claim(account, amount, proof), stranger)

    attempt(alice, 100 * UNIT - 1, tree.proof(alice))  # wrong amount, lower
    attempt(alice, 100 * UNIT + 1, tree.proof(alice))  # wrong amount, higher
    attempt(alice, 50 * UNIT, tree.proof(alice))  # another leaf's amount
    attempt(dave, 100 * UNIT, tree.proof(alice))  # wrong account
    attempt(bob, 100 * UNIT, tree.proof(alice))  # someone else's amount for bob
    attempt(alice, 100 * UNIT, tree.proof(bob))  # wrong proof
    attempt(alice, 100 * UNIT, [])  # no proof
    attempt(alice, 100 * UNIT, [*tree.proof(alice), tree.root])  # proof too long
    attempt(alice, 100 * UNIT, tree.proof(alice)[:-1])  # proof too short

    assert claimed(system, alice) == 0
    assert total_claimed(system) == 0
    assert system.token.functions.totalSupply().call() == 0
    claim(chain, system, tree, alice, stranger)
    assert balance(system, alice) == 100 * UNIT


def test_one_claim_collects_every_new_epoch(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor = system.distributor
    alice, bob = addresses(2)
    e0 = post_epoch(chain, system, 0, {alice: 100 * UNIT, bob: 50 * UNIT})
    claim(chain, system, e0.tree, alice, stranger)

    e1 = post_epoch(chain, system, 1, {alice: 150 * UNIT, bob: 80 * UNIT}, finalize=False)
    # Epoch 1 is still pending: its leaves do not verify, epoch 0's still rule.
    with reverts("InvalidProof", alice, 150 * UNIT):
        claim(chain, system, e1.tree, alice, stranger)
    with reverts("NothingToClaim", alice, 100 * UNIT, 100 * UNIT):
        claim(chain, system, e0.tree, alice, stranger)

    e2 = post_epoch(chain, system, 2, {alice: 400 * UNIT, bob: 90 * UNIT})
    receipt = claim(chain, system, e2.tree, alice, stranger)
    assert emitted(distributor, "Claimed", receipt) == [
        {"account": alice, "amount": 300 * UNIT, "cumulativeAmount": 400 * UNIT}
    ]
    assert balance(system, alice) == 400 * UNIT
    assert claimed(system, alice) == 400 * UNIT

    # Stale, smaller cumulative amounts from earlier trees pay nothing.
    with reverts("NothingToClaim", alice, 100 * UNIT, 400 * UNIT):
        claim(chain, system, e0.tree, alice, stranger)
    with reverts("NothingToClaim", alice, 150 * UNIT, 400 * UNIT):
        claim(chain, system, e1.tree, alice, stranger)
    with reverts("NothingToClaim", alice, 400 * UNIT, 400 * UNIT):
        claim(chain, system, e2.tree, alice, stranger)
    # Bob never claimed: the latest tree pays him everything at once; epoch 1's leaf no longer verifies.
    with reverts("InvalidProof", bob, 80 * UNIT):
        claim(chain, system, e1.tree, bob, stranger)
    claim(chain, system, e2.tree, bob, stranger)
    assert balance(system, bob) == 90 * UNIT
    assert total_claimed(system) == 490 * UNIT
    assert system.token.functions.totalSupply().call() == 490 * UNIT


def test_claims_never_exceed_the_posted_totals(chain: EmbeddedChain, system: System, stranger: str) -> None:
    # A malicious root whose leaves sum to 180 stones, posted with totals of 100 + 50.
    alice, bob, carol = addresses(3)
    posted = post_epoch(
        chain,
        system,
        0,
        {alice: 60 * UNIT, bob: 60 * UNIT, carol: 60 * UNIT},
        driving=100 * UNIT,
        cocreation=50 * UNIT,
    )
    claim(chain, system, posted.tree, alice, stranger)
    claim(chain, system, posted.tree, bob, stranger)
    with reverts("ClaimsExceedEpochTotal", 180 * UNIT, 150 * UNIT):
        claim(chain, system, posted.tree, carol, stranger)
    assert balance(system, carol) == 0
    assert claimed(system, carol) == 0
    assert total_claimed(system) == 120 * UNIT
    assert system.token.functions.totalSupply().call() == 120 * UNIT

    # The next epoch raises the totals; carol's 60 now fit exactly.
    nxt = post_epoch(
        chain,
        system,
        1,
        {alice: 60 * UNIT, bob: 60 * UNIT, carol: 60 * UNIT},
        driving=130 * UNIT,
        cocreation=50 * UNIT,
    )
    claim(chain, system, nxt.tree, carol, stranger)
    assert total_claimed(system) == 180 * UNIT


# --- claimMany -------------------------------------------------------------------------------------


def test_claim_many_checks_lengths(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor = system.distributor
    alice, bob = addresses(2)
    # Lengths are checked before anything else, even before a claimable epoch exists.
    cases: list[tuple[list[str], list[int], list[list[bytes]]]] = [
        ([alice, bob], [UNIT], [[], []]),
        ([alice, bob], [UNIT, UNIT], [[]]),
        ([alice], [UNIT, UNIT], [[], []]),
        ([], [UNIT], []),
    ]
    for accounts, amounts, proofs in cases:
        with reverts("LengthMismatch", len(accounts), len(amounts), len(proofs)):
            chain.send(distributor.functions.claimMany(accounts, amounts, proofs), stranger)


def test_claim_many_pays_several(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor = system.distributor
    alice, bob, carol, dave = addresses(4)
    posted = post_epoch(
        chain, system, 0, {alice: 10 * UNIT, bob: 20 * UNIT, carol: 30 * UNIT, dave: 40 * UNIT}
    )
    mine_block_at(chain, chain.now() + 1)  # let eth_call see the claimable epoch

    args = batch(posted.tree, [alice, bob, carol])
    assert distributor.functions.claimMany(*args).call({"from": stranger}) == 3
    receipt = chain.send(distributor.functions.claimMany(*args), stranger)
    assert emitted(distributor, "Claimed", receipt) == [
        {"account": alice, "amount": 10 * UNIT, "cumulativeAmount": 10 * UNIT},
        {"account": bob, "amount": 20 * UNIT, "cumulativeAmount": 20 * UNIT},
        {"account": carol, "amount": 30 * UNIT, "cumulativeAmount": 30 * UNIT},
    ]
    assert [balance(system, a) for a in (alice, bob, carol, dave)] == [10 * UNIT, 20 * UNIT, 30 * UNIT, 0]
    assert [claimed(system, a) for a in (alice, bob, carol, dave)] == [10 * UNIT, 20 * UNIT, 30 * UNIT, 0]
    assert total_claimed(system) == 60 * UNIT
    assert system.token.functions.totalSupply().call() == 60 * UNIT

    # An empty batch pays nobody.
    assert distributor.functions.claimMany([], [], []).call({"from": stranger}) == 0
    chain.send(distributor.functions.claimMany([], [], []), stranger)
    assert total_claimed(system) == 60 * UNIT


def test_claim_many_skips_accounts_already_paid(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor = system.distributor
    alice, bob, carol = addresses(3)
    e0 = post_epoch(chain, system, 0, {alice: 10 * UNIT, bob: 20 * UNIT, carol: 30 * UNIT})
    claim(chain, system, e0.tree, bob, stranger)
    e1 = post_epoch(chain, system, 1, {alice: 15 * UNIT, bob: 20 * UNIT, carol: 35 * UNIT})
    mine_block_at(chain, chain.now() + 1)

    # Bob is paid in full, alice is listed twice, carol's stale epoch-0 amount is listed after her new one.
    accounts = [alice, bob, carol, alice, carol]
    amounts = [15 * UNIT, 20 * UNIT, 35 * UNIT, 15 * UNIT, 30 * UNIT]
    proofs = [
        e1.tree.proof(alice),
        e1.tree.proof(bob),
        e1.tree.proof(carol),
        e1.tree.proof(alice),
        e0.tree.proof(carol),
    ]
    assert distributor.functions.claimMany(accounts, amounts, proofs).call({"from": stranger}) == 2
    receipt = chain.send(distributor.functions.claimMany(accounts, amounts, proofs), stranger)
    assert emitted(distributor, "Claimed", receipt) == [
        {"account": alice, "amount": 15 * UNIT, "cumulativeAmount": 15 * UNIT},
        {"account": carol, "amount": 35 * UNIT, "cumulativeAmount": 35 * UNIT},
    ]
    assert [balance(system, a) for a in (alice, bob, carol)] == [15 * UNIT, 20 * UNIT, 35 * UNIT]
    assert total_claimed(system) == 70 * UNIT

    # A batch of accounts all paid already succeeds and pays nobody.
    assert distributor.functions.claimMany(*batch(e1.tree, [alice, bob])).call({"from": stranger}) == 0
    receipt = chain.send(distributor.functions.claimMany(*batch(e1.tree, [alice, bob])), stranger)
    assert emitted(distributor, "Claimed", receipt) == []
    assert total_claimed(system) == 70 * UNIT


def test_claim_many_is_all_or_nothing(chain: EmbeddedChain, system: System, stranger: str) -> None:
    distributor = system.distributor
    alice, bob, carol = addresses(3)
    posted = post_epoch(chain, system, 0, {alice: 10 * UNIT, bob: 20 * UNIT, carol: 30 * UNIT})
    accounts, amounts, proofs = batch(posted.tree, [alice, bob, carol])

    with reverts("InvalidProof", bob, 21 * UNIT):
        chain.send(
            distributor.functions.claimMany(accounts, [amounts[0], 21 * UNIT, amounts[2]], proofs), stranger
        )
    with reverts("InvalidProof", carol, 30 * UNIT):
        chain.send(
            distributor.functions.claimMany(accounts, amounts, [proofs[0], proofs[1], proofs[0]]), stranger
        )
    assert [claimed(system, a) for a in (alice, bob, carol)] == [0, 0, 0]
    assert [balance(system, a) for a in (alice, bob, carol)] == [0, 0, 0]
    assert total_claimed(system) == 0

    chain.send(distributor.functions.claimMany(accounts, amounts, proofs), stranger)
    assert [balance(system, a) for a in (alice, bob, carol)] == [10 * UNIT, 20 * UNIT, 30 * UNIT]


def test_claim_many_never_exceeds_the_posted_totals(
    chain: EmbeddedChain, system: System, stranger: str
) -> None:
    distributor = system.distributor
    alice, bob, carol = addresses(3)
    posted = post_epoch(
        chain,
        system,
        0,
        {alice: 60 * UNIT, bob: 60 * UNIT, carol: 60 * UNIT},
        driving=100 * UNIT,
        cocreation=50 * UNIT,
    )
    with reverts("ClaimsExceedEpochTotal", 180 * UNIT, 150 * UNIT):
        chain.send(distributor.functions.claimMany(*batch(posted.tree, [alice, bob, carol])), stranger)
    assert total_claimed(system) == 0
    assert system.token.functions.totalSupply().call() == 0

    chain.send(distributor.functions.claimMany(*batch(posted.tree, [alice, bob])), stranger)
    assert total_claimed(system) == 120 * UNIT
    with reverts("ClaimsExceedEpochTotal", 180 * UNIT, 150 * UNIT):
        chain.send(distributor.functions.claimMany(*batch(posted.tree, [alice, bob, carol])), stranger)
    assert total_claimed(system) == 120 * UNIT


# --- pause -----------------------------------------------------------------------------------------


def test_pause_stops_posting_and_claims_but_not_commitments_or_vetoes(
    chain: EmbeddedChain, system: System, roles: RoleHolders, stranger: str
) -> None:
    distributor = system.distributor
    alice, bob = addresses(2)
    posted = post_epoch(chain, system, 0, {alice: 10 * UNIT, bob: 20 * UNIT})
    tx_at(chain, epoch_end(system, 2))
    post(chain, system, 1, root=posted.tree.root, driving=30 * UNIT)  # pending, to be vetoed below

    for caller in (stranger, roles.guardian, roles.admin):
        with reverts("AccessControlUnauthorizedAccount", caller, PAUSER_ROLE):
            chain.send(distributor.functions.pause(), caller)
    receipt = chain.send(distributor.functions.pause(), roles.pauser)
    assert emitted(distributor, "Paused", receipt) == [{"account": roles.pauser}]
    assert distributor.functions.paused().call() is True
    with reverts("EnforcedPause"):
        chain.send(distributor.functions.pause(), roles.pauser)

    # Epoch 2 has ended and follows epoch 1: only the pause stops it.
    with reverts("EnforcedPause"):
        post(chain, system, 2, driving=30 * UNIT)
    with reverts("EnforcedPause"):
        claim(chain, system, posted.tree, alice, stranger)
    with reverts("EnforcedPause"):
        chain.send(distributor.functions.claimMany(*batch(posted.tree, [alice, bob])), stranger)
    # Even an invalid request meets the pause first.
    with reverts("EnforcedPause"):
        chain.send(distributor.functions.claimMany([alice], [], []), stranger)

    # The guardian's veto and the oracle's commitments still work while paused.
    receipt = chain.send(distributor.functions.veto(1), roles.guardian)
    assert emitted(distributor, "EpochVetoed", receipt) == [
        {"epoch": 1, "root": posted.tree.root, "guardian": roles.guardian}
    ]
    receipt = chain.send(distributor.functions.commitSeed(12, commitment_for(12)), roles.oracle)
    assert emitted(distributor, "SeedCommitted", receipt) == [{"epoch": 12, "commitment": commitment_for(12)}]
    assert balance(system, alice) == 0

    for caller in (stranger, roles.guardian):
        with reverts("AccessControlUnauthorizedAccount", caller, PAUSER_ROLE):
            chain.send(distributor.functions.unpause(), caller)
    receipt = chain.send(distributor.functions.unpause(), roles.pauser)
    assert emitted(distributor, "Unpaused", receipt) == [{"account": roles.pauser}]
    assert distributor.functions.paused().call() is False
    with reverts("ExpectedPause"):
        chain.send(distributor.functions.unpause(), roles.pauser)

    claim(chain, system, posted.tree, alice, stranger)
    chain.send(distributor.functions.claimMany(*batch(posted.tree, [bob])), stranger)
    post(chain, system, 1, driving=30 * UNIT)
    post(chain, system, 2, driving=30 * UNIT)
    assert [balance(system, a) for a in (alice, bob)] == [10 * UNIT, 20 * UNIT]
    assert next_epoch(system) == 3
