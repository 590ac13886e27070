"""The embedded chain: eth-tester on py-evm inside this process (DESIGN §6)."""

from __future__ import annotations

from eth_tester import EthereumTester, PyEVMBackend
from web3 import EthereumTesterProvider, Web3

from ledger.chain.client import ChainClient


class EmbeddedChain(ChainClient):
    """A private chain in memory whose clock can be moved forward, for demos and tests."""

    def __init__(self) -> None:
        self.tester = EthereumTester(PyEVMBackend())
        super().__init__(Web3(EthereumTesterProvider(self.tester)))

    @property
    def accounts(self) -> list[str]:
        """The pre-funded, unlocked accounts of the embedded chain."""
        return [Web3.to_checksum_address(a) for a in self.w3.eth.accounts]

    def travel_to(self, timestamp: int) -> None:
        """Mines a block at ``timestamp`` (which must be in the chain's future)."""
        if timestamp <= self.now():
            raise ValueError(f"cannot travel back from {self.now()} to {timestamp}")
        self.tester.time_travel(timestamp)

    def advance(self, seconds: int) -> None:
        self.travel_to(self.now() + seconds)

    def snapshot(self) -> int:
        return int(self.tester.take_snapshot())

    def revert_to(self, snapshot: int) -> None:
        self.tester.revert_to_snapshot(snapshot)
