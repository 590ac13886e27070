"""The chain over Ethereum JSON-RPC: any node reached by an HTTP URL (DESIGN §6, §7).

A Hardhat node in tests, geth or a permissioned EVM chain such as Besu in production. Operator transactions
are signed locally with the keys passed to :func:`connect`; nothing relies on accounts the node unlocks.

:func:`increase_time`, :func:`mine` and :func:`set_balance` drive a development node (Hardhat's
``evm_*``/``hardhat_*`` methods) and exist for tests and demos only: a real network refuses them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from eth_account.signers.local import LocalAccount
from requests.exceptions import RequestException
from web3 import HTTPProvider, Web3
from web3.exceptions import Web3Exception
from web3.middleware import ExtraDataToPOAMiddleware
from web3.types import RPCEndpoint

from ledger.chain.client import ChainClient
from ledger.errors import ChainError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0


def redact_url(url: str) -> str:
    """``scheme://host:port`` only: node URLs often carry an API key in the path or credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def connect(
    url: str,
    signers: Sequence[LocalAccount] = (),
    *,
    timeout: float = DEFAULT_TIMEOUT,
    expected_chain_id: int | None = None,
) -> ChainClient:
    """A :class:`ChainClient` on the node at ``url`` that signs with ``signers``.

    Asks the node for its chain id first, so a wrong URL fails here with a :class:`ChainError` rather than
    at the first transaction; with ``expected_chain_id`` it also refuses a node of another chain, since
    transactions signed for one chain id are rejected by (or, worse, replayable on) any other.
    """
    if urlsplit(url).scheme not in ("http", "https"):
        raise ChainError(f"chain URL must be http:// or https://, got {redact_url(url)}")
    w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout}))
    # Permissioned chains (Besu QBFT, geth clique) keep validator data in extraData, longer than the 32
    # bytes web3 otherwise insists on for every block it reads.
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    where = redact_url(url)
    try:
        chain_id = int(w3.eth.chain_id)
    except (RequestException, Web3Exception, OSError, ValueError) as exc:
        # Not chained: the underlying error repeats the full URL, API key included, in every traceback.
        raise ChainError(f"no Ethereum JSON-RPC node answers at {where}: {type(exc).__name__}") from None
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainError(f"node at {where} is on chain {chain_id}, expected chain {expected_chain_id}")
    log.info("connected to %s, chain id %d", where, chain_id)
    return ChainClient(w3, {account.address: account for account in signers})


def _dev_request(client: ChainClient, method: str, params: list[Any]) -> Any:
    try:
        return client.w3.manager.request_blocking(RPCEndpoint(method), params)
    except (RequestException, Web3Exception, OSError) as exc:
        raise ChainError(f"{method} failed (it exists on development nodes only): {exc}") from exc


def mine(client: ChainClient, timestamp: int | None = None) -> int:
    """Dev node only: mines one block (at ``timestamp``, when given) and returns its timestamp."""
    _dev_request(client, "evm_mine", [] if timestamp is None else [timestamp])
    return client.now()


def increase_time(client: ChainClient, seconds: int) -> int:
    """Dev node only: moves the node's clock ``seconds`` forward and mines a block, so that
    :meth:`ChainClient.now` shows the jump as the embedded chain's ``advance`` does; returns the new time."""
    if seconds < 0:
        raise ValueError(f"cannot move time backwards ({seconds} s)")
    _dev_request(client, "evm_increaseTime", [seconds])
    return mine(client)


def set_balance(client: ChainClient, address: str, wei: int) -> None:
    """Dev node only: sets ``address``'s ether balance (Hardhat's ``hardhat_setBalance``)."""
    _dev_request(client, "hardhat_setBalance", [Web3.to_checksum_address(address), hex(wei)])


def snapshot(client: ChainClient) -> str:
    """Dev node only: records the node's state; :func:`revert` returns to it (once)."""
    return str(_dev_request(client, "evm_snapshot", []))


def revert(client: ChainClient, snapshot_id: str) -> None:
    """Dev node only: returns to the state recorded by :func:`snapshot` (which is then used up)."""
    if _dev_request(client, "evm_revert", [snapshot_id]) is not True:
        raise ChainError(f"node has no snapshot {snapshot_id}")
