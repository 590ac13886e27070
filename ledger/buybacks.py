"""Buy-back-and-burn windows on the ``EquityVault`` and sell-backs relayed with the owner's signature.

Rules:

* The treasurer opens a window ``[start, end)`` burning up to ``stone_budget`` stones at
  ``price_per_stone`` settlement units per whole stone (10**18 base units); its funding,
  ``ceil(stone_budget * price_per_stone / 10**18)``, is pulled from the treasurer (approve, then open).
* A seller signs EIP-712 ``SellBack(address seller,uint256 buybackId,uint256 stones,uint256 minPayout,
  uint256 nonce,uint256 deadline)`` in the vault's domain with the seller's current vault nonce. The
  signature and deadline are checked here first (:class:`SignatureError`), then ``sellBackBySig`` is
  relayed; the payout is ``floor(stones * price_per_stone / 10**18)`` and must reach ``min_payout``.
* From its end on, the treasurer closes a window (``closeBuyback``), once: what it did not pay out
  (``funding - paid``) goes back to an account the treasurer names. Before anything is sent, the ledger
  refuses a close to a system contract, and one that could not be mined at or after the end (the next
  block is at the chain's clock + 1 at the earliest). A window closed already to the same account
  answers that close again (its refund, no transaction), so a retried request is harmless; to another
  account it is a :class:`ConflictError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ledger import eip712
from ledger.chain.views import SentTx, receipt_events
from ledger.errors import ConflictError, NotFoundError, SignatureError, ValidationError
from ledger.relay import UINT64, Relay, check_uint
from ledger.schedule import UNIT
from ledger.vehicles import check_time, checksum_account

__all__ = [
    "SELLBACK_FIELDS",
    "BuybackClose",
    "BuybackView",
    "SellBackResult",
    "buybacks",
    "close_buyback",
    "get_buyback",
    "open_buyback",
    "sell_back",
    "sellback_typed_data",
]

SELLBACK_FIELDS: Final = [
    ("seller", "address"),
    ("buybackId", "uint256"),
    ("stones", "uint256"),
    ("minPayout", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
]


@dataclass(frozen=True)
class BuybackView:
    buyback_id: int
    start: int
    end: int
    closed: bool
    price_per_stone: int
    stone_budget: int
    stones_bought: int
    funding: int
    paid: int
    open_now: bool


@dataclass(frozen=True)
class SellBackResult:
    buyback_id: int
    seller: str
    stones: int
    payout: int
    tx: SentTx


@dataclass(frozen=True)
class BuybackClose:
    """A window's unspent funding refunded to ``to``; ``tx`` None: it had been closed there already."""

    buyback_id: int
    to: str
    refund: int
    tx: SentTx | None


def _view(buyback_id: int, raw: Any, now: int) -> BuybackView:
    start, end, closed, price, budget, bought, funding, paid = (int(v) for v in raw)
    return BuybackView(
        buyback_id,
        start,
        end,
        bool(closed),
        price,
        budget,
        bought,
        funding,
        paid,
        start <= now < end and not closed,
    )


def get_buyback(relay: Relay, buyback_id: int) -> BuybackView:
    check_uint("buy-back id", buyback_id)
    raw = relay.call(relay.system.vault.functions.buyback(buyback_id))
    if int(raw[6]) == 0:  # an opened window is always funded
        raise NotFoundError(f"buy-back {buyback_id} does not exist")
    return _view(buyback_id, raw, relay.now())


def buybacks(relay: Relay) -> list[BuybackView]:
    count = int(relay.call(relay.system.vault.functions.buybackCount()))
    return [get_buyback(relay, buyback_id) for buyback_id in range(1, count + 1)]


def open_buyback(
    relay: Relay, price_per_stone: int, stone_budget: int, start: int, end: int
) -> tuple[BuybackView, list[SentTx]]:
    """Opens a window funded by the treasurer (approve the exact funding, then ``openBuyback``); the
    vault's window rule is checked first, so that a refused window leaves no approval behind."""
    check_uint("price per stone", price_per_stone, low=1)
    check_uint("stone budget", stone_budget, low=1)
    check_uint("start", start, UINT64)
    check_uint("end", end, UINT64)
    if end <= max(start, relay.now()):
        raise ValidationError(f"end {end} must be after start {start} and after now (InvalidWindow)")
    funding = -(-stone_budget * price_per_stone // UNIT)  # the vault rounds up, and pulls exactly this
    vault, treasurer = relay.system.vault, relay.system.roles.treasurer
    sent = relay.fund_from_treasurer(vault.address, funding)
    opened = relay.send_as(vault.functions.openBuyback(price_per_stone, stone_budget, start, end), treasurer)
    buyback_id = int(receipt_events(vault.events.BuybackOpened(), opened)[0]["buybackId"])
    return get_buyback(relay, buyback_id), [*sent, opened]


def close_buyback(relay: Relay, buyback_id: int, to: str) -> tuple[BuybackView, BuybackClose]:
    """Refunds what ``buyback_id`` did not pay out to ``to`` with the treasurer key (``closeBuyback``),
    once, from the window's end on; a window closed to ``to`` already answers that close again."""
    payee = relay.check_payee(to)
    view = get_buyback(relay, buyback_id)
    vault = relay.system.vault
    if view.closed:
        missing = f"buy-back {buyback_id} is closed, but its BuybackClosed event was not found"
        filters = {"buybackId": buyback_id}
        earlier, refund, tx = relay.earlier_payout(vault.events.BuybackClosed(), filters, "refund", missing)
        if earlier != payee:
            raise ConflictError(
                f"buy-back {buyback_id} was closed already: {refund} base units refunded to {earlier} "
                f"(tx {tx}); a window is closed once (NotClosable)"
            )
        return view, BuybackClose(buyback_id, payee, refund, None)
    relay.require_reached(
        view.end, f"buy-back {buyback_id} can be closed from the end of its window, {view.end}, on"
    )
    sent = relay.send_as(vault.functions.closeBuyback(buyback_id, payee), relay.system.roles.treasurer)
    refund = int(receipt_events(vault.events.BuybackClosed(), sent)[0]["refund"])
    return get_buyback(relay, buyback_id), BuybackClose(buyback_id, payee, refund, sent)


def sellback_typed_data(
    relay: Relay, seller: str, buyback_id: int, stones: int, min_payout: int, deadline: int
) -> dict[str, Any]:
    """The EIP-712 sell-back ``seller`` signs now (with the seller's current vault nonce)."""
    seller = checksum_account(seller)
    message = {
        "seller": seller,
        "buybackId": check_uint("buy-back id", buyback_id),
        "stones": check_uint("stones", stones, low=1),
        "minPayout": check_uint("min payout", min_payout),
        "nonce": relay.nonce(relay.system.vault, seller),
        "deadline": check_uint("deadline", deadline),
    }
    return eip712.typed_data(relay.domain(relay.system.vault), "SellBack", SELLBACK_FIELDS, message)


def sell_back(
    relay: Relay,
    seller: str,
    buyback_id: int,
    stones: int,
    min_payout: int,
    deadline: int,
    signature: str,
    now: int,
) -> SellBackResult:
    """Relays ``sellBackBySig`` after checking the seller's signature and deadline."""
    data = sellback_typed_data(relay, seller, buyback_id, stones, min_payout, deadline)
    if deadline < check_time("now", now):
        raise SignatureError(f"the sell-back's deadline {deadline} has passed (now {now})")
    seller = data["message"]["seller"]
    get_buyback(relay, buyback_id)
    eip712.verify(data, signature, seller)
    fn = relay.system.vault.functions.sellBackBySig(
        seller, buyback_id, stones, min_payout, deadline, bytes.fromhex(signature[2:])
    )
    sent = relay.relay(fn)
    sold = receipt_events(relay.system.vault.events.BoughtBack(), sent)[0]
    return SellBackResult(buyback_id, seller, int(sold["stones"]), int(sold["payout"]), sent)
