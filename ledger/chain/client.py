"""Sending transactions and reading contracts, with reverts decoded into :class:`ContractRevert`.

This package is the only place that imports web3 (DESIGN §6). Transactions from an account whose key the
client holds are signed locally and sent raw (the only way on a real node); other senders must be unlocked
accounts of the node (the embedded chain's test accounts).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import Nonce, TxParams, TxReceipt, Wei

from ledger.chain import artifacts
from ledger.chain.revert import decode_revert
from ledger.errors import ChainError


@contextmanager
def decoded_reverts() -> Iterator[None]:
    """Re-raises any revert inside the block as a decoded :class:`ContractRevert`, and an answer that does
    not decode as the ABI says (a contract that is not what the deployment record claims, or an ERC-20
    whose ``symbol`` is a ``bytes32``) as a :class:`ChainError` naming it."""
    try:
        yield
    except ContractLogicError as exc:
        raise decode_revert(_rpc_revert_data(exc.data)) from exc
    except TransactionFailed as exc:
        raise decode_revert(_revert_bytes(exc)) from exc
    except BadFunctionCallOutput as exc:
        raise ChainError(f"a contract's answer does not match its ABI: {exc}") from exc


_HEX_DATA = re.compile(r"0x(?:[0-9a-fA-F]{2})*")


def _rpc_revert_data(data: object) -> str | None:
    """The revert bytes from a JSON-RPC error's ``data``, however the node words it.

    geth, Besu and eth-tester give a hex string (some with a ``"Reverted "`` prefix); Hardhat gives
    ``{"message": ..., "data": "0x..."}``, and a proxy in between may wrap that once more.
    """
    for _ in range(3):
        if not isinstance(data, dict):
            break
        data = data.get("data")
    if not isinstance(data, str):
        return None
    data = data.removeprefix("Reverted ").strip()
    return data if _HEX_DATA.fullmatch(data) else None


def _rpc_error_message(exc: Exception) -> str:
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        error = exc.rpc_response.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(exc)


# How nodes say they already hold exactly this transaction: geth "already known", Hardhat and Besu
# "Known transaction: 0x...", older geth/Parity "known transaction" / "already imported".
_ALREADY_KNOWN = ("already known", "known transaction", "already imported")
# How they say the sender's nonce has moved past it: geth "nonce too low", Hardhat "Nonce too low. Expected
# nonce to be 1 but got 0" (automine) and "Transaction nonce too low. ..." (interval mining), Besu the same.
_NONCE_TOO_LOW = "nonce too low"
# A "nonce too low" for a transaction that was in fact mined comes with a receipt; give the node this long
# to show it before concluding that another transaction took the nonce.
_RECEIPT_GRACE_SECONDS = 5.0


def _revert_bytes(exc: BaseException) -> bytes | None:
    """eth-tester re-raises the EVM's revert as text; the raw bytes survive on an earlier exception, or
    (on its read path) only as their Python repr inside the message."""
    seen: BaseException | None = exc
    while seen is not None:
        if seen.args and isinstance(seen.args[0], bytes):
            return seen.args[0]
        if seen.args and isinstance(seen.args[0], str):
            text = seen.args[0].removeprefix("execution reverted: ")
            if text.startswith(("b'", 'b"')):
                try:
                    value = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes):
                    return value
        seen = seen.__cause__ or seen.__context__
    return None


@dataclass(frozen=True)
class JournaledTx:
    purpose: str
    sender: str
    nonce: int
    tx_hash: str
    raw: str
    status: str


class TxJournal(Protocol):
    """Durable record of operator transactions, written before broadcast (implemented by the store)."""

    def get(self, purpose: str) -> JournaledTx | None: ...

    def record(self, tx: JournaledTx) -> None: ...

    def mark(self, purpose: str, status: str, block: int | None) -> None: ...


class ChainClient:
    """A web3 connection plus the small set of calls the ledger makes through it."""

    def __init__(self, w3: Web3, signers: Mapping[str, LocalAccount] | None = None) -> None:
        self.w3 = w3
        self._signers: dict[str, LocalAccount] = {
            Web3.to_checksum_address(a): acct for a, acct in (signers or {}).items()
        }

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def add_signer(self, account: LocalAccount) -> None:
        self._signers[Web3.to_checksum_address(account.address)] = account

    def now(self) -> int:
        """Timestamp of the latest block: the chain's clock."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.load(name).abi)

    def deploy(self, name: str, sender: str, *args: Any) -> tuple[Contract, TxReceipt]:
        artifact = artifacts.load(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        receipt = self.send(factory.constructor(*args), sender)
        address = receipt["contractAddress"]
        if address is None:
            raise ChainError(f"deploying {name} created no contract")
        return self.contract(name, address), receipt

    def send(self, fn: Any, sender: str, value: int = 0) -> TxReceipt:
        """Sends ``fn`` (a contract function or constructor) from ``sender`` and waits for it.

        A revert raises :class:`ContractRevert` and sends nothing (the gas estimate runs the call first).
        """
        sender = Web3.to_checksum_address(sender)
        if sender in self._signers:
            raw = self._sign(fn, sender, value, int(self.w3.eth.get_transaction_count(sender, "pending")))
            receipt = self.send_raw(raw)
        else:
            with decoded_reverts():
                tx_hash = fn.transact({"from": sender, "value": Wei(value)})
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        self._check_status(fn, sender, receipt)
        return receipt

    def send_once(self, purpose: str, fn: Any, sender: str, journal: TxJournal) -> TxReceipt:
        """Sends ``fn`` at most once per ``purpose``, however often it is retried or the process crashes.

        The signed transaction is journaled before broadcast; a retry rebroadcasts the same bytes (same
        nonce, same hash), so the chain executes it once.
        """
        sender = Web3.to_checksum_address(sender)
        if sender not in self._signers:
            raise ChainError(f"no key for {sender}: once-only sends are signed locally")
        known = journal.get(purpose)
        if known is None:
            nonce = int(self.w3.eth.get_transaction_count(sender, "pending"))
            raw = self._sign(fn, sender, 0, nonce)
            known = JournaledTx(
                purpose, sender, nonce, "0x" + Web3.keccak(raw).hex(), "0x" + raw.hex(), "signed"
            )
            journal.record(known)
        receipt = self._receipt(known.tx_hash)
        if receipt is None:
            receipt = self.send_raw(HexBytes(known.raw))
        journal.mark(purpose, "mined" if receipt["status"] == 1 else "failed", int(receipt["blockNumber"]))
        self._check_status(fn, sender, receipt)
        return receipt

    def send_raw(self, raw: bytes) -> TxReceipt:
        """Broadcasts a signed transaction (again, harmlessly, if the node knows it) and waits for it."""
        tx_hash = Web3.keccak(raw)
        try:
            self.w3.eth.send_raw_transaction(raw)
        except (ValueError, Web3RPCError) as exc:
            # eth-tester raises ValueError, a JSON-RPC node Web3RPCError. A rebroadcast of a transaction the
            # node has seen is fine; anything else is not.
            reason = _rpc_error_message(exc).lower()
            if _NONCE_TOO_LOW in reason:
                # Either this very transaction was mined (a rebroadcast after a crash) or another one took
                # its nonce, in which case it can never be mined: only a receipt tells which.
                return self._wait_for_receipt(
                    tx_hash,
                    _RECEIPT_GRACE_SECONDS,
                    f"nonce of transaction 0x{tx_hash.hex()} was used by another transaction",
                )
            if not any(words in reason for words in _ALREADY_KNOWN):
                raise ChainError(
                    f"node refused transaction 0x{tx_hash.hex()}: {_rpc_error_message(exc)}"
                ) from exc
        return self._wait_for_receipt(
            tx_hash, 120, f"transaction 0x{tx_hash.hex()} was not mined within 120 s"
        )

    def _wait_for_receipt(self, tx_hash: HexBytes, timeout: float, failure: str) -> TxReceipt:
        try:
            return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout, poll_latency=0.1)
        except TimeExhausted as exc:
            raise ChainError(failure) from exc

    def call(self, fn: ContractFunction, sender: str | None = None) -> Any:
        with decoded_reverts():
            return fn.call({"from": sender} if sender else {})

    def _sign(self, fn: Any, sender: str, value: int, nonce: int) -> bytes:
        params: TxParams = {
            "from": sender,
            "value": Wei(value),
            "nonce": Nonce(nonce),
            "chainId": self.chain_id,
        }
        with decoded_reverts():
            tx = fn.build_transaction(params)
        signed = self._signers[sender].sign_transaction(tx)
        return bytes(signed.raw_transaction)

    def _receipt(self, tx_hash: str) -> TxReceipt | None:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _check_status(self, fn: Any, sender: str, receipt: TxReceipt) -> None:
        if receipt["status"] == 1:
            return
        # The estimate passed but the mined transaction failed: replay it as a call to learn why.
        if isinstance(fn, ContractFunction):
            with decoded_reverts():
                fn.call({"from": sender}, block_identifier=receipt["blockNumber"] - 1)
        raise ChainError(f"transaction {receipt['transactionHash'].hex()} failed without revert data")
