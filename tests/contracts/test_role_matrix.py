"""The role matrix of issue 2: every state-changing, role-restricted function of the system, called by every
role holder and by a stranger, in a state where the intended caller's call succeeds. Only the intended caller
gets through; everyone else is refused with the access error and its exact arguments.

Each function's precondition is built once and kept as a chain snapshot (snapshots are blocks, so they stay
reachable after a revert). The module manages its own snapshots rather than the ``system`` fixture's revert
after every test: see :class:`Cursor`. It starts from the deployed state and leaves the chain there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD

from ledger.chain import artifacts
from ledger.chain.deploy import RoleHolders, System
from ledger.chain.embedded import EmbeddedChain
from ledger.merkle import MerkleTree
from ledger.merkle import keccak256 as keccak
from tests.contracts.helpers import (
    commitment_for,
    epoch_end,
    post_epoch,
    reverts,
    secret_for,
    travel_to_at_least,
)

T = TypeVar("T")
Expected = tuple[str, tuple[object, ...]]

STONE = 10**18
DAY = 86_400
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
NEW_ACCOUNT = Web3.to_checksum_address("0x" + "ab" * 20)
ROLE_HOLDERS = ("admin", "oracle", "guardian", "pauser", "catalogue", "fulfiller", "treasurer", "recovery")
CALLERS = (*ROLE_HOLDERS, "stranger")
CONTRACTS = ("token", "distributor", "desk", "vault")
ARTIFACT = {
    "token": "StoneToken",
    "distributor": "RewardDistributor",
    "desk": "RedemptionDesk",
    "vault": "EquityVault",
}


def role_id(name: str) -> bytes:
    return bytes(32) if name == "DEFAULT_ADMIN_ROLE" else bytes(Web3.keccak(text=name))


ADMIN_ROLE = role_id("DEFAULT_ADMIN_ROLE")
ROLE_NAMES = (
    "DEFAULT_ADMIN_ROLE",
    "ORACLE_ROLE",
    "GUARDIAN_ROLE",
    "PAUSER_ROLE",
    "CATALOGUE_ROLE",
    "FULFILLER_ROLE",
    "TREASURER_ROLE",
    "RECOVERY_ROLE",
)

# Functions anyone may call (their own rules decide), so the matrix is known to be complete.
PUBLIC = {
    "token": {"transfer", "transferFrom", "approve", "renounceRole"},
    "distributor": {"claim", "claimMany", "renounceRole"},
    "desk": {"order", "orderBySig", "renounceRole"},
    "vault": {"claimRound", "sellBack", "sellBackBySig", "renounceRole"},
}

ITEM_ID = 7
ORDER_ID = 1  # the desk numbers orders from 1
ITEM_PRICE = 300 * STONE
CLAIMED = 1_000 * STONE
ROUND_FUNDING = 1_000_000 * 10**6
BUYBACK_PRICE = 2 * 10**6  # settlement units per whole stone
BUYBACK_BUDGET = 10_000 * STONE


# ----- test context and cached preconditions -----


@dataclass
class Ctx:
    chain: EmbeddedChain
    system: System
    stranger: str
    base: bytes

    @property
    def roles(self) -> RoleHolders:
        return self.system.roles

    @property
    def user(self) -> str:
        """An ordinary account outside the matrix: it earns, orders and loses keys."""
        return self.chain.accounts[9]

    def addr(self, caller: str) -> str:
        return self.stranger if caller == "stranger" else str(getattr(self.roles, caller))

    def contract(self, name: str) -> Contract:
        contract: Contract = getattr(self.system, name)
        return contract

    def send(self, fn: ContractFunction, sender: str) -> None:
        self.chain.send(fn, sender)

    def now(self) -> int:
        return self.chain.now()


_checkpoints: dict[tuple[str, bytes], tuple[int, Any]] = {}


def checkpoint(ctx: Ctx, key: str, build: Callable[[Ctx], T]) -> T:
    """Builds a precondition once per deployed state and snapshots it; later callers revert to the snapshot.
    Snapshots are blocks, so one taken on a branch stays reachable after the chain is reverted."""
    hit = _checkpoints.get((key, ctx.base))
    if hit is not None:
        ctx.chain.revert_to(hit[0])
        result: T = hit[1]
        return result
    value = build(ctx)
    _checkpoints[(key, ctx.base)] = (ctx.chain.snapshot(), value)
    return value


def funded(ctx: Ctx) -> int:
    """Epoch 0 posted and claimable with the user's entitlement, claimed: the user holds CLAIMED stones."""

    def build(ctx: Ctx) -> int:
        posted = post_epoch(ctx.chain, ctx.system, 0, {ctx.user: CLAIMED})
        ctx.send(
            ctx.system.distributor.functions.claim(ctx.user, CLAIMED, posted.tree.proof(ctx.user)),
            ctx.stranger,
        )
        return CLAIMED

    return checkpoint(ctx, "funded", build)


def escrowed_order(ctx: Ctx) -> int:
    """The user has ordered one upgrade: ITEM_PRICE stones sit in the desk's escrow. Returns the order id."""

    def build(ctx: Ctx) -> int:
        funded(ctx)
        desk = ctx.system.desk.functions
        ctx.send(desk.setItem(ITEM_ID, ITEM_PRICE, 5, True, keccak(b"lidar")), ctx.roles.catalogue)
        ctx.send(desk.order(ITEM_ID, ITEM_PRICE), ctx.user)
        assert desk.orderOf(ORDER_ID).call()[0] == ctx.user
        return ORDER_ID

    return checkpoint(ctx, "order", build)


def treasury(ctx: Ctx) -> None:
    """The treasurer holds settlement tokens and has approved the vault."""

    def build(ctx: Ctx) -> None:
        settlement = ctx.system.settlement.functions
        ctx.send(settlement.mint(ctx.roles.treasurer, 100 * ROUND_FUNDING), ctx.roles.treasurer)
        ctx.send(settlement.approve(ctx.system.vault.address, 2**256 - 1), ctx.roles.treasurer)

    checkpoint(ctx, "treasury", build)


@dataclass(frozen=True)
class Round:
    round_id: int
    record_date: int
    deadline: int


def opened_round(ctx: Ctx) -> Round:
    def build(ctx: Ctx) -> Round:
        treasury(ctx)
        record_date = ctx.now() + 3_600
        deadline = record_date + ctx.system.params.challenge_window + 30 * DAY
        vault = ctx.system.vault.functions
        ctx.send(vault.openRound(record_date, ROUND_FUNDING, deadline), ctx.roles.treasurer)
        return Round(int(vault.roundCount().call()), record_date, deadline)

    return checkpoint(ctx, "round", build)


def opened_buyback(ctx: Ctx) -> tuple[int, int]:
    """A buy-back window open for a week; returns its id and end."""

    def build(ctx: Ctx) -> tuple[int, int]:
        treasury(ctx)
        start, end = ctx.now(), ctx.now() + 7 * DAY
        vault = ctx.system.vault.functions
        ctx.send(vault.openBuyback(BUYBACK_PRICE, BUYBACK_BUDGET, start, end), ctx.roles.treasurer)
        return int(vault.buybackCount().call()), end

    return checkpoint(ctx, "buyback", build)


# ----- the cases -----


@dataclass(frozen=True)
class Prepared:
    """The call to make, and what the intended caller's success must have changed."""

    fn: ContractFunction
    check: Callable[[], None]


Denied = Callable[[Ctx, str], Expected]


def needs(role: str) -> Denied:
    """Refusal by OpenZeppelin's AccessControl: the caller lacks ``role``."""
    return lambda ctx, caller: ("AccessControlUnauthorizedAccount", (caller, role_id(role)))


@dataclass(frozen=True)
class Case:
    contract: str
    function: str
    intended: frozenset[str]
    denied: Denied
    prepare: Callable[[Ctx], Prepared]

    @property
    def id(self) -> str:
        return f"{self.contract}.{self.function}"


CASES: list[Case] = []


def case(
    contract: str,
    function: str,
    intended: str | tuple[str, ...],
    denied: Denied,
) -> Callable[[Callable[[Ctx], Prepared]], Callable[[Ctx], Prepared]]:
    def register(prepare: Callable[[Ctx], Prepared]) -> Callable[[Ctx], Prepared]:
        names = (intended,) if isinstance(intended, str) else intended
        CASES.append(Case(contract, function, frozenset(names), denied, prepare))
        return prepare

    return register


# StoneToken


@case("token", "setDistributor", "admin", needs("DEFAULT_ADMIN_ROLE"))
def _set_distributor(ctx: Ctx) -> Prepared:
    # The deployed token's distributor is bound once; a fresh token is the state where binding succeeds.
    def build(ctx: Ctx) -> str:
        p = ctx.system.params
        fresh, _ = ctx.chain.deploy(
            "StoneToken", ctx.roles.admin, ctx.roles.admin, p.admin_delay, p.recovery_delay
        )
        return str(fresh.address)

    fresh = ctx.chain.contract("StoneToken", checkpoint(ctx, "fresh-token", build))
    target = ctx.system.distributor.address

    def check() -> None:
        assert fresh.functions.distributor().call() == target

    return Prepared(fresh.functions.setDistributor(target), check)


@case("token", "setEscrow", "admin", needs("DEFAULT_ADMIN_ROLE"))
def _set_escrow(ctx: Ctx) -> Prepared:
    token = ctx.system.token.functions

    def check() -> None:
        assert token.isEscrow(NEW_ACCOUNT).call() is True

    return Prepared(token.setEscrow(NEW_ACCOUNT, True), check)


@case("token", "requestRecovery", "recovery", needs("RECOVERY_ROLE"))
def _request_recovery(ctx: Ctx) -> Prepared:
    token = ctx.system.token.functions
    lost = ctx.user

    def check() -> None:
        new_account, execute_after = token.pendingRecovery(lost).call()
        assert new_account == NEW_ACCOUNT
        assert execute_after == ctx.now() + ctx.system.params.recovery_delay

    return Prepared(token.requestRecovery(lost, NEW_ACCOUNT), check)


@case(
    "token",
    "cancelRecovery",
    ("recovery", "stranger"),
    lambda ctx, caller: ("NotRecoveryParty", (caller, ctx.stranger)),
)
def _cancel_recovery(ctx: Ctx) -> Prepared:
    # The lost account here is the stranger: the recovery role and the lost account itself may cancel.
    token = ctx.system.token.functions

    def build(ctx: Ctx) -> None:
        ctx.send(token.requestRecovery(ctx.stranger, NEW_ACCOUNT), ctx.roles.recovery)

    checkpoint(ctx, "recovery-requested", build)

    def check() -> None:
        assert tuple(token.pendingRecovery(ctx.stranger).call()) == (ZERO_ADDRESS, 0)

    return Prepared(token.cancelRecovery(ctx.stranger), check)


@case("token", "executeRecovery", "recovery", needs("RECOVERY_ROLE"))
def _execute_recovery(ctx: Ctx) -> Prepared:
    token = ctx.system.token.functions

    def build(ctx: Ctx) -> int:
        amount = funded(ctx)
        ctx.send(token.requestRecovery(ctx.user, NEW_ACCOUNT), ctx.roles.recovery)
        ctx.chain.advance(ctx.system.params.recovery_delay + 1)
        return amount

    amount = checkpoint(ctx, "recovery-ready", build)

    def check() -> None:
        assert token.balanceOf(ctx.user).call() == 0
        assert token.balanceOf(NEW_ACCOUNT).call() == amount
        assert token.pendingRecovery(ctx.user).call()[0] == ZERO_ADDRESS

    return Prepared(token.executeRecovery(ctx.user), check)


@case("token", "mint", (), lambda ctx, caller: ("CallerNotDistributor", (caller,)))
def _mint(ctx: Ctx) -> Prepared:
    # The distributor contract is the only minter; see test_only_the_distributor_mints for its success.
    token = ctx.system.token.functions
    return Prepared(token.mint(ctx.user, STONE), _unreachable)


@case("token", "burn", (), lambda ctx, caller: ("CallerNotEscrow", (caller,)))
def _burn(ctx: Ctx) -> Prepared:
    # The desk holds escrowed stones it could burn; every externally owned caller is refused.
    escrowed_order(ctx)
    return Prepared(ctx.system.token.functions.burn(ITEM_PRICE), _unreachable)


def _unreachable() -> None:
    raise AssertionError("no externally owned account may make this call")


# RewardDistributor


@case("distributor", "commitSeed", "oracle", needs("ORACLE_ROLE"))
def _commit_seed(ctx: Ctx) -> Prepared:
    distributor = ctx.system.distributor.functions
    epoch = 12  # the fixture committed 0..11

    def check() -> None:
        assert distributor.seedCommitment(epoch).call() == commitment_for(epoch)

    return Prepared(distributor.commitSeed(epoch, commitment_for(epoch)), check)


@case("distributor", "postEpoch", "oracle", needs("ORACLE_ROLE"))
def _post_epoch(ctx: Ctx) -> Prepared:
    distributor = ctx.system.distributor.functions

    def build(ctx: Ctx) -> None:
        travel_to_at_least(ctx.chain, epoch_end(ctx.system, 0))

    checkpoint(ctx, "epoch0-ended", build)
    root = MerkleTree.build([(ctx.user, CLAIMED)]).root
    fn = distributor.postEpoch(0, root, CLAIMED, 0, keccak(b"inputs"), secret_for(0), keccak(b"manifest"))

    def check() -> None:
        assert distributor.nextEpoch().call() == 1
        assert distributor.epochRecord(0).call()[0] == root

    return Prepared(fn, check)


@case("distributor", "veto", "guardian", needs("GUARDIAN_ROLE"))
def _veto(ctx: Ctx) -> Prepared:
    distributor = ctx.system.distributor.functions

    def build(ctx: Ctx) -> None:
        post_epoch(ctx.chain, ctx.system, 0, {ctx.user: CLAIMED}, finalize=False)

    checkpoint(ctx, "epoch0-posted", build)

    def check() -> None:
        assert distributor.nextEpoch().call() == 0
        assert distributor.epochRecord(0).call()[0] == bytes(32)

    return Prepared(distributor.veto(0), check)


def pause_cases(contract: str) -> None:
    @case(contract, "pause", "pauser", needs("PAUSER_ROLE"))
    def _pause(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions

        def check() -> None:
            assert target.paused().call() is True

        return Prepared(target.pause(), check)

    @case(contract, "unpause", "pauser", needs("PAUSER_ROLE"))
    def _unpause(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions

        def build(ctx: Ctx) -> None:
            ctx.send(target.pause(), ctx.roles.pauser)

        checkpoint(ctx, f"{contract}-paused", build)

        def check() -> None:
            assert target.paused().call() is False

        return Prepared(target.unpause(), check)


pause_cases("distributor")


# RedemptionDesk


@case("desk", "setItem", "catalogue", needs("CATALOGUE_ROLE"))
def _set_item(ctx: Ctx) -> Prepared:
    desk = ctx.system.desk.functions
    metadata = keccak(b"battery pack 100 kWh")

    def check() -> None:
        assert tuple(desk.item(ITEM_ID).call()) == (ITEM_PRICE, 3, True, metadata)

    return Prepared(desk.setItem(ITEM_ID, ITEM_PRICE, 3, True, metadata), check)


@case("desk", "fulfil", "fulfiller", needs("FULFILLER_ROLE"))
def _fulfil(ctx: Ctx) -> Prepared:
    desk = ctx.system.desk.functions
    token = ctx.system.token.functions
    order_id = escrowed_order(ctx)
    supply = int(token.totalSupply().call())

    def check() -> None:
        assert desk.orderOf(order_id).call()[2] == 2  # Fulfilled
        assert token.totalSupply().call() == supply - ITEM_PRICE
        assert token.balanceOf(ctx.system.desk.address).call() == 0

    return Prepared(desk.fulfil(order_id), check)


@case("desk", "cancel", "fulfiller", lambda ctx, caller: ("NotOrderParty", (ORDER_ID, caller)))
def _cancel(ctx: Ctx) -> Prepared:
    # Before the buyer's timeout only the fulfiller may cancel; the buyer is outside the matrix.
    desk = ctx.system.desk.functions
    token = ctx.system.token.functions
    order_id = escrowed_order(ctx)

    def check() -> None:
        assert desk.orderOf(order_id).call()[2] == 3  # Cancelled
        assert token.balanceOf(ctx.user).call() == CLAIMED

    return Prepared(desk.cancel(order_id), check)


pause_cases("desk")


# EquityVault


@case("vault", "openRound", "treasurer", needs("TREASURER_ROLE"))
def _open_round(ctx: Ctx) -> Prepared:
    vault = ctx.system.vault.functions
    treasury(ctx)
    record_date = ctx.now() + 3_600
    deadline = record_date + 60 * DAY

    def check() -> None:
        assert vault.roundCount().call() == 1
        opened = vault.round(1).call()
        assert (opened[0], opened[1], opened[5]) == (record_date, deadline, ROUND_FUNDING)
        vault_balance = ctx.system.settlement.functions.balanceOf(ctx.system.vault.address).call()
        assert vault_balance == ROUND_FUNDING

    return Prepared(vault.openRound(record_date, ROUND_FUNDING, deadline), check)


@case("vault", "postBalanceRoot", "oracle", needs("ORACLE_ROLE"))
def _post_balance_root(ctx: Ctx) -> Prepared:
    vault = ctx.system.vault.functions
    root = MerkleTree.build([(ctx.user, CLAIMED)]).root

    def build(ctx: Ctx) -> int:
        opened = opened_round(ctx)
        ctx.chain.travel_to(opened.record_date + 1)
        return opened.round_id

    round_id = checkpoint(ctx, "round-record-date-passed", build)

    def check() -> None:
        posted = vault.round(round_id).call()
        assert (posted[4], posted[6]) == (root, CLAIMED)

    return Prepared(vault.postBalanceRoot(round_id, root, CLAIMED), check)


@case("vault", "vetoBalanceRoot", "guardian", needs("GUARDIAN_ROLE"))
def _veto_balance_root(ctx: Ctx) -> Prepared:
    vault = ctx.system.vault.functions

    def build(ctx: Ctx) -> int:
        opened = opened_round(ctx)
        ctx.chain.travel_to(opened.record_date + 1)
        root = MerkleTree.build([(ctx.user, CLAIMED)]).root
        ctx.send(vault.postBalanceRoot(opened.round_id, root, CLAIMED), ctx.roles.oracle)
        return opened.round_id

    round_id = checkpoint(ctx, "round-root-posted", build)

    def check() -> None:
        vetoed = vault.round(round_id).call()
        assert (vetoed[2], vetoed[4], vetoed[6]) == (0, bytes(32), 0)

    return Prepared(vault.vetoBalanceRoot(round_id), check)


@case("vault", "sweep", "treasurer", needs("TREASURER_ROLE"))
def _sweep(ctx: Ctx) -> Prepared:
    vault = ctx.system.vault.functions
    settlement = ctx.system.settlement.functions

    def build(ctx: Ctx) -> int:
        opened = opened_round(ctx)
        ctx.chain.travel_to(opened.deadline + 1)
        return opened.round_id

    round_id = checkpoint(ctx, "round-deadline-passed", build)

    def check() -> None:
        assert vault.round(round_id).call()[3] is True  # swept
        assert settlement.balanceOf(NEW_ACCOUNT).call() == ROUND_FUNDING

    return Prepared(vault.sweep(round_id, NEW_ACCOUNT), check)


@case("vault", "openBuyback", "treasurer", needs("TREASURER_ROLE"))
def _open_buyback(ctx: Ctx) -> Prepared:
    vault = ctx.system.vault.functions
    treasury(ctx)
    start, end = ctx.now(), ctx.now() + 7 * DAY

    def check() -> None:
        assert vault.buybackCount().call() == 1
        opened = vault.buyback(1).call()
        assert (opened[0], opened[1], opened[3], opened[4]) == (start, end, BUYBACK_PRICE, BUYBACK_BUDGET)

    return Prepared(vault.openBuyback(BUYBACK_PRICE, BUYBACK_BUDGET, start, end), check)


@case("vault", "closeBuyback", "treasurer", needs("TREASURER_ROLE"))
def _close_buyback(ctx: Ctx) -> Prepared:
    vault = ctx.system.vault.functions
    settlement = ctx.system.settlement.functions

    def build(ctx: Ctx) -> int:
        buyback_id, end = opened_buyback(ctx)
        ctx.chain.travel_to(end + 1)
        return buyback_id

    buyback_id = checkpoint(ctx, "buyback-ended", build)

    def check() -> None:
        assert vault.buyback(buyback_id).call()[2] is True  # closed
        assert settlement.balanceOf(NEW_ACCOUNT).call() == BUYBACK_PRICE * BUYBACK_BUDGET // STONE

    return Prepared(vault.closeBuyback(buyback_id, NEW_ACCOUNT), check)


pause_cases("vault")


# Default-admin functions of every access-controlled contract (OpenZeppelin AccessControlDefaultAdminRules)

GRANTED_ROLE = {
    "token": "RECOVERY_ROLE",
    "distributor": "PAUSER_ROLE",
    "desk": "PAUSER_ROLE",
    "vault": "PAUSER_ROLE",
}
REVOKED = {
    "token": ("RECOVERY_ROLE", "recovery"),
    "distributor": ("ORACLE_ROLE", "oracle"),
    "desk": ("FULFILLER_ROLE", "fulfiller"),
    "vault": ("TREASURER_ROLE", "treasurer"),
}


def admin_cases(contract: str) -> None:
    admin_only = needs("DEFAULT_ADMIN_ROLE")

    @case(contract, "grantRole", "admin", admin_only)
    def _grant(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions
        role = role_id(GRANTED_ROLE[contract])

        def check() -> None:
            assert target.hasRole(role, NEW_ACCOUNT).call() is True

        return Prepared(target.grantRole(role, NEW_ACCOUNT), check)

    @case(contract, "revokeRole", "admin", admin_only)
    def _revoke(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions
        name, holder = REVOKED[contract]
        account = ctx.addr(holder)

        def check() -> None:
            assert target.hasRole(role_id(name), account).call() is False

        return Prepared(target.revokeRole(role_id(name), account), check)

    @case(contract, "beginDefaultAdminTransfer", "admin", admin_only)
    def _begin(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions

        def check() -> None:
            pending, schedule = target.pendingDefaultAdmin().call()
            assert pending == NEW_ACCOUNT
            assert schedule == ctx.now() + ctx.system.params.admin_delay
            assert target.defaultAdmin().call() == ctx.roles.admin

        return Prepared(target.beginDefaultAdminTransfer(NEW_ACCOUNT), check)

    @case(contract, "cancelDefaultAdminTransfer", "admin", admin_only)
    def _cancel_transfer(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions

        def build(ctx: Ctx) -> None:
            ctx.send(target.beginDefaultAdminTransfer(NEW_ACCOUNT), ctx.roles.admin)

        checkpoint(ctx, f"{contract}-transfer-begun", build)

        def check() -> None:
            assert tuple(target.pendingDefaultAdmin().call()) == (ZERO_ADDRESS, 0)

        return Prepared(target.cancelDefaultAdminTransfer(), check)

    @case(
        contract,
        "acceptDefaultAdminTransfer",
        "stranger",
        lambda ctx, caller: ("AccessControlInvalidDefaultAdmin", (caller,)),
    )
    def _accept(ctx: Ctx) -> Prepared:
        # The stranger was nominated and the delay has passed: only the nominee may accept.
        target = ctx.contract(contract).functions

        def build(ctx: Ctx) -> None:
            ctx.send(target.beginDefaultAdminTransfer(ctx.stranger), ctx.roles.admin)
            ctx.chain.advance(ctx.system.params.admin_delay + 1)

        checkpoint(ctx, f"{contract}-transfer-due", build)

        def check() -> None:
            assert target.defaultAdmin().call() == ctx.stranger
            assert target.hasRole(ADMIN_ROLE, ctx.roles.admin).call() is False

        return Prepared(target.acceptDefaultAdminTransfer(), check)

    @case(contract, "changeDefaultAdminDelay", "admin", admin_only)
    def _change_delay(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions

        def check() -> None:
            assert target.pendingDefaultAdminDelay().call()[0] == DAY

        return Prepared(target.changeDefaultAdminDelay(DAY), check)

    @case(contract, "rollbackDefaultAdminDelay", "admin", admin_only)
    def _rollback_delay(ctx: Ctx) -> Prepared:
        target = ctx.contract(contract).functions

        def build(ctx: Ctx) -> None:
            ctx.send(target.changeDefaultAdminDelay(DAY), ctx.roles.admin)

        checkpoint(ctx, f"{contract}-delay-change-pending", build)

        def check() -> None:
            assert tuple(target.pendingDefaultAdminDelay().call()) == (0, 0)
            assert target.defaultAdminDelay().call() == ctx.system.params.admin_delay

        return Prepared(target.rollbackDefaultAdminDelay(), check)


for _contract in CONTRACTS:
    admin_cases(_contract)

CASES_BY_ID = {c.id: c for c in CASES}


# ----- the matrix -----


BASE = "deployed"


class Cursor:
    """Where this module has left the chain. The module starts from the deployed state and returns to it at
    its end; in between, a refused call mines nothing, so the matrix's refusals of one function run on one
    restored precondition instead of reverting before and after each of them."""

    def __init__(self, chain: EmbeddedChain) -> None:
        self.chain = chain
        self.snapshot = chain.snapshot()
        self.base = bytes(chain.w3.eth.get_block("latest")["hash"])
        self.at: str | None = BASE  # the checkpoint the chain sits on untouched; None once anything mined

    def reset(self) -> None:
        if self.at != BASE:
            self.chain.revert_to(self.snapshot)
            self.at = BASE


@pytest.fixture(scope="module")
def cursor(chain: EmbeddedChain, deployed: System) -> Iterator[Cursor]:
    cursor = Cursor(chain)
    yield cursor
    chain.revert_to(cursor.snapshot)


@pytest.fixture
def at_base(cursor: Cursor) -> Cursor:
    """The deployed state, for a test that only reads."""
    cursor.reset()
    return cursor


@pytest.fixture
def ctx(chain: EmbeddedChain, deployed: System, stranger: str, cursor: Cursor) -> Ctx:
    """The deployed state, for a test that changes it."""
    cursor.reset()
    cursor.at = None
    return Ctx(chain, deployed, stranger, cursor.base)


MATRIX = [pytest.param(c.id, caller, id=f"{c.id}-by-{caller}") for c in CASES for caller in CALLERS]


@pytest.mark.parametrize(("case_id", "caller"), MATRIX)
def test_role_matrix(
    chain: EmbeddedChain, deployed: System, stranger: str, cursor: Cursor, case_id: str, caller: str
) -> None:
    spec = CASES_BY_ID[case_id]
    ctx = Ctx(chain, deployed, stranger, cursor.base)
    key = f"case:{case_id}"
    hit = _checkpoints.get((key, ctx.base))
    if hit is not None and cursor.at == key:
        prepared: Prepared = hit[1]  # the chain still sits on this precondition
    else:
        cursor.reset()
        cursor.at = None
        prepared = checkpoint(ctx, key, spec.prepare)  # restores (or builds) the precondition
    cursor.at = None
    sender = ctx.addr(caller)
    if caller in spec.intended:
        ctx.send(prepared.fn, sender)
        prepared.check()
    else:
        name, args = spec.denied(ctx, sender)
        with reverts(name, *args):
            ctx.send(prepared.fn, sender)
        cursor.at = key  # refused: nothing was mined, the precondition still stands


def test_matrix_covers_every_state_changing_function() -> None:
    for contract in CONTRACTS:
        abi = artifacts.load(ARTIFACT[contract]).abi
        state_changing = {
            item["name"]
            for item in abi
            if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
        }
        in_matrix = {c.function for c in CASES if c.contract == contract}
        assert in_matrix.isdisjoint(PUBLIC[contract])
        assert state_changing == in_matrix | PUBLIC[contract], contract
    assert not {
        item["name"]
        for item in artifacts.load("EmissionSchedule").abi
        if item["type"] == "function" and item["stateMutability"] not in ("view", "pure")
    }


def test_only_the_distributor_mints(ctx: Ctx) -> None:
    token = ctx.system.token
    assert token.functions.distributor().call() == ctx.system.distributor.address
    posted = post_epoch(ctx.chain, ctx.system, 0, {ctx.user: CLAIMED})
    claim = ctx.system.distributor.functions.claim(ctx.user, CLAIMED, posted.tree.proof(ctx.user))
    receipt = ctx.chain.send(claim, ctx.stranger)
    # The stranger's claim reached the token through the distributor, which minted to the user.
    assert receipt["to"] == ctx.system.distributor.address
    minted = token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert [(e["args"]["from"], e["args"]["to"], e["args"]["value"]) for e in minted] == [
        (ZERO_ADDRESS, ctx.user, CLAIMED)
    ]
    assert token.functions.balanceOf(ctx.user).call() == CLAIMED
    assert token.functions.totalSupply().call() == CLAIMED


def test_only_escrows_burn(ctx: Ctx) -> None:
    token = ctx.system.token.functions
    order_id = escrowed_order(ctx)
    assert token.isEscrow(ctx.system.desk.address).call() is True
    ctx.send(ctx.system.desk.functions.fulfil(order_id), ctx.roles.fulfiller)  # the desk calls burn
    assert token.totalSupply().call() == CLAIMED - ITEM_PRICE
    # An address the admin registers as an escrow may burn its own stones; unregistered, it may not.
    ctx.send(token.setEscrow(ctx.user, True), ctx.roles.admin)
    ctx.send(token.burn(STONE), ctx.user)
    assert token.balanceOf(ctx.user).call() == CLAIMED - ITEM_PRICE - STONE
    ctx.send(token.setEscrow(ctx.user, False), ctx.roles.admin)
    with reverts("CallerNotEscrow", ctx.user):
        ctx.send(token.burn(STONE), ctx.user)


# ----- the admin's two-step transfer -----


def test_admin_transfer_takes_two_steps_and_the_delay(ctx: Ctx) -> None:
    distributor = ctx.system.distributor.functions
    admin, nominee = ctx.roles.admin, ctx.stranger
    delay = ctx.system.params.admin_delay
    assert distributor.defaultAdminDelay().call() == delay == 3 * DAY

    ctx.send(distributor.beginDefaultAdminTransfer(nominee), admin)
    pending, schedule = distributor.pendingDefaultAdmin().call()
    assert pending == nominee
    assert schedule == ctx.now() + delay

    with reverts("AccessControlEnforcedDefaultAdminDelay", schedule):
        ctx.send(distributor.acceptDefaultAdminTransfer(), nominee)
    ctx.chain.travel_to(schedule - 60)
    with reverts("AccessControlEnforcedDefaultAdminDelay", schedule):
        ctx.send(distributor.acceptDefaultAdminTransfer(), nominee)
    # Until the nominee accepts, the old admin still governs.
    assert distributor.defaultAdmin().call() == admin
    assert distributor.hasRole(ADMIN_ROLE, nominee).call() is False

    ctx.chain.travel_to(schedule + 1)
    ctx.send(distributor.acceptDefaultAdminTransfer(), nominee)
    assert distributor.defaultAdmin().call() == nominee
    assert distributor.owner().call() == nominee
    assert distributor.hasRole(ADMIN_ROLE, nominee).call() is True
    assert distributor.hasRole(ADMIN_ROLE, admin).call() is False
    assert tuple(distributor.pendingDefaultAdmin().call()) == (ZERO_ADDRESS, 0)

    pauser = role_id("PAUSER_ROLE")
    with reverts("AccessControlUnauthorizedAccount", admin, ADMIN_ROLE):
        ctx.send(distributor.grantRole(pauser, NEW_ACCOUNT), admin)
    ctx.send(distributor.grantRole(pauser, NEW_ACCOUNT), nominee)
    assert distributor.hasRole(pauser, NEW_ACCOUNT).call() is True
    # The other contracts keep their admin: each transfers on its own.
    for other in ("token", "desk", "vault"):
        assert ctx.contract(other).functions.defaultAdmin().call() == admin


@pytest.mark.parametrize("contract", CONTRACTS)
def test_default_admin_cannot_be_granted_or_revoked_directly(ctx: Ctx, contract: str) -> None:
    target = ctx.contract(contract).functions
    with reverts("AccessControlEnforcedDefaultAdminRules"):
        ctx.send(target.grantRole(ADMIN_ROLE, ctx.stranger), ctx.roles.admin)
    with reverts("AccessControlEnforcedDefaultAdminRules"):
        ctx.send(target.revokeRole(ADMIN_ROLE, ctx.roles.admin), ctx.roles.admin)
    assert target.defaultAdmin().call() == ctx.roles.admin


# ----- roles kept apart -----


EXPECTED_HOLDERS = {
    "token": {"DEFAULT_ADMIN_ROLE": "admin", "RECOVERY_ROLE": "recovery"},
    "distributor": {
        "DEFAULT_ADMIN_ROLE": "admin",
        "ORACLE_ROLE": "oracle",
        "GUARDIAN_ROLE": "guardian",
        "PAUSER_ROLE": "pauser",
    },
    "desk": {
        "DEFAULT_ADMIN_ROLE": "admin",
        "PAUSER_ROLE": "pauser",
        "CATALOGUE_ROLE": "catalogue",
        "FULFILLER_ROLE": "fulfiller",
    },
    "vault": {
        "DEFAULT_ADMIN_ROLE": "admin",
        "ORACLE_ROLE": "oracle",
        "GUARDIAN_ROLE": "guardian",
        "PAUSER_ROLE": "pauser",
        "TREASURER_ROLE": "treasurer",
    },
}


def test_role_identifiers(deployed: System, at_base: Cursor) -> None:
    for contract in CONTRACTS:
        fns = getattr(deployed, contract).functions
        for name in ROLE_NAMES:
            assert bytes(getattr(fns, name)().call()) == role_id(name), (contract, name)
            assert bytes(fns.getRoleAdmin(role_id(name)).call()) == ADMIN_ROLE, (contract, name)


def test_deployment_keeps_roles_apart(deployed: System, stranger: str, at_base: Cursor) -> None:
    holders = {name: str(getattr(deployed.roles, name)) for name in ROLE_HOLDERS}
    holders["stranger"] = stranger
    assert len(set(holders.values())) == len(holders)

    held: dict[str, set[str]] = {name: set() for name in holders}
    table: dict[str, dict[str, str]] = {contract: {} for contract in CONTRACTS}
    for contract in CONTRACTS:
        fns = getattr(deployed, contract).functions
        for role in ROLE_NAMES:
            for holder, address in holders.items():
                if fns.hasRole(role_id(role), address).call({"from": stranger}):
                    assert role not in table[contract], (contract, role, "held twice")
                    table[contract][role] = holder
                    held[holder].add(role)
        assert fns.defaultAdmin().call() == holders["admin"]
    assert table == EXPECTED_HOLDERS
    for holder, roles_held in held.items():
        assert len(roles_held) <= 1, (holder, roles_held)
    assert held["stranger"] == set()


def test_no_role_was_ever_granted_to_anyone_else(
    chain: EmbeddedChain, deployed: System, at_base: Cursor
) -> None:
    # hasRole can only ask about known addresses; the grant events name every holder there has been.
    granted_topic = bytes(Web3.keccak(text="RoleGranted(bytes32,address,address)"))
    revoked_topic = bytes(Web3.keccak(text="RoleRevoked(bytes32,address,address)"))
    contract_of: dict[ChecksumAddress, str] = {getattr(deployed, c).address: c for c in CONTRACTS}
    role_of = {role_id(name): name for name in ROLE_NAMES}
    holder_of = {str(getattr(deployed.roles, name)): name for name in ROLE_HOLDERS}
    logs = chain.w3.eth.get_logs(
        {"address": list(contract_of), "fromBlock": 0, "toBlock": deployed.deployed_at_block}
    )
    granted: dict[str, set[tuple[str, str]]] = {c: set() for c in CONTRACTS}
    for log in logs:
        topic = bytes(log["topics"][0])
        assert topic != revoked_topic, log
        if topic == granted_topic:
            account = Web3.to_checksum_address(bytes(log["topics"][2])[12:])
            role = role_of[bytes(log["topics"][1])]
            granted[contract_of[log["address"]]].add((role, holder_of.get(account, account)))
    assert granted == {c: set(EXPECTED_HOLDERS[c].items()) for c in CONTRACTS}
