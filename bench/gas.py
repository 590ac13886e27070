"""Gas of every on-chain operation of Yuanshi, beside the baselines it must beat (issue 2, "Benchmark").

Run ``python -m bench.gas`` (a Rich table), ``--json`` (one JSON object of integer gas figures),
``--markdown`` (the table for ``docs/benchmarks.md``) and ``--check`` (exit 1 when a target is missed, for
CI). Everything is measured in one run on the embedded chain (eth-tester on py-evm, the Prague rules),
where gas is deterministic: the same inputs give the same figures on every machine. Every figure is a
transaction's ``gasUsed`` (21,000 intrinsic gas and calldata included, refunds deducted), as a wallet or
relayer pays it. ``docs/benchmarks.md`` explains the figures and the targets.

The product contracts and the baselines (``bench/contracts/``) come from the one standard-JSON compile
checked in under ``contracts/build/`` (``node contracts/compile.mjs``): same compiler, same optimizer runs.

What makes the comparisons fair:

* Claims are measured in the steady state that millions of claims see, not on an empty contract: another
  account has claimed before (so ``totalClaimed`` and the token's ``totalSupply`` are non-zero) and, as
  with daily roots behind a one-day challenge window, the next epoch is already posted and still pending
  (``claimableEpoch`` steps over it). The ``*_no_pending`` rows are the same claims with no pending epoch.
* A first claim goes to a fresh account (its balance and ``claimed`` slot go from zero); a repeat claim
  comes after four more epochs raised the account's cumulative amount (``*_one_epoch``: after one).
* The one-shot distributor (Uniswap's merkle-distributor) pays tokens pre-minted to it with
  ``PlainBenchToken``; its first claim flips a bit in a fresh bitmap word, as the first claimant of a word
  does in a real airdrop (``*_word_touched``: a neighbour already set a bit of that word).
* A proof of depth ``d`` is a real path of ``d`` sibling hashes (a complete tree of the measured leaves,
  padded with filler leaves and topped with filler siblings up to depth ``d``); the contract cannot tell it
  from a tree of ``2**d`` accounts, and gas depends only on the proof's length. ``postEpoch`` is measured
  on the same chain state with roots of real ``ledger.merkle`` trees of 10 and 1,000 accounts and a
  ``2**20``-leaf root (``--full-million`` builds a real 1,000,000-account tree instead, about a minute).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import typer
from eth_account import Account
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table
from web3.types import TxReceipt

from ledger.chain import artifacts
from ledger.chain.client import decoded_reverts
from ledger.chain.deploy import DeployParams, RoleHolders, System, deploy_system
from ledger.chain.embedded import EmbeddedChain
from ledger.errors import ChainError
from ledger.merkle import MerkleTree, hash_pair, keccak256, leaf_hash, normalize_address
from ledger.schedule import UNIT, Pool, available_at_epoch_end

# ----- targets (issue 2) -----

POST_EPOCH_LIMIT: Final = 150_000
FIRST_CLAIM_MAX_RATIO: Final = 1.25
REPEAT_CLAIM_MAX_RATIO: Final = 1.0

BATCH: Final = 20
"""Accounts in the measured ``claimMany`` batch."""

POST_SIZES: Final = {"10_accounts": 10, "1000_accounts": 1_000, "1m_accounts": 1_000_000}
"""``postEpoch`` is measured with roots of trees of these many accounts (keys ``post_epoch_<size>``)."""

BASELINE_CONTRACTS: Final = (
    "OneShotMerkleDistributor",
    "PlainBenchToken",
    "NaiveTripToken",
    "CheckpointedBenchToken",
)
PRODUCT_CONTRACTS: Final = (
    "EmissionSchedule",
    "StoneToken",
    "RewardDistributor",
    "RedemptionDesk",
    "EquityVault",
)

ORDER_TYPES: Final = {
    "Order": [
        {"name": "buyer", "type": "address"},
        {"name": "itemId", "type": "uint256"},
        {"name": "maxPrice", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}

DAY: Final = 86_400
TX_GAS_LIMIT: Final = 10_000_000
WIDE: Final = 132
START: Final = 4_102_444_800
"""2100-01-01 UTC: the run starts its chain here, ahead of the wall clock, so a block's timestamp is its
parent's plus one (or an explicit time jump), never the wall clock: every timestamp that reaches calldata
(genesis, deadlines, record dates) is the same in every run, and so is every figure, to the unit."""


# ----- proofs of a chosen depth -----


def _filler(tag: bytes, *numbers: int) -> bytes:
    """A deterministic 32-byte hash standing in for a leaf or subtree nobody in the benchmark claims."""
    return keccak256(b"yuanshi-bench/" + tag + b"".join(n.to_bytes(32, "big") for n in numbers))


@dataclass(frozen=True)
class PathTree:
    """A Merkle tree (OpenZeppelin's sorted-pair node hash) whose given leaves all sit at one depth."""

    root: bytes
    proofs: dict[bytes, list[bytes]]

    @classmethod
    def at_depth(cls, leaves: Sequence[bytes], depth: int, tag: bytes = b"") -> PathTree:
        """Places ``leaves`` in a complete subtree (padded with filler leaves) and tops it with filler
        siblings, so that every proof has exactly ``depth`` elements."""
        if not leaves or len(set(leaves)) != len(leaves):
            raise ValueError("need distinct leaves")
        height = (len(leaves) - 1).bit_length()
        if height > depth:
            raise ValueError(f"{len(leaves)} leaves do not fit at depth {depth}")
        level = list(leaves) + [_filler(b"leaf" + tag, i) for i in range(len(leaves), 1 << height)]
        positions = {leaf: i for i, leaf in enumerate(leaves)}
        proofs: dict[bytes, list[bytes]] = {leaf: [] for leaf in leaves}
        while len(level) > 1:
            for leaf, i in positions.items():
                proofs[leaf].append(level[i ^ 1])
                positions[leaf] = i // 2
            level = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        node = level[0]
        for h in range(height, depth):
            sibling = _filler(b"node" + tag, h)
            for proof in proofs.values():
                proof.append(sibling)
            node = hash_pair(node, sibling)
        return cls(node, proofs)

    def join(self, other: PathTree) -> PathTree:
        """The tree whose root's children are this tree's root and ``other``'s (every proof grows by one)."""
        if self.proofs.keys() & other.proofs.keys():
            raise ValueError("the two trees share a leaf")
        proofs = {leaf: [*proof, other.root] for leaf, proof in self.proofs.items()}
        proofs.update({leaf: [*proof, self.root] for leaf, proof in other.proofs.items()})
        return PathTree(hash_pair(self.root, other.root), proofs)


@dataclass(frozen=True)
class RewardRoot:
    """A reward root over ``(account, cumulative)`` entries at two depths, with each account's proof."""

    root: bytes
    amounts: dict[str, int]
    proofs: dict[str, list[bytes]]

    @classmethod
    def build(cls, deep: dict[str, int], shallow: dict[str, int], depth: int = 20) -> RewardRoot:
        """``deep`` entries get proofs of ``depth`` elements, ``shallow`` entries proofs of ``depth // 2``."""
        leaves = {acct: leaf_hash(acct, amount) for acct, amount in {**deep, **shallow}.items()}
        deep_leaves = [leaves[a] for a in deep]
        if shallow:
            tree = PathTree.at_depth(deep_leaves, depth - 1, b"deep").join(
                PathTree.at_depth([leaves[a] for a in shallow], depth // 2 - 1, b"shallow")
            )
        else:
            tree = PathTree.at_depth(deep_leaves, depth, b"deep")
        return cls(tree.root, {**deep, **shallow}, {a: tree.proofs[leaf] for a, leaf in leaves.items()})

    def claim_args(self, account: str) -> tuple[str, int, list[bytes]]:
        return account, self.amounts[account], self.proofs[account]


def oneshot_leaf(index: int, account: str, amount: int) -> bytes:
    """Uniswap merkle-distributor's leaf: ``keccak256(abi.encodePacked(index, account, amount))``."""
    return keccak256(index.to_bytes(32, "big") + bytes.fromhex(account[2:]) + amount.to_bytes(32, "big"))


# ----- the measurement -----


@dataclass
class Measurement:
    """The figures of one run: ``gas`` as paid (the JSON), and the execution part of each (``gas`` less the
    21,000 intrinsic gas and the calldata), which is what must not depend on the size of a tree."""

    gas: dict[str, int] = field(default_factory=dict)
    execution: dict[str, int] = field(default_factory=dict)
    compiler: str = ""
    sources_hash: str = ""
    million_root: str = "the root of a 2**20-leaf tree, computed along one depth-20 path"
    post_roots: dict[str, bytes] = field(default_factory=dict)
    """The roots posted for ``post_epoch_<size>``, by size key."""


def calldata_gas(data: bytes) -> int:
    """Intrinsic gas of a transaction's calldata: 4 per zero byte, 16 per other byte."""
    return sum(4 if b == 0 else 16 for b in data)


class _Bench:
    """The chain, the deployed system, the accounts and the recorder of figures."""

    def __init__(self, chain: EmbeddedChain, seed: int) -> None:
        self.chain = chain
        self.seed = seed
        self.rng = random.Random(seed)
        self.out = Measurement()
        accounts = chain.accounts
        self.roles = RoleHolders.from_accounts(accounts)
        # alice and bob, the two pre-funded accounts without a role, send their own orders and sell-backs
        # (bob also relays); every other holder is a fresh address, claimed for by the relayer.
        self.alice, self.bob = accounts[8], accounts[9]
        self.relayer = self.bob
        self.signer: LocalAccount = Account.from_key(keccak256(b"yuanshi-bench/signer"))
        self.system: System
        self.posted_at: dict[int, int] = {}

    # -- recording --

    def record(self, key: str, receipt: TxReceipt) -> int:
        gas = int(receipt["gasUsed"])
        tx = self.chain.w3.eth.get_transaction(receipt["transactionHash"])
        self.out.gas[key] = gas
        self.out.execution[key] = gas - 21_000 - calldata_gas(bytes(tx["input"]))
        return gas

    def send(self, fn: Any, sender: str, key: str | None = None) -> TxReceipt:
        """Sends with a fixed gas limit: gas used does not depend on the limit once it suffices, and
        skipping web3's estimate (a dozen trial executions in py-evm) makes the run several times faster."""
        with decoded_reverts():
            tx_hash = fn.transact({"from": sender, "gas": TX_GAS_LIMIT})
        receipt = self.chain.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            self.chain.send(fn, sender)  # estimates, so a revert is raised decoded
            raise ChainError(f"{fn.fn_name} failed in tx {tx_hash.hex()}")
        if key is not None:
            self.record(key, receipt)
        return receipt

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Measures something and then puts the chain back as it was."""
        snapshot = self.chain.snapshot()
        try:
            yield
        finally:
            self.chain.revert_to(snapshot)

    def fresh_account(self, rng: random.Random | None = None) -> str:
        return normalize_address("0x" + (rng or self.rng).randbytes(20).hex())

    def stones(self, low: int, high: int) -> int:
        """A random amount between ``low`` and ``high`` stones with every base-unit digit used."""
        return self.rng.randrange(low * UNIT, high * UNIT)

    def travel_to_at_least(self, timestamp: int) -> None:
        """Moves the clock so that the latest block, and every block after it, is at ``timestamp`` or later.

        One second more than asked: eth-tester's ``time_travel(t)`` mines its empty block at ``t - 1`` (views
        run at that block; the next transaction's block is at ``t``)."""
        if self.chain.now() < timestamp:
            self.chain.travel_to(timestamp + 1)

    # -- the system --

    def deploy(self) -> None:
        genesis = self.chain.now() + 3_600
        self.system = deploy_system(self.chain, self.roles, DeployParams(genesis=genesis))
        gas = self.system.gas_used
        for name in PRODUCT_CONTRACTS:
            self.out.gas[f"deploy_{_snake(name)}"] = gas[name]
        self.out.gas["deploy_total"] = sum(gas[name] for name in PRODUCT_CONTRACTS)
        self.out.gas["deploy_wiring"] = gas["wiring"]
        self.out.gas["deploy_test_settlement_token"] = gas["TestSettlementToken"]

    def deploy_baseline(self, name: str, *args: Any) -> Any:
        contract, receipt = self.chain.deploy(name, self.relayer, *args)
        self.out.gas[f"deploy_{_snake(name)}"] = int(receipt["gasUsed"])
        return contract

    @staticmethod
    def secret(epoch: int) -> bytes:
        return keccak256(b"yuanshi-bench/secret" + epoch.to_bytes(32, "big"))

    def commit_seeds(self, epochs: int) -> None:
        distributor = self.system.distributor
        for epoch in range(epochs):
            fn = distributor.functions.commitSeed(epoch, keccak256(self.secret(epoch)))
            self.send(fn, self.roles.oracle, "commit_seed" if epoch == 0 else None)

    def post_fn(self, epoch: int, root: bytes) -> Any:
        return self.system.distributor.functions.postEpoch(
            epoch,
            root,
            available_at_epoch_end(Pool.DRIVING, epoch),
            available_at_epoch_end(Pool.COCREATION, epoch),
            keccak256(b"yuanshi-bench/inputs" + epoch.to_bytes(32, "big")),
            self.secret(epoch),
            keccak256(b"yuanshi-bench/manifest" + epoch.to_bytes(32, "big")),
        )

    def post(self, epoch: int, root: bytes, key: str | None = None) -> None:
        """Posts ``epoch`` as soon as it has ended and its predecessor's challenge window has passed."""
        earliest = self.system.params.genesis + (epoch + 1) * DAY
        if epoch > 0:
            earliest = max(earliest, self.posted_at[epoch - 1] + self.system.params.challenge_window)
        self.travel_to_at_least(earliest)
        self.send(self.post_fn(epoch, root), self.roles.oracle, key)
        self.posted_at[epoch] = self.chain.now()

    def await_claimable(self, epoch: int) -> None:
        self.travel_to_at_least(self.posted_at[epoch] + self.system.params.challenge_window)

    def expect_claimable(self, epoch: int, pending: int) -> None:
        """Checks the state claims are measured in: ``epoch`` claimable and ``pending`` epochs after it."""
        functions = self.system.distributor.functions
        found, claimable = functions.claimableEpoch().call()
        posted = int(functions.nextEpoch().call())
        if not found or claimable != epoch or posted != epoch + 1 + pending:
            raise RuntimeError(
                f"expected epoch {epoch} claimable with {pending} pending, got {claimable}/{posted}"
            )

    def claim(self, root: RewardRoot, account: str, key: str | None = None) -> None:
        fn = self.system.distributor.functions.claim(*root.claim_args(account))
        self.send(fn, self.relayer, key)

    def claim_many(self, root: RewardRoot, accounts: Sequence[str], batch_key: str, key: str) -> None:
        """One ``claimMany`` for ``accounts``: the batch's gas, and ``key`` its share per account."""
        fn = self.system.distributor.functions.claimMany(
            list(accounts), [root.amounts[a] for a in accounts], [root.proofs[a] for a in accounts]
        )
        gas = self.record(batch_key, self.send(fn, self.relayer))
        self.out.gas[key] = gas // len(accounts)
        self.out.execution[key] = self.out.execution[batch_key] // len(accounts)


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out.replace("one_shot_merkle", "oneshot")


def _post_epoch_roots(bench: _Bench, full_million: bool) -> dict[str, bytes]:
    """Roots of reward trees of 10, 1,000 and 1,000,000 accounts, the day's budget split among them.

    Without ``full_million`` the million-account root is that of a 2**20-leaf tree, computed along one
    depth-20 path: 20 hashes instead of two million, and 32 bytes on chain all the same."""
    roots: dict[str, bytes] = {}
    budget = available_at_epoch_end(Pool.DRIVING, 1)
    for key, size in POST_SIZES.items():
        # An own random stream per tree: --full-million changes no other figure.
        rng = random.Random(f"{bench.seed}/{key}")
        if size <= 1_000 or full_million:
            entries = [(bench.fresh_account(rng), budget // size) for _ in range(size)]
            roots[key] = MerkleTree.build(entries).root
        else:
            leaf = leaf_hash(bench.fresh_account(rng), budget // size)
            roots[key] = PathTree.at_depth([leaf], 20, b"million").root
    return roots


def _measure_distributor(bench: _Bench, full_million: bool) -> str:
    """Seeds, roots and claims; returns the account whose first and repeat claims were measured."""
    fresh = bench.fresh_account
    warm, first20, first10, z = fresh(), fresh(), fresh(), fresh()
    batch = [fresh() for _ in range(BATCH)]
    holders = [bench.alice, bench.bob, bench.signer.address]

    # Cumulative amounts for epochs 0..5: each epoch adds to everyone's entitlement.
    def grow(amount: int) -> int:
        return amount + bench.stones(5, 20)

    deep0 = {a: bench.stones(50, 150) for a in [warm, first20, z, *batch, *holders]}
    shallow0 = {first10: bench.stones(50, 150)}
    roots = [RewardRoot.build(deep0, shallow0)]
    for _ in range(1, 6):
        previous = roots[-1]
        deep = {a: grow(previous.amounts[a]) for a in deep0}
        shallow = {a: grow(previous.amounts[a]) for a in shallow0}
        roots.append(RewardRoot.build(deep, shallow))

    for built in roots:
        depths = {len(built.proofs[a]) for a in deep0} | {10 * len(built.proofs[a]) for a in shallow0}
        if depths != {20, 100}:
            raise RuntimeError(f"proof depths {depths}, expected 20 (deep) and 10 (shallow)")

    bench.commit_seeds(6)
    bench.post(0, roots[0].root, "post_epoch_first")
    bench.await_claimable(0)

    # First claims with no epoch pending (the short moment before the next root is posted).
    with bench.scratch():
        bench.expect_claimable(0, pending=0)
        bench.claim(roots[0], warm)
        bench.claim(roots[0], first20, "claim_depth20_first_no_pending")

    # postEpoch of epoch 1 with roots of ever larger trees, each on the same chain state.
    bench.out.post_roots = _post_epoch_roots(bench, full_million)
    for key, root in bench.out.post_roots.items():
        with bench.scratch():
            bench.post(1, root, f"post_epoch_{key}")
    bench.out.gas["post_epoch"] = max(bench.out.gas[f"post_epoch_{key}"] for key in POST_SIZES)

    # Epoch 1 pending, epoch 0 claimable: first claims.
    bench.post(1, roots[1].root)
    bench.expect_claimable(0, pending=1)
    bench.claim(roots[0], warm)
    bench.claim(roots[0], first20, "claim_depth20_first")
    bench.claim(roots[0], first10, "claim_depth10_first")
    bench.claim_many(roots[0], batch, f"claim_many_batch{BATCH}", "claim_many_per_account")
    for holder in holders:
        bench.claim(roots[0], holder)
    bench.claim(roots[0], z)

    # Epochs 2..4; z claims again against epoch 3 while epoch 4 is pending.
    bench.post(2, roots[2].root)
    bench.post(3, roots[3].root)
    bench.post(4, roots[4].root)
    bench.claim(roots[3], z)
    bench.await_claimable(4)
    with bench.scratch():
        bench.expect_claimable(4, pending=0)
        bench.claim(roots[4], first20, "claim_depth20_repeat_no_pending")

    # Epoch 5 pending, epoch 4 claimable: repeat claims covering four new epochs (z: one).
    bench.post(5, roots[5].root)
    bench.expect_claimable(4, pending=1)
    bench.claim(roots[4], first20, "claim_depth20_repeat")
    bench.claim(roots[4], z, "claim_depth20_repeat_one_epoch")
    bench.claim(roots[4], first10, "claim_depth10_repeat")
    bench.claim_many(roots[4], batch, f"claim_many_repeat_batch{BATCH}", "claim_many_repeat_per_account")
    for holder in holders:
        bench.claim(roots[4], holder)
    return first20


def _measure_oneshot(bench: _Bench) -> None:
    """Uniswap-style one-shot distributor over tokens pre-minted to it."""
    token = bench.deploy_baseline("PlainBenchToken")
    amount = bench.stones(50, 150)
    # index -> (account, depth); 524288 and 524289 share bitmap word 2048, 768 sits alone in word 3.
    claims = {
        524_288: (bench.fresh_account(), 20),
        524_289: (bench.fresh_account(), 20),
        768: (bench.fresh_account(), 10),
    }
    leaves = {i: oneshot_leaf(i, acct, amount) for i, (acct, _) in claims.items()}
    tree = PathTree.at_depth([leaves[524_288], leaves[524_289]], 19, b"oneshot-deep").join(
        PathTree.at_depth([leaves[768]], 9, b"oneshot-shallow")
    )
    distributor = bench.deploy_baseline("OneShotMerkleDistributor", token.address, tree.root)
    bench.send(token.functions.mint(distributor.address, 1_000_000 * UNIT), bench.relayer)

    def claim(index: int, key: str) -> None:
        account, depth = claims[index]
        proof = tree.proofs[leaves[index]]
        if len(proof) != depth:
            raise RuntimeError(f"one-shot proof of depth {len(proof)}, expected {depth}")
        bench.send(distributor.functions.claim(index, account, amount, proof), bench.relayer, key)

    claim(524_288, "oneshot_claim_depth20")
    claim(768, "oneshot_claim_depth10")
    claim(524_289, "oneshot_claim_depth20_word_touched")


def _measure_naive(bench: _Bench) -> None:
    """The design Yuanshi avoids: the oracle mints a reward for every trip."""
    token = bench.deploy_baseline("NaiveTripToken")

    def trip(owner: str, n: int, key: str | None) -> None:
        trip_hash = keccak256(b"yuanshi-bench/trip" + bytes.fromhex(owner[2:]) + n.to_bytes(32, "big"))
        fn = token.functions.rewardTrip(owner, trip_hash, bench.stones(1, 10))
        bench.send(fn, bench.roles.oracle, key)

    trip(bench.fresh_account(), 0, None)  # the token's supply is non-zero from here on
    owner = bench.fresh_account()
    trip(owner, 0, "naive_mint_first_trip")
    trip(owner, 1, "naive_mint_per_trip")


def _measure_checkpoints(bench: _Bench) -> None:
    """What on-chain balance checkpoints add to every mint (so to every claim), against a plain mint."""
    plain = bench.deploy_baseline("PlainBenchToken")
    checkpointed = bench.deploy_baseline("CheckpointedBenchToken")
    first, account = bench.fresh_account(), bench.fresh_account()
    amount = bench.stones(50, 150)
    for token in (plain, checkpointed):
        bench.send(token.functions.mint(first, amount), bench.relayer)
    # Claims come on different days: each mint lands at a new timestamp, so each pushes new checkpoints.
    for when in ("fresh", "repeat"):
        bench.chain.advance(DAY)
        bench.send(plain.functions.mint(account, amount), bench.relayer, f"plain_mint_{when}")
        bench.send(checkpointed.functions.mint(account, amount), bench.relayer, f"checkpoint_mint_{when}")
    gas = bench.out.gas
    gas["checkpoint_mint_overhead"] = gas["checkpoint_mint_repeat"] - gas["plain_mint_repeat"]
    gas["checkpoint_mint_overhead_fresh"] = gas["checkpoint_mint_fresh"] - gas["plain_mint_fresh"]


def _measure_desk(bench: _Bench) -> None:
    """Orders escrow, fulfilment burns, cancellation refunds; measured after a first order warmed the desk."""
    desk, roles = bench.system.desk, bench.roles
    item, price = 1, 10 * UNIT
    fn = desk.functions.setItem(item, price, 1_000, True, keccak256(b"yuanshi-bench/lidar"))
    bench.send(fn, roles.catalogue, "set_item")
    bench.send(desk.functions.order(item, price), bench.bob)  # the desk holds escrow from here on
    bench.send(desk.functions.order(item, price), bench.alice, "order")
    alice_order = int(desk.functions.nextOrderId().call()) - 1

    domain = {
        "name": "Yuanshi RedemptionDesk",
        "version": "1",
        "chainId": bench.chain.chain_id,
        "verifyingContract": desk.address,
    }
    deadline = bench.chain.now() + DAY
    signed_orders: list[int] = []
    for nonce, key in enumerate(("order_by_sig", "order_by_sig_repeat")):
        message = {
            "buyer": bench.signer.address,
            "itemId": item,
            "maxPrice": price,
            "nonce": nonce,
            "deadline": deadline,
        }
        signature = Account.sign_typed_data(
            bench.signer.key, domain_data=domain, message_types=ORDER_TYPES, message_data=message
        ).signature
        fn = desk.functions.orderBySig(bench.signer.address, item, price, deadline, bytes(signature))
        bench.send(fn, bench.relayer, key)
        signed_orders.append(int(desk.functions.nextOrderId().call()) - 1)

    bench.send(desk.functions.fulfil(alice_order), roles.fulfiller, "fulfil")
    bench.send(desk.functions.cancel(signed_orders[0]), roles.fulfiller, "cancel")


def _measure_vault(bench: _Bench, claimant: str) -> None:
    """An equity round (record-date balance root, claims) and a buy-back window.

    ``claimant`` holds stones from reward claims and has never received the settlement token, so its round
    claim writes a fresh ``hasClaimed`` flag and a fresh settlement balance; a first claim by bob warms the
    round's ``paid`` total. Likewise alice's buy-back follows bob's, and alice has no settlement tokens yet.
    """
    system, roles = bench.system, bench.roles
    vault, token, cash = system.vault, system.token, system.settlement
    treasurer = roles.treasurer
    bench.send(cash.functions.mint(treasurer, 10**15), treasurer)
    bench.send(cash.functions.approve(vault.address, 10**15), treasurer)

    now = bench.chain.now()
    record_date, deadline = now + 60, now + 30 * DAY
    bench.send(vault.functions.openRound(record_date, 10**12, deadline), treasurer, "open_round")
    round_id = int(vault.functions.roundCount().call())
    bench.travel_to_at_least(record_date + 1)

    holders = [bench.bob, bench.alice, bench.signer.address, claimant]
    balances = {a: int(token.functions.balanceOf(a).call()) for a in holders}
    eligible = int(token.functions.totalSupply().call())
    for escrow in (system.desk.address, vault.address):
        eligible -= int(token.functions.balanceOf(escrow).call())
    leaves = {a: leaf_hash(a, b) for a, b in balances.items()}
    tree = PathTree.at_depth(list(leaves.values()), 20, b"balances")
    fn = vault.functions.postBalanceRoot(round_id, tree.root, eligible)
    bench.send(fn, roles.oracle, "post_balance_root")
    bench.travel_to_at_least(bench.chain.now() + system.params.challenge_window)
    for account, key in ((bench.bob, None), (claimant, "round_claim")):
        proof = tree.proofs[leaves[account]]
        fn = vault.functions.claimRound(round_id, account, balances[account], proof)
        bench.send(fn, bench.relayer, key)

    now = bench.chain.now()
    fn = vault.functions.openBuyback(5 * 10**6, 1_000 * UNIT, now, now + 7 * DAY)
    bench.send(fn, treasurer, "open_buyback")
    buyback_id = int(vault.functions.buybackCount().call())
    bench.send(vault.functions.sellBack(buyback_id, 2 * UNIT, 0), bench.bob)
    bench.send(vault.functions.sellBack(buyback_id, 2 * UNIT, 0), bench.alice, "buyback")


def measure(*, full_million: bool = False, seed: int = 2) -> Measurement:
    """Deploys everything on a fresh embedded chain and measures every figure of the table (about 150
    transactions; deterministic for a given ``seed``)."""
    built = set(artifacts.all_names())
    missing = [n for n in (*PRODUCT_CONTRACTS, *BASELINE_CONTRACTS) if n not in built]
    if missing:
        raise RuntimeError(f"{missing} missing from contracts/build/; run `node contracts/compile.mjs`")
    chain = EmbeddedChain()
    chain.travel_to(START)
    bench = _Bench(chain, seed)
    info = artifacts.build_info()
    bench.out.compiler = str(info["compiler"]["version"])
    bench.out.sources_hash = str(info["sourcesHash"])
    bench.deploy()
    if full_million:
        bench.out.million_root = "the root of a real ledger.merkle tree of 1,000,000 accounts"
    claimant = _measure_distributor(bench, full_million)
    _measure_oneshot(bench)
    _measure_naive(bench)
    _measure_checkpoints(bench)
    _measure_desk(bench)
    _measure_vault(bench, claimant)
    return bench.out


# ----- targets and report -----


@dataclass(frozen=True)
class TargetResult:
    name: str
    detail: str
    met: bool


def evaluate(m: Measurement) -> list[TargetResult]:
    """The issue's targets, each with the figures that decide it."""
    g, x = m.gas, m.execution
    sizes = [f"post_epoch_{key}" for key in POST_SIZES]
    oneshot = g["oneshot_claim_depth20"]
    first_limit = int(oneshot * FIRST_CLAIM_MAX_RATIO)
    repeat = max(g["claim_depth20_repeat"], g["claim_depth20_repeat_one_epoch"])
    return [
        TargetResult(
            "postEpoch constant in the number of accounts",
            "execution gas "
            + " / ".join(f"{x[k]:,}" for k in sizes)
            + " for 10 / 1,000 / 1,000,000 accounts (paid: "
            + " / ".join(f"{g[k]:,}" for k in sizes)
            + "; zero bytes in the root: "
            + " / ".join(str(m.post_roots[k].count(0)) for k in POST_SIZES)
            + ", each 12 gas cheaper as calldata)",
            len({x[k] for k in sizes}) == 1,
        ),
        TargetResult(
            f"postEpoch under {POST_EPOCH_LIMIT:,} gas",
            f"{g['post_epoch']:,} (first epoch ever: {g['post_epoch_first']:,})",
            g["post_epoch"] < POST_EPOCH_LIMIT and g["post_epoch_first"] < POST_EPOCH_LIMIT,
        ),
        TargetResult(
            f"first claim at depth 20 at most {FIRST_CLAIM_MAX_RATIO}x the one-shot first claim",
            f"{g['claim_depth20_first']:,} vs {first_limit:,} allowed "
            f"({g['claim_depth20_first'] / oneshot:.3f}x {oneshot:,})",
            g["claim_depth20_first"] <= oneshot * FIRST_CLAIM_MAX_RATIO,
        ),
        TargetResult(
            "repeat claim at depth 20 (any number of new epochs) no dearer than the one-shot first claim",
            f"{g['claim_depth20_repeat']:,} after 4 epochs, {g['claim_depth20_repeat_one_epoch']:,} after 1, "
            f"vs {oneshot:,} ({repeat / oneshot:.3f}x)",
            repeat <= oneshot * REPEAT_CLAIM_MAX_RATIO,
        ),
    ]


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    baseline: str | None = None
    target: str = ""


def _rows() -> list[tuple[str, list[Row]]]:
    d20, d10 = "oneshot_claim_depth20", "oneshot_claim_depth10"
    first_target = f"≤ {FIRST_CLAIM_MAX_RATIO}x one-shot d20"
    repeat_target = "≤ one-shot d20"
    return [
        (
            "Deploy (once)",
            [Row(f"deploy_{_snake(n)}", n) for n in PRODUCT_CONTRACTS]
            + [
                Row("deploy_total", "total, the five contracts"),
                Row("deploy_wiring", "role and escrow wiring (all transactions)"),
                Row("deploy_test_settlement_token", "TestSettlementToken (tests and demos only)"),
            ],
        ),
        (
            "Settlement (oracle, one transaction a day)",
            [
                Row("commit_seed", "commitSeed"),
                Row("post_epoch_first", "postEpoch, the very first epoch", "naive_mint_per_trip"),
                Row(
                    "post_epoch_10_accounts",
                    "postEpoch, root of 10 accounts",
                    "naive_mint_per_trip",
                    "constant",
                ),
                Row(
                    "post_epoch_1000_accounts",
                    "postEpoch, root of 1,000 accounts",
                    "naive_mint_per_trip",
                    "constant",
                ),
                Row(
                    "post_epoch_1m_accounts",
                    "postEpoch, root of 1,000,000 accounts",
                    "naive_mint_per_trip",
                    "constant",
                ),
                Row("post_epoch", "postEpoch (largest of the three)", "naive_mint_per_trip", "< 150,000"),
            ],
        ),
        (
            "Claims (by anyone; next epoch pending unless noted)",
            [
                Row("claim_depth20_first", "claim, depth 20, first", d20, first_target),
                Row("claim_depth20_first_no_pending", "claim, depth 20, first, no epoch pending", d20),
                Row("claim_depth10_first", "claim, depth 10, first", d10),
                Row("claim_depth20_repeat", "claim, depth 20, repeat after 4 epochs", d20, repeat_target),
                Row(
                    "claim_depth20_repeat_one_epoch",
                    "claim, depth 20, repeat after 1 epoch",
                    d20,
                    repeat_target,
                ),
                Row("claim_depth20_repeat_no_pending", "claim, depth 20, repeat, no epoch pending", d20),
                Row("claim_depth10_repeat", "claim, depth 10, repeat after 4 epochs", d10),
                Row(f"claim_many_batch{BATCH}", f"claimMany, {BATCH} accounts, depth 20, first"),
                Row("claim_many_per_account", "  per account", d20),
                Row(f"claim_many_repeat_batch{BATCH}", f"claimMany, {BATCH} accounts, depth 20, repeat"),
                Row("claim_many_repeat_per_account", "  per account", d20),
            ],
        ),
        (
            "Baselines (bench/contracts, same compile)",
            [
                Row(d20, "one-shot claim, depth 20, fresh bitmap word"),
                Row(
                    "oneshot_claim_depth20_word_touched",
                    "one-shot claim, depth 20, word touched",
                    d20,
                ),
                Row(d10, "one-shot claim, depth 10, fresh bitmap word"),
                Row("naive_mint_first_trip", "naive rewardTrip, first trip of a new owner"),
                Row("naive_mint_per_trip", "naive rewardTrip, each later trip"),
                Row("deploy_oneshot_distributor", "deploy OneShotMerkleDistributor"),
                Row("deploy_plain_bench_token", "deploy PlainBenchToken"),
                Row("deploy_naive_trip_token", "deploy NaiveTripToken"),
                Row("deploy_checkpointed_bench_token", "deploy CheckpointedBenchToken"),
            ],
        ),
        (
            "Record-date balances: checkpoints vs balance root",
            [
                Row("plain_mint_fresh", "plain mint, fresh account"),
                Row("checkpoint_mint_fresh", "checkpointed mint, fresh account", "plain_mint_fresh"),
                Row("plain_mint_repeat", "plain mint, account holding a balance"),
                Row(
                    "checkpoint_mint_repeat",
                    "checkpointed mint, account holding a balance",
                    "plain_mint_repeat",
                ),
                Row(
                    "checkpoint_mint_overhead_fresh",
                    "checkpoint overhead, first claim",
                    "claim_depth20_first",
                ),
                Row(
                    "checkpoint_mint_overhead",
                    "checkpoint overhead, every later claim",
                    "claim_depth20_repeat",
                ),
                Row(
                    "post_balance_root",
                    "instead: postBalanceRoot, once a round",
                    "checkpoint_mint_overhead",
                ),
            ],
        ),
        (
            "Redemption desk",
            [
                Row("set_item", "setItem"),
                Row("order", "order"),
                Row("order_by_sig", "orderBySig (relayed), first of the signer"),
                Row("order_by_sig_repeat", "orderBySig (relayed), later"),
                Row("fulfil", "fulfil (burns the escrow)"),
                Row("cancel", "cancel by the fulfiller (refund)"),
            ],
        ),
        (
            "Equity vault",
            [
                Row("open_round", "openRound (funds the round)"),
                Row("post_balance_root", "postBalanceRoot"),
                Row("round_claim", "claimRound, depth 20", d20),
                Row("open_buyback", "openBuyback (funds the window)"),
                Row("buyback", "sellBack (burns stones, pays out)"),
            ],
        ),
    ]


def _short(key: str) -> str:
    names = {
        "oneshot_claim_depth20": "one-shot d20",
        "oneshot_claim_depth10": "one-shot d10",
        "naive_mint_per_trip": "naive trip",
        "plain_mint_fresh": "plain mint",
        "plain_mint_repeat": "plain mint",
        "claim_depth20_first": "first claim",
        "claim_depth20_repeat": "repeat claim",
        "checkpoint_mint_overhead": "ckpt overhead",
    }
    return names.get(key, key)


def _met_for(key: str, results: list[TargetResult]) -> bool | None:
    """Whether the target a row is judged by is met (``None``: the row has no target)."""
    index = {
        "post_epoch_10_accounts": 0,
        "post_epoch_1000_accounts": 0,
        "post_epoch_1m_accounts": 0,
        "post_epoch": 1,
        "claim_depth20_first": 2,
        "claim_depth20_repeat": 3,
        "claim_depth20_repeat_one_epoch": 3,
    }.get(key)
    return None if index is None else results[index].met


def _cells(m: Measurement, row: Row) -> tuple[str, str, str]:
    """Gas, ratio and the baseline's short name of a row."""
    if row.baseline is None:
        return f"{m.gas[row.key]:,}", "", ""
    return f"{m.gas[row.key]:,}", f"{m.gas[row.key] / m.gas[row.baseline]:.2f}x", _short(row.baseline)


def table(m: Measurement, results: list[TargetResult]) -> Table:
    out = Table(
        title="Yuanshi gas (embedded chain: eth-tester on py-evm, Prague rules)",
        caption=f"solc {m.compiler}, sources {m.sources_hash[:16]}; million-account root: {m.million_root}",
    )
    for column, justify in (
        ("operation", "left"),
        ("gas", "right"),
        ("ratio", "right"),
        ("vs", "left"),
        ("target", "left"),
        ("met?", "center"),
    ):
        out.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for title, rows in _rows():
        out.add_row(f"[bold]{title}[/]")
        for row in rows:
            met = _met_for(row.key, results)
            mark = "" if met is None else "[green]yes[/]" if met else "[red]NO[/]"
            out.add_row("  " + row.label, *_cells(m, row), row.target, mark)
        out.add_section()
    return out


def markdown(m: Measurement, results: list[TargetResult]) -> str:
    """The same table as GitHub-flavoured Markdown, for ``docs/benchmarks.md``."""
    lines = ["| operation | gas | ratio | vs | target | met? |", "|---|---:|---:|---|---|:-:|"]
    for title, rows in _rows():
        lines.append(f"| **{title}** | | | | | |")
        for row in rows:
            gas, ratio, versus = _cells(m, row)
            met = _met_for(row.key, results)
            mark = "" if met is None else "yes" if met else "**NO**"
            indent = "&nbsp;&nbsp;" if row.label.startswith("  ") else ""
            label = f"{indent}{row.label.strip()} `{row.key}`"
            lines.append(f"| {label} | {gas} | {ratio} | {versus} | {row.target} | {mark} |")
    lines.append("")
    lines.extend(f"- **{'met' if r.met else 'MISSED'}**: {r.name}: {r.detail}" for r in results)
    return "\n".join(lines) + "\n"


app = typer.Typer(add_completion=False)


@app.command()
def main(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object of gas figures.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Exit 1 if a target is missed.")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the table as Markdown (for docs/benchmarks.md).")
    ] = False,
    full_million: Annotated[
        bool,
        typer.Option(
            "--full-million", help="Build a real 1,000,000-account tree for postEpoch (about a minute)."
        ),
    ] = False,
) -> None:
    """Gas of every Yuanshi operation beside the one-shot distributor and the naive mint-per-trip token."""
    measurement = measure(full_million=full_million)
    results = evaluate(measurement)
    if as_json:
        typer.echo(json.dumps(measurement.gas, indent=2))
    elif as_markdown:
        typer.echo(markdown(measurement, results), nl=False)
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=WIDE)  # piped into a file or a CI log: no terminal width to fit
        console.print(table(measurement, results))
        for result in results:
            mark = "[green]met[/]   " if result.met else "[red]MISSED[/]"
            console.print(f"{mark} {result.name}: {result.detail}")
    if check and not all(r.met for r in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
