"""EquityVault: equity-value rounds paid pro rata to a record-date balance root (challenge window, veto,
claims by anyone, deadline, sweep) and buy-back-and-burn windows (direct and EIP-712 relayed), with the pause
rules (IEquityVault, issue 2)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain.deploy import System, role_id
from ledger.chain.embedded import EmbeddedChain
from ledger.merkle import MerkleTree
from ledger.merkle import keccak256 as keccak
from ledger.schedule import UNIT
from tests.contracts.helpers import new_account, post_epoch, reverts

pytestmark = pytest.mark.xdist_group("vault")

DAY = 86_400
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
MAX_UINT = 2**256 - 1

HOLDING = 1_000 * UNIT  # stones each holder claims from epoch 0
TREASURY = 10**18  # settlement base units (6 decimals) the treasurer mints for itself

FUNDING = 1_000_000_007  # an awkward round funding, so floors bite
PRICE = 12_345_679  # settlement base units per whole stone
BUDGET = 250 * UNIT + 3  # stones a buy-back burns at most

SELLBACK_TYPES: dict[str, Any] = {
    "SellBack": [
        {"name": "seller", "type": "address"},
        {"name": "buybackId", "type": "uint256"},
        {"name": "stones", "type": "uint256"},
        {"name": "minPayout", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}

# Leaf accounts for balance roots that need no key: claims are made by anyone on their behalf.
PAPER_ACCOUNTS = [
    Web3.to_checksum_address(keccak(b"yuanshi-vault-holder" + bytes([i]))[12:]) for i in range(10)
]


@dataclass(frozen=True)
class Holders:
    """Three holders with 1,000 stones each (claimed from epoch 0); the treasurer funded and approved."""

    alice: LocalAccount
    bob: LocalAccount
    carol: LocalAccount
    minted: int


@pytest.fixture(scope="module")
def holders(chain: EmbeddedChain, deployed: System) -> Iterator[Holders]:
    """Posts and claims epoch 0 once for this module; the chain is restored when the module ends."""
    snapshot = chain.snapshot()
    alice, bob, carol = new_account(chain), new_account(chain), new_account(chain)
    entries: dict[str, int] = {alice.address: HOLDING, bob.address: HOLDING, carol.address: HOLDING}
    posted = post_epoch(chain, deployed, 0, entries)
    for account, amount in entries.items():
        chain.send(
            deployed.distributor.functions.claim(account, amount, posted.tree.proof(account)),
            deployed.roles.admin,
        )
    treasurer = deployed.roles.treasurer
    chain.send(deployed.settlement.functions.mint(treasurer, TREASURY), treasurer)
    chain.send(deployed.settlement.functions.approve(deployed.vault.address, MAX_UINT), treasurer)
    yield Holders(alice, bob, carol, sum(entries.values()))
    chain.revert_to(snapshot)


# ----- small helpers -----


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """The decoded ``name`` events that ``contract`` itself emitted in ``receipt``."""
    decoded = getattr(contract.events, name)().process_receipt(receipt, errors=DISCARD)
    return [dict(ev["args"]) for ev in decoded if ev["address"] == contract.address]


def stones(system: System, account: str) -> int:
    return int(system.token.functions.balanceOf(account).call())


def supply(system: System) -> int:
    return int(system.token.functions.totalSupply().call())


def cash(system: System, account: str) -> int:
    """Settlement-token balance."""
    return int(system.settlement.functions.balanceOf(account).call())


def block_time(chain: EmbeddedChain, receipt: TxReceipt) -> int:
    return int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def access_denied(account: str, role: str) -> Any:
    return reverts("AccessControlUnauthorizedAccount", account, role_id(role))


@dataclass(frozen=True)
class RoundView:
    record_date: int
    claim_deadline: int
    root_posted_at: int
    swept: bool
    balance_root: bytes
    funding: int
    total_eligible: int
    paid: int


def round_of(system: System, round_id: int) -> RoundView:
    return RoundView(*system.vault.functions.round(round_id).call())


@dataclass(frozen=True)
class BuybackView:
    start: int
    end: int
    closed: bool
    price_per_stone: int
    stone_budget: int
    stones_bought: int
    funding: int
    paid: int


def buyback_of(system: System, buyback_id: int) -> BuybackView:
    return BuybackView(*system.vault.functions.buyback(buyback_id).call())


def open_round(
    chain: EmbeddedChain, system: System, funding: int, record_date: int, deadline: int
) -> tuple[int, TxReceipt]:
    receipt = chain.send(
        system.vault.functions.openRound(record_date, funding, deadline), system.roles.treasurer
    )
    (opened,) = events(system.vault, "RoundOpened", receipt)
    return int(opened["roundId"]), receipt


def post_root(chain: EmbeddedChain, system: System, round_id: int, root: bytes, total: int) -> TxReceipt:
    return chain.send(system.vault.functions.postBalanceRoot(round_id, root, total), system.roles.oracle)


@dataclass(frozen=True)
class LiveRound:
    round_id: int
    tree: MerkleTree
    balances: dict[str, int]
    total: int
    funding: int
    deadline: int
    opens_at: int


def claimable_round(
    chain: EmbeddedChain,
    system: System,
    balances: dict[str, int],
    funding: int = FUNDING,
    *,
    total: int | None = None,
    wait: bool = True,
) -> LiveRound:
    """Opens a round with a record date in the past, posts the balance root of ``balances`` (``total``
    defaults to their sum) and, with ``wait``, moves past the challenge window."""
    deadline = chain.now() + 30 * DAY
    round_id, _ = open_round(chain, system, funding, chain.now() - 1, deadline)
    tree = MerkleTree.build(list(balances.items()))
    eligible = sum(balances.values()) if total is None else total
    receipt = post_root(chain, system, round_id, tree.root, eligible)
    opens_at = block_time(chain, receipt) + system.params.challenge_window
    if wait:
        chain.travel_to(opens_at)
    return LiveRound(round_id, tree, dict(balances), eligible, funding, deadline, opens_at)


def claim(chain: EmbeddedChain, system: System, live: LiveRound, account: str, sender: str) -> TxReceipt:
    return chain.send(
        system.vault.functions.claimRound(
            live.round_id, account, live.balances[account], live.tree.proof(account)
        ),
        sender,
    )


def open_buyback(
    chain: EmbeddedChain,
    system: System,
    start: int,
    end: int,
    price: int = PRICE,
    budget: int = BUDGET,
) -> tuple[int, TxReceipt]:
    receipt = chain.send(
        system.vault.functions.openBuyback(price, budget, start, end), system.roles.treasurer
    )
    (opened,) = events(system.vault, "BuybackOpened", receipt)
    return int(opened["buybackId"]), receipt


def open_buyback_now(chain: EmbeddedChain, system: System, **kwargs: int) -> int:
    buyback_id, _ = open_buyback(chain, system, chain.now(), chain.now() + 7 * DAY, **kwargs)
    return buyback_id


def quick_send(chain: EmbeddedChain, fn: Any, sender: str) -> TxReceipt:
    """Sends a call expected to succeed with a fixed gas limit, skipping the estimate (half the cost of
    :meth:`ChainClient.send`); for the property test's many claims."""
    tx_hash = fn.transact({"from": sender, "gas": 500_000})
    receipt: TxReceipt = chain.w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def domain(chain: EmbeddedChain, system: System) -> dict[str, Any]:
    return {
        "name": "Yuanshi EquityVault",
        "version": "1",
        "chainId": chain.chain_id,
        "verifyingContract": system.vault.address,
    }


@dataclass(frozen=True)
class SellRequest:
    """The fields of a signed SellBack, as signed or as relayed."""

    seller: str
    buyback_id: int
    stones: int
    min_payout: int
    nonce: int
    deadline: int


def sign_sellback(signer: LocalAccount, domain_data: dict[str, Any], request: SellRequest) -> bytes:
    message = {
        "seller": request.seller,
        "buybackId": request.buyback_id,
        "stones": request.stones,
        "minPayout": request.min_payout,
        "nonce": request.nonce,
        "deadline": request.deadline,
    }
    signed = Account.sign_typed_data(
        signer.key, domain_data=domain_data, message_types=SELLBACK_TYPES, message_data=message
    )
    return bytes(signed.signature)


def relay(system: System, request: SellRequest, signature: bytes) -> Any:
    return system.vault.functions.sellBackBySig(
        request.seller, request.buyback_id, request.stones, request.min_payout, request.deadline, signature
    )


def nonce_of(system: System, account: str) -> int:
    return int(system.vault.functions.nonces(account).call())


# ----- rounds: opening -----


def test_open_round_pulls_the_funding_and_records_the_round(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    treasurer, vault = system.roles.treasurer, system.vault.address
    record_date, deadline = chain.now() + DAY, chain.now() + 40 * DAY
    assert system.vault.functions.roundCount().call() == 0
    fn = system.vault.functions.openRound(record_date, FUNDING, deadline)
    assert fn.call({"from": treasurer}) == 1

    receipt = chain.send(fn, treasurer)

    assert events(system.vault, "RoundOpened", receipt) == [
        {"roundId": 1, "recordDate": record_date, "funding": FUNDING, "claimDeadline": deadline}
    ]
    assert events(system.settlement, "Transfer", receipt) == [
        {"from": treasurer, "to": vault, "value": FUNDING}
    ]
    assert round_of(system, 1) == RoundView(record_date, deadline, 0, False, ZERO32, FUNDING, 0, 0)
    assert system.vault.functions.roundCount().call() == 1
    assert cash(system, vault) == FUNDING
    assert cash(system, treasurer) == TREASURY - FUNDING
    assert system.vault.functions.payoutFor(1, HOLDING).call() == 0  # no balance root yet

    second, _ = open_round(chain, system, 5, 0, deadline)
    assert second == 2
    assert round_of(system, 2).funding == 5
    assert cash(system, vault) == FUNDING + 5


def test_open_round_rejects_zero_funding(chain: EmbeddedChain, system: System, holders: Holders) -> None:
    with reverts("ZeroAmount"):
        chain.send(
            system.vault.functions.openRound(chain.now(), 0, chain.now() + 40 * DAY), system.roles.treasurer
        )
    assert system.vault.functions.roundCount().call() == 0


def test_open_round_rejects_an_invalid_window(chain: EmbeddedChain, system: System, holders: Holders) -> None:
    window = system.params.challenge_window
    at = chain.now() + 100
    chain.travel_to(at)
    bad = [
        (at + 40 * DAY, at + 40 * DAY),  # deadline on the record date
        (at + 40 * DAY, at + 40 * DAY - 1),  # deadline before the record date
        (at - DAY, at + window),  # claims could never open before the deadline
        (at - 2 * DAY, at - DAY),  # deadline already over
        (0, 0),
    ]
    for record_date, deadline in bad:
        with reverts("InvalidWindow", record_date, deadline):
            chain.send(
                system.vault.functions.openRound(record_date, FUNDING, deadline), system.roles.treasurer
            )
    assert system.vault.functions.roundCount().call() == 0
    assert cash(system, system.vault.address) == 0

    receipt = chain.send(
        system.vault.functions.openRound(at - DAY, FUNDING, at + window + 1), system.roles.treasurer
    )
    assert block_time(chain, receipt) == at
    assert round_of(system, 1).claim_deadline == at + window + 1


def test_open_round_needs_the_treasurer_and_its_allowance(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    fn = system.vault.functions.openRound(chain.now(), FUNDING, chain.now() + 40 * DAY)
    for caller in (stranger, system.roles.admin, system.roles.oracle, system.roles.guardian):
        with access_denied(caller, "TREASURER_ROLE"):
            chain.send(fn, caller)

    treasurer = system.roles.treasurer
    chain.send(system.settlement.functions.approve(system.vault.address, FUNDING - 1), treasurer)
    with reverts("ERC20InsufficientAllowance", system.vault.address, FUNDING - 1, FUNDING):
        chain.send(fn, treasurer)
    assert system.vault.functions.roundCount().call() == 0
    assert cash(system, treasurer) == TREASURY


def test_windows_beyond_64_bits_are_rejected_not_truncated(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    """Rounds and buy-backs store their dates in 64 bits. A date that does not fit must be refused: stored
    silently truncated, the window on chain would differ from the one requested and announced in the event
    (a buy-back ending at 2**64 + 1 would be closed at once; a round whose record date is 2**64 + now would
    take a balance root today)."""
    now = chain.now()
    treasurer = system.roles.treasurer
    for record_date, deadline in [(now, 2**64), (2**64 + now, 2**64 + now + 40 * DAY)]:
        with reverts("InvalidWindow", record_date, deadline):
            chain.send(system.vault.functions.openRound(record_date, FUNDING, deadline), treasurer)
    for start, end in [(now, 2**64 + 1), (2**64 + now, 2**64 + now + DAY)]:
        with reverts("InvalidWindow", start, end):
            chain.send(system.vault.functions.openBuyback(PRICE, BUDGET, start, end), treasurer)
    assert system.vault.functions.roundCount().call() == 0
    assert system.vault.functions.buybackCount().call() == 0
    assert cash(system, treasurer) == TREASURY


# ----- rounds: balance roots -----


def test_post_balance_root_waits_for_the_record_date(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    record_date = chain.now() + DAY
    round_id, _ = open_round(chain, system, FUNDING, record_date, record_date + 30 * DAY)
    tree = MerkleTree.build([(holders.alice.address, HOLDING), (holders.bob.address, HOLDING)])

    with reverts("RecordDateNotPassed", round_id, record_date):
        post_root(chain, system, round_id, tree.root, 2 * HOLDING)
    chain.travel_to(record_date)  # a block on the record date itself is still too early
    with reverts("RecordDateNotPassed", round_id, record_date):
        post_root(chain, system, round_id, tree.root, 2 * HOLDING)
    assert round_of(system, round_id).balance_root == ZERO32

    chain.travel_to(record_date + 1)
    receipt = post_root(chain, system, round_id, tree.root, 2 * HOLDING)
    window = system.params.challenge_window
    assert events(system.vault, "BalanceRootPosted", receipt) == [
        {
            "roundId": round_id,
            "balanceRoot": tree.root,
            "totalEligible": 2 * HOLDING,
            "claimableAt": record_date + 1 + window,
        }
    ]
    stored = round_of(system, round_id)
    assert (stored.balance_root, stored.total_eligible, stored.root_posted_at) == (
        tree.root,
        2 * HOLDING,
        record_date + 1,
    )
    assert system.vault.functions.payoutFor(round_id, HOLDING).call() == FUNDING // 2


def test_post_balance_root_only_once(chain: EmbeddedChain, system: System, holders: Holders) -> None:
    live = claimable_round(chain, system, {holders.alice.address: HOLDING}, wait=False)
    other = MerkleTree.build([(holders.bob.address, HOLDING)])
    with reverts("RootAlreadyPosted", live.round_id):
        post_root(chain, system, live.round_id, other.root, HOLDING)
    chain.travel_to(live.opens_at)
    with reverts("RootAlreadyPosted", live.round_id):
        post_root(chain, system, live.round_id, other.root, HOLDING)
    assert round_of(system, live.round_id).balance_root == live.tree.root


def test_post_balance_root_rejects_a_zero_root_or_total(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    round_id, _ = open_round(chain, system, FUNDING, chain.now() - 1, chain.now() + 30 * DAY)
    root = MerkleTree.build([(holders.alice.address, HOLDING)]).root
    with reverts("ZeroAmount"):
        post_root(chain, system, round_id, ZERO32, HOLDING)
    with reverts("ZeroAmount"):
        post_root(chain, system, round_id, root, 0)
    stored = round_of(system, round_id)
    assert (stored.balance_root, stored.total_eligible, stored.root_posted_at) == (ZERO32, 0, 0)


def test_post_balance_root_is_for_the_oracle_only(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    round_id, _ = open_round(chain, system, FUNDING, chain.now() - 1, chain.now() + 30 * DAY)
    root = MerkleTree.build([(holders.alice.address, HOLDING)]).root
    fn = system.vault.functions.postBalanceRoot(round_id, root, HOLDING)
    for caller in (stranger, system.roles.treasurer, system.roles.guardian, system.roles.admin):
        with access_denied(caller, "ORACLE_ROLE"):
            chain.send(fn, caller)
    assert round_of(system, round_id).balance_root == ZERO32


def test_veto_during_the_window_then_the_oracle_posts_again(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice, bob = holders.alice.address, holders.bob.address
    round_id, _ = open_round(chain, system, FUNDING, chain.now() - 1, chain.now() + 30 * DAY)
    with reverts("NotChallengeable", round_id):
        chain.send(system.vault.functions.vetoBalanceRoot(round_id), system.roles.guardian)

    wrong = MerkleTree.build([(alice, 10 * HOLDING), (bob, HOLDING)])
    posted_at = block_time(chain, post_root(chain, system, round_id, wrong.root, 11 * HOLDING))
    for caller in (stranger, system.roles.oracle, system.roles.treasurer, system.roles.pauser):
        with access_denied(caller, "GUARDIAN_ROLE"):
            chain.send(system.vault.functions.vetoBalanceRoot(round_id), caller)

    chain.travel_to(posted_at + system.params.challenge_window - 1)  # last second of the window
    receipt = chain.send(system.vault.functions.vetoBalanceRoot(round_id), system.roles.guardian)
    assert events(system.vault, "BalanceRootVetoed", receipt) == [
        {"roundId": round_id, "balanceRoot": wrong.root, "guardian": system.roles.guardian}
    ]
    stored = round_of(system, round_id)
    assert (stored.balance_root, stored.total_eligible, stored.root_posted_at) == (ZERO32, 0, 0)
    assert system.vault.functions.payoutFor(round_id, HOLDING).call() == 0
    with reverts("NotChallengeable", round_id):
        chain.send(system.vault.functions.vetoBalanceRoot(round_id), system.roles.guardian)
    # The vetoed root pays nobody: the round has no root now.
    with reverts("RoundNotClaimable", round_id, 0, stored.claim_deadline):
        chain.send(
            system.vault.functions.claimRound(round_id, alice, 10 * HOLDING, wrong.proof(alice)), stranger
        )

    right = MerkleTree.build([(alice, HOLDING), (bob, HOLDING)])
    reposted_at = block_time(chain, post_root(chain, system, round_id, right.root, 2 * HOLDING))
    assert round_of(system, round_id).root_posted_at == reposted_at
    chain.travel_to(reposted_at + system.params.challenge_window)  # the window is over: no more veto
    with reverts("NotChallengeable", round_id):
        chain.send(system.vault.functions.vetoBalanceRoot(round_id), system.roles.guardian)
    receipt = chain.send(
        system.vault.functions.claimRound(round_id, alice, HOLDING, right.proof(alice)), stranger
    )
    assert events(system.vault, "RoundClaimed", receipt)[0]["payout"] == FUNDING // 2
    with reverts("InvalidProof", bob, 10 * HOLDING):
        chain.send(
            system.vault.functions.claimRound(round_id, bob, 10 * HOLDING, wrong.proof(alice)), stranger
        )


# ----- rounds: claims -----


def test_claim_round_pays_each_holder_pro_rata_whoever_sends_it(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    balances: dict[str, int] = {
        holders.alice.address: 3 * UNIT + 1,
        holders.bob.address: 7 * UNIT,
        holders.carol.address: 11 * UNIT + 5,
        PAPER_ACCOUNTS[0]: 1,
    }
    live = claimable_round(chain, system, balances)
    chain.advance(10)  # eth_call runs at the latest block's time: let that be inside the claim period too
    total = sum(balances.values())
    vault_cash = cash(system, system.vault.address)
    paid = 0
    for i, (account, balance) in enumerate(balances.items()):
        expected = FUNDING * balance // total
        assert system.vault.functions.payoutFor(live.round_id, balance).call() == expected
        assert not system.vault.functions.hasClaimed(live.round_id, account).call()
        sender = stranger if i % 2 == 0 else system.roles.oracle
        sender_cash = cash(system, sender)
        fn = system.vault.functions.claimRound(live.round_id, account, balance, live.tree.proof(account))
        assert fn.call({"from": sender}) == expected

        receipt = chain.send(fn, sender)

        assert events(system.vault, "RoundClaimed", receipt) == [
            {"roundId": live.round_id, "account": account, "balance": balance, "payout": expected}
        ]
        assert events(system.settlement, "Transfer", receipt) == [
            {"from": system.vault.address, "to": account, "value": expected}
        ]
        paid += expected
        assert cash(system, account) == expected
        assert cash(system, sender) == sender_cash
        assert system.vault.functions.hasClaimed(live.round_id, account).call()
        assert round_of(system, live.round_id).paid == paid
        assert cash(system, system.vault.address) == vault_cash - paid
    assert FUNDING - len(balances) < paid <= FUNDING
    assert cash(system, PAPER_ACCOUNTS[0]) == 0  # one base unit of stone is worth nothing here
    # Stones themselves never moved.
    for account in (holders.alice.address, holders.bob.address, holders.carol.address):
        assert stones(system, account) == HOLDING


def test_claim_round_only_between_the_window_and_the_deadline(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice, bob, carol = holders.alice.address, holders.bob.address, holders.carol.address
    live = claimable_round(chain, system, {alice: HOLDING, bob: 3 * HOLDING, carol: 4 * HOLDING}, wait=False)

    with reverts("RoundNotClaimable", live.round_id, live.opens_at, live.deadline):
        claim(chain, system, live, alice, stranger)
    chain.travel_to(live.opens_at - 1)
    with reverts("RoundNotClaimable", live.round_id, live.opens_at, live.deadline):
        claim(chain, system, live, alice, stranger)
    assert cash(system, alice) == 0

    chain.travel_to(live.opens_at)
    claim(chain, system, live, alice, stranger)
    assert cash(system, alice) == FUNDING // 8

    chain.travel_to(live.deadline - 1)  # the last second of the claim period
    claim(chain, system, live, bob, stranger)
    assert cash(system, bob) == FUNDING * 3 // 8

    with reverts("RoundNotClaimable", live.round_id, live.opens_at, live.deadline):
        claim(chain, system, live, carol, stranger)
    assert cash(system, carol) == 0
    assert not system.vault.functions.hasClaimed(live.round_id, carol).call()
    assert round_of(system, live.round_id).paid == FUNDING // 8 + FUNDING * 3 // 8


def test_claim_round_without_a_root(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    deadline = chain.now() + 30 * DAY
    round_id, _ = open_round(chain, system, FUNDING, chain.now() - 1, deadline)
    tree = MerkleTree.build([(holders.alice.address, HOLDING)])
    chain.advance(system.params.challenge_window * 2)
    with reverts("RoundNotClaimable", round_id, 0, deadline):
        chain.send(
            system.vault.functions.claimRound(
                round_id, holders.alice.address, HOLDING, tree.proof(holders.alice.address)
            ),
            stranger,
        )


def test_claim_round_once_per_account(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice = holders.alice.address
    live = claimable_round(chain, system, {alice: HOLDING, holders.bob.address: HOLDING})
    claim(chain, system, live, alice, stranger)
    for sender in (stranger, alice):
        with reverts("AlreadyClaimed", live.round_id, alice):
            claim(chain, system, live, alice, sender)
    assert cash(system, alice) == FUNDING // 2
    assert round_of(system, live.round_id).paid == FUNDING // 2


def test_claim_round_rejects_an_invalid_proof(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice, bob, carol = holders.alice.address, holders.bob.address, holders.carol.address
    live = claimable_round(chain, system, {alice: HOLDING, bob: 2 * HOLDING, PAPER_ACCOUNTS[1]: 5})
    attempts = [
        (alice, HOLDING + 1, live.tree.proof(alice)),  # inflated balance
        (alice, 2 * HOLDING, live.tree.proof(bob)),  # someone else's leaf
        (carol, 2 * HOLDING, live.tree.proof(bob)),  # not in the tree at all
        (alice, HOLDING, []),  # no proof
        (alice, HOLDING, [*live.tree.proof(alice), ZERO32]),  # padded proof
    ]
    for account, balance, proof in attempts:
        with reverts("InvalidProof", account, balance):
            chain.send(system.vault.functions.claimRound(live.round_id, account, balance, proof), stranger)
    assert round_of(system, live.round_id).paid == 0
    assert not system.vault.functions.hasClaimed(live.round_id, alice).call()
    claim(chain, system, live, alice, stranger)  # the right proof still works afterwards
    assert cash(system, alice) == FUNDING * HOLDING // (3 * HOLDING + 5)


def test_claim_round_cannot_pay_beyond_the_funding_under_a_malicious_root(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice, bob = holders.alice.address, holders.bob.address
    # The posted total says 100 stones while the leaves add up to 160.
    live = claimable_round(chain, system, {alice: 80 * UNIT, bob: 80 * UNIT}, total=100 * UNIT)
    other, _ = open_round(chain, system, 7 * FUNDING, chain.now() - 1, chain.now() + 30 * DAY)
    vault_cash = cash(system, system.vault.address)
    assert vault_cash == 8 * FUNDING

    claim(chain, system, live, alice, stranger)
    first = FUNDING * 80 // 100
    assert cash(system, alice) == first
    with reverts("RoundOverpaid", live.round_id, 2 * first, FUNDING):
        claim(chain, system, live, bob, stranger)
    assert cash(system, bob) == 0
    assert round_of(system, live.round_id).paid == first
    assert not system.vault.functions.hasClaimed(live.round_id, bob).call()
    assert round_of(system, other).paid == 0
    assert cash(system, system.vault.address) == vault_cash - first

    # A single leaf above the total is refused on the first claim.
    greedy = claimable_round(chain, system, {alice: 2 * UNIT}, total=UNIT)
    with reverts("RoundOverpaid", greedy.round_id, 2 * FUNDING, FUNDING):
        claim(chain, system, greedy, alice, stranger)


# ----- rounds: sweep -----


def test_sweep_after_the_deadline_returns_what_was_not_claimed(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice, bob = holders.alice.address, holders.bob.address
    live = claimable_round(chain, system, {alice: HOLDING, bob: 2 * HOLDING})
    claim(chain, system, live, alice, stranger)
    paid = FUNDING // 3
    treasurer = system.roles.treasurer

    with reverts("NotClosable", live.round_id, live.deadline):
        chain.send(system.vault.functions.sweep(live.round_id, treasurer), treasurer)
    chain.travel_to(live.deadline - 1)
    with reverts("NotClosable", live.round_id, live.deadline):
        chain.send(system.vault.functions.sweep(live.round_id, treasurer), treasurer)

    chain.travel_to(live.deadline)
    for caller in (stranger, system.roles.admin, system.roles.oracle):
        with access_denied(caller, "TREASURER_ROLE"):
            chain.send(system.vault.functions.sweep(live.round_id, caller), caller)
    sink = PAPER_ACCOUNTS[2]
    receipt = chain.send(system.vault.functions.sweep(live.round_id, sink), treasurer)
    assert events(system.vault, "RoundSwept", receipt) == [
        {"roundId": live.round_id, "to": sink, "amount": FUNDING - paid}
    ]
    assert cash(system, sink) == FUNDING - paid
    assert cash(system, system.vault.address) == 0
    assert round_of(system, live.round_id).swept
    assert round_of(system, live.round_id).paid == paid

    with reverts("NotClosable", live.round_id, live.deadline):
        chain.send(system.vault.functions.sweep(live.round_id, sink), treasurer)
    with reverts("RoundNotClaimable", live.round_id, live.opens_at, live.deadline):
        claim(chain, system, live, bob, stranger)
    assert cash(system, sink) == FUNDING - paid


def test_sweep_of_a_round_that_never_got_a_root_returns_everything(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    deadline = chain.now() + 30 * DAY
    round_id, _ = open_round(chain, system, FUNDING, chain.now() - 1, deadline)
    chain.travel_to(deadline)
    treasurer = system.roles.treasurer
    receipt = chain.send(system.vault.functions.sweep(round_id, treasurer), treasurer)
    assert events(system.vault, "RoundSwept", receipt) == [
        {"roundId": round_id, "to": treasurer, "amount": FUNDING}
    ]
    assert cash(system, treasurer) == TREASURY
    assert cash(system, system.vault.address) == 0


def test_unknown_ids_are_rejected(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    open_round(chain, system, FUNDING, chain.now() - 1, chain.now() + 30 * DAY)
    open_buyback_now(chain, system)
    vault, roles = system.vault.functions, system.roles
    root = MerkleTree.build([(holders.alice.address, HOLDING)]).root
    for unknown in (0, 2, MAX_UINT):
        with reverts("UnknownId", unknown):
            chain.send(vault.postBalanceRoot(unknown, root, HOLDING), roles.oracle)
        with reverts("UnknownId", unknown):
            chain.send(vault.vetoBalanceRoot(unknown), roles.guardian)
        with reverts("UnknownId", unknown):
            chain.send(vault.claimRound(unknown, holders.alice.address, HOLDING, []), stranger)
        with reverts("UnknownId", unknown):
            chain.send(vault.sweep(unknown, roles.treasurer), roles.treasurer)
        with reverts("UnknownId", unknown):
            chain.send(vault.sellBack(unknown, UNIT, 0), holders.alice.address)
        with reverts("UnknownId", unknown):
            chain.send(vault.closeBuyback(unknown, roles.treasurer), roles.treasurer)
    assert round_of(system, 2) == RoundView(0, 0, 0, False, ZERO32, 0, 0, 0)
    assert buyback_of(system, 2) == BuybackView(0, 0, False, 0, 0, 0, 0, 0)


def test_payout_for_an_unknown_round_reverts(chain: EmbeddedChain, system: System, holders: Holders) -> None:
    """The view reverts like the functions do (read through ChainClient.call, which decodes the revert)."""
    live = claimable_round(chain, system, {holders.alice.address: HOLDING}, wait=False)
    assert system.client.call(system.vault.functions.payoutFor(live.round_id, HOLDING // 3)) == FUNDING // 3
    for unknown in (0, live.round_id + 1, MAX_UINT):
        with reverts("UnknownId", unknown):
            system.client.call(system.vault.functions.payoutFor(unknown, HOLDING))


# ----- buy-backs -----


def test_open_buyback_pulls_the_funding_rounded_up(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    treasurer, vault = system.roles.treasurer, system.vault.address
    start, end = chain.now() + DAY, chain.now() + 8 * DAY
    funding = ceil_div(BUDGET * PRICE, UNIT)
    assert funding == BUDGET * PRICE // UNIT + 1  # the budget was chosen so that rounding up matters
    fn = system.vault.functions.openBuyback(PRICE, BUDGET, start, end)
    assert fn.call({"from": treasurer}) == 1

    receipt = chain.send(fn, treasurer)

    assert events(system.vault, "BuybackOpened", receipt) == [
        {"buybackId": 1, "pricePerStone": PRICE, "stoneBudget": BUDGET, "start": start, "end": end}
    ]
    assert events(system.settlement, "Transfer", receipt) == [
        {"from": treasurer, "to": vault, "value": funding}
    ]
    assert buyback_of(system, 1) == BuybackView(start, end, False, PRICE, BUDGET, 0, funding, 0)
    assert system.vault.functions.buybackCount().call() == 1
    assert cash(system, vault) == funding
    assert cash(system, treasurer) == TREASURY - funding

    # An exact product is not rounded.
    second, _ = open_buyback(chain, system, start, end, price=2_000_000, budget=3 * UNIT)
    assert second == 2
    assert buyback_of(system, 2).funding == 6_000_000
    # A tiny budget still pulls one unit, so that its floored payouts are covered.
    third, _ = open_buyback(chain, system, start, end, price=1, budget=1)
    assert buyback_of(system, third).funding == 1


def test_open_buyback_rejects_zero_amounts_and_bad_windows(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    treasurer = system.roles.treasurer
    at = chain.now() + 100
    chain.travel_to(at)
    with reverts("ZeroAmount"):
        chain.send(system.vault.functions.openBuyback(0, BUDGET, at, at + DAY), treasurer)
    with reverts("ZeroAmount"):
        chain.send(system.vault.functions.openBuyback(PRICE, 0, at, at + DAY), treasurer)
    for start, end in [(at + DAY, at + DAY), (at + DAY, at + DAY - 1), (at - DAY, at), (at - DAY, at - 1)]:
        with reverts("InvalidWindow", start, end):
            chain.send(system.vault.functions.openBuyback(PRICE, BUDGET, start, end), treasurer)
    for caller in (stranger, system.roles.admin, system.roles.oracle, holders.alice.address):
        with access_denied(caller, "TREASURER_ROLE"):
            chain.send(system.vault.functions.openBuyback(PRICE, BUDGET, at, at + DAY), caller)
    assert system.vault.functions.buybackCount().call() == 0
    assert cash(system, system.vault.address) == 0

    receipt = chain.send(system.vault.functions.openBuyback(PRICE, BUDGET, at - DAY, at + 1), treasurer)
    assert block_time(chain, receipt) == at
    assert buyback_of(system, 1).end == at + 1


def test_sell_back_burns_the_stones_and_pays_the_floor(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    buyback_id = open_buyback_now(chain, system)
    opened = buyback_of(system, buyback_id)
    funding = opened.funding
    alice = holders.alice.address
    sold = 10 * UNIT + 123_456_789
    payout = sold * PRICE // UNIT
    assert payout * UNIT < sold * PRICE  # the payout is floored
    fn = system.vault.functions.sellBack(buyback_id, sold, payout)
    assert fn.call({"from": alice}) == payout

    receipt = chain.send(fn, alice)

    assert events(system.vault, "BoughtBack", receipt) == [
        {"buybackId": buyback_id, "seller": alice, "stones": sold, "payout": payout}
    ]
    assert events(system.token, "Transfer", receipt) == [
        {"from": alice, "to": system.vault.address, "value": sold},
        {"from": system.vault.address, "to": ZERO_ADDRESS, "value": sold},
    ]
    assert events(system.settlement, "Transfer", receipt) == [
        {"from": system.vault.address, "to": alice, "value": payout}
    ]
    assert stones(system, alice) == HOLDING - sold
    assert stones(system, system.vault.address) == 0
    assert supply(system) == holders.minted - sold
    assert cash(system, alice) == payout
    assert cash(system, system.vault.address) == funding - payout
    assert buyback_of(system, buyback_id) == replace(opened, stones_bought=sold, paid=payout)


def test_sell_back_only_while_the_window_is_open(
    chain: EmbeddedChain, system: System, holders: Holders
) -> None:
    alice = holders.alice.address
    start = chain.now() + DAY
    end = start + DAY
    buyback_id, _ = open_buyback(chain, system, start, end)
    sell = system.vault.functions.sellBack(buyback_id, UNIT, 0)

    with reverts("BuybackNotOpen", buyback_id):
        chain.send(sell, alice)
    chain.travel_to(start - 1)
    with reverts("BuybackNotOpen", buyback_id):
        chain.send(sell, alice)
    chain.travel_to(start)
    chain.send(sell, alice)
    chain.travel_to(end - 1)
    chain.send(sell, alice)  # the last second of the window
    assert stones(system, alice) == HOLDING - 2 * UNIT

    chain.travel_to(end)
    with reverts("BuybackNotOpen", buyback_id):
        chain.send(sell, alice)
    chain.send(
        system.vault.functions.closeBuyback(buyback_id, system.roles.treasurer), system.roles.treasurer
    )
    with reverts("BuybackNotOpen", buyback_id):
        chain.send(sell, alice)
    assert stones(system, alice) == HOLDING - 2 * UNIT
    assert buyback_of(system, buyback_id).stones_bought == 2 * UNIT


def test_sell_back_cannot_exceed_the_budget(chain: EmbeddedChain, system: System, holders: Holders) -> None:
    alice, bob = holders.alice.address, holders.bob.address
    buyback_id = open_buyback_now(chain, system)
    with reverts("BuybackBudgetExceeded", buyback_id, BUDGET + 1, BUDGET):
        chain.send(system.vault.functions.sellBack(buyback_id, BUDGET + 1, 0), alice)

    chain.send(system.vault.functions.sellBack(buyback_id, 200 * UNIT, 0), alice)
    remaining = BUDGET - 200 * UNIT
    with reverts("BuybackBudgetExceeded", buyback_id, 60 * UNIT, remaining):
        chain.send(system.vault.functions.sellBack(buyback_id, 60 * UNIT, 0), bob)

    chain.send(system.vault.functions.sellBack(buyback_id, remaining, 0), bob)  # exactly the rest
    bought = buyback_of(system, buyback_id)
    assert bought.stones_bought == BUDGET
    assert bought.paid == 200 * UNIT * PRICE // UNIT + remaining * PRICE // UNIT
    assert bought.paid <= bought.funding
    with reverts("BuybackBudgetExceeded", buyback_id, 1, 0):
        chain.send(system.vault.functions.sellBack(buyback_id, 1, 0), bob)
    assert supply(system) == holders.minted - BUDGET
    assert cash(system, system.vault.address) == bought.funding - bought.paid


def test_sell_back_rejects_a_payout_too_low(chain: EmbeddedChain, system: System, holders: Holders) -> None:
    alice = holders.alice.address
    buyback_id = open_buyback_now(chain, system)
    dust = UNIT // PRICE  # worth less than one settlement unit
    assert dust * PRICE // UNIT == 0
    with reverts("PayoutTooLow", 0, 0):
        chain.send(system.vault.functions.sellBack(buyback_id, dust, 0), alice)
    with reverts("PayoutTooLow", 0, 0):
        chain.send(system.vault.functions.sellBack(buyback_id, 0, 0), alice)

    payout = 5 * UNIT * PRICE // UNIT
    with reverts("PayoutTooLow", payout, payout + 1):
        chain.send(system.vault.functions.sellBack(buyback_id, 5 * UNIT, payout + 1), alice)
    assert stones(system, alice) == HOLDING
    assert buyback_of(system, buyback_id).stones_bought == 0

    chain.send(system.vault.functions.sellBack(buyback_id, 5 * UNIT, payout), alice)  # a minimum met exactly
    assert cash(system, alice) == payout


def test_sell_back_needs_the_stones(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    buyback_id = open_buyback_now(chain, system, budget=2 * HOLDING)
    carol = holders.carol.address
    with reverts("ERC20InsufficientBalance", carol, HOLDING, HOLDING + 1):
        chain.send(system.vault.functions.sellBack(buyback_id, HOLDING + 1, 0), carol)
    with reverts("ERC20InsufficientBalance", stranger, 0, UNIT):
        chain.send(system.vault.functions.sellBack(buyback_id, UNIT, 0), stranger)
    assert buyback_of(system, buyback_id).stones_bought == 0
    assert cash(system, carol) == 0


def test_sell_back_by_sig_relayed_by_a_stranger(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    buyback_id = open_buyback_now(chain, system)
    alice = holders.alice
    sold = 40 * UNIT
    payout = sold * PRICE // UNIT
    request = SellRequest(alice.address, buyback_id, sold, payout, 0, chain.now() + DAY)
    signature = sign_sellback(alice, domain(chain, system), request)
    assert nonce_of(system, alice.address) == 0

    receipt = chain.send(relay(system, request, signature), stranger)

    assert events(system.vault, "BoughtBack", receipt) == [
        {"buybackId": buyback_id, "seller": alice.address, "stones": sold, "payout": payout}
    ]
    assert nonce_of(system, alice.address) == 1
    assert stones(system, alice.address) == HOLDING - sold
    assert supply(system) == holders.minted - sold
    assert cash(system, alice.address) == payout  # paid to the seller, not to the relayer
    assert cash(system, stranger) == 0
    assert stones(system, stranger) == 0

    # Replaying the same signature fails: the nonce moved on.
    with reverts("InvalidSignature", alice.address):
        chain.send(relay(system, request, signature), stranger)
    assert stones(system, alice.address) == HOLDING - sold


def test_sell_back_by_sig_rejects_expired_forged_and_tampered_requests(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    buyback_id = open_buyback_now(chain, system)
    alice, bob = holders.alice, holders.bob
    deadline = chain.now() + 100
    request = SellRequest(alice.address, buyback_id, 40 * UNIT, 0, 0, deadline)
    good = sign_sellback(alice, domain(chain, system), request)

    forged = sign_sellback(bob, domain(chain, system), request)
    with reverts("InvalidSignature", alice.address):
        chain.send(relay(system, request, forged), stranger)
    wrong_domain = sign_sellback(alice, {**domain(chain, system), "name": "Yuanshi RedemptionDesk"}, request)
    with reverts("InvalidSignature", alice.address):
        chain.send(relay(system, request, wrong_domain), stranger)
    for tampered in (
        replace(request, seller=bob.address),
        replace(request, stones=41 * UNIT),
        replace(request, min_payout=1),
        replace(request, deadline=deadline + 1),
        replace(request, buyback_id=open_buyback_now(chain, system)),
    ):
        with reverts("InvalidSignature", tampered.seller):
            chain.send(relay(system, tampered, good), stranger)
    wrong_nonce = replace(request, nonce=1)
    with reverts("InvalidSignature", alice.address):
        chain.send(
            relay(system, wrong_nonce, sign_sellback(alice, domain(chain, system), wrong_nonce)), stranger
        )
    # The vault's rules apply to relayed sales too, and a failure does not consume the nonce.
    greedy = replace(request, min_payout=MAX_UINT)
    with reverts("PayoutTooLow", 40 * UNIT * PRICE // UNIT, MAX_UINT):
        chain.send(relay(system, greedy, sign_sellback(alice, domain(chain, system), greedy)), stranger)

    chain.travel_to(deadline + 1)
    with reverts("SignatureExpired", deadline):
        chain.send(relay(system, request, good), stranger)
    assert nonce_of(system, alice.address) == 0
    assert stones(system, alice.address) == HOLDING
    assert stones(system, bob.address) == HOLDING

    # A deadline equal to the block's timestamp is still valid.
    at = chain.now() + 10
    fresh = replace(request, deadline=at)
    chain.travel_to(at)
    chain.send(relay(system, fresh, sign_sellback(alice, domain(chain, system), fresh)), stranger)
    assert nonce_of(system, alice.address) == 1
    assert stones(system, alice.address) == HOLDING - 40 * UNIT


def test_domain_separator_is_the_eip712_domain_signers_use(chain: EmbeddedChain, system: System) -> None:
    type_hash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(
        type_hash
        + keccak(b"Yuanshi EquityVault")
        + keccak(b"1")
        + chain.chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(system.vault.address[2:])
    )
    assert bytes(system.vault.functions.DOMAIN_SEPARATOR().call()) == expected
    assert bytes(system.vault.functions.SELLBACK_TYPEHASH().call()) == keccak(
        b"SellBack(address seller,uint256 buybackId,uint256 stones,uint256 minPayout,uint256 nonce,"
        b"uint256 deadline)"
    )


def test_close_buyback_refunds_the_unspent_funding_once(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    treasurer = system.roles.treasurer
    end = chain.now() + DAY
    buyback_id, _ = open_buyback(chain, system, chain.now(), end)
    funding = buyback_of(system, buyback_id).funding
    chain.send(system.vault.functions.sellBack(buyback_id, 33 * UNIT + 1, 0), holders.alice.address)
    paid = buyback_of(system, buyback_id).paid
    assert paid == (33 * UNIT + 1) * PRICE // UNIT

    with reverts("NotClosable", buyback_id, end):
        chain.send(system.vault.functions.closeBuyback(buyback_id, treasurer), treasurer)
    chain.travel_to(end - 1)
    with reverts("NotClosable", buyback_id, end):
        chain.send(system.vault.functions.closeBuyback(buyback_id, treasurer), treasurer)

    chain.travel_to(end)
    for caller in (stranger, system.roles.admin, holders.alice.address):
        with access_denied(caller, "TREASURER_ROLE"):
            chain.send(system.vault.functions.closeBuyback(buyback_id, caller), caller)
    before = cash(system, treasurer)
    receipt = chain.send(system.vault.functions.closeBuyback(buyback_id, treasurer), treasurer)
    assert events(system.vault, "BuybackClosed", receipt) == [
        {"buybackId": buyback_id, "to": treasurer, "refund": funding - paid}
    ]
    assert cash(system, treasurer) == before + funding - paid
    assert cash(system, system.vault.address) == 0
    assert buyback_of(system, buyback_id).closed
    with reverts("NotClosable", buyback_id, end):
        chain.send(system.vault.functions.closeBuyback(buyback_id, treasurer), treasurer)
    assert cash(system, treasurer) == before + funding - paid


# ----- pause -----


def test_pause_stops_claims_sales_and_root_posting(
    chain: EmbeddedChain, system: System, holders: Holders, stranger: str
) -> None:
    alice = holders.alice
    live = claimable_round(chain, system, {alice.address: HOLDING, holders.bob.address: HOLDING})
    pending, _ = open_round(chain, system, FUNDING, chain.now() - 1, chain.now() + 30 * DAY)
    buyback_id = open_buyback_now(chain, system)
    request = SellRequest(alice.address, buyback_id, UNIT, 0, 0, chain.now() + 3 * DAY)
    signature = sign_sellback(alice, domain(chain, system), request)
    root = MerkleTree.build([(alice.address, HOLDING)]).root

    for caller in (stranger, system.roles.admin, system.roles.guardian):
        with access_denied(caller, "PAUSER_ROLE"):
            chain.send(system.vault.functions.pause(), caller)
    receipt = chain.send(system.vault.functions.pause(), system.roles.pauser)
    assert events(system.vault, "Paused", receipt) == [{"account": system.roles.pauser}]

    with reverts("EnforcedPause"):
        claim(chain, system, live, alice.address, stranger)
    with reverts("EnforcedPause"):
        chain.send(system.vault.functions.sellBack(buyback_id, UNIT, 0), alice.address)
    with reverts("EnforcedPause"):
        chain.send(relay(system, request, signature), stranger)
    with reverts("EnforcedPause"):
        post_root(chain, system, pending, root, HOLDING)
    assert cash(system, alice.address) == 0
    assert stones(system, alice.address) == HOLDING
    assert nonce_of(system, alice.address) == 0
    assert round_of(system, pending).balance_root == ZERO32

    receipt = chain.send(system.vault.functions.unpause(), system.roles.pauser)
    assert events(system.vault, "Unpaused", receipt) == [{"account": system.roles.pauser}]
    claim(chain, system, live, alice.address, stranger)
    chain.send(relay(system, request, signature), stranger)
    post_root(chain, system, pending, root, HOLDING)
    assert cash(system, alice.address) == FUNDING // 2 + UNIT * PRICE // UNIT
    assert stones(system, alice.address) == HOLDING - UNIT
    assert round_of(system, pending).balance_root == root


# ----- property: a round pays out its funding, less at most n - 1 units of dust -----


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    balances=st.lists(st.integers(min_value=0, max_value=10**27), min_size=1, max_size=5),
    funding=st.integers(min_value=1, max_value=10**15),
)
@example(balances=[1, 1, 1], funding=2)  # every payout floors to zero: the dust is exactly n - 1
@example(balances=[10**27, 1], funding=10**15)
def test_round_payouts_sum_to_the_funding_less_dust(
    chain: EmbeddedChain,
    system: System,
    holders: Holders,
    stranger: str,
    balances: list[int],
    funding: int,
) -> None:
    """For any record-date balances and funding, every holder's payout is floor(funding * balance / total);
    together they never exceed the funding and fall short of it by at most (accounts - 1) base units, which
    the sweep returns."""
    assume(sum(balances) > 0)
    snapshot = chain.snapshot()
    try:
        treasurer = system.roles.treasurer
        entries: dict[str, int] = dict(zip(PAPER_ACCOUNTS, balances, strict=False))
        vault_cash = cash(system, system.vault.address)
        live = claimable_round(chain, system, entries, funding)
        total = sum(balances)
        paid = 0
        for account, balance in entries.items():
            fn = system.vault.functions.claimRound(live.round_id, account, balance, live.tree.proof(account))
            receipt = quick_send(chain, fn, stranger)
            (claimed,) = events(system.vault, "RoundClaimed", receipt)
            assert claimed["payout"] == funding * balance // total
            paid += claimed["payout"]
        assert paid <= funding
        assert funding - paid <= len(entries) - 1
        assert cash(system, system.vault.address) == vault_cash + funding - paid

        chain.travel_to(live.deadline)
        receipt = quick_send(chain, system.vault.functions.sweep(live.round_id, treasurer), treasurer)
        assert events(system.vault, "RoundSwept", receipt)[0]["amount"] == funding - paid
        assert cash(system, system.vault.address) == vault_cash
    finally:
        chain.revert_to(snapshot)
