"""The embedded chain: eth-tester on py-evm inside this process (DESIGN §6).

With a journal file it survives restarts: every raw transaction and every clock jump is appended (and
fsynced) with its block timestamp, and a restart replays them in order with the same timestamps, which
rebuilds the same state at the same addresses. Journaled chains only accept locally signed transactions,
so their pre-funded accounts are the well-known test keys 1..10.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import EthereumTester, PyEVMBackend
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, Web3
from web3.types import TxReceipt

from ledger.chain.client import ChainClient
from ledger.errors import ChainError

JOURNAL_VERSION = 1
TEST_KEYS = tuple((i + 1).to_bytes(32, "big") for i in range(10))


def test_accounts() -> list[LocalAccount]:
    """The embedded chain's pre-funded accounts (public test keys: never use them on a real network)."""
    return [Account.from_key(key) for key in TEST_KEYS]


class EmbeddedChain(ChainClient):
    """A private chain in this process whose clock can be moved forward, for demos and tests."""

    def __init__(self, journal: Path | None = None) -> None:
        self.journal = journal
        header = self._read_header() if journal and journal.exists() else None
        genesis_timestamp = header["genesis_timestamp"] if header else int(time.time())
        backend = PyEVMBackend(
            PyEVMBackend.generate_genesis_params(overrides={"timestamp": genesis_timestamp})
        )
        self.tester = EthereumTester(backend)
        super().__init__(Web3(EthereumTesterProvider(self.tester)))
        self._replaying = False
        if journal is None:
            return
        for account in test_accounts():
            self.add_signer(account)
        if header is None:
            journal.parent.mkdir(parents=True, exist_ok=True)
            self._append({"version": JOURNAL_VERSION, "genesis_timestamp": genesis_timestamp})
        else:
            self._replay()

    @property
    def accounts(self) -> list[str]:
        """The pre-funded accounts of the embedded chain."""
        return [Web3.to_checksum_address(a) for a in self.w3.eth.accounts]

    def travel_to(self, timestamp: int) -> None:
        """Mines an empty block at ``timestamp`` (which must be in the chain's future)."""
        if timestamp <= self.now():
            raise ValueError(f"cannot travel back from {self.now()} to {timestamp}")
        self.tester.time_travel(timestamp)
        if self.journal is not None and not self._replaying:
            self._append({"travel": timestamp})

    def advance(self, seconds: int) -> None:
        self.travel_to(self.now() + seconds)

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def revert_to(self, snapshot: int) -> None:
        if self.journal is not None:
            raise ChainError("a journaled chain cannot revert: the journal only grows")
        self.tester.revert_to_snapshot(snapshot)

    def send(self, fn: Any, sender: str, value: int = 0) -> TxReceipt:
        if self.journal is not None and Web3.to_checksum_address(sender) not in self._signers:
            raise ChainError(f"{sender} has no key here: a journaled chain records signed transactions only")
        return super().send(fn, sender, value)

    def send_raw(self, raw: bytes) -> TxReceipt:
        receipt = super().send_raw(raw)
        if self.journal is not None and not self._replaying:
            block = self.w3.eth.get_block(receipt["blockNumber"])
            self._append({"raw": "0x" + bytes(raw).hex(), "timestamp": int(block["timestamp"])})
        return receipt

    def _read_header(self) -> dict[str, Any]:
        assert self.journal is not None
        with self.journal.open() as lines:
            header: dict[str, Any] = json.loads(lines.readline())
        if header.get("version") != JOURNAL_VERSION:
            raise ChainError(f"{self.journal}: unknown journal version {header.get('version')}")
        return header

    def _replay(self) -> None:
        assert self.journal is not None
        self._replaying = True
        try:
            with self.journal.open() as lines:
                next(lines)
                for number, line in enumerate(lines, start=2):
                    if not line.strip():
                        continue
                    try:
                        entry = json.loads(line)
                    except json.JSONDecodeError as exc:
                        # Only the last line can be torn by a crash mid-write; its transaction never counted.
                        raise ChainError(f"{self.journal}:{number}: unreadable journal entry") from exc
                    if "travel" in entry:
                        self.tester.time_travel(int(entry["travel"]))
                    else:
                        self._pin_next_block_timestamp(int(entry["timestamp"]))
                        receipt = super().send_raw(HexBytes(entry["raw"]))
                        if receipt["status"] != 1:
                            raise ChainError(f"{self.journal}:{number}: replayed transaction failed")
        finally:
            self._replaying = False

    def _pin_next_block_timestamp(self, timestamp: int) -> None:
        # eth-tester's own time_travel does the same to the pending header, then mines an empty block;
        # here the replayed transaction's block takes the timestamp it had.
        chain = self.tester.backend.chain
        chain.header = chain.header.copy(timestamp=timestamp)

    def _append(self, entry: dict[str, Any]) -> None:
        assert self.journal is not None
        with self.journal.open("a") as out:
            out.write(json.dumps(entry) + "\n")
            out.flush()
            os.fsync(out.fileno())
