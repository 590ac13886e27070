"""RedemptionDesk: the upgrade catalogue, escrowed orders (direct and EIP-712 relayed), fulfilment by burning,
cancellation with refund and restock, and the pause rules (IRedemptionDesk, issue 2)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from ledger.chain.deploy import System, role_id
from ledger.chain.embedded import EmbeddedChain
from ledger.merkle import keccak256 as keccak
from ledger.schedule import UNIT
from tests.contracts.helpers import new_account, post_epoch, reverts

pytestmark = pytest.mark.xdist_group("desk")

NONE, ESCROWED, FULFILLED, CANCELLED = 0, 1, 2, 3
UINT64_MAX = 2**64 - 1
UINT128_MAX = 2**128 - 1
ZERO_ADDRESS = "0x" + "00" * 20

BATTERY, LIDAR, FEATURE = 1, 2, 3
BATTERY_PRICE = 300 * UNIT
LIDAR_PRICE = 120 * UNIT
FEATURE_PRICE = 45 * UNIT + 7  # not a whole number of stones: balances must match to the base unit
META = keccak(b"battery-pack-75kWh")

RICH_BALANCE = 1_000 * UNIT
POOR_BALANCE = 50 * UNIT

ORDER_TYPES: dict[str, Any] = {
    "Order": [
        {"name": "buyer", "type": "address"},
        {"name": "itemId", "type": "uint256"},
        {"name": "maxPrice", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}


@dataclass(frozen=True)
class Buyers:
    """Three holders with stones claimed from epoch 0: two with 1,000 stones, one with 50."""

    alice: LocalAccount
    bob: LocalAccount
    carol: LocalAccount
    minted: int


@dataclass(frozen=True)
class Request:
    """The fields of a signed Order, as signed or as relayed."""

    buyer: str
    item_id: int
    max_price: int
    nonce: int
    deadline: int


@pytest.fixture(scope="module")
def buyers(chain: EmbeddedChain, deployed: System) -> Iterator[Buyers]:
    """Posts and claims epoch 0 once for this module; the chain is restored when the module ends."""
    snapshot = chain.snapshot()
    alice, bob, carol = new_account(chain), new_account(chain), new_account(chain)
    entries: dict[str, int] = {
        alice.address: RICH_BALANCE,
        bob.address: RICH_BALANCE,
        carol.address: POOR_BALANCE,
    }
    posted = post_epoch(chain, deployed, 0, entries)
    for account, amount in entries.items():
        chain.send(
            deployed.distributor.functions.claim(account, amount, posted.tree.proof(account)),
            deployed.roles.admin,
        )
    yield Buyers(alice, bob, carol, sum(entries.values()))
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


def item_of(system: System, item_id: int) -> tuple[int, int, bool, bytes]:
    price, stock, active, meta = system.desk.functions.item(item_id).call()
    return int(price), int(stock), bool(active), bytes(meta)


def order_of(system: System, order_id: int) -> tuple[str, int, int, int, int]:
    buyer, created_at, status, item_id, price = system.desk.functions.orderOf(order_id).call()
    return str(buyer), int(created_at), int(status), int(item_id), int(price)


def nonce_of(system: System, account: str) -> int:
    return int(system.desk.functions.nonces(account).call())


def eth_balance(chain: EmbeddedChain, account: str) -> int:
    return int(chain.w3.eth.get_balance(Web3.to_checksum_address(account)))


def block_time(chain: EmbeddedChain, receipt: TxReceipt) -> int:
    return int(chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


def set_item(
    chain: EmbeddedChain,
    system: System,
    item_id: int,
    price: int,
    stock: int,
    *,
    active: bool = True,
    meta: bytes = META,
) -> TxReceipt:
    return chain.send(
        system.desk.functions.setItem(item_id, price, stock, active, meta), system.roles.catalogue
    )


def list_catalogue(chain: EmbeddedChain, system: System) -> None:
    set_item(chain, system, BATTERY, BATTERY_PRICE, 2)
    set_item(chain, system, LIDAR, LIDAR_PRICE, 5)
    set_item(chain, system, FEATURE, FEATURE_PRICE, 100)


def place(chain: EmbeddedChain, system: System, buyer: str, item_id: int, max_price: int) -> int:
    """Orders as ``buyer`` and returns the new order id taken from the OrderPlaced event."""
    receipt = chain.send(system.desk.functions.order(item_id, max_price), buyer)
    (placed,) = events(system.desk, "OrderPlaced", receipt)
    return int(placed["orderId"])


def domain(chain: EmbeddedChain, system: System) -> dict[str, Any]:
    return {
        "name": "Yuanshi RedemptionDesk",
        "version": "1",
        "chainId": chain.chain_id,
        "verifyingContract": system.desk.address,
    }


def sign_order(
    signer: LocalAccount,
    domain_data: dict[str, Any],
    *,
    buyer: str,
    item_id: int,
    max_price: int,
    nonce: int,
    deadline: int,
) -> bytes:
    message = {
        "buyer": buyer,
        "itemId": item_id,
        "maxPrice": max_price,
        "nonce": nonce,
        "deadline": deadline,
    }
    signed = Account.sign_typed_data(
        signer.key, domain_data=domain_data, message_types=ORDER_TYPES, message_data=message
    )
    return bytes(signed.signature)


def access_denied(account: str, role: str) -> Any:
    return reverts("AccessControlUnauthorizedAccount", account, role_id(role))


# ----- catalogue -----


def test_set_item_lists_then_updates_an_item(chain: EmbeddedChain, system: System) -> None:
    assert item_of(system, BATTERY) == (0, 0, False, b"\x00" * 32)

    receipt = set_item(chain, system, BATTERY, BATTERY_PRICE, 2)
    assert events(system.desk, "ItemSet", receipt) == [
        {
            "itemId": BATTERY,
            "price": BATTERY_PRICE,
            "stock": 2,
            "active": True,
            "metadataHash": META,
        }
    ]
    assert item_of(system, BATTERY) == (BATTERY_PRICE, 2, True, META)

    new_meta = keccak(b"battery-pack-90kWh")
    receipt = set_item(chain, system, BATTERY, BATTERY_PRICE * 2, 7, active=False, meta=new_meta)
    assert events(system.desk, "ItemSet", receipt) == [
        {
            "itemId": BATTERY,
            "price": BATTERY_PRICE * 2,
            "stock": 7,
            "active": False,
            "metadataHash": new_meta,
        }
    ]
    assert item_of(system, BATTERY) == (BATTERY_PRICE * 2, 7, False, new_meta)
    assert item_of(system, LIDAR) == (0, 0, False, b"\x00" * 32)


def test_set_item_accepts_the_largest_price_and_stock(chain: EmbeddedChain, system: System) -> None:
    set_item(chain, system, 2**256 - 1, UINT128_MAX, UINT64_MAX)
    assert item_of(system, 2**256 - 1) == (UINT128_MAX, UINT64_MAX, True, META)
    set_item(chain, system, 0, 1, 0)
    assert item_of(system, 0) == (1, 0, True, META)


@pytest.mark.parametrize("price", [0, UINT128_MAX + 1, 2**256 - 1])
def test_set_item_rejects_an_invalid_price(chain: EmbeddedChain, system: System, price: int) -> None:
    with reverts("InvalidPrice", price):
        set_item(chain, system, BATTERY, price, 1)
    assert item_of(system, BATTERY) == (0, 0, False, b"\x00" * 32)


@pytest.mark.parametrize("stock", [UINT64_MAX + 1, 2**256 - 1])
def test_set_item_rejects_a_stock_beyond_64_bits(chain: EmbeddedChain, system: System, stock: int) -> None:
    with reverts("InvalidStock", stock):
        set_item(chain, system, BATTERY, BATTERY_PRICE, stock)
    assert item_of(system, BATTERY) == (0, 0, False, b"\x00" * 32)


def test_set_item_is_for_the_catalogue_role_only(chain: EmbeddedChain, system: System, stranger: str) -> None:
    fn = system.desk.functions.setItem(BATTERY, BATTERY_PRICE, 1, True, META)
    for caller in (stranger, system.roles.admin, system.roles.fulfiller, system.roles.treasurer):
        with access_denied(caller, "CATALOGUE_ROLE"):
            chain.send(fn, caller)
    assert item_of(system, BATTERY) == (0, 0, False, b"\x00" * 32)


# ----- direct orders -----


def test_order_escrows_the_price_without_any_approval(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    assert system.token.functions.allowance(alice, system.desk.address).call() == 2**256 - 1
    assert system.desk.functions.nextOrderId().call() == 1

    fn = system.desk.functions.order(BATTERY, BATTERY_PRICE)
    assert fn.call({"from": alice}) == 1
    receipt = chain.send(fn, alice)

    assert events(system.desk, "OrderPlaced", receipt) == [
        {"orderId": 1, "buyer": alice, "itemId": BATTERY, "price": BATTERY_PRICE}
    ]
    assert events(system.token, "Transfer", receipt) == [
        {"from": alice, "to": system.desk.address, "value": BATTERY_PRICE}
    ]
    assert order_of(system, 1) == (alice, block_time(chain, receipt), ESCROWED, BATTERY, BATTERY_PRICE)
    assert stones(system, alice) == RICH_BALANCE - BATTERY_PRICE
    assert stones(system, system.desk.address) == BATTERY_PRICE
    assert supply(system) == buyers.minted
    assert item_of(system, BATTERY) == (BATTERY_PRICE, 1, True, META)
    assert system.desk.functions.nextOrderId().call() == 2

    # A max above the price is fine: the current price is what is escrowed. Ids keep counting.
    second = place(chain, system, buyers.bob.address, LIDAR, LIDAR_PRICE * 3)
    assert second == 2
    assert order_of(system, 2)[2:] == (ESCROWED, LIDAR, LIDAR_PRICE)
    assert stones(system, system.desk.address) == BATTERY_PRICE + LIDAR_PRICE


def test_order_rejects_an_unlisted_item(chain: EmbeddedChain, system: System, buyers: Buyers) -> None:
    list_catalogue(chain, system)
    with reverts("ItemUnavailable", 99):
        chain.send(system.desk.functions.order(99, 2**256 - 1), buyers.alice.address)
    assert stones(system, buyers.alice.address) == RICH_BALANCE


def test_order_rejects_an_inactive_item(chain: EmbeddedChain, system: System, buyers: Buyers) -> None:
    set_item(chain, system, LIDAR, LIDAR_PRICE, 5, active=False)
    with reverts("ItemUnavailable", LIDAR):
        chain.send(system.desk.functions.order(LIDAR, LIDAR_PRICE), buyers.alice.address)
    assert item_of(system, LIDAR)[1] == 5

    set_item(chain, system, LIDAR, LIDAR_PRICE, 5, active=True)
    place(chain, system, buyers.alice.address, LIDAR, LIDAR_PRICE)
    assert item_of(system, LIDAR)[1] == 4


def test_order_rejects_an_item_out_of_stock(chain: EmbeddedChain, system: System, buyers: Buyers) -> None:
    list_catalogue(chain, system)  # two battery packs
    place(chain, system, buyers.alice.address, BATTERY, BATTERY_PRICE)
    place(chain, system, buyers.bob.address, BATTERY, BATTERY_PRICE)
    assert item_of(system, BATTERY)[1] == 0
    with reverts("OutOfStock", BATTERY):
        chain.send(system.desk.functions.order(BATTERY, BATTERY_PRICE), buyers.alice.address)
    assert stones(system, buyers.alice.address) == RICH_BALANCE - BATTERY_PRICE

    set_item(chain, system, FEATURE, FEATURE_PRICE, 0)
    with reverts("OutOfStock", FEATURE):
        chain.send(system.desk.functions.order(FEATURE, FEATURE_PRICE), buyers.alice.address)


def test_order_rejects_a_price_above_the_buyers_max(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    list_catalogue(chain, system)
    with reverts("PriceAboveMax", LIDAR, LIDAR_PRICE, LIDAR_PRICE - 1):
        chain.send(system.desk.functions.order(LIDAR, LIDAR_PRICE - 1), buyers.alice.address)

    # The catalogue raises the price after the buyer decided: the buyer's max protects them.
    set_item(chain, system, LIDAR, LIDAR_PRICE + UNIT, 5)
    with reverts("PriceAboveMax", LIDAR, LIDAR_PRICE + UNIT, LIDAR_PRICE):
        chain.send(system.desk.functions.order(LIDAR, LIDAR_PRICE), buyers.alice.address)
    assert stones(system, buyers.alice.address) == RICH_BALANCE
    assert item_of(system, LIDAR)[1] == 5


def test_order_without_enough_stones_reverts_with_the_erc20_error(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    carol = buyers.carol.address
    with reverts("ERC20InsufficientBalance", carol, POOR_BALANCE, LIDAR_PRICE):
        chain.send(system.desk.functions.order(LIDAR, LIDAR_PRICE), carol)
    with reverts("ERC20InsufficientBalance", stranger, 0, FEATURE_PRICE):
        chain.send(system.desk.functions.order(FEATURE, FEATURE_PRICE), stranger)
    assert item_of(system, LIDAR)[1] == 5
    assert item_of(system, FEATURE)[1] == 100
    assert system.desk.functions.nextOrderId().call() == 1
    assert stones(system, carol) == POOR_BALANCE
    assert stones(system, system.desk.address) == 0


# ----- relayed orders (EIP-712) -----


def test_domain_separator_is_the_eip712_domain_signers_use(chain: EmbeddedChain, system: System) -> None:
    type_hash = keccak(b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
    expected = keccak(
        type_hash
        + keccak(b"Yuanshi RedemptionDesk")
        + keccak(b"1")
        + chain.chain_id.to_bytes(32, "big")
        + bytes(12)
        + bytes.fromhex(system.desk.address[2:])
    )
    assert bytes(system.desk.functions.DOMAIN_SEPARATOR().call()) == expected
    assert bytes(system.desk.functions.ORDER_TYPEHASH().call()) == keccak(
        b"Order(address buyer,uint256 itemId,uint256 maxPrice,uint256 nonce,uint256 deadline)"
    )


def test_order_by_sig_relayed_by_a_stranger_who_pays_the_gas(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice
    deadline = chain.now() + 3600
    signature = sign_order(
        alice,
        domain(chain, system),
        buyer=alice.address,
        item_id=LIDAR,
        max_price=LIDAR_PRICE,
        nonce=0,
        deadline=deadline,
    )
    alice_eth = eth_balance(chain, alice.address)
    relayer_eth = eth_balance(chain, stranger)
    assert nonce_of(system, alice.address) == 0

    fn = system.desk.functions.orderBySig(alice.address, LIDAR, LIDAR_PRICE, deadline, signature)
    assert fn.call({"from": stranger}) == 1
    receipt = chain.send(fn, stranger)

    assert events(system.desk, "OrderPlaced", receipt) == [
        {"orderId": 1, "buyer": alice.address, "itemId": LIDAR, "price": LIDAR_PRICE}
    ]
    assert order_of(system, 1) == (alice.address, block_time(chain, receipt), ESCROWED, LIDAR, LIDAR_PRICE)
    assert nonce_of(system, alice.address) == 1
    assert nonce_of(system, stranger) == 0
    assert stones(system, alice.address) == RICH_BALANCE - LIDAR_PRICE
    assert stones(system, stranger) == 0
    assert stones(system, system.desk.address) == LIDAR_PRICE
    assert item_of(system, LIDAR)[1] == 4
    # The holder spent no ether; the relayer paid exactly the gas.
    gas_cost = int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])
    assert gas_cost > 0
    assert eth_balance(chain, alice.address) == alice_eth
    assert eth_balance(chain, stranger) == relayer_eth - gas_cost

    # The relayer is no party to the order; the buyer is.
    with reverts("NotOrderParty", 1, stranger):
        chain.send(system.desk.functions.cancel(1), stranger)


def test_order_by_sig_cannot_be_replayed(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice
    deadline = chain.now() + 3600
    signature = sign_order(
        alice,
        domain(chain, system),
        buyer=alice.address,
        item_id=FEATURE,
        max_price=FEATURE_PRICE,
        nonce=0,
        deadline=deadline,
    )
    fn = system.desk.functions.orderBySig(alice.address, FEATURE, FEATURE_PRICE, deadline, signature)
    chain.send(fn, stranger)
    with reverts("InvalidSignature", alice.address):
        chain.send(fn, stranger)
    with reverts("InvalidSignature", alice.address):
        chain.send(fn, alice.address)
    assert nonce_of(system, alice.address) == 1
    assert stones(system, alice.address) == RICH_BALANCE - FEATURE_PRICE
    assert item_of(system, FEATURE)[1] == 99

    # A fresh signature over the next nonce goes through.
    signature = sign_order(
        alice,
        domain(chain, system),
        buyer=alice.address,
        item_id=FEATURE,
        max_price=FEATURE_PRICE,
        nonce=1,
        deadline=deadline,
    )
    chain.send(
        system.desk.functions.orderBySig(alice.address, FEATURE, FEATURE_PRICE, deadline, signature), stranger
    )
    assert nonce_of(system, alice.address) == 2
    assert stones(system, alice.address) == RICH_BALANCE - 2 * FEATURE_PRICE


def test_order_by_sig_rejects_an_expired_deadline(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice
    deadline = chain.now() + 100

    def signed(deadline_: int) -> Any:
        signature = sign_order(
            alice,
            domain(chain, system),
            buyer=alice.address,
            item_id=LIDAR,
            max_price=LIDAR_PRICE,
            nonce=0,
            deadline=deadline_,
        )
        return system.desk.functions.orderBySig(alice.address, LIDAR, LIDAR_PRICE, deadline_, signature)

    chain.travel_to(deadline + 1)  # the next block is one second past the deadline
    with reverts("SignatureExpired", deadline):
        chain.send(signed(deadline), stranger)
    assert nonce_of(system, alice.address) == 0

    # A deadline equal to the block's timestamp is still valid.
    at = chain.now() + 50
    chain.travel_to(at)
    receipt = chain.send(signed(at), stranger)
    assert block_time(chain, receipt) == at
    assert nonce_of(system, alice.address) == 1
    assert order_of(system, 1)[0] == alice.address


def test_order_by_sig_rejects_a_signature_by_someone_else(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice, bob = buyers.alice, buyers.bob
    deadline = chain.now() + 3600
    # Bob signs an order that spends Alice's stones.
    signature = sign_order(
        bob,
        domain(chain, system),
        buyer=alice.address,
        item_id=LIDAR,
        max_price=LIDAR_PRICE,
        nonce=0,
        deadline=deadline,
    )
    with reverts("InvalidSignature", alice.address):
        chain.send(
            system.desk.functions.orderBySig(alice.address, LIDAR, LIDAR_PRICE, deadline, signature), stranger
        )
    # Garbage and empty signatures are rejected the same way, never with an ECDSA internals error.
    for junk in (b"", b"\x01" * 65, signature[:64]):
        with reverts("InvalidSignature", alice.address):
            chain.send(
                system.desk.functions.orderBySig(alice.address, LIDAR, LIDAR_PRICE, deadline, junk), stranger
            )
    assert stones(system, alice.address) == RICH_BALANCE
    assert stones(system, bob.address) == RICH_BALANCE
    assert nonce_of(system, alice.address) == 0
    assert nonce_of(system, bob.address) == 0


@pytest.mark.parametrize("field", ["buyer", "itemId", "maxPrice", "deadline", "nonce", "domain"])
def test_order_by_sig_rejects_a_tampered_request(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str, field: str
) -> None:
    list_catalogue(chain, system)
    alice, bob = buyers.alice, buyers.bob
    deadline = chain.now() + 3600
    signed = Request(alice.address, LIDAR, LIDAR_PRICE, 0, deadline)
    sent = signed
    domain_data = domain(chain, system)
    match field:
        case "buyer":
            sent = replace(signed, buyer=bob.address)
        case "itemId":
            sent = replace(signed, item_id=FEATURE)
        case "maxPrice":
            sent = replace(signed, max_price=LIDAR_PRICE * 2)
        case "deadline":
            sent = replace(signed, deadline=deadline + 1)
        case "nonce":
            signed = replace(signed, nonce=1)  # signed for a nonce that is not the current one
        case "domain":
            domain_data = {**domain_data, "verifyingContract": system.vault.address}
    signature = sign_order(
        alice,
        domain_data,
        buyer=signed.buyer,
        item_id=signed.item_id,
        max_price=signed.max_price,
        nonce=signed.nonce,
        deadline=signed.deadline,
    )
    fn = system.desk.functions.orderBySig(sent.buyer, sent.item_id, sent.max_price, sent.deadline, signature)
    with reverts("InvalidSignature", sent.buyer):
        chain.send(fn, stranger)
    assert stones(system, alice.address) == RICH_BALANCE
    assert stones(system, bob.address) == RICH_BALANCE
    assert nonce_of(system, alice.address) == 0
    assert system.desk.functions.nextOrderId().call() == 1


def test_order_by_sig_still_enforces_the_catalogue_rules(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    carol = buyers.carol
    deadline = chain.now() + 3600

    def relay(item_id: int, max_price: int) -> None:
        signature = sign_order(
            carol,
            domain(chain, system),
            buyer=carol.address,
            item_id=item_id,
            max_price=max_price,
            nonce=0,
            deadline=deadline,
        )
        chain.send(
            system.desk.functions.orderBySig(carol.address, item_id, max_price, deadline, signature), stranger
        )

    with reverts("PriceAboveMax", LIDAR, LIDAR_PRICE, UNIT):
        relay(LIDAR, UNIT)
    with reverts("ItemUnavailable", 42):
        relay(42, LIDAR_PRICE)
    with reverts("ERC20InsufficientBalance", carol.address, POOR_BALANCE, LIDAR_PRICE):
        relay(LIDAR, LIDAR_PRICE)
    # None of the failed attempts consumed the nonce: the same nonce still works.
    assert nonce_of(system, carol.address) == 0
    relay(FEATURE, FEATURE_PRICE)
    assert nonce_of(system, carol.address) == 1
    assert stones(system, carol.address) == POOR_BALANCE - FEATURE_PRICE


# ----- fulfilment -----


def test_fulfil_burns_the_escrowed_stones(chain: EmbeddedChain, system: System, buyers: Buyers) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    first = place(chain, system, alice, BATTERY, BATTERY_PRICE)
    second = place(chain, system, alice, LIDAR, LIDAR_PRICE)

    receipt = chain.send(system.desk.functions.fulfil(first), system.roles.fulfiller)

    assert events(system.desk, "OrderFulfilled", receipt) == [
        {"orderId": first, "fulfiller": system.roles.fulfiller}
    ]
    assert events(system.token, "Transfer", receipt) == [
        {"from": system.desk.address, "to": ZERO_ADDRESS, "value": BATTERY_PRICE}
    ]
    assert order_of(system, first)[2] == FULFILLED
    assert supply(system) == buyers.minted - BATTERY_PRICE
    assert stones(system, system.desk.address) == LIDAR_PRICE
    assert stones(system, alice) == RICH_BALANCE - BATTERY_PRICE - LIDAR_PRICE
    assert item_of(system, BATTERY)[1] == 1  # fulfilment does not restock
    assert order_of(system, second)[2] == ESCROWED


def test_an_order_is_fulfilled_or_cancelled_only_once(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    fulfilled = place(chain, system, alice, LIDAR, LIDAR_PRICE)
    cancelled = place(chain, system, alice, FEATURE, FEATURE_PRICE)
    fulfiller = system.roles.fulfiller
    chain.send(system.desk.functions.fulfil(fulfilled), fulfiller)
    chain.send(system.desk.functions.cancel(cancelled), fulfiller)
    supply_after, desk_after = supply(system), stones(system, system.desk.address)

    with reverts("OrderNotEscrowed", fulfilled, FULFILLED):
        chain.send(system.desk.functions.fulfil(fulfilled), fulfiller)
    with reverts("OrderNotEscrowed", fulfilled, FULFILLED):
        chain.send(system.desk.functions.cancel(fulfilled), fulfiller)
    with reverts("OrderNotEscrowed", cancelled, CANCELLED):
        chain.send(system.desk.functions.fulfil(cancelled), fulfiller)
    with reverts("OrderNotEscrowed", cancelled, CANCELLED):
        chain.send(system.desk.functions.cancel(cancelled), fulfiller)
    with reverts("OrderNotEscrowed", cancelled, CANCELLED):
        chain.send(system.desk.functions.cancel(cancelled), alice)
    for unknown in (0, 3, 2**256 - 1):
        with reverts("OrderNotEscrowed", unknown, NONE):
            chain.send(system.desk.functions.fulfil(unknown), fulfiller)
        with reverts("OrderNotEscrowed", unknown, NONE):
            chain.send(system.desk.functions.cancel(unknown), fulfiller)

    assert supply(system) == supply_after == buyers.minted - LIDAR_PRICE
    assert stones(system, system.desk.address) == desk_after == 0
    assert stones(system, alice) == RICH_BALANCE - LIDAR_PRICE
    assert item_of(system, FEATURE)[1] == 100


def test_fulfil_is_for_the_fulfiller_role_only(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    order_id = place(chain, system, alice, LIDAR, LIDAR_PRICE)
    for caller in (alice, stranger, system.roles.catalogue, system.roles.admin, system.roles.pauser):
        with access_denied(caller, "FULFILLER_ROLE"):
            chain.send(system.desk.functions.fulfil(order_id), caller)
    assert order_of(system, order_id)[2] == ESCROWED
    assert stones(system, system.desk.address) == LIDAR_PRICE


# ----- cancellation -----


def test_fulfiller_cancels_at_once_with_refund_and_restock(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    order_id = place(chain, system, alice, BATTERY, BATTERY_PRICE)
    assert item_of(system, BATTERY)[1] == 1

    receipt = chain.send(system.desk.functions.cancel(order_id), system.roles.fulfiller)

    assert events(system.desk, "OrderCancelled", receipt) == [
        {"orderId": order_id, "by": system.roles.fulfiller, "refund": BATTERY_PRICE}
    ]
    assert events(system.token, "Transfer", receipt) == [
        {"from": system.desk.address, "to": alice, "value": BATTERY_PRICE}
    ]
    assert order_of(system, order_id)[2] == CANCELLED
    assert stones(system, alice) == RICH_BALANCE
    assert stones(system, system.desk.address) == 0
    assert supply(system) == buyers.minted
    assert item_of(system, BATTERY)[1] == 2


def test_buyer_cancels_only_after_the_timeout(chain: EmbeddedChain, system: System, buyers: Buyers) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    timeout = int(system.desk.functions.cancelTimeout().call())
    assert timeout == system.params.cancel_timeout
    order_id = place(chain, system, alice, LIDAR, LIDAR_PRICE)
    allowed_at = order_of(system, order_id)[1] + timeout

    with reverts("CancelTooEarly", order_id, allowed_at):
        chain.send(system.desk.functions.cancel(order_id), alice)
    chain.travel_to(allowed_at - 1)
    with reverts("CancelTooEarly", order_id, allowed_at):
        chain.send(system.desk.functions.cancel(order_id), alice)
    assert order_of(system, order_id)[2] == ESCROWED

    chain.travel_to(allowed_at)
    receipt = chain.send(system.desk.functions.cancel(order_id), alice)
    assert block_time(chain, receipt) == allowed_at
    assert events(system.desk, "OrderCancelled", receipt) == [
        {"orderId": order_id, "by": alice, "refund": LIDAR_PRICE}
    ]
    assert order_of(system, order_id)[2] == CANCELLED
    assert stones(system, alice) == RICH_BALANCE
    assert stones(system, system.desk.address) == 0
    assert item_of(system, LIDAR)[1] == 5


def test_a_stranger_cannot_cancel_even_after_the_timeout(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    order_id = place(chain, system, alice, LIDAR, LIDAR_PRICE)
    for caller in (stranger, buyers.bob.address, system.roles.catalogue, system.roles.admin):
        with reverts("NotOrderParty", order_id, caller):
            chain.send(system.desk.functions.cancel(order_id), caller)
    chain.advance(system.params.cancel_timeout + 1)
    with reverts("NotOrderParty", order_id, stranger):
        chain.send(system.desk.functions.cancel(order_id), stranger)
    assert order_of(system, order_id)[2] == ESCROWED
    assert stones(system, system.desk.address) == LIDAR_PRICE


def test_cancel_refunds_the_price_paid_not_the_current_price(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    list_catalogue(chain, system)
    alice = buyers.alice.address
    order_id = place(chain, system, alice, LIDAR, LIDAR_PRICE)
    set_item(chain, system, LIDAR, LIDAR_PRICE * 2, 9, active=False)

    receipt = chain.send(system.desk.functions.cancel(order_id), system.roles.fulfiller)
    assert events(system.desk, "OrderCancelled", receipt)[0]["refund"] == LIDAR_PRICE
    assert stones(system, alice) == RICH_BALANCE
    assert stones(system, system.desk.address) == 0
    assert item_of(system, LIDAR) == (LIDAR_PRICE * 2, 10, False, META)


def test_cancel_refunds_when_the_stock_is_at_its_maximum(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    """An item listed with "unlimited" stock (the uint64 maximum, which setItem accepts) and re-listed with it
    while an order is escrowed: the cancellation must still refund the buyer."""
    set_item(chain, system, FEATURE, FEATURE_PRICE, UINT64_MAX)
    alice = buyers.alice.address
    order_id = place(chain, system, alice, FEATURE, FEATURE_PRICE)
    set_item(chain, system, FEATURE, FEATURE_PRICE, UINT64_MAX)  # e.g. a metadata update

    chain.send(system.desk.functions.cancel(order_id), system.roles.fulfiller)
    assert order_of(system, order_id)[2] == CANCELLED
    assert stones(system, alice) == RICH_BALANCE
    assert stones(system, system.desk.address) == 0
    assert item_of(system, FEATURE)[1] == UINT64_MAX


# ----- pause -----


def test_pause_stops_orders_but_not_fulfilment_or_cancellation(
    chain: EmbeddedChain, system: System, buyers: Buyers, stranger: str
) -> None:
    list_catalogue(chain, system)
    alice, bob = buyers.alice, buyers.bob.address
    to_fulfil = place(chain, system, alice.address, LIDAR, LIDAR_PRICE)
    to_cancel = place(chain, system, bob, LIDAR, LIDAR_PRICE)
    by_buyer = place(chain, system, bob, FEATURE, FEATURE_PRICE)

    for caller in (stranger, system.roles.admin, system.roles.fulfiller):
        with access_denied(caller, "PAUSER_ROLE"):
            chain.send(system.desk.functions.pause(), caller)
    receipt = chain.send(system.desk.functions.pause(), system.roles.pauser)
    assert events(system.desk, "Paused", receipt) == [{"account": system.roles.pauser}]
    assert system.desk.functions.paused().call() is True

    with reverts("EnforcedPause"):
        chain.send(system.desk.functions.order(LIDAR, LIDAR_PRICE), alice.address)
    deadline = chain.now() + 2 * system.params.cancel_timeout  # outlives the pause below
    signature = sign_order(
        alice,
        domain(chain, system),
        buyer=alice.address,
        item_id=LIDAR,
        max_price=LIDAR_PRICE,
        nonce=0,
        deadline=deadline,
    )
    relayed = system.desk.functions.orderBySig(alice.address, LIDAR, LIDAR_PRICE, deadline, signature)
    with reverts("EnforcedPause"):
        chain.send(relayed, stranger)
    assert nonce_of(system, alice.address) == 0

    chain.send(system.desk.functions.fulfil(to_fulfil), system.roles.fulfiller)
    chain.send(system.desk.functions.cancel(to_cancel), system.roles.fulfiller)
    chain.advance(system.params.cancel_timeout)
    chain.send(system.desk.functions.cancel(by_buyer), bob)
    assert [order_of(system, i)[2] for i in (to_fulfil, to_cancel, by_buyer)] == [
        FULFILLED,
        CANCELLED,
        CANCELLED,
    ]
    assert supply(system) == buyers.minted - LIDAR_PRICE
    assert stones(system, bob) == RICH_BALANCE
    assert stones(system, system.desk.address) == 0

    with access_denied(stranger, "PAUSER_ROLE"):
        chain.send(system.desk.functions.unpause(), stranger)
    receipt = chain.send(system.desk.functions.unpause(), system.roles.pauser)
    assert events(system.desk, "Unpaused", receipt) == [{"account": system.roles.pauser}]
    chain.send(relayed, stranger)  # the signature signed during the pause is still good
    assert order_of(system, 4)[:1] == (alice.address,)
    assert nonce_of(system, alice.address) == 1


def test_pause_and_unpause_reject_the_wrong_state(chain: EmbeddedChain, system: System) -> None:
    with reverts("ExpectedPause"):
        chain.send(system.desk.functions.unpause(), system.roles.pauser)
    chain.send(system.desk.functions.pause(), system.roles.pauser)
    with reverts("EnforcedPause"):
        chain.send(system.desk.functions.pause(), system.roles.pauser)


# ----- the escrow invariant -----


def test_desk_balance_equals_the_escrowed_prices_through_a_random_sequence(
    chain: EmbeddedChain, system: System, buyers: Buyers
) -> None:
    """Orders, fulfilments and cancellations in a seeded random order. After every step the desk holds
    exactly the prices of the escrowed orders and total supply dropped by exactly the fulfilled prices; at
    the end stock moved by one per order and per cancellation, every buyer holds minted - escrowed - burned,
    and every order has the status its history gives it."""
    rng = random.Random(20240602)
    prices = {BATTERY: BATTERY_PRICE, LIDAR: LIDAR_PRICE, FEATURE: FEATURE_PRICE}
    stock = {BATTERY: 3, LIDAR: 5, FEATURE: 8}
    for item_id, price in prices.items():
        set_item(chain, system, item_id, price, stock[item_id])
    holders: dict[str, int] = {buyers.alice.address: RICH_BALANCE, buyers.bob.address: RICH_BALANCE}
    spent = dict.fromkeys(holders, 0)  # escrowed or burned, per buyer
    escrowed: dict[int, tuple[str, int]] = {}
    statuses: dict[int, int] = {}
    burned = 0
    next_id = 1

    for _ in range(20):
        action = rng.choice(["order", "order", "fulfil", "cancel"])
        if action == "order":
            buyer, item_id = rng.choice(list(holders)), rng.choice(list(prices))
            if stock[item_id] == 0 or holders[buyer] - spent[buyer] < prices[item_id]:
                continue
            assert place(chain, system, buyer, item_id, prices[item_id]) == next_id
            escrowed[next_id] = (buyer, item_id)
            statuses[next_id] = ESCROWED
            spent[buyer] += prices[item_id]
            stock[item_id] -= 1
            next_id += 1
        elif escrowed:
            order_id = rng.choice(sorted(escrowed))
            buyer, item_id = escrowed.pop(order_id)
            if action == "fulfil":
                chain.send(system.desk.functions.fulfil(order_id), system.roles.fulfiller)
                statuses[order_id] = FULFILLED
                burned += prices[item_id]
            else:
                chain.send(system.desk.functions.cancel(order_id), system.roles.fulfiller)
                statuses[order_id] = CANCELLED
                spent[buyer] -= prices[item_id]
                stock[item_id] += 1
        assert stones(system, system.desk.address) == sum(prices[i] for _, i in escrowed.values())
        assert supply(system) == buyers.minted - burned
    for item_id in prices:
        assert item_of(system, item_id)[1] == stock[item_id]
    for holder, minted in holders.items():
        assert stones(system, holder) == minted - spent[holder]
    assert {order_id: order_of(system, order_id)[2] for order_id in statuses} == statuses
    assert len(statuses) > 6
    assert set(statuses.values()) == {ESCROWED, FULFILLED, CANCELLED}
