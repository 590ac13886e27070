"""StoneToken: every function and every revert path (IStoneToken NatSpec, issue 2, DESIGN §5).

Most tests run on a fresh StoneToken whose distributor and escrow are plain accounts, so minting and
escrow moves can be driven directly; the deployed system's token (distributor and escrows already
bound) covers the recovery flow end to end, with stones actually claimed from the distributor.

Time boundaries are tested with transactions placed at an exact second by :func:`tx_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain.deploy import RoleHolders, System
from ledger.chain.embedded import EmbeddedChain
from ledger.schedule import CAP, UNIT
from tests.contracts.helpers import new_account, post_epoch, reverts

ZERO_ADDRESS = "0x" + "00" * 20
MAX_UINT256 = 2**256 - 1
DEFAULT_ADMIN_ROLE = b"\x00" * 32
RECOVERY_ROLE = bytes(Web3.keccak(text="RECOVERY_ROLE"))


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


def random_address() -> str:
    address: str = Account.create().address
    return address


@dataclass
class Fresh:
    """A StoneToken deployed for one test, not yet wired to anything."""

    token: Contract
    admin: str
    minter: str
    escrow: str
    alice: str
    bob: str


@pytest.fixture
def fresh(chain: EmbeddedChain, system: System, roles: RoleHolders) -> Fresh:
    token, _ = chain.deploy(
        "StoneToken",
        roles.admin,  # sender
        roles.admin,
        system.params.admin_delay,
        system.params.recovery_delay,
    )
    return Fresh(
        token=token,
        admin=roles.admin,
        minter=chain.accounts[9],
        escrow=new_account(chain).address,
        alice=new_account(chain).address,
        bob=new_account(chain).address,
    )


@pytest.fixture
def bound(chain: EmbeddedChain, fresh: Fresh) -> Fresh:
    """``fresh`` with an EOA as distributor, another as escrow, and 100 stones minted to alice."""
    chain.send(fresh.token.functions.setDistributor(fresh.minter), fresh.admin)
    chain.send(fresh.token.functions.setEscrow(fresh.escrow, True), fresh.admin)
    chain.send(fresh.token.functions.mint(fresh.alice, 100 * UNIT), fresh.minter)
    return fresh


def balance(token: Contract, account: str) -> int:
    return int(token.functions.balanceOf(account).call())


# --- metadata and wiring --------------------------------------------------------------------------


def test_metadata_and_cap(system: System) -> None:
    token = system.token
    assert token.functions.name().call() == "Yuanshi Stone"
    assert token.functions.symbol().call() == "STONE"
    assert token.functions.decimals().call() == 18
    assert token.functions.CAP().call() == 300_000_000 * 10**18 == CAP
    assert token.functions.cap().call() == CAP
    assert token.functions.totalSupply().call() == 0
    assert token.functions.recoveryDelay().call() == system.params.recovery_delay


def test_deployed_token_is_wired_to_the_system(system: System, roles: RoleHolders) -> None:
    token = system.token
    assert token.functions.distributor().call() == system.distributor.address
    assert token.functions.isEscrow(system.desk.address).call() is True
    assert token.functions.isEscrow(system.vault.address).call() is True
    assert token.functions.isEscrow(system.distributor.address).call() is False
    assert token.functions.hasRole(RECOVERY_ROLE, roles.recovery).call() is True
    assert token.functions.defaultAdmin().call() == roles.admin


def test_set_distributor_binds_exactly_once(chain: EmbeddedChain, fresh: Fresh, stranger: str) -> None:
    token = fresh.token
    assert token.functions.distributor().call() == ZERO_ADDRESS

    with reverts("AccessControlUnauthorizedAccount", stranger, DEFAULT_ADMIN_ROLE):
        chain.send(token.functions.setDistributor(fresh.minter), stranger)
    with reverts("ZeroAddress"):
        chain.send(token.functions.setDistributor(ZERO_ADDRESS), fresh.admin)
    assert token.functions.distributor().call() == ZERO_ADDRESS

    receipt = chain.send(token.functions.setDistributor(fresh.minter), fresh.admin)
    assert emitted(token, "DistributorSet", receipt) == [{"distributor": fresh.minter}]
    assert token.functions.distributor().call() == fresh.minter

    # Once bound, neither another address, the same one, nor zero can replace it.
    other = random_address()
    with reverts("DistributorAlreadySet", fresh.minter):
        chain.send(token.functions.setDistributor(other), fresh.admin)
    with reverts("DistributorAlreadySet", fresh.minter):
        chain.send(token.functions.setDistributor(fresh.minter), fresh.admin)
    with reverts("DistributorAlreadySet", fresh.minter):
        chain.send(token.functions.setDistributor(ZERO_ADDRESS), fresh.admin)
    assert token.functions.distributor().call() == fresh.minter


def test_deployed_distributor_cannot_be_replaced(
    chain: EmbeddedChain, system: System, roles: RoleHolders
) -> None:
    with reverts("DistributorAlreadySet", system.distributor.address):
        chain.send(system.token.functions.setDistributor(roles.oracle), roles.admin)


def test_set_escrow_registers_and_unregisters(chain: EmbeddedChain, fresh: Fresh, stranger: str) -> None:
    token = fresh.token
    with reverts("AccessControlUnauthorizedAccount", stranger, DEFAULT_ADMIN_ROLE):
        chain.send(token.functions.setEscrow(fresh.escrow, True), stranger)
    with reverts("ZeroAddress"):
        chain.send(token.functions.setEscrow(ZERO_ADDRESS, True), fresh.admin)
    with reverts("ZeroAddress"):
        chain.send(token.functions.setEscrow(ZERO_ADDRESS, False), fresh.admin)
    assert token.functions.isEscrow(fresh.escrow).call() is False
    assert token.functions.allowance(fresh.alice, fresh.escrow).call() == 0

    receipt = chain.send(token.functions.setEscrow(fresh.escrow, True), fresh.admin)
    assert emitted(token, "EscrowSet", receipt) == [{"escrow": fresh.escrow, "enabled": True}]
    assert token.functions.isEscrow(fresh.escrow).call() is True
    assert token.functions.allowance(fresh.alice, fresh.escrow).call() == MAX_UINT256

    receipt = chain.send(token.functions.setEscrow(fresh.escrow, False), fresh.admin)
    assert emitted(token, "EscrowSet", receipt) == [{"escrow": fresh.escrow, "enabled": False}]
    assert token.functions.isEscrow(fresh.escrow).call() is False
    assert token.functions.allowance(fresh.alice, fresh.escrow).call() == 0


# --- mint and cap ---------------------------------------------------------------------------------


def test_nobody_mints_before_a_distributor_is_bound(
    chain: EmbeddedChain, fresh: Fresh, stranger: str
) -> None:
    for caller in (fresh.minter, fresh.admin, stranger):
        with reverts("CallerNotDistributor", caller):
            chain.send(fresh.token.functions.mint(fresh.alice, 1), caller)
    assert fresh.token.functions.totalSupply().call() == 0


def test_only_the_distributor_mints(chain: EmbeddedChain, fresh: Fresh, stranger: str) -> None:
    token = fresh.token
    chain.send(token.functions.setDistributor(fresh.minter), fresh.admin)
    for caller in (stranger, fresh.admin, fresh.alice):
        with reverts("CallerNotDistributor", caller):
            chain.send(token.functions.mint(caller, UNIT), caller)

    receipt = chain.send(token.functions.mint(fresh.alice, 7 * UNIT), fresh.minter)
    assert emitted(token, "Transfer", receipt) == [
        {"from": ZERO_ADDRESS, "to": fresh.alice, "value": 7 * UNIT}
    ]
    assert balance(token, fresh.alice) == 7 * UNIT
    assert token.functions.totalSupply().call() == 7 * UNIT

    with reverts("ERC20InvalidReceiver", ZERO_ADDRESS):
        chain.send(token.functions.mint(ZERO_ADDRESS, 1), fresh.minter)


def test_deployed_token_mints_only_through_the_distributor(
    chain: EmbeddedChain, system: System, roles: RoleHolders, stranger: str
) -> None:
    for caller in (stranger, roles.admin, roles.oracle):
        with reverts("CallerNotDistributor", caller):
            chain.send(system.token.functions.mint(caller, 1), caller)


def test_mint_is_capped_at_300_million_stones(chain: EmbeddedChain, fresh: Fresh) -> None:
    token = fresh.token
    chain.send(token.functions.setDistributor(fresh.minter), fresh.admin)
    chain.send(token.functions.mint(fresh.alice, CAP - 1), fresh.minter)

    with reverts("ERC20ExceededCap", CAP + 1, CAP):
        chain.send(token.functions.mint(fresh.bob, 2), fresh.minter)
    assert token.functions.totalSupply().call() == CAP - 1

    chain.send(token.functions.mint(fresh.bob, 1), fresh.minter)
    assert token.functions.totalSupply().call() == CAP
    assert balance(token, fresh.bob) == 1

    with reverts("ERC20ExceededCap", CAP + 1, CAP):
        chain.send(token.functions.mint(fresh.bob, 1), fresh.minter)
    with reverts("ERC20ExceededCap", CAP + 10 * UNIT, CAP):
        chain.send(token.functions.mint(fresh.alice, 10 * UNIT), fresh.minter)
    assert token.functions.totalSupply().call() == CAP


# --- no transfers between users -------------------------------------------------------------------


def test_transfers_between_users_revert(chain: EmbeddedChain, bound: Fresh) -> None:
    token, alice, bob = bound.token, bound.alice, bound.bob
    carol = new_account(chain).address

    with reverts("StoneNonTransferable", alice, bob):
        chain.send(token.functions.transfer(bob, UNIT), alice)
    with reverts("StoneNonTransferable", alice, bob):
        chain.send(token.functions.transfer(bob, 0), alice)
    with reverts("StoneNonTransferable", alice, alice):
        chain.send(token.functions.transfer(alice, UNIT), alice)
    # A holder without stones cannot send either: the rule is checked before the balance.
    with reverts("StoneNonTransferable", bob, alice):
        chain.send(token.functions.transfer(alice, UNIT), bob)
    with reverts("ERC20InvalidReceiver", ZERO_ADDRESS):
        chain.send(token.functions.transfer(ZERO_ADDRESS, UNIT), alice)

    # An approval between users is recorded but cannot be used to move stones to a user.
    receipt = chain.send(token.functions.approve(bob, 50 * UNIT), alice)
    assert emitted(token, "Approval", receipt) == [{"owner": alice, "spender": bob, "value": 50 * UNIT}]
    assert token.functions.allowance(alice, bob).call() == 50 * UNIT
    with reverts("StoneNonTransferable", alice, bob):
        chain.send(token.functions.transferFrom(alice, bob, UNIT), bob)
    with reverts("StoneNonTransferable", alice, carol):
        chain.send(token.functions.transferFrom(alice, carol, UNIT), bob)

    assert balance(token, alice) == 100 * UNIT
    assert balance(token, bob) == 0
    assert balance(token, carol) == 0
    assert token.functions.allowance(alice, bob).call() == 50 * UNIT
    assert token.functions.totalSupply().call() == 100 * UNIT


def test_claimed_stones_of_the_deployed_token_stay_put(
    chain: EmbeddedChain, system: System, stranger: str
) -> None:
    alice, bob = new_account(chain).address, new_account(chain).address
    posted = post_epoch(chain, system, 0, {alice: 10 * UNIT, bob: 5 * UNIT})
    chain.send(system.distributor.functions.claim(alice, 10 * UNIT, posted.tree.proof(alice)), stranger)
    with reverts("StoneNonTransferable", alice, bob):
        chain.send(system.token.functions.transfer(bob, 10 * UNIT), alice)
    chain.send(system.token.functions.approve(bob, 10 * UNIT), alice)
    with reverts("StoneNonTransferable", alice, bob):
        chain.send(system.token.functions.transferFrom(alice, bob, 10 * UNIT), bob)
    assert balance(system.token, alice) == 10 * UNIT
    assert balance(system.token, bob) == 0


# --- escrow moves ---------------------------------------------------------------------------------


def test_moves_into_and_out_of_an_escrow(chain: EmbeddedChain, bound: Fresh) -> None:
    token, alice, bob, escrow = bound.token, bound.alice, bound.bob, bound.escrow

    receipt = chain.send(token.functions.transfer(escrow, 40 * UNIT), alice)
    assert emitted(token, "Transfer", receipt) == [{"from": alice, "to": escrow, "value": 40 * UNIT}]
    assert balance(token, alice) == 60 * UNIT
    assert balance(token, escrow) == 40 * UNIT

    receipt = chain.send(token.functions.transfer(bob, 15 * UNIT), escrow)
    assert emitted(token, "Transfer", receipt) == [{"from": escrow, "to": bob, "value": 15 * UNIT}]
    assert balance(token, escrow) == 25 * UNIT
    assert balance(token, bob) == 15 * UNIT

    # Escrow to escrow is a system move too.
    second = new_account(chain).address
    chain.send(token.functions.setEscrow(second, True), bound.admin)
    chain.send(token.functions.transfer(second, 5 * UNIT), escrow)
    assert balance(token, second) == 5 * UNIT
    assert balance(token, escrow) == 20 * UNIT

    # An escrow moving more than it holds fails on the balance, not on the transfer rule.
    with reverts("ERC20InsufficientBalance", escrow, 20 * UNIT, 21 * UNIT):
        chain.send(token.functions.transfer(bob, 21 * UNIT), escrow)

    # Moves back out stop once the escrow is unregistered.
    chain.send(token.functions.setEscrow(escrow, False), bound.admin)
    with reverts("StoneNonTransferable", escrow, bob):
        chain.send(token.functions.transfer(bob, UNIT), escrow)
    with reverts("StoneNonTransferable", alice, escrow):
        chain.send(token.functions.transfer(escrow, UNIT), alice)
    assert token.functions.totalSupply().call() == 100 * UNIT


def test_escrows_pull_without_an_approval(chain: EmbeddedChain, bound: Fresh) -> None:
    token, alice, bob, escrow = bound.token, bound.alice, bound.bob, bound.escrow
    assert token.functions.allowance(alice, escrow).call() == MAX_UINT256
    assert token.functions.allowance(alice, bob).call() == 0

    receipt = chain.send(token.functions.transferFrom(alice, escrow, 30 * UNIT), escrow)
    assert emitted(token, "Transfer", receipt) == [{"from": alice, "to": escrow, "value": 30 * UNIT}]
    assert emitted(token, "Approval", receipt) == []
    assert balance(token, alice) == 70 * UNIT
    assert balance(token, escrow) == 30 * UNIT
    assert token.functions.allowance(alice, escrow).call() == MAX_UINT256

    # The implicit allowance lets the escrow pull into itself, never push from one user to another.
    with reverts("StoneNonTransferable", alice, bob):
        chain.send(token.functions.transferFrom(alice, bob, UNIT), escrow)
    with reverts("ERC20InsufficientBalance", alice, 70 * UNIT, 71 * UNIT):
        chain.send(token.functions.transferFrom(alice, escrow, 71 * UNIT), escrow)


def test_escrow_pull_does_not_consume_a_real_allowance(chain: EmbeddedChain, bound: Fresh) -> None:
    token, alice, escrow = bound.token, bound.alice, bound.escrow
    chain.send(token.functions.approve(escrow, 25 * UNIT), alice)
    assert token.functions.allowance(alice, escrow).call() == MAX_UINT256

    chain.send(token.functions.transferFrom(alice, escrow, 20 * UNIT), escrow)
    chain.send(token.functions.transferFrom(alice, escrow, 20 * UNIT), escrow)
    assert balance(token, escrow) == 40 * UNIT

    # Unregistered, the escrow sees the stored approval again, untouched by the 40 stones it pulled.
    chain.send(token.functions.setEscrow(escrow, False), bound.admin)
    assert token.functions.allowance(alice, escrow).call() == 25 * UNIT
    with reverts("ERC20InsufficientAllowance", escrow, 25 * UNIT, 26 * UNIT):
        chain.send(token.functions.transferFrom(alice, escrow, 26 * UNIT), escrow)


def test_an_approved_user_can_only_move_stones_into_an_escrow(chain: EmbeddedChain, bound: Fresh) -> None:
    token, alice, bob, escrow = bound.token, bound.alice, bound.bob, bound.escrow
    with reverts("ERC20InsufficientAllowance", bob, 0, UNIT):
        chain.send(token.functions.transferFrom(alice, escrow, UNIT), bob)

    chain.send(token.functions.approve(bob, 10 * UNIT), alice)
    chain.send(token.functions.transferFrom(alice, escrow, 4 * UNIT), bob)
    assert balance(token, escrow) == 4 * UNIT
    assert token.functions.allowance(alice, bob).call() == 6 * UNIT


# --- burn -----------------------------------------------------------------------------------------


def test_only_an_escrow_burns_and_supply_falls(chain: EmbeddedChain, bound: Fresh) -> None:
    token, alice, escrow = bound.token, bound.alice, bound.escrow
    chain.send(token.functions.transfer(escrow, 30 * UNIT), alice)

    for caller in (alice, bound.minter, bound.admin):
        with reverts("CallerNotEscrow", caller):
            chain.send(token.functions.burn(UNIT), caller)

    receipt = chain.send(token.functions.burn(12 * UNIT), escrow)
    assert emitted(token, "Transfer", receipt) == [{"from": escrow, "to": ZERO_ADDRESS, "value": 12 * UNIT}]
    assert balance(token, escrow) == 18 * UNIT
    assert token.functions.totalSupply().call() == 88 * UNIT

    with reverts("ERC20InsufficientBalance", escrow, 18 * UNIT, 19 * UNIT):
        chain.send(token.functions.burn(19 * UNIT), escrow)

    chain.send(token.functions.setEscrow(escrow, False), bound.admin)
    with reverts("CallerNotEscrow", escrow):
        chain.send(token.functions.burn(UNIT), escrow)
    assert token.functions.totalSupply().call() == 88 * UNIT


# --- recovery -------------------------------------------------------------------------------------


@dataclass
class Lost:
    account: str
    new_account: str
    stones: int


@pytest.fixture
def lost(chain: EmbeddedChain, system: System, stranger: str) -> Lost:
    """An account on the deployed token holding 100 claimed stones, and the address it should move to."""
    account = new_account(chain).address
    target = new_account(chain).address
    other = random_address()
    posted = post_epoch(chain, system, 0, {account: 100 * UNIT, other: 3 * UNIT})
    chain.send(
        system.distributor.functions.claim(account, 100 * UNIT, posted.tree.proof(account)),
        stranger,
    )
    return Lost(account, target, 100 * UNIT)


def request(chain: EmbeddedChain, system: System, lost: str, target: str) -> tuple[int, TxReceipt]:
    receipt = chain.send(system.token.functions.requestRecovery(lost, target), system.roles.recovery)
    return block_time(chain, receipt) + system.params.recovery_delay, receipt


def test_request_recovery_records_a_pending_move(chain: EmbeddedChain, system: System, lost: Lost) -> None:
    token = system.token
    assert token.functions.pendingRecovery(lost.account).call() == [ZERO_ADDRESS, 0]

    execute_after, receipt = request(chain, system, lost.account, lost.new_account)
    assert execute_after == block_time(chain, receipt) + 7 * 86_400
    assert emitted(token, "RecoveryRequested", receipt) == [
        {"lost": lost.account, "newAccount": lost.new_account, "executeAfter": execute_after}
    ]
    assert token.functions.pendingRecovery(lost.account).call() == [lost.new_account, execute_after]
    # A request moves nothing by itself.
    assert balance(token, lost.account) == lost.stones
    assert balance(token, lost.new_account) == 0

    other = random_address()
    with reverts("RecoveryAlreadyRequested", lost.account, lost.new_account):
        chain.send(token.functions.requestRecovery(lost.account, other), system.roles.recovery)
    with reverts("RecoveryAlreadyRequested", lost.account, lost.new_account):
        chain.send(token.functions.requestRecovery(lost.account, lost.new_account), system.roles.recovery)
    assert token.functions.pendingRecovery(lost.account).call() == [lost.new_account, execute_after]


def test_request_recovery_rejects_invalid_accounts(
    chain: EmbeddedChain, system: System, lost: Lost, stranger: str
) -> None:
    token, recovery = system.token, system.roles.recovery
    desk, vault = system.desk.address, system.vault.address
    cases = [
        (ZERO_ADDRESS, lost.new_account, ZERO_ADDRESS),  # zero source
        (desk, lost.new_account, desk),  # escrow source
        (vault, lost.new_account, vault),
        (lost.account, ZERO_ADDRESS, ZERO_ADDRESS),  # zero target
        (lost.account, lost.account, lost.account),  # itself
        (lost.account, desk, desk),  # escrow target
        (lost.account, vault, vault),
    ]
    for source, target, culprit in cases:
        with reverts("InvalidRecoveryAccount", culprit):
            chain.send(token.functions.requestRecovery(source, target), recovery)

    with reverts("AccessControlUnauthorizedAccount", stranger, RECOVERY_ROLE):
        chain.send(token.functions.requestRecovery(lost.account, lost.new_account), stranger)
    with reverts("AccessControlUnauthorizedAccount", system.roles.admin, RECOVERY_ROLE):
        chain.send(token.functions.requestRecovery(lost.account, lost.new_account), system.roles.admin)
    assert token.functions.pendingRecovery(lost.account).call() == [ZERO_ADDRESS, 0]


def test_lost_account_cancels_its_recovery(
    chain: EmbeddedChain, system: System, lost: Lost, stranger: str
) -> None:
    token = system.token
    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.cancelRecovery(lost.account), lost.account)

    execute_after, _ = request(chain, system, lost.account, lost.new_account)
    # Neither a stranger nor the would-be recipient may cancel.
    with reverts("NotRecoveryParty", stranger, lost.account):
        chain.send(token.functions.cancelRecovery(lost.account), stranger)
    with reverts("NotRecoveryParty", lost.new_account, lost.account):
        chain.send(token.functions.cancelRecovery(lost.account), lost.new_account)

    tx_at(chain, execute_after - 1)  # still inside the delay
    receipt = chain.send(token.functions.cancelRecovery(lost.account), lost.account)
    assert emitted(token, "RecoveryCancelled", receipt) == [{"lost": lost.account, "by": lost.account}]
    assert token.functions.pendingRecovery(lost.account).call() == [ZERO_ADDRESS, 0]

    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.cancelRecovery(lost.account), lost.account)
    tx_at(chain, execute_after + 1)
    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.executeRecovery(lost.account), system.roles.recovery)
    assert balance(token, lost.account) == lost.stones
    assert balance(token, lost.new_account) == 0


def test_recovery_role_cancels_and_can_request_again(
    chain: EmbeddedChain, system: System, lost: Lost
) -> None:
    token, recovery = system.token, system.roles.recovery
    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.cancelRecovery(lost.account), recovery)

    request(chain, system, lost.account, lost.new_account)
    receipt = chain.send(token.functions.cancelRecovery(lost.account), recovery)
    assert emitted(token, "RecoveryCancelled", receipt) == [{"lost": lost.account, "by": recovery}]
    assert token.functions.pendingRecovery(lost.account).call() == [ZERO_ADDRESS, 0]

    # With the first request gone, a new one (to another address) starts its own delay.
    second = random_address()
    execute_after, _ = request(chain, system, lost.account, second)
    assert token.functions.pendingRecovery(lost.account).call() == [second, execute_after]


def test_execute_recovery_moves_the_balance_held_at_execution(
    chain: EmbeddedChain, system: System, lost: Lost, stranger: str
) -> None:
    token, recovery = system.token, system.roles.recovery
    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.executeRecovery(lost.account), recovery)

    execute_after, _ = request(chain, system, lost.account, lost.new_account)
    with reverts("RecoveryNotReady", lost.account, execute_after):
        chain.send(token.functions.executeRecovery(lost.account), recovery)

    # Stones claimed for the lost account during the delay move too.
    other = random_address()
    posted = post_epoch(chain, system, 1, {lost.account: 160 * UNIT, other: 3 * UNIT})
    chain.send(
        system.distributor.functions.claim(lost.account, 160 * UNIT, posted.tree.proof(lost.account)),
        stranger,
    )
    assert balance(token, lost.account) == 160 * UNIT

    tx_at(chain, execute_after - 1)
    with reverts("RecoveryNotReady", lost.account, execute_after):
        chain.send(token.functions.executeRecovery(lost.account), recovery)
    # Only the recovery role executes, not the lost account or a stranger.
    with reverts("AccessControlUnauthorizedAccount", lost.account, RECOVERY_ROLE):
        chain.send(token.functions.executeRecovery(lost.account), lost.account)
    with reverts("AccessControlUnauthorizedAccount", stranger, RECOVERY_ROLE):
        chain.send(token.functions.executeRecovery(lost.account), stranger)

    tx_at(chain, execute_after)
    supply = token.functions.totalSupply().call()
    receipt = chain.send(token.functions.executeRecovery(lost.account), recovery)
    assert block_time(chain, receipt) == execute_after
    assert emitted(token, "Transfer", receipt) == [
        {"from": lost.account, "to": lost.new_account, "value": 160 * UNIT}
    ]
    assert emitted(token, "RecoveryExecuted", receipt) == [
        {"lost": lost.account, "newAccount": lost.new_account, "amount": 160 * UNIT}
    ]
    assert balance(token, lost.account) == 0
    assert balance(token, lost.new_account) == 160 * UNIT
    assert token.functions.totalSupply().call() == supply
    assert token.functions.pendingRecovery(lost.account).call() == [ZERO_ADDRESS, 0]

    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.executeRecovery(lost.account), recovery)
    with reverts("RecoveryNotRequested", lost.account):
        chain.send(token.functions.cancelRecovery(lost.account), lost.account)
    # The recovered stones stay non-transferable in their new home.
    with reverts("StoneNonTransferable", lost.new_account, lost.account):
        chain.send(token.functions.transfer(lost.account, UNIT), lost.new_account)


def test_recovery_adds_to_an_existing_balance_and_handles_an_empty_account(
    chain: EmbeddedChain, system: System, lost: Lost
) -> None:
    token, recovery = system.token, system.roles.recovery
    # An account without stones can be recovered: the move is of zero stones.
    empty = random_address()
    execute_after, _ = request(chain, system, empty, lost.account)
    tx_at(chain, execute_after)
    receipt = chain.send(token.functions.executeRecovery(empty), recovery)
    assert emitted(token, "RecoveryExecuted", receipt) == [
        {"lost": empty, "newAccount": lost.account, "amount": 0}
    ]
    assert balance(token, lost.account) == lost.stones

    # Now move lost.account (100 stones) onto an account that holds stones already.
    holder = new_account(chain).address
    post = post_epoch(chain, system, 1, {lost.account: 100 * UNIT, holder: 40 * UNIT})
    chain.send(system.distributor.functions.claim(holder, 40 * UNIT, post.tree.proof(holder)), recovery)
    execute_after, _ = request(chain, system, lost.account, holder)
    tx_at(chain, execute_after)
    receipt = chain.send(token.functions.executeRecovery(lost.account), recovery)
    assert emitted(token, "RecoveryExecuted", receipt) == [
        {"lost": lost.account, "newAccount": holder, "amount": 100 * UNIT}
    ]
    assert balance(token, holder) == 140 * UNIT
    assert balance(token, lost.account) == 0
