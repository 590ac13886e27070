"""The auditor's view of a deployed system (``ledger.audit.AuditChain``) and the guardian's veto
(``ledger.audit.Guardian``): the only place the audit touches web3.

Checked here, before anything is read: the deployment record is for this chain (chain id, code at every
address, and the SHA-256 of that code against the record, reported as ``deployment.code`` differences).

Read from the deployment block on, in chunks of blocks (public nodes cap ``eth_getLogs`` ranges): the
distributor's ``SeedCommitted``, ``EpochPosted``, ``EpochVetoed`` and ``Claimed``; the token's mints and
burns (``Transfer`` from and to 0x0); the desk's placed and fulfilled orders; the vault's buy-backs and round
payouts.
Contract state (``nextEpoch``, ``totalSupply``, ``totalClaimed``) is read at the block the events were read up
to, so a snapshot is consistent while claims keep landing. Events already read are kept: each snapshot reads
only the blocks since the last one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import Web3Exception
from web3.types import EventData

from ledger.audit import (
    AuditInputError,
    BuybackSale,
    ChainSnapshot,
    Claim,
    EventRef,
    Posting,
    Redemption,
    RoundPayout,
    SeedCommit,
    TokenMove,
    Veto,
)
from ledger.chain.client import ChainClient
from ledger.chain.deploy import load_system, role_id
from ledger.chain.embedded import EmbeddedChain, test_accounts
from ledger.errors import ChainError

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DEFAULT_CHUNK_BLOCKS = 2_000


class ChainAuditView:
    """Implements ``AuditChain`` for a deployed system; with ``guardian`` (an address whose key ``client``
    holds) it also implements ``Guardian``."""

    def __init__(
        self,
        client: ChainClient,
        record: Mapping[str, Any],
        *,
        guardian: str | None = None,
        chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
    ) -> None:
        try:
            self.system = load_system(client, dict(record))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditInputError(f"the deployment record does not fit this chain: {exc}") from None
        self.client = client
        self.chunk_blocks = chunk_blocks
        distributor, schedule = self.system.distributor.functions, self.system.schedule.functions
        self.genesis = int(schedule.genesis().call())
        self.slot_seconds = int(schedule.slotLength().call())
        self.challenge_window = int(distributor.challengeWindow().call())
        self.code_mismatches = self._code_mismatches(record.get("code_sha256") or {})
        self.guardian: str | None = None
        if guardian is not None:
            address = Web3.to_checksum_address(guardian)
            if not distributor.hasRole(role_id("GUARDIAN_ROLE"), address).call():
                raise AuditInputError(f"{address} does not hold the guardian role on this distributor")
            self.guardian = address
        self._next_block = self.system.deployed_at_block
        self._timestamps: dict[int, int] = {}
        self._placed: dict[int, tuple[str, int]] = {}
        self._commitments: list[SeedCommit] = []
        self._postings: list[Posting] = []
        self._vetoes: list[Veto] = []
        self._claims: list[Claim] = []
        self._mints: list[TokenMove] = []
        self._burns: list[TokenMove] = []
        self._redemptions: list[Redemption] = []
        self._buybacks: list[BuybackSale] = []
        self._payouts: list[RoundPayout] = []

    def snapshot(self) -> ChainSnapshot:
        try:
            return self._snapshot()
        except (Web3Exception, OSError) as exc:
            raise ChainError(f"reading the chain failed: {type(exc).__name__}: {exc}") from None

    def veto(self, epoch: int) -> str:
        if self.guardian is None:
            raise ChainError("no guardian key was given: cannot veto")
        receipt = self.client.send(self.system.distributor.functions.veto(epoch), self.guardian)
        return "0x" + bytes(receipt["transactionHash"]).hex()

    # ----- reading -----

    def _snapshot(self) -> ChainSnapshot:
        head = int(self.client.w3.eth.block_number)
        if head >= self._next_block:
            self._read(self._next_block, head)
            self._next_block = head + 1
        distributor, token = self.system.distributor.functions, self.system.token.functions
        return ChainSnapshot(
            chain_id=self.client.chain_id,
            block=head,
            timestamp=self._timestamp(head),
            genesis=self.genesis,
            slot_seconds=self.slot_seconds,
            challenge_window=self.challenge_window,
            next_epoch=int(distributor.nextEpoch().call(block_identifier=head)),
            total_supply=int(token.totalSupply().call(block_identifier=head)),
            total_claimed=int(distributor.totalClaimed().call(block_identifier=head)),
            commitments=tuple(self._commitments),
            postings=tuple(self._postings),
            vetoes=tuple(self._vetoes),
            claims=tuple(self._claims),
            mints=tuple(self._mints),
            burns=tuple(self._burns),
            redemptions=tuple(self._redemptions),
            buybacks=tuple(self._buybacks),
            round_payouts=tuple(self._payouts),
            code_mismatches=self.code_mismatches,
        )

    def _read(self, start: int, end: int) -> None:
        events = self.system.distributor.events
        for log in self._logs(events.SeedCommitted(), start, end):
            args = log["args"]
            self._commitments.append(
                SeedCommit(int(args["epoch"]), bytes(args["commitment"]), self._ref(log))
            )
        for log in self._logs(events.EpochPosted(), start, end):
            self._postings.append(self._posting(log))
        for log in self._logs(events.EpochVetoed(), start, end):
            args = log["args"]
            self._vetoes.append(
                Veto(int(args["epoch"]), bytes(args["root"]), str(args["guardian"]), self._ref(log))
            )
        for log in self._logs(events.Claimed(), start, end):
            args = log["args"]
            self._claims.append(
                Claim(
                    str(args["account"]), int(args["amount"]), int(args["cumulativeAmount"]), self._ref(log)
                )
            )
        self._read_token(start, end)
        self._read_desk(start, end)
        self._read_vault(start, end)

    def _posting(self, log: EventData) -> Posting:
        args = log["args"]
        return Posting(
            epoch=int(args["epoch"]),
            root=bytes(args["root"]),
            driving_total=int(args["drivingTotal"]),
            cocreation_total=int(args["cocreationTotal"]),
            inputs_root=bytes(args["inputsRoot"]),
            secret=bytes(args["secret"]),
            manifest_hash=bytes(args["manifestHash"]),
            claimable_at=int(args["claimableAt"]),
            at=self._ref(log),
        )

    def _read_token(self, start: int, end: int) -> None:
        transfer = self.system.token.events.Transfer()
        for log in self._logs(transfer, start, end, {"from": ZERO_ADDRESS}):
            self._mints.append(TokenMove(str(log["args"]["to"]), int(log["args"]["value"]), self._ref(log)))
        for log in self._logs(transfer, start, end, {"to": ZERO_ADDRESS}):
            self._burns.append(TokenMove(str(log["args"]["from"]), int(log["args"]["value"]), self._ref(log)))

    def _read_desk(self, start: int, end: int) -> None:
        events = self.system.desk.events
        for log in self._logs(events.OrderPlaced(), start, end):
            args = log["args"]
            self._placed[int(args["orderId"])] = (str(args["buyer"]), int(args["price"]))
        for log in self._logs(events.OrderFulfilled(), start, end):
            order_id = int(log["args"]["orderId"])
            buyer, price = self._placed[
                order_id
            ]  # an order is placed before, or in the block of, its fulfilment
            self._redemptions.append(Redemption(order_id, buyer, price, self._ref(log)))

    def _read_vault(self, start: int, end: int) -> None:
        events = self.system.vault.events
        for log in self._logs(events.BoughtBack(), start, end):
            args = log["args"]
            self._buybacks.append(
                BuybackSale(
                    int(args["buybackId"]),
                    str(args["seller"]),
                    int(args["stones"]),
                    int(args["payout"]),
                    self._ref(log),
                )
            )
        for log in self._logs(events.RoundClaimed(), start, end):
            args = log["args"]
            self._payouts.append(
                RoundPayout(
                    int(args["roundId"]),
                    str(args["account"]),
                    int(args["balance"]),
                    int(args["payout"]),
                    self._ref(log),
                )
            )

    def _logs(
        self, event: Any, start: int, end: int, filters: dict[str, Any] | None = None
    ) -> list[EventData]:
        found: list[EventData] = []
        for low in range(start, end + 1, self.chunk_blocks):
            high = min(end, low + self.chunk_blocks - 1)
            found.extend(event.get_logs(from_block=low, to_block=high, argument_filters=filters))
        found.sort(key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))
        return found

    def _ref(self, log: EventData) -> EventRef:
        block = int(log["blockNumber"])
        return EventRef(
            block, int(log["logIndex"]), self._timestamp(block), "0x" + bytes(log["transactionHash"]).hex()
        )

    def _timestamp(self, block: int) -> int:
        if block not in self._timestamps:
            self._timestamps[block] = int(self.client.w3.eth.get_block(block)["timestamp"])
        return self._timestamps[block]

    def _code_mismatches(self, recorded: Mapping[str, str]) -> tuple[tuple[str, str, str], ...]:
        found: list[tuple[str, str, str]] = []
        for name, address in self.system.addresses().items():
            code = bytes(self.client.w3.eth.get_code(Web3.to_checksum_address(address)))
            actual = "0x" + hashlib.sha256(code).hexdigest()
            if name in recorded and recorded[name] != actual:
                found.append((name, recorded[name], actual))
        return tuple(found)


# ----- opening a view from what an auditor is given -----


def read_record(path: Path) -> dict[str, Any]:
    """The deployment record at ``path`` (written by ``yuanshi deploy``)."""
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise AuditInputError(f"no deployment record at {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"cannot read the deployment record {path}: {exc}") from None
    if not isinstance(record, dict) or not {"chain_id", "addresses", "roles", "params", "block"} <= set(
        record
    ):
        raise AuditInputError(f"{path} is not a deployment record")
    return record


def journal_of(data_dir: Path) -> Path:
    return data_dir / "chain" / "journal.jsonl"


def open_embedded(data_dir: Path, *, guardian: bool = False) -> ChainAuditView:
    """A view of the embedded chain kept in ``data_dir`` (its journal replayed into this process).

    With ``guardian``, vetoes are sent from the deployment's guardian, which must be one of the embedded
    chain's test accounts; they are appended to the journal like any other transaction, so the ledger's
    process sees them when it next opens the chain.
    """
    journal = journal_of(data_dir)
    if not journal.is_file():
        # Opening a missing journal would create a new, empty chain there: refuse instead.
        raise AuditInputError(f"no embedded chain in {data_dir}: {journal} does not exist")
    record = read_record(data_dir / "deployment.json")
    try:
        chain = EmbeddedChain(journal)
    except ChainError as exc:
        raise AuditInputError(f"cannot replay the embedded chain in {data_dir}: {exc}") from None
    address = None
    if guardian:
        address = str(record["roles"]["guardian"])
        if Web3.to_checksum_address(address) not in {a.address for a in test_accounts()}:
            raise AuditInputError(
                f"the guardian {address} is not an embedded test account: no key to veto with"
            )
    return ChainAuditView(chain, record, guardian=address)


def open_rpc(url: str, record_path: Path, guardian: LocalAccount | None = None) -> ChainAuditView:
    """A view of the chain behind the JSON-RPC ``url``, for the deployment recorded at ``record_path``."""
    record = read_record(record_path)
    from ledger.chain.rpc import connect

    try:
        client = connect(url, [guardian] if guardian else [], expected_chain_id=int(record["chain_id"]))
    except ChainError as exc:
        raise AuditInputError(str(exc)) from None
    return ChainAuditView(client, record, guardian=guardian.address if guardian else None)


class EmbeddedFollower:
    """Follows an embedded chain that another process keeps appending to: a fresh replay whenever the
    journal has grown (the embedded chain cannot read another process's new blocks any other way)."""

    def __init__(self, data_dir: Path, *, guardian: bool = False) -> None:
        self.data_dir = data_dir
        self.guardian = guardian
        self._seen: tuple[int, int] | None = None
        self._view: ChainAuditView | None = None

    def view(self) -> ChainAuditView:
        journal = journal_of(self.data_dir)
        if not journal.is_file():
            raise AuditInputError(f"no embedded chain in {self.data_dir}: {journal} does not exist")
        stat = journal.stat()
        marker = (stat.st_size, stat.st_mtime_ns)
        if self._view is None or marker != self._seen:
            self._view = open_embedded(self.data_dir, guardian=self.guardian)
            self._seen = marker
        return self._view
