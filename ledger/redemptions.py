"""Upgrades for stones on the ``RedemptionDesk``: the catalogue, orders relayed with the owner's signature,
fulfilment and cancellation (DESIGN §1, §5).

Rules:

* The desk is the record: prices, stock, orders and their status are read from it, never cached. The
  ledger adds only the words behind an item (title, description) whose hash is the item's on-chain
  ``metadataHash``: ``keccak256`` of the canonical JSON ``{"description": ..., "title": ...}``. An item
  whose stored words do not hash to the chain's value is shown without them (``metadata_verified`` false).
* An order is signed by the buyer as EIP-712 ``Order(address buyer,uint256 itemId,uint256 maxPrice,
  uint256 nonce,uint256 deadline)`` in the desk's domain, with the buyer's current desk nonce. The
  signature is checked here first (:class:`SignatureError`), then ``orderBySig`` is relayed. ``maxPrice``
  protects the buyer from a price change between signing and relaying.
* Fulfilment burns the escrowed stones; cancellation refunds them and restocks (fulfiller role keys).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from sqlalchemy.orm import Session

from ledger import eip712
from ledger.chain.views import SentTx, receipt_events
from ledger.errors import NotFoundError, SignatureError, ValidationError
from ledger.merkle import keccak256
from ledger.relay import UINT64, UINT128, Relay, check_uint
from ledger.store.models import CatalogueItem
from ledger.vehicles import check_time, checksum_account

__all__ = [
    "ORDER_FIELDS",
    "CatalogueEntry",
    "OrderStatus",
    "OrderView",
    "cancel",
    "catalogue",
    "fulfil",
    "get_item",
    "get_order",
    "metadata_hash",
    "order_typed_data",
    "orders_of",
    "place_order",
    "set_item",
]

ORDER_FIELDS: Final = [
    ("buyer", "address"),
    ("itemId", "uint256"),
    ("maxPrice", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
]
MAX_TITLE_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 2_000


class OrderStatus(IntEnum):
    """The desk's ``OrderStatus``, numbered as in the contract."""

    NONE = 0
    ESCROWED = 1
    FULFILLED = 2
    CANCELLED = 3


@dataclass(frozen=True)
class CatalogueEntry:
    item_id: int
    price: int
    stock: int
    active: bool
    metadata_hash: str
    title: str | None
    description: str | None
    metadata_verified: bool


@dataclass(frozen=True)
class OrderView:
    order_id: int
    buyer: str
    item_id: int
    price: int
    status: OrderStatus
    created_at: int


def metadata_hash(title: str, description: str) -> str:
    document = json.dumps(
        {"description": description, "title": title},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return "0x" + keccak256(document.encode("utf-8")).hex()


# --- catalogue ---------------------------------------------------------------------------------------


def _entry(session: Session, item_id: int, raw: Any) -> CatalogueEntry:
    price, stock, active, chain_hash = raw
    onchain = "0x" + bytes(chain_hash).hex()
    words = session.get(CatalogueItem, item_id)
    verified = words is not None and words.metadata_hash == onchain
    return CatalogueEntry(
        item_id,
        int(price),
        int(stock),
        bool(active),
        onchain,
        words.title if words is not None and verified else None,
        words.description if words is not None and verified else None,
        verified,
    )


def _listed_ids(relay: Relay) -> list[int]:
    return sorted({int(log.args["itemId"]) for log in relay.logs(relay.system.desk.events.ItemSet())})


def catalogue(session: Session, relay: Relay, active_only: bool = False) -> list[CatalogueEntry]:
    """Every item ever listed, by id (only the active ones with ``active_only``)."""
    desk = relay.system.desk.functions
    entries = [_entry(session, i, relay.call(desk.item(i))) for i in _listed_ids(relay)]
    return [entry for entry in entries if entry.active or not active_only]


def get_item(session: Session, relay: Relay, item_id: int) -> CatalogueEntry:
    check_uint("item id", item_id)
    raw = relay.call(relay.system.desk.functions.item(item_id))
    if int(raw[0]) == 0:  # a listed item always has a positive price
        raise NotFoundError(f"item {item_id} is not in the catalogue")
    return _entry(session, item_id, raw)


def set_item(
    session: Session,
    relay: Relay,
    item_id: int,
    *,
    price: int,
    stock: int,
    active: bool,
    title: str,
    description: str,
    now: int,
) -> tuple[CatalogueEntry, SentTx]:
    """Lists or changes an item (catalogue role key) and stores the words behind its metadata hash."""
    check_uint("item id", item_id)
    check_uint("price", price, UINT128, low=1)
    check_uint("stock", stock, UINT64)
    if not isinstance(title, str) or not 0 < len(title.strip()) <= MAX_TITLE_CHARS:
        raise ValidationError(f"title must be 1..{MAX_TITLE_CHARS} characters")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise ValidationError(f"description must be at most {MAX_DESCRIPTION_CHARS} characters")
    title = title.strip()
    digest = metadata_hash(title, description)
    words = session.get(CatalogueItem, item_id)
    if words is None:
        words = CatalogueItem(item_id=item_id)
        session.add(words)
    words.title, words.description, words.metadata_hash, words.updated_at = title, description, digest, now
    session.flush()
    fn = relay.system.desk.functions.setItem(item_id, price, stock, active, bytes.fromhex(digest[2:]))
    sent = relay.send_as(fn, relay.system.roles.catalogue)
    return get_item(session, relay, item_id), sent


# --- orders ------------------------------------------------------------------------------------------


def order_typed_data(relay: Relay, buyer: str, item_id: int, max_price: int, deadline: int) -> dict[str, Any]:
    """The EIP-712 order ``buyer`` signs now (with the buyer's current desk nonce)."""
    buyer = checksum_account(buyer)
    message = {
        "buyer": buyer,
        "itemId": check_uint("item id", item_id),
        "maxPrice": check_uint("max price", max_price),
        "nonce": relay.nonce(relay.system.desk, buyer),
        "deadline": check_uint("deadline", deadline),
    }
    return eip712.typed_data(relay.domain(relay.system.desk), "Order", ORDER_FIELDS, message)


def _order_view(order_id: int, raw: Any) -> OrderView:
    buyer, created_at, status, item_id, price = raw
    return OrderView(
        order_id, str(buyer), int(item_id), int(price), OrderStatus(int(status)), int(created_at)
    )


def get_order(relay: Relay, order_id: int) -> OrderView:
    check_uint("order id", order_id)
    view = _order_view(order_id, relay.call(relay.system.desk.functions.orderOf(order_id)))
    if view.status is OrderStatus.NONE:
        raise NotFoundError(f"order {order_id} does not exist")
    return view


def orders_of(relay: Relay, buyer: str) -> list[OrderView]:
    logs = relay.logs(relay.system.desk.events.OrderPlaced(), {"buyer": checksum_account(buyer)})
    return [get_order(relay, int(log.args["orderId"])) for log in logs]


def place_order(
    relay: Relay, buyer: str, item_id: int, max_price: int, deadline: int, signature: str, now: int
) -> tuple[OrderView, SentTx]:
    """Relays ``orderBySig`` after checking the buyer's signature and deadline."""
    data = order_typed_data(relay, buyer, item_id, max_price, deadline)
    if deadline < check_time("now", now):
        raise SignatureError(f"the order's deadline {deadline} has passed (now {now})")
    buyer = data["message"]["buyer"]
    eip712.verify(data, signature, buyer)
    fn = relay.system.desk.functions.orderBySig(
        buyer, item_id, max_price, deadline, bytes.fromhex(signature[2:])
    )
    sent = relay.relay(fn)
    placed = receipt_events(relay.system.desk.events.OrderPlaced(), sent)
    return get_order(relay, int(placed[0]["orderId"])), sent


def fulfil(relay: Relay, order_id: int) -> tuple[OrderView, SentTx]:
    """Delivers an escrowed order: its stones are burned (fulfiller role key)."""
    get_order(relay, order_id)
    sent = relay.send_as(relay.system.desk.functions.fulfil(order_id), relay.system.roles.fulfiller)
    return get_order(relay, order_id), sent


def cancel(relay: Relay, order_id: int) -> tuple[OrderView, SentTx]:
    """Cancels an escrowed order: its stones go back to the buyer (fulfiller role key)."""
    get_order(relay, order_id)
    sent = relay.send_as(relay.system.desk.functions.cancel(order_id), relay.system.roles.fulfiller)
    return get_order(relay, order_id), sent
