"""The settlement's view of the chain: the distributor's calls, sent once each through the journal."""

from __future__ import annotations

from ledger.chain.client import TxJournal
from ledger.chain.deploy import System
from ledger.settlement import OnchainEpoch


class DistributorGateway:
    """Implements ``ledger.settlement.SettlementChain`` for a deployed system and an oracle key."""

    def __init__(self, system: System, oracle: str, journal: TxJournal) -> None:
        self.system = system
        self.client = system.client
        self.oracle = oracle
        self.journal = journal
        self.challenge_window = int(system.distributor.functions.challengeWindow().call())

    def now(self) -> int:
        return self.client.now()

    def seed_commitment(self, epoch: int) -> bytes:
        return bytes(self.system.distributor.functions.seedCommitment(epoch).call())

    def commit_seed(self, epoch: int, commitment: bytes) -> None:
        fn = self.system.distributor.functions.commitSeed(epoch, commitment)
        self.client.send_once(f"commitSeed:{epoch}", fn, self.oracle, self.journal)

    def next_epoch(self) -> int:
        return int(self.system.distributor.functions.nextEpoch().call())

    def epoch_record(self, epoch: int) -> OnchainEpoch:
        root, posted_at, driving, cocreation = self.system.distributor.functions.epochRecord(epoch).call()
        return OnchainEpoch(bytes(root), int(posted_at), int(driving), int(cocreation))

    def post_epoch(
        self,
        epoch: int,
        attempt: int,
        root: bytes,
        driving_total: int,
        cocreation_total: int,
        inputs_root: bytes,
        secret: bytes,
        manifest_hash: bytes,
    ) -> tuple[int, int]:
        fn = self.system.distributor.functions.postEpoch(
            epoch, root, driving_total, cocreation_total, inputs_root, secret, manifest_hash
        )
        receipt = self.client.send_once(f"postEpoch:{epoch}:{attempt}", fn, self.oracle, self.journal)
        block = int(receipt["blockNumber"])
        return block, int(self.client.w3.eth.get_block(block)["timestamp"])

    def confirmations(self, block: int) -> int:
        return int(self.client.w3.eth.block_number) - block + 1
