"""A Hypothesis state machine over StoneToken + RewardDistributor, checked against a Python model.

Every example starts from the session's freshly deployed system (seeds committed for epochs 0..11) and
runs up to ``stateful_step_count`` rules: seed commitments (early, late, twice), honest posts of growing
cumulative entitlements for six accounts, dishonest posts (each broken rule), malicious roots whose leaves
pay an attacker more than the posted totals, guardian vetoes inside and outside the window, claims and
batch claims with valid, stale and forged proofs, time travel, account recovery and transfer attempts.

The model predicts the outcome of every transaction, custom error and arguments included, from the chain's
clock. Invariants, read from the chain after every step:

* each pool's latest posted total is at most ``available(pool, slots elapsed now)`` (``ledger.schedule``);
* total supply is at most the cap, equals the sum of every known account's balance and the distributor's
  ``totalClaimed``, which never exceeds the claimable epoch's two totals;
* ``claimed(account)`` equals the model and the stones minted to it by claim events, and no account was ever
  paid beyond the largest cumulative amount a claimable root gave it (for the six honest accounts: the
  largest honest entitlement).

The number of examples comes from ``YUANSHI_STATEFUL_EXAMPLES`` (CI sets it so the run takes about five
minutes).

Time: eth-tester executes a transaction at the *pending* block's timestamp, but estimates its gas (which
is where a revert surfaces, before anything is mined) and answers calls at the *latest* block's timestamp.
:meth:`DistributorMachine.act` therefore never lets a time boundary fall between the two: when one does,
it checks the call at the latest block's time (one second before the boundary) and steps past it first.
An expected revert is asserted, error and arguments, by that same call (what the gas estimate would run);
an expected success is sent with a fixed gas limit, because py-evm's gas estimate is a binary search of
some twenty executions and would dominate the run time.
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_tester.exceptions import TransactionFailed
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain.deploy import System
from ledger.chain.embedded import EmbeddedChain
from ledger.chain.revert import decode_revert
from ledger.merkle import MerkleTree
from ledger.schedule import (
    CAP,
    SLOTS_PER_EPOCH,
    UNIT,
    Pool,
    available,
    available_at_epoch_end,
)
from tests.contracts.helpers import new_account, reverts, secret_for

EXAMPLES = int(os.environ.get("YUANSHI_STATEFUL_EXAMPLES", "25"))
STEPS = 30
HONEST_ACCOUNTS = 6
SPARE_ACCOUNTS = 2
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO32 = b"\x00" * 32
INPUTS_ROOT = keccak(b"stateful-inputs")
MANIFEST = keccak(b"stateful-manifest")
DAY = 86_400
TX_GAS = 3_000_000
GETTERS_EVERY = 6  # every sixth invariant check reads everything through the public getters too

# An expected outcome: None for success, else the custom error's name and arguments.
Expect = tuple[str, tuple[object, ...]] | None


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


_BYTES_REPR = re.compile(r"(?:execution reverted: )?(b'.*'|b\".*\")", re.DOTALL)


def _revert_bytes_from_repr(exc: BaseException) -> bytes | None:
    """The revert bytes of an eth-tester call, which raises ``TransactionFailed`` with only their repr."""
    seen: BaseException | None = exc
    while seen is not None:
        if seen.args and isinstance(seen.args[0], str):
            match = _BYTES_REPR.fullmatch(seen.args[0])
            if match:
                raw = ast.literal_eval(match.group(1))
                assert isinstance(raw, bytes)
                return raw
        seen = seen.__cause__ or seen.__context__
    return None


class Reader:
    """Reads the chain for the invariants: public getters at the latest block, or storage words.

    Getters are called straight through eth-tester with cached calldata. Storage words come from py-evm's
    state at the chain head and cost about a hundredth of a getter call; the invariants read everything
    from storage after every step (at the slots :func:`calibrate` finds) and every few steps also through
    the getters, asserting both views agree, so a wrong slot cannot go unnoticed.
    """

    def __init__(self, chain: EmbeddedChain, caller: str) -> None:
        self._chain = chain
        self._caller = caller
        self._cache: dict[tuple[str, str, tuple[object, ...]], tuple[str, list[str]]] = {}

    def __call__(self, contract: Contract, name: str, *args: object) -> tuple[Any, ...]:
        key = (contract.address, name, args)
        hit = self._cache.get(key)
        if hit is None:
            data = contract.encode_abi(name, args=list(args))
            abi = next(
                item for item in contract.abi if item.get("type") == "function" and item.get("name") == name
            )
            outputs: list[dict[str, Any]] = abi.get("outputs", [])  # type: ignore[assignment]
            hit = (data, [_abi_type(o) for o in outputs])
            self._cache[key] = hit
        raw: str = self._chain.tester.call(
            {"from": self._caller, "to": contract.address, "data": hit[0]}, "latest"
        )
        values = decode(hit[1], bytes.fromhex(raw[2:]))
        return tuple(
            to_checksum_address(v) if kind == "address" else v for kind, v in zip(hit[1], values, strict=True)
        )

    def one(self, contract: Contract, name: str, *args: object) -> Any:
        return self(contract, name, *args)[0]

    def attempt(self, contract: Contract, fn: ContractFunction, sender: str) -> None:
        """Runs ``fn`` as a call from ``sender`` at the latest block; a revert raises the decoded
        :class:`ContractRevert` (eth-tester hands over the revert bytes only as their repr)."""
        data = contract.encode_abi(fn.abi_element_identifier, args=list(fn.args))
        try:
            self._chain.tester.call({"from": sender, "to": contract.address, "data": data}, "latest")
        except TransactionFailed as exc:
            raw = _revert_bytes_from_repr(exc)
            if raw is None:
                raise
            raise decode_revert(raw) from exc

    def word(self, contract: Contract, location: int, state: Any = None) -> int:
        """The storage word at ``location`` (from ``state``, by default the chain head's)."""
        if state is None:
            state = self._chain.tester.backend.chain.get_vm().state  # the pending block: head state, no txs
        return int(state.get_storage(bytes.fromhex(contract.address[2:]), location))

    def view_from_storage(self, system: System, layout: Layout, accounts: Sequence[str]) -> ChainView:
        state = self._chain.tester.backend.chain.get_vm().state
        token, dist = system.token, system.distributor
        next_epoch = self.word(dist, layout.next_epoch, state)
        record = None
        if next_epoch > 0:
            base = mapping_location(layout.epochs, next_epoch - 1)
            packed = self.word(dist, base + 1, state)
            record = (
                self.word(dist, base, state).to_bytes(32, "big"),
                packed & (2**64 - 1),
                (packed >> 64) & (2**96 - 1),
                packed >> 160,
            )
        return ChainView(
            supply=self.word(token, layout.supply, state),
            total_claimed=self.word(dist, layout.total_claimed, state),
            next_epoch=next_epoch,
            last_record=record,
            balances=tuple(self.word(token, mapping_location(layout.balances, a), state) for a in accounts),
            claimed=tuple(self.word(dist, mapping_location(layout.claimed, a), state) for a in accounts),
        )

    def view_from_getters(self, system: System, accounts: Sequence[str]) -> ChainView:
        token, dist = system.token, system.distributor
        next_epoch: int = self.one(dist, "nextEpoch")
        record = tuple(self.one(dist, "epochRecord", next_epoch - 1)) if next_epoch > 0 else None
        return ChainView(
            supply=self.one(token, "totalSupply"),
            total_claimed=self.one(dist, "totalClaimed"),
            next_epoch=next_epoch,
            last_record=record,
            balances=tuple(self.one(token, "balanceOf", a) for a in accounts),
            claimed=tuple(self.one(dist, "claimed", a) for a in accounts),
        )


def mapping_location(slot: int, key: str | int) -> int:
    """Where Solidity stores ``mapping[key]`` for a mapping declared at ``slot`` (address or uint key)."""
    word = bytes(12) + bytes.fromhex(key[2:]) if isinstance(key, str) else key.to_bytes(32, "big")
    return int.from_bytes(keccak(word + slot.to_bytes(32, "big")), "big")


@dataclass(frozen=True)
class Layout:
    """Storage slots of what the invariants read each step, found by :func:`calibrate`."""

    supply: int  # StoneToken: total supply
    balances: int  # StoneToken: balances mapping
    next_epoch: int  # RewardDistributor.nextEpoch
    total_claimed: int  # RewardDistributor.totalClaimed
    claimed: int  # RewardDistributor.claimed mapping
    epochs: int  # RewardDistributor epoch records: root, then postedAt | drivingTotal | cocreationTotal


@dataclass(frozen=True)
class ChainView:
    """The chain state the invariants check, read one way or the other."""

    supply: int
    total_claimed: int
    next_epoch: int
    last_record: tuple[bytes, int, int, int] | None  # epochRecord(nextEpoch - 1)
    balances: tuple[int, ...]
    claimed: tuple[int, ...]


def calibrate(chain: EmbeddedChain, system: System, reader: Reader, account: str) -> Layout:
    """Finds the storage slots from two posted epochs and a claim (each value looked for is unique to
    the slot it identifies), checks the storage view against the getters, then undoes it all."""
    token, dist = system.token, system.distributor
    value = 7 * UNIT + 12_345
    tree = MerkleTree.build([(account, value), (chain.accounts[9], 1)])
    epoch_seconds = SLOTS_PER_EPOCH * int(system.params.slot_seconds)

    def only(found: set[int] | list[int], what: str) -> int:
        assert len(found) == 1, f"{what}: slots {sorted(found)}"
        return next(iter(found))

    def slots_holding(contract: Contract, wanted: int) -> set[int]:
        return {slot for slot in range(100) if reader.word(contract, slot) == wanted}

    def post(epoch: int) -> None:
        end = int(system.params.genesis) + (epoch + 1) * epoch_seconds
        chain.tester.time_travel(max(end, chain.now() + 2))
        fn = dist.functions.postEpoch(
            epoch, tree.root, value + 1, 0, INPUTS_ROOT, secret_for(epoch), MANIFEST
        )
        chain.send(fn, system.roles.oracle)

    snapshot = chain.snapshot()
    try:
        post(0)
        ones = slots_holding(dist, 1)
        chain.tester.time_travel(chain.now() + int(system.params.challenge_window) + 1)
        chain.send(dist.functions.claim(account, value, tree.proof(account)), chain.accounts[9])
        post(1)
        layout = Layout(
            supply=only(slots_holding(token, value), "total supply"),
            balances=only(
                [p for p in range(100) if reader.word(token, mapping_location(p, account)) == value],
                "balances",
            ),
            next_epoch=only(ones & slots_holding(dist, 2), "nextEpoch"),
            total_claimed=only(slots_holding(dist, value), "totalClaimed"),
            claimed=only(
                [p for p in range(100) if reader.word(dist, mapping_location(p, account)) == value],
                "claimed",
            ),
            epochs=only(
                [
                    p
                    for p in range(100)
                    if reader.word(dist, mapping_location(p, 1)) == int.from_bytes(tree.root, "big")
                ],
                "epoch records",
            ),
        )
        accounts = [account, chain.accounts[9]]
        view = reader.view_from_storage(system, layout, accounts)
        assert view == reader.view_from_getters(system, accounts)
        assert view.claimed == (value, 0)
        assert view.last_record is not None
        assert view.last_record[2] == value + 1
        return layout
    finally:
        chain.revert_to(snapshot)


@dataclass
class World:
    """What every example shares: the deployed system, the actors and the deployment's parameters."""

    chain: EmbeddedChain
    system: System
    honest: Sequence[str]
    spare: Sequence[str]
    attacker: str
    anyone: list[str]
    commitments: dict[int, bytes]
    reader: Reader
    layout: Layout
    outcomes: Counter[str] = field(default_factory=Counter)
    machines: int = 0

    @classmethod
    def create(cls, chain: EmbeddedChain, system: System) -> World:
        """Funds keyed accounts (the caller snapshots the chain around this), reads the commitments."""
        honest = [new_account(chain).address for _ in range(HONEST_ACCOUNTS)]
        spare = [new_account(chain).address for _ in range(SPARE_ACCOUNTS)]
        attacker = new_account(chain, eth=0).address  # never sends; only a leaf in malicious roots
        roles = system.roles
        anyone = [chain.accounts[8], chain.accounts[9], roles.oracle, honest[0], spare[0]]
        reader = Reader(chain, chain.accounts[9])
        commitments: dict[int, bytes] = {}
        for epoch in range(64):
            value: bytes = reader.one(system.distributor, "seedCommitment", epoch)
            if value != ZERO32:
                commitments[epoch] = value
        layout = calibrate(chain, system, reader, honest[0])
        return cls(chain, system, honest, spare, attacker, anyone, commitments, reader, layout)

    @property
    def known(self) -> list[str]:
        return [*self.honest, *self.spare, self.attacker]


@dataclass(frozen=True)
class Posted:
    """A posted epoch as the model sees it."""

    epoch: int
    tree: MerkleTree
    honest: dict[str, int]  # the six accounts' cumulative entitlements (always honest)
    attacker_leaf: int  # 0 in an honest root
    driving: int
    cocreation: int
    posted_at: int

    @property
    def total(self) -> int:
        return self.driving + self.cocreation


@dataclass(frozen=True)
class ClaimItem:
    """One (account, cumulative amount, proof) a claim presents, with the tree the proof came from."""

    account: str
    amount: int
    proof: list[bytes]
    source: MerkleTree | None

    def valid_against(self, root: bytes) -> bool:
        """Whether the proof places ``(account, amount)`` under ``root``: by construction, only when it is
        the real proof of that leaf in a tree with that root."""
        src = self.source
        return (
            src is not None
            and src.root == root
            and self.account in src
            and src.amount(self.account) == self.amount
            and self.proof == src.proof(self.account)
        )


@dataclass
class Recovery:
    new_account: str
    execute_after: int


@dataclass
class Model:
    posted: list[Posted] = field(default_factory=list)
    history: list[MerkleTree] = field(default_factory=list)
    commitments: dict[int, bytes] = field(default_factory=dict)
    claimed: dict[str, int] = field(default_factory=dict)
    total_claimed: int = 0
    balances: dict[str, int] = field(default_factory=dict)
    minted: dict[str, int] = field(default_factory=dict)  # Transfer(0 -> account) seen in claim receipts
    claimed_events: dict[str, int] = field(default_factory=dict)  # sum of Claimed.amount
    ever_entitled: dict[str, int] = field(default_factory=dict)  # max leaf in any root that became claimable
    recoveries: dict[str, Recovery] = field(default_factory=dict)


class DistributorMachine(RuleBasedStateMachine):
    """Token + distributor against :class:`Model`; see the module docstring."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.w = world
        self.chain = world.chain
        self.sys = world.system
        self.token = world.system.token
        self.dist = world.system.distributor
        self.roles = world.system.roles
        self.read = world.reader
        self.genesis = int(world.system.params.genesis)
        self.slot_seconds = int(world.system.params.slot_seconds)
        self.window = int(world.system.params.challenge_window)
        self.recovery_delay = int(world.system.params.recovery_delay)
        self.snapshot = self.chain.snapshot()
        world.machines += 1
        assert self.latest() == self.chain.now()
        assert self.pending() == int(self.chain.w3.eth.get_block("pending")["timestamp"])
        self.checks = 0
        self.last: Expect = None  # the outcome of the latest act()
        # Start half an hour before genesis when the wall clock allows, so examples replay identically.
        self.travel_next_tx_to(self.genesis - 1800)
        self.m = Model(commitments=dict(world.commitments))
        for account in world.known:
            self.m.claimed[account] = 0
            self.m.balances[account] = 0
            self.m.minted[account] = 0
            self.m.claimed_events[account] = 0
            self.m.ever_entitled[account] = 0

    def teardown(self) -> None:
        self.chain.revert_to(self.snapshot)

    # ----------------------------------------------------------------------------------------- clock

    def latest(self) -> int:
        """The latest block's time: what calls and gas estimates see (``chain.now()``, read cheaper)."""
        return int(self.chain.tester.backend.chain.get_canonical_head().timestamp)

    def pending(self) -> int:
        """The time the next transaction executes at: the pending block's."""
        return int(self.chain.tester.backend.chain.header.timestamp)

    def travel_next_tx_to(self, timestamp: int) -> None:
        """Makes the next transaction execute at ``timestamp`` (or at once, when that is already past)."""
        if timestamp > self.pending():
            # eth-tester's time travel mines an empty block at ``timestamp - 1`` and leaves the pending block
            # at ``timestamp``; called directly, as this helper is defined by the pending block's time.
            self.chain.tester.time_travel(timestamp)
            assert self.pending() == timestamp

    def epoch_start(self, epoch: int) -> int:
        return self.genesis + epoch * SLOTS_PER_EPOCH * self.slot_seconds

    def epoch_end(self, epoch: int) -> int:
        return self.epoch_start(epoch + 1)

    def slots_elapsed(self, timestamp: int) -> int:
        return max(0, (timestamp - self.genesis) // self.slot_seconds)

    # ----------------------------------------------------------------------------------------- model

    @property
    def next_epoch(self) -> int:
        return len(self.m.posted)

    def last_totals(self) -> tuple[int, int]:
        if not self.m.posted:
            return 0, 0
        last = self.m.posted[-1]
        return last.driving, last.cocreation

    def entitlements(self) -> dict[str, int]:
        if not self.m.posted:
            return dict.fromkeys(self.w.honest, 0)
        return dict(self.m.posted[-1].honest)

    def claimable(self, timestamp: int) -> Posted | None:
        for record in reversed(self.m.posted):
            if timestamp >= record.posted_at + self.window:
                return record
        return None

    def predict_commit(self, epoch: int, commitment: bytes, t: int) -> Expect:
        if commitment == ZERO32:
            return ("ZeroHash", ())
        if epoch in self.m.commitments:
            return ("SeedAlreadyCommitted", (epoch,))
        if t >= self.epoch_start(epoch):
            return ("EpochAlreadyStarted", (epoch, self.epoch_start(epoch)))
        return None

    def predict_post(
        self, epoch: int, root: bytes, driving: int, cocreation: int, secret: bytes, t: int
    ) -> Expect:
        if epoch != self.next_epoch:
            return ("EpochOutOfOrder", (epoch, self.next_epoch))
        if root == ZERO32:
            return ("ZeroHash", ())
        if t < self.epoch_end(epoch):
            return ("EpochNotEnded", (epoch, self.epoch_end(epoch)))
        commitment = self.m.commitments.get(epoch)
        if commitment is None:
            return ("SeedNotCommitted", (epoch,))
        if keccak(secret) != commitment:
            return ("SecretMismatch", (epoch, commitment, keccak(secret)))
        return self.predict_totals(epoch, driving, cocreation)

    def predict_totals(self, epoch: int, driving: int, cocreation: int) -> Expect:
        previous = self.last_totals()
        for pool, total in ((Pool.DRIVING, driving), (Pool.COCREATION, cocreation)):
            cap = available_at_epoch_end(pool, epoch)
            if total > cap:
                return ("TotalExceedsSchedule", (int(pool), total, cap))
            if total < previous[pool]:
                return ("TotalDecreased", (int(pool), previous[pool], total))
        return None

    def veto_window_end(self, epoch: int) -> int:
        """``claimableAt`` as the contract computes it (an unposted epoch's record is all zeros)."""
        posted_at = self.m.posted[epoch].posted_at if epoch < self.next_epoch else 0
        return posted_at + self.window

    def predict_veto(self, epoch: int, t: int) -> Expect:
        claimable_at = self.veto_window_end(epoch)
        if epoch >= self.next_epoch or t >= claimable_at:
            return ("NotChallengeable", (epoch, claimable_at))
        return None

    def predict_claim(self, item: ClaimItem, t: int) -> Expect:
        record = self.claimable(t)
        if record is None:
            return ("NoClaimableEpoch", ())
        already = self.m.claimed[item.account]
        if item.amount <= already:
            return ("NothingToClaim", (item.account, item.amount, already))
        new_total = self.m.total_claimed + item.amount - already
        if new_total > record.total:
            return ("ClaimsExceedEpochTotal", (new_total, record.total))
        if not item.valid_against(record.tree.root):
            return ("InvalidProof", (item.account, item.amount))
        return None

    def simulate_claim_many(
        self, items: Sequence[ClaimItem], t: int
    ) -> tuple[Expect, list[tuple[str, int, int]]]:
        """The outcome of ``claimMany`` at ``t`` and, on success, what it pays: (account, amount,
        cumulative) for each paid item."""
        record = self.claimable(t)
        if record is None:
            return ("NoClaimableEpoch", ()), []
        claimed = dict(self.m.claimed)
        total = self.m.total_claimed
        paid: list[tuple[str, int, int]] = []
        for item in items:
            already = claimed[item.account]
            if item.amount <= already:
                continue
            if not item.valid_against(record.tree.root):
                return ("InvalidProof", (item.account, item.amount)), []
            claimed[item.account] = item.amount
            total += item.amount - already
            paid.append((item.account, item.amount - already, item.amount))
        if total > record.total:
            return ("ClaimsExceedEpochTotal", (total, record.total)), []
        return None, paid

    def predict_request_recovery(self, lost: str, new: str) -> Expect:
        pending = self.m.recoveries.get(lost)
        if pending is not None:
            return ("RecoveryAlreadyRequested", (lost, pending.new_account))
        if lost in (ZERO_ADDRESS, self.sys.desk.address, self.sys.vault.address):
            return ("InvalidRecoveryAccount", (lost,))
        if new in (ZERO_ADDRESS, lost, self.sys.desk.address, self.sys.vault.address):
            return ("InvalidRecoveryAccount", (new,))
        return None

    def predict_cancel_recovery(self, lost: str, sender: str) -> Expect:
        if sender not in (lost, self.roles.recovery):
            return ("NotRecoveryParty", (sender, lost))
        if lost not in self.m.recoveries:
            return ("RecoveryNotRequested", (lost,))
        return None

    def predict_execute_recovery(self, lost: str, t: int) -> Expect:
        pending = self.m.recoveries.get(lost)
        if pending is None:
            return ("RecoveryNotRequested", (lost,))
        if t < pending.execute_after:
            return ("RecoveryNotReady", (lost, pending.execute_after))
        return None

    # ----------------------------------------------------------------------------------------- acting

    def act(
        self, fn: ContractFunction, sender: str, predict: Callable[[int], Expect]
    ) -> tuple[TxReceipt | None, int]:
        """Runs ``fn`` from ``sender`` and asserts the outcome ``predict`` gives for its time.

        Returns the receipt (None after an asserted revert, which mines nothing) and the time. When the
        outcome differs between the latest block's time and the pending one's (a boundary in between), the
        call is checked at the latest block's time and the clock steps past the boundary (module docstring).
        """
        for _ in range(3):
            at_latest, at_pending = predict(self.latest()), predict(self.pending())
            if at_latest == at_pending:
                break
            self.expect_call(fn, sender, at_latest)
            self.travel_next_tx_to(self.pending() + 1)
        else:  # pragma: no cover - the clock moves one block per step
            raise AssertionError("the outcome kept changing between blocks")
        t = self.pending()
        expected = self.last = at_pending
        self.w.outcomes[f"{fn.fn_name}: {expected[0] if expected else 'ok'}"] += 1
        if expected is not None:
            # A revert surfaces where eth-tester's gas estimate would find it, in one EVM execution.
            self.expect_call(fn, sender, expected)
            return None, t
        receipt = self.send_expecting_success(fn, sender)
        assert self.latest() == t
        return receipt, t

    def send_expecting_success(self, fn: ContractFunction, sender: str) -> TxReceipt:
        """Sends with a fixed gas limit (no gas estimate) and asserts the transaction succeeded."""
        contract = self.token if fn.address == self.token.address else self.dist
        data = contract.encode_abi(fn.abi_element_identifier, args=list(fn.args))
        # Straight to eth-tester: web3's request pipeline would double the cost of a transaction.
        tx_hash = self.chain.tester.send_transaction(
            {"from": sender, "to": contract.address, "data": data, "gas": TX_GAS, "value": 0}
        )
        receipt = self.chain.w3.eth.get_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            block = self.chain.w3.eth.get_block(receipt["blockNumber"])
            why = "a time boundary? a call at the block before succeeds"
            try:
                fn.call({"from": sender}, block_identifier=receipt["blockNumber"] - 1)
            except Exception as exc:  # the revert bytes, for the reader
                why = repr(exc)
            raise AssertionError(
                f"expected success, the transaction reverted at {block['timestamp']} "
                f"using {receipt['gasUsed']} gas: {why}"
            )
        return receipt

    def expect_call(self, fn: ContractFunction, sender: str, expected: Expect) -> None:
        """Asserts the outcome of ``fn`` as a call at the latest block's time."""
        contract = self.token if fn.address == self.token.address else self.dist
        if expected is None:
            self.read.attempt(contract, fn, sender)
            return
        name, args = expected
        with reverts(name, *args):
            self.read.attempt(contract, fn, sender)

    def events(self, contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
        logs = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return [dict(log["args"]) for log in logs]

    def record_payments(self, receipt: TxReceipt, paid: Sequence[tuple[str, int, int]]) -> None:
        """Checks the claim events against ``paid`` and books them in the model."""
        claimed = [
            (e["account"], e["amount"], e["cumulativeAmount"])
            for e in self.events(self.dist, "Claimed", receipt)
        ]
        assert claimed == list(paid)
        mints = [
            (e["to"], e["value"])
            for e in self.events(self.token, "Transfer", receipt)
            if e["from"] == ZERO_ADDRESS
        ]
        assert mints == [(account, amount) for account, amount, _ in paid]
        for account, amount, cumulative in paid:
            self.m.claimed[account] = cumulative
            self.m.total_claimed += amount
            self.m.balances[account] += amount
            self.m.minted[account] += amount
            self.m.claimed_events[account] += amount

    # Plain actions, shared by the rules and the deterministic regression test.

    def do_commit(self, epoch: int, commitment: bytes) -> bool:
        fn = self.dist.functions.commitSeed(epoch, commitment)
        receipt, _ = self.act(fn, self.roles.oracle, lambda t: self.predict_commit(epoch, commitment, t))
        if receipt is None:
            return False
        assert self.events(self.dist, "SeedCommitted", receipt) == [
            {"epoch": epoch, "commitment": commitment}
        ]
        self.m.commitments[epoch] = commitment
        assert self.read.one(self.dist, "seedCommitment", epoch) == commitment
        return True

    def do_post(
        self,
        epoch: int,
        honest: dict[str, int],
        driving: int,
        cocreation: int,
        *,
        attacker_leaf: int = 0,
        secret: bytes | None = None,
        zero_root: bool = False,
    ) -> Expect | None:
        """Posts; returns None on success, else the (asserted) revert."""
        entries = dict(honest)
        if attacker_leaf:
            entries[self.w.attacker] = attacker_leaf
        tree = MerkleTree.build(entries.items())
        root = ZERO32 if zero_root else tree.root
        revealed = secret_for(epoch) if secret is None else secret
        fn = self.dist.functions.postEpoch(epoch, root, driving, cocreation, INPUTS_ROOT, revealed, MANIFEST)
        expected: list[Expect] = []

        def predict(t: int) -> Expect:
            outcome = self.predict_post(epoch, root, driving, cocreation, revealed, t)
            expected.append(outcome)
            return outcome

        receipt, t = self.act(fn, self.roles.oracle, predict)
        if receipt is None:
            return expected[-1]
        record = Posted(epoch, tree, dict(honest), attacker_leaf, driving, cocreation, t)
        (event,) = self.events(self.dist, "EpochPosted", receipt)
        assert event == {
            "epoch": epoch,
            "root": tree.root,
            "drivingTotal": driving,
            "cocreationTotal": cocreation,
            "inputsRoot": INPUTS_ROOT,
            "secret": revealed,
            "manifestHash": MANIFEST,
            "claimableAt": t + self.window,
        }
        self.m.posted.append(record)
        self.m.history.append(tree)
        return None

    def do_veto(self, epoch: int) -> bool:
        fn = self.dist.functions.veto(epoch)
        roots = {p.epoch: p.tree.root for p in self.m.posted}
        receipt, _ = self.act(fn, self.roles.guardian, lambda t: self.predict_veto(epoch, t))
        if receipt is None:
            return False
        assert self.events(self.dist, "EpochVetoed", receipt) == [
            {"epoch": epoch, "root": roots[epoch], "guardian": self.roles.guardian}
        ]
        del self.m.posted[epoch:]
        return True

    def do_claim(self, item: ClaimItem, sender: str) -> bool:
        fn = self.dist.functions.claim(item.account, item.amount, item.proof)
        receipt, _ = self.act(fn, sender, lambda t: self.predict_claim(item, t))
        if receipt is None:
            return False
        already = self.m.claimed[item.account]
        self.record_payments(receipt, [(item.account, item.amount - already, item.amount)])
        return True

    def do_claim_many(
        self, items: Sequence[ClaimItem], sender: str, *, drop_proof: bool = False
    ) -> int | None:
        accounts = [i.account for i in items]
        amounts = [i.amount for i in items]
        proofs = [i.proof for i in items]
        if drop_proof:
            proofs = proofs[:-1]
        fn = self.dist.functions.claimMany(accounts, amounts, proofs)

        def predict(t: int) -> Expect:
            if drop_proof:
                return ("LengthMismatch", (len(accounts), len(amounts), len(proofs)))
            return self.simulate_claim_many(items, t)[0]

        receipt, t = self.act(fn, sender, predict)
        if receipt is None:
            return None
        _, paid = self.simulate_claim_many(items, t)
        self.record_payments(receipt, paid)
        return len(paid)

    def do_request_recovery(self, lost: str, new: str) -> bool:
        fn = self.token.functions.requestRecovery(lost, new)
        receipt, t = self.act(fn, self.roles.recovery, lambda _t: self.predict_request_recovery(lost, new))
        if receipt is None:
            return False
        execute_after = t + self.recovery_delay
        assert self.events(self.token, "RecoveryRequested", receipt) == [
            {"lost": lost, "newAccount": new, "executeAfter": execute_after}
        ]
        self.m.recoveries[lost] = Recovery(new, execute_after)
        assert self.read(self.token, "pendingRecovery", lost) == (new, execute_after)
        return True

    def do_cancel_recovery(self, lost: str, sender: str) -> bool:
        fn = self.token.functions.cancelRecovery(lost)
        receipt, _ = self.act(fn, sender, lambda _t: self.predict_cancel_recovery(lost, sender))
        if receipt is None:
            return False
        assert self.events(self.token, "RecoveryCancelled", receipt) == [{"lost": lost, "by": sender}]
        del self.m.recoveries[lost]
        assert self.read(self.token, "pendingRecovery", lost) == (ZERO_ADDRESS, 0)
        return True

    def do_execute_recovery(self, lost: str) -> bool:
        fn = self.token.functions.executeRecovery(lost)
        receipt, _ = self.act(fn, self.roles.recovery, lambda t: self.predict_execute_recovery(lost, t))
        if receipt is None:
            return False
        new = self.m.recoveries.pop(lost).new_account
        amount = self.m.balances[lost]
        assert self.events(self.token, "RecoveryExecuted", receipt) == [
            {"lost": lost, "newAccount": new, "amount": amount}
        ]
        assert self.events(self.token, "Transfer", receipt) == [{"from": lost, "to": new, "value": amount}]
        self.m.balances[lost] = 0
        self.m.balances[new] += amount
        return True

    def do_transfer(self, source: str, to: str, amount: int, spender: str | None = None) -> None:
        """A user-to-user move, directly or through an allowance: it must always revert."""
        if spender is None:
            fn = self.token.functions.transfer(to, amount)
            sender = source
        else:
            self.send_expecting_success(self.token.functions.approve(spender, amount), source)
            assert self.read.one(self.token, "allowance", source, spender) == amount
            fn = self.token.functions.transferFrom(source, to, amount)
            sender = spender
        self.act(fn, sender, lambda _t: ("StoneNonTransferable", (source, to)))

    # ----------------------------------------------------------------------------------------- drawing

    def honest_increment(
        self, epoch: int, driving_share: int, cocreation_share: int, weights: Sequence[int]
    ) -> tuple[dict[str, int], int, int]:
        """The next honest cumulative entitlements and pool totals: each pool grows by ``share``/1000 of
        its remaining headroom under the schedule, split over the accounts by ``weights``."""
        prev_driving, prev_cocreation = self.last_totals()
        head_driving = available_at_epoch_end(Pool.DRIVING, epoch) - prev_driving
        head_cocreation = available_at_epoch_end(Pool.COCREATION, epoch) - prev_cocreation
        assert head_driving >= 0
        assert head_cocreation >= 0
        inc_driving = head_driving * driving_share // 1000
        inc_cocreation = head_cocreation * cocreation_share // 1000
        increment = inc_driving + inc_cocreation
        w = list(weights)
        if sum(w) == 0:
            w[0] = 1
        shares = [increment * x // sum(w) for x in w]
        shares[next(i for i, x in enumerate(w) if x)] += increment - sum(shares)
        entitled = self.entitlements()
        honest = {a: entitled[a] + s for a, s in zip(self.w.honest, shares, strict=True)}
        assert sum(honest.values()) == prev_driving + inc_driving + prev_cocreation + inc_cocreation
        return honest, prev_driving + inc_driving, prev_cocreation + inc_cocreation

    def draw_honest(self, data: st.DataObject) -> tuple[dict[str, int], int, int]:
        share = st.one_of(st.sampled_from([0, 1, 1000]), st.integers(0, 1000))
        return self.honest_increment(
            self.next_epoch,
            data.draw(share, label="driving share"),
            data.draw(share, label="cocreation share"),
            data.draw(
                st.lists(st.integers(0, 4), min_size=HONEST_ACCOUNTS, max_size=HONEST_ACCOUNTS),
                label="weights",
            ),
        )

    def draw_item(self, data: st.DataObject, account: str | None = None) -> ClaimItem:
        """A claim: a real proof from the claimable, the latest, an older or no tree, sometimes forged."""
        if account is None:
            account = data.draw(st.sampled_from([*self.w.honest, self.w.attacker]), label="account")
        sources: list[MerkleTree | None] = [None]
        record = self.claimable(self.latest())
        if record is not None:
            sources += [record.tree] * 3
        if self.m.posted:
            sources.append(self.m.posted[-1].tree)
        sources += self.m.history
        source = data.draw(st.sampled_from(sources), label="proof source")
        if source is not None and account in source:
            amount, proof = source.amount(account), source.proof(account)
        else:
            amount, proof = data.draw(st.integers(0, 10**6 * UNIT), label="amount"), []
        forge = data.draw(st.sampled_from([0, 0, 0, 1, -1, UNIT, -UNIT, 10**9 * UNIT]), label="forge")
        return ClaimItem(account, max(0, amount + forge), proof, source)

    def current_epoch(self, t: int) -> int:
        return (t - self.genesis) // (SLOTS_PER_EPOCH * self.slot_seconds) if t >= self.genesis else -1

    # ----------------------------------------------------------------------------------------- rules

    @initialize(epochs=st.integers(0, 3), data=st.data())
    def start_with_posted_epochs(self, epochs: int, data: st.DataObject) -> None:
        """Some examples start with a few honest epochs posted and claimable."""
        for _ in range(epochs):
            epoch = self.next_epoch
            self.travel_next_tx_to(self.epoch_end(epoch))
            honest, driving, cocreation = self.draw_honest(data)
            assert self.do_post(epoch, honest, driving, cocreation) is None
        if epochs:
            self.travel_next_tx_to(self.m.posted[-1].posted_at + self.window)

    @rule(
        data=st.data(),
        kind=st.sampled_from(["ahead", "ahead", "edge", "running", "any"]),
    )
    def commit_seed(self, data: st.DataObject, kind: str) -> None:
        """Commitments ahead of their epoch succeed; at or after its start, or twice, they are refused."""
        first_free = max(0, self.current_epoch(self.pending()) + 1)
        while first_free in self.m.commitments:
            first_free += 1
        if kind == "edge" and self.epoch_start(first_free) - self.pending() <= 2 * DAY:
            # The call one second before the start may still commit; the transaction at the start may not.
            self.travel_next_tx_to(self.epoch_start(first_free))
            epoch = first_free
        elif kind == "running":
            epoch = max(0, self.current_epoch(self.pending()))
        elif kind == "any":
            epoch = data.draw(st.integers(0, 45), label="epoch")
        else:
            epoch = first_free + data.draw(st.integers(0, 3), label="ahead by")
        zero = data.draw(st.integers(0, 9), label="zero?") == 0
        commitment = ZERO32 if zero else keccak(secret_for(epoch))
        self.do_commit(epoch, commitment)

    @rule(data=st.data(), travel=st.sampled_from(["none", "end", "edge", "later"]))
    def post_honest(self, data: st.DataObject, travel: str) -> None:
        """The oracle posts the next epoch with growing entitlements (sometimes before it has ended)."""
        epoch = self.next_epoch
        end = self.epoch_end(epoch)
        if travel == "end":
            self.travel_next_tx_to(end)
        elif travel == "edge":
            self.travel_next_tx_to(end - 1)  # one second early: EpochNotEnded, then the act steps on
        elif travel == "later":
            self.travel_next_tx_to(end + data.draw(st.integers(1, DAY), label="late by"))
        honest, driving, cocreation = self.draw_honest(data)
        self.do_post(epoch, honest, driving, cocreation)

    @rule(data=st.data())
    def post_malicious(self, data: st.DataObject) -> None:
        """A compromised oracle: honest totals, but a root that also pays an attacker."""
        epoch = self.next_epoch
        self.travel_next_tx_to(self.epoch_end(epoch))
        honest, driving, cocreation = self.draw_honest(data)
        total = driving + cocreation
        leaf = data.draw(
            st.one_of(st.sampled_from([1, total, total + 1]), st.integers(1, 2 * total + 1)),
            label="attacker leaf",
        )
        assert sum(honest.values()) + leaf > total
        self.do_post(epoch, honest, driving, cocreation, attacker_leaf=leaf)

    @rule(
        data=st.data(),
        kind=st.sampled_from(
            [
                "exceeds_driving",
                "exceeds_cocreation",
                "decreased_driving",
                "decreased_cocreation",
                "wrong_secret",
                "out_of_order",
                "zero_root",
            ]
        ),
    )
    def post_dishonest(self, data: st.DataObject, kind: str) -> None:
        """Each broken rule of postEpoch is refused, with its error and arguments."""
        epoch = self.next_epoch
        self.travel_next_tx_to(self.epoch_end(epoch))
        honest, driving, cocreation = self.draw_honest(data)
        prev_driving, prev_cocreation = self.last_totals()
        excess = data.draw(st.one_of(st.just(1), st.integers(1, 10**9 * UNIT)), label="excess")
        secret: bytes | None = None
        post_epoch = epoch
        intended = {
            "exceeds_driving": "TotalExceedsSchedule",
            "exceeds_cocreation": "TotalExceedsSchedule",
            "decreased_driving": "TotalDecreased",
            "decreased_cocreation": "TotalDecreased",
            "wrong_secret": "SecretMismatch",
            "out_of_order": "EpochOutOfOrder",
            "zero_root": "ZeroHash",
        }[kind]
        if kind == "decreased_driving" and prev_driving == 0:
            kind, intended = "exceeds_driving", "TotalExceedsSchedule"
        if kind == "decreased_cocreation" and prev_cocreation == 0:
            kind, intended = "exceeds_cocreation", "TotalExceedsSchedule"
        if kind == "exceeds_driving":
            driving = available_at_epoch_end(Pool.DRIVING, epoch) + excess
        elif kind == "exceeds_cocreation":
            cocreation = available_at_epoch_end(Pool.COCREATION, epoch) + excess
        elif kind == "decreased_driving":
            driving = prev_driving - min(excess, prev_driving)
        elif kind == "decreased_cocreation":
            cocreation = prev_cocreation - min(excess, prev_cocreation)
        elif kind == "wrong_secret":
            secret = keccak(b"not the secret" + excess.to_bytes(32, "big"))
        elif kind == "out_of_order":
            offsets = [1, 2, 3] + ([-1, -epoch] if epoch > 0 else [])
            post_epoch = epoch + data.draw(st.sampled_from(offsets), label="offset")
        outcome = self.do_post(
            post_epoch,
            honest,
            driving,
            cocreation,
            secret=secret,
            zero_root=kind == "zero_root",
        )
        assert outcome is not None, f"a {kind} post was accepted"
        # A seed that was never committed in time stops an in-order post before the rule it breaks.
        assert outcome[0] in (intended, "SeedNotCommitted"), (kind, outcome)

    @precondition(lambda self: self.pending() < self.epoch_end(self.next_epoch))
    @rule(data=st.data())
    def post_too_early(self, data: st.DataObject) -> None:
        epoch = self.next_epoch
        honest, driving, cocreation = self.draw_honest(data)
        outcome = self.do_post(epoch, honest, driving, cocreation)
        assert outcome == ("EpochNotEnded", (epoch, self.epoch_end(epoch)))

    @rule(data=st.data(), timing=st.sampled_from(["now", "now", "now", "inside", "edge", "after"]))
    def veto(self, data: st.DataObject, timing: str) -> None:
        """The guardian vetoes a pending epoch (and those after it), or fails to veto a settled one."""
        pending = [p.epoch for p in self.m.posted if self.latest() < p.posted_at + self.window]
        any_epoch = st.integers(0, self.next_epoch + 2)
        choices = st.one_of(*[st.sampled_from(pending)] * 3, any_epoch) if pending else any_epoch
        epoch = data.draw(choices, label="epoch")
        window_end = self.veto_window_end(epoch)
        if epoch < self.next_epoch:
            if timing == "inside":
                self.travel_next_tx_to(window_end - 2)
            elif timing == "edge":
                self.travel_next_tx_to(window_end)  # the call at window_end - 1 still may veto
            elif timing == "after":
                self.travel_next_tx_to(window_end + data.draw(st.integers(0, DAY), label="by"))
        self.do_veto(epoch)

    @rule(data=st.data())
    def claim(self, data: st.DataObject) -> None:
        item = self.draw_item(data)
        sender = data.draw(st.sampled_from(self.w.anyone), label="sender")
        self.do_claim(item, sender)

    @rule(data=st.data())
    def claim_valid(self, data: st.DataObject) -> None:
        """A claim with the claimable root's own proof (the usual case, drawn more often)."""
        record = self.claimable(self.latest())
        account = data.draw(st.sampled_from(self.w.honest), label="account")
        if record is None:
            item = ClaimItem(account, 1, [], None)
        else:
            tree = record.tree
            item = ClaimItem(account, tree.amount(account), tree.proof(account), tree)
        self.do_claim(item, data.draw(st.sampled_from(self.w.anyone), label="sender"))

    @rule(data=st.data())
    def claim_many(self, data: st.DataObject) -> None:
        """A relayer's batch: valid items, duplicates and already-paid accounts (skipped), forgeries."""
        record = self.claimable(self.latest())
        accounts = data.draw(
            st.lists(st.sampled_from([*self.w.honest, self.w.attacker]), max_size=8),
            label="accounts",
        )
        items: list[ClaimItem] = []
        for account in accounts:
            if record is not None and account in record.tree and data.draw(st.integers(0, 3)):
                tree = record.tree
                items.append(ClaimItem(account, tree.amount(account), tree.proof(account), tree))
            else:  # already paid this much: skipped
                items.append(ClaimItem(account, self.m.claimed[account], [], None))
        if items and data.draw(st.integers(0, 4), label="forge?") == 0:
            index = data.draw(st.integers(0, len(items) - 1), label="forged item")
            items[index] = self.draw_item(data, items[index].account)
        drop_proof = bool(items) and data.draw(st.integers(0, 9), label="mismatch?") == 0
        self.do_claim_many(
            items, data.draw(st.sampled_from(self.w.anyone), label="sender"), drop_proof=drop_proof
        )

    @rule(
        data=st.data(),
        kind=st.sampled_from(["small", "epoch_end", "window"] * 3 + ["large"] * 2 + ["far"]),
    )
    def time_travel(self, data: st.DataObject, kind: str) -> None:
        now = self.pending()
        if kind == "small":
            target = now + data.draw(st.integers(1, 3600), label="seconds")
        elif kind == "epoch_end":
            target = self.epoch_end(self.next_epoch) + data.draw(st.integers(-2, 600), label="+")
        elif kind == "window" and self.m.posted:
            target = self.m.posted[-1].posted_at + self.window + data.draw(st.integers(-2, 2))
        elif kind == "far":  # past the precommitted epochs: later ones missed their commitment
            target = now + data.draw(st.integers(8 * DAY, 16 * DAY), label="seconds")
        else:
            target = now + data.draw(st.integers(DAY, 4 * DAY), label="seconds")
        self.travel_next_tx_to(target)

    @rule(data=st.data())
    def request_recovery(self, data: st.DataObject) -> None:
        lost = data.draw(st.sampled_from([*self.w.honest, *self.w.spare]), label="lost")
        new = data.draw(
            st.one_of(
                st.sampled_from(self.w.known),
                st.sampled_from([lost, self.sys.desk.address, ZERO_ADDRESS]),
            ),
            label="new",
        )
        self.do_request_recovery(lost, new)

    def draw_lost(self, data: st.DataObject) -> str:
        """A lost account: mostly one with a pending recovery, when there is one."""
        anyone = st.sampled_from([*self.w.honest, *self.w.spare])
        if self.m.recoveries:
            pending = st.sampled_from(sorted(self.m.recoveries))
            return data.draw(st.one_of(pending, pending, pending, anyone), label="lost")
        return data.draw(anyone, label="lost")

    @rule(data=st.data())
    def cancel_recovery(self, data: st.DataObject) -> None:
        lost = self.draw_lost(data)
        sender = data.draw(
            st.sampled_from([lost, lost, self.roles.recovery, self.w.honest[1], self.roles.admin]),
            label="sender",
        )
        self.do_cancel_recovery(lost, sender)

    @rule(data=st.data(), timing=st.sampled_from(["now", "early", "edge", "ready"]))
    def execute_recovery(self, data: st.DataObject, timing: str) -> None:
        self.execute_with_timing(self.draw_lost(data), timing, data)

    @precondition(lambda self: bool(self.m.recoveries))
    @rule(data=st.data(), timing=st.sampled_from(["now", "early", "edge", "ready", "ready"]))
    def execute_pending_recovery(self, data: st.DataObject, timing: str) -> None:
        lost = data.draw(st.sampled_from(sorted(self.m.recoveries)), label="lost")
        self.execute_with_timing(lost, timing, data)

    def execute_with_timing(self, lost: str, timing: str, data: st.DataObject) -> None:
        """Executes ``lost``'s recovery now, just before, exactly at or after it is due."""
        pending = self.m.recoveries.get(lost)
        if pending is not None:
            if timing == "early":
                self.travel_next_tx_to(pending.execute_after - 2)
            elif timing == "edge":
                self.travel_next_tx_to(pending.execute_after)  # the call one second before is not ready
            elif timing == "ready":
                self.travel_next_tx_to(pending.execute_after + data.draw(st.integers(0, DAY)))
        self.do_execute_recovery(lost)

    @rule(data=st.data(), via_allowance=st.booleans())
    def transfer_between_users(self, data: st.DataObject, via_allowance: bool) -> None:
        keyed = [*self.w.honest, *self.w.spare]
        source = data.draw(st.sampled_from(keyed), label="from")
        to = data.draw(st.sampled_from(self.w.known), label="to")
        amount = data.draw(st.integers(0, self.m.balances[source] + 1), label="amount")
        spender = data.draw(st.sampled_from(keyed), label="spender") if via_allowance else None
        self.do_transfer(source, to, amount, spender)

    # ----------------------------------------------------------------------------------------- invariants

    @invariant()
    def invariants_hold(self) -> None:
        now = self.latest()
        known = self.w.known
        view = self.read.view_from_storage(self.sys, self.w.layout, known)
        if self.checks % GETTERS_EVERY == 0:
            assert view == self.read.view_from_getters(self.sys, known)
        self.checks += 1

        # Supply: capped, equal to what the distributor minted and to the sum of every known balance.
        assert view.supply <= CAP
        assert view.total_claimed == view.supply == self.m.total_claimed
        assert sum(view.balances) == view.supply
        assert view.balances == tuple(self.m.balances[a] for a in known)

        # Epochs: the chain's next epoch and latest record match the model; the totals keep to the schedule.
        assert view.next_epoch == self.next_epoch
        slots = self.slots_elapsed(now)
        if self.m.posted:
            last = self.m.posted[-1]
            assert view.last_record == (last.tree.root, last.posted_at, last.driving, last.cocreation)
            assert last.driving <= available(Pool.DRIVING, slots)
            assert last.cocreation <= available(Pool.COCREATION, slots)
        else:
            assert view.last_record is None
        assert view.supply <= available(Pool.DRIVING, slots) + available(Pool.COCREATION, slots)
        found, epoch = self.read(self.dist, "claimableEpoch")
        record = self.claimable(now)
        assert (found, epoch) == ((True, record.epoch) if record else (False, 0))
        assert view.total_claimed <= (record.total if record else 0)

        # Roots that became claimable are settled for good: remember the most each ever gave an account.
        for posted in self.m.posted:
            if now < posted.posted_at + self.window:
                break
            for account, amount in posted.honest.items():
                self.m.ever_entitled[account] = max(self.m.ever_entitled[account], amount)
            attacker = self.w.attacker
            self.m.ever_entitled[attacker] = max(self.m.ever_entitled[attacker], posted.attacker_leaf)

        # Claims: as the model says, as the mint events say, never beyond a claimable root's amount.
        for account, claimed in zip(known, view.claimed, strict=True):
            assert claimed == self.m.claimed[account], account
            assert claimed == self.m.minted[account] == self.m.claimed_events[account], account
            assert claimed <= self.m.ever_entitled[account], account

        # The six honest accounts are never paid beyond their honest entitlement, whatever roots say.
        entitled = self.entitlements()
        for account in self.w.honest:
            assert self.m.claimed[account] <= entitled[account]


def stateful_settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )


@pytest.fixture(scope="module")
def world(chain: EmbeddedChain, deployed: System) -> Iterator[World]:
    """Keyed actors funded on top of the session's deployment; the chain is restored afterwards."""
    outer = chain.snapshot()
    try:
        yield World.create(chain, deployed)
    finally:
        chain.revert_to(outer)


@pytest.mark.slow
def test_token_and_distributor_state_machine(world: World) -> None:

    class TokenAndDistributor(DistributorMachine):
        def __init__(self) -> None:
            super().__init__(world)

    wall, cpu = time.perf_counter(), time.process_time()
    run_state_machine_as_test(TokenAndDistributor, settings=stateful_settings())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    # What the run exercised (shown with -s): every function, outcome by outcome.
    for outcome, count in sorted(world.outcomes.items()):
        print(f"{count:6d}  {outcome}")
    print(f"{world.machines} machines ({EXAMPLES} examples asked), {wall:.0f} s wall, {cpu:.0f} s CPU")


def test_regression_post_claim_veto_repost_claim_many(world: World) -> None:
    """A fixed walk through the machine's actions, so the invariants run even with few examples."""
    m = DistributorMachine(world)

    def refused(name: str, *args: object) -> None:
        assert m.last == (name, args), m.last

    try:
        m.invariants_hold()
        honest = world.honest
        anyone = world.anyone[0]

        # Commitments: ahead of their epoch, once, never zero.
        assert m.do_commit(12, keccak(secret_for(12)))
        assert not m.do_commit(12, keccak(secret_for(12)))
        refused("SeedAlreadyCommitted", 12)
        assert not m.do_commit(0, keccak(secret_for(0)))  # committed by the session fixture
        refused("SeedAlreadyCommitted", 0)
        assert not m.do_commit(13, ZERO32)
        refused("ZeroHash")

        # Epoch 0: refused one second early, posted at its end, not claimable during its window.
        epoch0 = m.honest_increment(0, 500, 500, [1, 2, 3, 0, 1, 1])
        m.travel_next_tx_to(m.epoch_end(0) - 1)
        assert m.do_post(0, *epoch0) == ("EpochNotEnded", (0, m.epoch_end(0)))
        m.travel_next_tx_to(m.epoch_end(0))
        assert m.do_post(0, *epoch0) is None
        first = m.m.posted[0]
        item0 = ClaimItem(honest[0], first.honest[honest[0]], first.tree.proof(honest[0]), first.tree)
        assert not m.do_claim(item0, anyone)
        refused("NoClaimableEpoch")
        m.invariants_hold()

        # Epoch 0 claimable: a claim by anyone pays; the same proof again and a forged amount do not.
        m.travel_next_tx_to(first.posted_at + m.window)
        assert m.do_claim(item0, anyone)
        assert not m.do_claim(item0, anyone)
        refused("NothingToClaim", item0.account, item0.amount, item0.amount)
        forged = ClaimItem(item0.account, item0.amount + 1, item0.proof, first.tree)
        assert not m.do_claim(forged, anyone)
        refused("InvalidProof", forged.account, forged.amount)

        # Epoch 1: every broken rule refused, then the honest post.
        m.travel_next_tx_to(m.epoch_end(1))
        honest1, driving1, cocreation1 = m.honest_increment(1, 1000, 250, [1, 1, 1, 1, 1, 1])
        cap = available_at_epoch_end(Pool.COCREATION, 1)
        assert m.do_post(1, honest1, first.driving - 1, cocreation1) == (
            "TotalDecreased",
            (int(Pool.DRIVING), first.driving, first.driving - 1),
        )
        assert m.do_post(1, honest1, driving1, cap + 1) == (
            "TotalExceedsSchedule",
            (int(Pool.COCREATION), cap + 1, cap),
        )
        wrong = keccak(b"wrong")
        assert m.do_post(1, honest1, driving1, cocreation1, secret=wrong) == (
            "SecretMismatch",
            (1, keccak(secret_for(1)), keccak(wrong)),
        )
        assert m.do_post(3, honest1, driving1, cocreation1) == ("EpochOutOfOrder", (3, 1))
        assert m.do_post(1, honest1, driving1, cocreation1) is None
        m.invariants_hold()

        # A veto inside the window takes epoch 1 down; a veto of what is gone or settled is refused.
        second = m.m.posted[1]
        m.travel_next_tx_to(second.posted_at + m.window - 2)
        assert m.do_veto(1)
        assert not m.do_veto(1)
        refused("NotChallengeable", 1, m.window)  # no longer posted: its record is all zeros
        assert not m.do_veto(0)
        refused("NotChallengeable", 0, first.posted_at + m.window)
        m.invariants_hold()

        # Epoch 1 again: a malicious root (vetoed too), then an honest one claimed for everyone in a batch.
        honest1, driving1, cocreation1 = m.honest_increment(1, 800, 800, [0, 1, 0, 1, 0, 1])
        leaf = driving1 + cocreation1
        assert m.do_post(1, honest1, driving1, cocreation1, attacker_leaf=leaf) is None
        assert m.do_veto(1)
        assert m.do_post(1, honest1, driving1, cocreation1) is None
        third = m.m.posted[1]
        m.travel_next_tx_to(third.posted_at + m.window)
        batch = [ClaimItem(a, third.honest[a], third.tree.proof(a), third.tree) for a in [*honest, honest[0]]]
        # honest[0] claimed epoch 0 already and weight 0 left it there: skipped, as is its duplicate.
        assert third.honest[honest[0]] == m.m.claimed[honest[0]]
        assert m.do_claim_many(batch, anyone) == HONEST_ACCOUNTS - 1
        assert m.do_claim_many(batch, anyone) == 0  # everyone already paid: all skipped
        m.invariants_hold()

        # A malicious root that becomes claimable: the attacker cannot take more than the posted totals.
        m.travel_next_tx_to(m.epoch_end(2))
        honest2, driving2, cocreation2 = m.honest_increment(2, 10, 10, [1, 0, 0, 0, 0, 0])
        leaf = driving2 + cocreation2
        assert m.do_post(2, honest2, driving2, cocreation2, attacker_leaf=leaf) is None
        bad = m.m.posted[2]
        m.travel_next_tx_to(bad.posted_at + m.window)
        steal = ClaimItem(world.attacker, leaf, bad.tree.proof(world.attacker), bad.tree)
        assert not m.do_claim(steal, anyone)
        refused("ClaimsExceedEpochTotal", m.m.total_claimed + leaf, bad.total)
        room = bad.total - m.m.total_claimed
        own = ClaimItem(honest[0], bad.honest[honest[0]], bad.tree.proof(honest[0]), bad.tree)
        assert own.amount - m.m.claimed[honest[0]] == room > 0  # the honest part fits exactly
        assert m.do_claim(own, anyone)
        assert not m.do_claim(steal, anyone)
        refused("ClaimsExceedEpochTotal", bad.total + leaf, bad.total)
        m.invariants_hold()

        # Recovery: not ready, cancelled by the lost account, requested again and executed; no transfers.
        lost, new = honest[0], world.spare[0]
        assert m.do_request_recovery(lost, new)
        execute_after = m.m.recoveries[lost].execute_after
        assert not m.do_request_recovery(lost, honest[1])
        refused("RecoveryAlreadyRequested", lost, new)
        assert not m.do_execute_recovery(lost)
        refused("RecoveryNotReady", lost, execute_after)
        assert not m.do_cancel_recovery(lost, honest[1])
        refused("NotRecoveryParty", honest[1], lost)
        assert m.do_cancel_recovery(lost, lost)
        assert not m.do_execute_recovery(lost)
        refused("RecoveryNotRequested", lost)
        assert not m.do_request_recovery(lost, lost)
        refused("InvalidRecoveryAccount", lost)
        assert m.do_request_recovery(lost, new)
        m.travel_next_tx_to(m.m.recoveries[lost].execute_after)
        assert m.do_execute_recovery(lost)
        m.do_transfer(new, honest[1], 1)
        refused("StoneNonTransferable", new, honest[1])
        m.do_transfer(new, honest[1], 1, spender=honest[2])
        refused("StoneNonTransferable", new, honest[1])
        m.invariants_hold()
        assert m.m.balances[new] > 0
        assert m.m.balances[lost] == 0

        # A commitment the second its epoch starts is too late (the call one second earlier is not).
        m.travel_next_tx_to(m.epoch_start(14))
        assert not m.do_commit(14, keccak(secret_for(14)))
        refused("EpochAlreadyStarted", 14, m.epoch_start(14))
        m.invariants_hold()
    finally:
        m.teardown()
