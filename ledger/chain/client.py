"""Sending transactions and reading contracts, with reverts decoded into :class:`ContractRevert`.

This package is the only place that imports web3 (DESIGN §6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.types import TxReceipt, Wei

from ledger.chain import artifacts
from ledger.chain.revert import decode_revert
from ledger.errors import ChainError

T = TypeVar("T")


@contextmanager
def decoded_reverts() -> Iterator[None]:
    """Re-raises any revert inside the block as a decoded :class:`ContractRevert`."""
    try:
        yield
    except ContractLogicError as exc:
        raise decode_revert(exc.data if isinstance(exc.data, str) else None) from exc
    except TransactionFailed as exc:
        raise decode_revert(_revert_bytes(exc)) from exc


def _revert_bytes(exc: BaseException) -> bytes | None:
    """eth-tester re-raises the EVM's revert as text; the raw bytes survive on an earlier exception."""
    seen: BaseException | None = exc
    while seen is not None:
        if seen.args and isinstance(seen.args[0], bytes):
            return seen.args[0]
        seen = seen.__cause__ or seen.__context__
    return None


class ChainClient:
    """A web3 connection plus the small set of calls the ledger makes through it."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def now(self) -> int:
        """Timestamp of the latest block: the chain's clock."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def contract(self, name: str, address: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=artifacts.load(name).abi)

    def deploy(self, name: str, sender: str, *args: Any) -> tuple[Contract, TxReceipt]:
        artifact = artifacts.load(name)
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        with decoded_reverts():
            tx_hash = factory.constructor(*args).transact({"from": sender})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        address = receipt["contractAddress"]
        if receipt["status"] != 1 or address is None:
            raise ChainError(f"deploying {name} failed in tx {tx_hash.hex()}")
        return self.contract(name, address), receipt

    def send(self, fn: ContractFunction, sender: str, value: int = 0) -> TxReceipt:
        """Sends ``fn`` from ``sender`` and waits for it; a revert raises :class:`ContractRevert`."""
        with decoded_reverts():
            tx_hash = fn.transact({"from": sender, "value": Wei(value)})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            # The estimate passed but the mined transaction failed: replay it as a call to learn why.
            with decoded_reverts():
                fn.call({"from": sender}, block_identifier=receipt["blockNumber"] - 1)
            raise ChainError(f"transaction {tx_hash.hex()} failed without revert data")
        return receipt

    def call(self, fn: ContractFunction, sender: str | None = None) -> Any:
        with decoded_reverts():
            return fn.call({"from": sender} if sender else {})

    def read(self, getter: Callable[[], T]) -> T:
        with decoded_reverts():
            return getter()
