"""Chain helpers the API's ledger services need: serialised access, sends, block search, event logs.

Everything here goes through web3, which is why it lives in ``ledger/chain`` (the only web3 importer).

Concurrency. eth-tester (the embedded chain) is not thread-safe, and an API serves requests from a thread
pool, so :func:`serialize` makes every JSON-RPC request of an embedded client hold one re-entrant lock,
:func:`chain_lock`; code that drives the embedded chain directly (``travel_to``, snapshots) should hold it
too. Sends from one account must not interleave either (each reads the pending nonce, then sends), so
:func:`send` holds a per-client send lock across nonce, signature, broadcast and receipt. Both locks are
per process: several API processes relaying from one account would need an account each.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from web3 import Web3
from web3.contract.contract import ContractEvent
from web3.logs import DISCARD
from web3.middleware.base import Web3Middleware
from web3.types import MakeRequestFn, RPCEndpoint, RPCResponse, TxReceipt

from ledger.chain.client import ChainClient
from ledger.chain.embedded import EmbeddedChain
from ledger.errors import ChainError

__all__ = [
    "LOG_CHUNK_BLOCKS",
    "EventLog",
    "SentTx",
    "block_at_or_before",
    "chain_lock",
    "checksum",
    "event_logs",
    "receipt_events",
    "send",
    "serialize",
]

# Many nodes cap one eth_getLogs call (by block range or result count): ask in slices of this many blocks.
LOG_CHUNK_BLOCKS: Final = 5_000

_chain_locks: weakref.WeakKeyDictionary[ChainClient, threading.RLock] = weakref.WeakKeyDictionary()
_send_locks: weakref.WeakKeyDictionary[ChainClient, threading.Lock] = weakref.WeakKeyDictionary()
_registry_lock = threading.Lock()


def chain_lock(client: ChainClient) -> threading.RLock:
    """The lock that serialises access to ``client``'s chain (the same object for the client's life)."""
    with _registry_lock:
        lock = _chain_locks.get(client)
        if lock is None:
            lock = _chain_locks[client] = threading.RLock()
        return lock


def _send_lock(client: ChainClient) -> threading.Lock:
    with _registry_lock:
        lock = _send_locks.get(client)
        if lock is None:
            lock = _send_locks[client] = threading.Lock()
        return lock


def serialize(client: ChainClient) -> None:
    """Makes every request to an embedded chain hold :func:`chain_lock` (idempotent; JSON-RPC untouched)."""
    if not isinstance(client, EmbeddedChain):
        return
    lock = chain_lock(client)
    if getattr(client, "_yuanshi_serialized", False):
        return

    class _Serialized(Web3Middleware):
        def wrap_make_request(self, make_request: MakeRequestFn) -> MakeRequestFn:
            def middleware(method: RPCEndpoint, params: Any) -> RPCResponse:
                with lock:
                    return make_request(method, params)

            return middleware

    # Outermost, so the other middleware's own requests (chain id, gas estimates) run under the lock too.
    client.w3.middleware_onion.inject(_Serialized, name="yuanshi_serialized", layer=0)
    client._yuanshi_serialized = True  # type: ignore[attr-defined]


def checksum(address: str) -> str:
    return str(Web3.to_checksum_address(address))


@dataclass(frozen=True)
class SentTx:
    tx_hash: str
    block: int
    gas_used: int
    receipt: TxReceipt


def send(client: ChainClient, fn: Any, sender: str) -> SentTx:
    """Sends ``fn`` from ``sender`` (one send per client at a time); reverts raise ``ContractRevert``."""
    with _send_lock(client):
        receipt = client.send(fn, sender)
    return SentTx(
        "0x" + bytes(receipt["transactionHash"]).hex(),
        int(receipt["blockNumber"]),
        int(receipt["gasUsed"]),
        receipt,
    )


def receipt_events(event: ContractEvent, sent: SentTx) -> list[dict[str, Any]]:
    """The decoded arguments of every ``event`` that ``sent`` emitted (other contracts' logs are skipped)."""
    return [dict(log["args"]) for log in event.process_receipt(sent.receipt, errors=DISCARD)]


def block_at_or_before(client: ChainClient, timestamp: int, lowest: int) -> int:
    """The last block (from ``lowest`` on) whose timestamp is at most ``timestamp``; ``ChainError`` if even
    block ``lowest`` is later. Block timestamps never decrease, so a binary search finds it."""

    def stamp(number: int) -> int:
        return int(client.w3.eth.get_block(number)["timestamp"])

    high = int(client.w3.eth.block_number)
    if stamp(lowest) > timestamp:
        raise ChainError(f"block {lowest} is already after {timestamp}")
    low = lowest
    while low < high:
        middle = (low + high + 1) // 2
        if stamp(middle) <= timestamp:
            low = middle
        else:
            high = middle - 1
    return low


@dataclass(frozen=True)
class EventLog:
    block: int
    log_index: int
    tx_hash: str
    args: dict[str, Any]


def _chunks(first: int, last: int) -> Iterator[tuple[int, int]]:
    start = first
    while start <= last:
        end = min(last, start + LOG_CHUNK_BLOCKS - 1)
        yield start, end
        start = end + 1


def event_logs(
    event: ContractEvent,
    from_block: int,
    to_block: int | None = None,
    filters: dict[str, Any] | None = None,
) -> list[EventLog]:
    """Every log of an event between two blocks (inclusive; ``to_block`` None: the latest), in chain order,
    optionally filtered on indexed arguments."""
    last = int(event.w3.eth.block_number) if to_block is None else to_block
    found: list[EventLog] = []
    for start, end in _chunks(from_block, last):
        for log in event.get_logs(from_block=start, to_block=end, argument_filters=filters):
            found.append(
                EventLog(
                    int(log["blockNumber"]),
                    int(log["logIndex"]),
                    "0x" + bytes(log["transactionHash"]).hex(),
                    dict(log["args"]),
                )
            )
    return sorted(found, key=lambda entry: (entry.block, entry.log_index))
