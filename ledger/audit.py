"""The independent audit of settled epochs (issue 5): every epoch recomputed from public data alone.

An auditor holds two things the operator cannot take back: what the chain holds (a :class:`ChainSnapshot`:
seed commitments, ``EpochPosted`` / ``EpochVetoed`` / ``Claimed`` events, token mints and burns, total
supply) and the published epoch manifests (``ledger.manifest``). Nothing here reads the operator's database
(except :func:`export_manifests`, which is how the operator publishes the manifests).

Checked for every epoch whose posting is live on chain, in this order; the first difference found is the
epoch's verdict, every difference is listed:

1. ``manifest``: it is published, parses, and names this epoch, the chain's genesis and slot length;
2. ``commitment``: it is the one committed on chain (``SeedCommitted``) before the epoch began;
   ``chain.secret``: the revealed secret hashes to it; ``secret``: the manifest's secret is the revealed one
   (so the operator fixed its randomness before the inputs existed);
3. ``inputs_root`` is the event's ``inputsRoot``; ``inputs``: the root recomputed over the published cars,
   ownership spans and points is that root (the inputs are the ones committed); no weight above the cap;
4. ``seed`` is ``keccak256(secret, inputsRoot)`` from the chain's values;
5. ``driving.*``: the draw re-run (``ledger.drops.draw_driving``, the manifest's ``shares_per_drop``) from
   the carry the previous epoch left (0 at genesis): carry in, emission, every credit, every win, allocated,
   carry out;
6. ``cocreation.*``: the split re-run likewise;
7. ``totals.*`` / ``chain.*_total``: previous total plus allocated, in the manifest and in the event;
   ``schedule.*``: within ``available(pool, end of epoch)``; ``monotonic.*``: not below the previous posting;
8. ``root`` / ``chain.root``: the cumulative tree (every account's entitlement over all epochs so far; a lone
   ``(0x0…0, 0)`` leaf while nobody has earned) is the manifest's root and the posted root;
9. ``previous_manifest_hash`` is the ``manifestHash`` posted for the previous epoch;
10. ``manifest_hash``: keccak256 of the manifest's canonical bytes is the posted ``manifestHash``, so the
    manifest audited is the one the oracle committed to (this catches any field no other check reads);
11. ``claims[account]``: each ``Claimed`` made while this epoch was the claimable one has a cumulative amount
    equal to the account's running sum of ``Claimed`` amounts and at most its recomputed entitlement.

Chain-wide: ``supply`` (total supply = Σ Claimed - Σ burns), ``mints`` (the distributor is the only minter),
``chain.total_claimed``, ``chain.next_epoch`` (the live postings are exactly 0 … nextEpoch - 1), and the
deployed code against the deployment record.

Anchoring: an epoch is recomputed from the previous epoch's *recomputed* state (carries, totals, cumulative
entitlements) when that epoch's inputs verified against the chain, else from its *published* state. So a
wrong field fails the epoch that introduced it, not every later one, and a PASS means "this posting is the
correct step from its predecessor". A vetoed posting is reported as vetoed; its repost is what is audited.
"""

from __future__ import annotations

import csv
import json
import os
import re
import urllib.error
import urllib.request
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger.drops import (
    CocreationResult,
    DrivingResult,
    commitment,
    draw_driving,
    epoch_seed,
    inputs_root,
    split_cocreation,
)
from ledger.errors import ChainError, ValidationError, YuanshiError
from ledger.manifest import FORMAT, EpochInputs, manifest_hash
from ledger.merkle import MerkleError, MerkleTree, normalize_address
from ledger.schedule import SLOTS_PER_EPOCH, Pool, available_at_epoch_end
from ledger.store.models import Epoch

ZERO_ADDRESS: Final = "0x0000000000000000000000000000000000000000"
STATEMENT_COLUMNS: Final = (
    "year",
    "account",
    "earned_driving",
    "earned_cocreation",
    "earned_total",
    "claimed",
    "redeemed",
    "bought_back",
    "buyback_proceeds",
    "equity_value_received",
)


class AuditInputError(YuanshiError):
    """The audit cannot start or go on: a missing folder, an unreadable manifest, a chain that is not the
    deployment's. A command reports it as bad input, not as a failed audit."""


# --- what the chain holds -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRef:
    """Where an event sits on chain; events are ordered by ``(block, log_index)``."""

    block: int
    log_index: int
    timestamp: int
    tx_hash: str

    @property
    def order(self) -> tuple[int, int]:
        return (self.block, self.log_index)


@dataclass(frozen=True, slots=True)
class SeedCommit:
    epoch: int
    commitment: bytes
    at: EventRef


@dataclass(frozen=True, slots=True)
class Posting:
    """One ``EpochPosted`` event, with every field it carries."""

    epoch: int
    root: bytes
    driving_total: int
    cocreation_total: int
    inputs_root: bytes
    secret: bytes
    manifest_hash: bytes
    claimable_at: int
    at: EventRef


@dataclass(frozen=True, slots=True)
class Veto:
    epoch: int
    root: bytes
    guardian: str
    at: EventRef


@dataclass(frozen=True, slots=True)
class Claim:
    account: str
    amount: int
    cumulative: int
    at: EventRef


@dataclass(frozen=True, slots=True)
class TokenMove:
    """A mint (``Transfer`` from 0x0, ``account`` the receiver) or a burn (to 0x0, ``account`` the holder)."""

    account: str
    amount: int
    at: EventRef


@dataclass(frozen=True, slots=True)
class Redemption:
    """A fulfilled desk order: ``price`` stones of ``buyer`` were burned when it was fulfilled (``at``)."""

    order_id: int
    buyer: str
    price: int
    at: EventRef


@dataclass(frozen=True, slots=True)
class BuybackSale:
    buyback_id: int
    seller: str
    stones: int
    payout: int
    at: EventRef


@dataclass(frozen=True, slots=True)
class RoundPayout:
    round_id: int
    account: str
    balance: int
    payout: int
    at: EventRef


@dataclass(frozen=True)
class ChainSnapshot:
    """Everything the audit reads from the chain, as of one block."""

    chain_id: int
    block: int
    timestamp: int
    genesis: int
    slot_seconds: int
    challenge_window: int
    next_epoch: int
    total_supply: int
    total_claimed: int
    commitments: tuple[SeedCommit, ...] = ()
    postings: tuple[Posting, ...] = ()
    vetoes: tuple[Veto, ...] = ()
    claims: tuple[Claim, ...] = ()
    mints: tuple[TokenMove, ...] = ()
    burns: tuple[TokenMove, ...] = ()
    redemptions: tuple[Redemption, ...] = ()
    buybacks: tuple[BuybackSale, ...] = ()
    round_payouts: tuple[RoundPayout, ...] = ()
    # (contract, sha256 in the deployment record, sha256 of the code on chain) for each that differs
    code_mismatches: tuple[tuple[str, str, str], ...] = ()

    def epoch_start(self, epoch: int) -> int:
        return self.genesis + epoch * SLOTS_PER_EPOCH * self.slot_seconds


class AuditChain(Protocol):
    """The chain as the auditor reads it (implemented by ``ledger.chain.audit_view.ChainAuditView``)."""

    def snapshot(self) -> ChainSnapshot: ...


class Guardian(Protocol):
    """Whoever holds the guardian role and can veto a posted root inside its challenge window."""

    def veto(self, epoch: int) -> str:
        """Sends ``veto(epoch)``; returns the transaction hash. Raises :class:`ChainError` on failure."""
        ...


# --- published manifests --------------------------------------------------------------------------------


class ManifestSource(Protocol):
    """Where the published manifests come from: a folder today, the API (``GET /v1/epochs/{n}/manifest``)
    by implementing this protocol."""

    def get(self, epoch: int) -> bytes | None:
        """The published bytes of ``epoch``'s manifest, or ``None`` when it is not published."""
        ...

    def published(self) -> list[int]:
        """The epochs with a published manifest, ascending."""
        ...

    def describe(self, epoch: int) -> str:
        """Where ``epoch``'s manifest is, for messages."""
        ...


_MANIFEST_NAME = re.compile(r"(0|[1-9][0-9]*)\.json")


class FolderManifests:
    """A folder of ``<epoch>.json`` files, as ``yuanshi manifests export`` writes it."""

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise AuditInputError(f"manifest folder {folder} does not exist or is not a folder")
        self.folder = folder

    def get(self, epoch: int) -> bytes | None:
        path = self.folder / f"{epoch}.json"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditInputError(f"cannot read {path}: {exc.strerror or exc}") from None

    def published(self) -> list[int]:
        names = (_MANIFEST_NAME.fullmatch(p.name) for p in self.folder.iterdir())
        return sorted(int(match.group(1)) for match in names if match)

    def describe(self, epoch: int) -> str:
        return str(self.folder / f"{epoch}.json")


class MemoryManifests:
    """Manifests held in memory, by epoch (tests, and callers that fetched them some other way)."""

    def __init__(self, manifests: Mapping[int, bytes]) -> None:
        self.manifests = dict(manifests)

    def get(self, epoch: int) -> bytes | None:
        return self.manifests.get(epoch)

    def published(self) -> list[int]:
        return sorted(self.manifests)

    def describe(self, epoch: int) -> str:
        return f"manifest {epoch}"


class ApiManifests:
    """The manifests the service publishes: ``GET /v1/epochs`` (paged) and ``GET /v1/epochs/{n}/manifest``,
    fetched byte for byte (the audit hashes the bytes it gets, so nothing is re-serialised here)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def _fetch(self, path: str) -> bytes | None:
        url = self.base + path
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise AuditInputError(f"{url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AuditInputError(f"cannot reach {self.base}: {exc}") from None

    def get(self, epoch: int) -> bytes | None:
        return self._fetch(f"/v1/epochs/{epoch}/manifest")

    def published(self) -> list[int]:
        found: list[int] = []
        before: int | None = None
        while True:
            raw = self._fetch("/v1/epochs" + (f"?before={before}" if before is not None else ""))
            if raw is None:
                raise AuditInputError(f"{self.base} has no /v1/epochs: is it a Yuanshi service?")
            try:
                page = json.loads(raw)
                found += [int(e["epoch"]) for e in page["epochs"] if e.get("manifest_hash")]
                before = page.get("next_before")
            except (ValueError, KeyError, TypeError) as exc:
                raise AuditInputError(f"{self.base}/v1/epochs answered an unexpected body: {exc}") from None
            if before is None:
                return sorted(found)

    def describe(self, epoch: int) -> str:
        return f"{self.base}/v1/epochs/{epoch}/manifest"


def open_manifests(location: str) -> ManifestSource:
    """The manifest source at ``location``: the service's base URL, or a folder path."""
    if location.startswith(("http://", "https://")):
        return ApiManifests(location)
    return FolderManifests(Path(location))


def load_document(source: ManifestSource, epoch: int) -> dict[str, Any] | None:
    """``epoch``'s manifest as parsed JSON, ``None`` when unpublished; :class:`AuditInputError` when it is
    not a JSON object."""
    raw = source.get(epoch)
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AuditInputError(f"{source.describe(epoch)} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise AuditInputError(f"{source.describe(epoch)} is not a JSON object")
    return document


# --- parsing a manifest ---------------------------------------------------------------------------------

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_HASH = re.compile(r"0x[0-9a-f]{64}")


class _Unparsable(Exception):
    """A manifest field is missing or not of its type; carries the difference to report."""

    def __init__(self, field_name: str, expected: str, actual: object) -> None:
        super().__init__(field_name)
        self.difference = Difference(field_name, expected, _show(actual))


def _member(document: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in document:
        raise _Unparsable(path, "present", None)
    return document[key]


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Unparsable(path, "a JSON object", type(value).__name__)
    return value


def _integer(value: Any, path: str) -> int:
    # bool is an int subclass in Python; true is not an epoch number.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Unparsable(path, "a non-negative JSON integer", repr(value))
    return value


def _amount(value: Any, path: str) -> int:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise _Unparsable(path, "a decimal string", repr(value))
    return int(value)


def _hash(value: Any, path: str) -> bytes:
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        raise _Unparsable(path, "0x and 64 lowercase hex digits", repr(value))
    return bytes.fromhex(value[2:])


def _credits(value: Any, path: str) -> dict[str, int]:
    credits: dict[str, int] = {}
    for account, amount in _object(value, path).items():
        try:
            checksummed = normalize_address(account)
        except MerkleError:
            raise _Unparsable(f"{path}[{account}]", "an account address", account) from None
        if checksummed in credits:
            raise _Unparsable(f"{path}[{account}]", "listed once", "listed twice")
        credits[checksummed] = _amount(amount, f"{path}[{checksummed}]")
    return credits


def _wins(value: Any, path: str) -> dict[str, int]:
    if not isinstance(value, list):
        raise _Unparsable(path, "a JSON list", type(value).__name__)
    wins: dict[str, int] = {}
    for entry in value:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
            raise _Unparsable(path, "[car, slot, shares] entries", repr(entry))
        key = _win_key(entry[0], _integer(entry[1], path))
        if key in wins:
            raise _Unparsable(f"{path}[{key}]", "listed once", "listed twice")
        wins[key] = _integer(entry[2], f"{path}[{key}]")
    return wins


def _win_key(car_id: str, slot: int) -> str:
    return f"{car_id}@{slot}"


@dataclass(frozen=True)
class PoolFigures:
    """One pool's published figures for an epoch."""

    carry_in: int
    emission: int
    allocated: int
    carry_out: int
    credits: dict[str, int]

    @classmethod
    def parse(cls, value: Any, path: str) -> PoolFigures:
        data = _object(value, path)
        return cls(
            carry_in=_amount(_member(data, "carry_in", f"{path}.carry_in"), f"{path}.carry_in"),
            emission=_amount(_member(data, "emission", f"{path}.emission"), f"{path}.emission"),
            allocated=_amount(_member(data, "allocated", f"{path}.allocated"), f"{path}.allocated"),
            carry_out=_amount(_member(data, "carry_out", f"{path}.carry_out"), f"{path}.carry_out"),
            credits=_credits(_member(data, "credits", f"{path}.credits"), f"{path}.credits"),
        )


@dataclass(frozen=True)
class ParsedManifest:
    """A manifest's fields, typed; ``document`` is the JSON as published (its canonical bytes are hashed)."""

    document: Mapping[str, Any]
    format: str
    epoch: int
    genesis: int
    slot_seconds: int
    shares_per_drop: int
    weight_cap_metres: int | None
    commitment: bytes
    secret: bytes
    inputs_root: bytes
    seed: bytes
    inputs: EpochInputs
    driving: PoolFigures
    wins: dict[str, int]
    cocreation: PoolFigures
    driving_total: int
    cocreation_total: int
    root: bytes
    previous_manifest_hash: bytes | None


def parse_manifest(document: Mapping[str, Any]) -> ParsedManifest:
    """Types every field the audit reads; raises ``_Unparsable`` naming the first bad one."""

    def get(key: str) -> Any:
        return _member(document, key, key)

    parameters = _object(get("parameters"), "parameters")
    driving = _object(get("driving"), "driving")
    totals = _object(get("totals"), "totals")
    cap = parameters.get("weight_cap_metres")
    previous = get("previous_manifest_hash")
    try:
        inputs = EpochInputs.from_json(_object(get("inputs"), "inputs"))
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        raise _Unparsable("inputs", "cars, ownership and points as published", str(exc)) from None
    return ParsedManifest(
        document=document,
        format=str(get("format")),
        epoch=_integer(get("epoch"), "epoch"),
        genesis=_integer(get("genesis"), "genesis"),
        slot_seconds=_integer(get("slot_seconds"), "slot_seconds"),
        shares_per_drop=_integer(
            _member(parameters, "shares_per_drop", "parameters.shares_per_drop"), "parameters.shares_per_drop"
        ),
        weight_cap_metres=None if cap is None else _integer(cap, "parameters.weight_cap_metres"),
        commitment=_hash(get("commitment"), "commitment"),
        secret=_hash(get("secret"), "secret"),
        inputs_root=_hash(get("inputs_root"), "inputs_root"),
        seed=_hash(get("seed"), "seed"),
        inputs=inputs,
        driving=PoolFigures.parse(driving, "driving"),
        wins=_wins(_member(driving, "wins", "driving.wins"), "driving.wins"),
        cocreation=PoolFigures.parse(get("cocreation"), "cocreation"),
        driving_total=_amount(_member(totals, "driving", "totals.driving"), "totals.driving"),
        cocreation_total=_amount(_member(totals, "cocreation", "totals.cocreation"), "totals.cocreation"),
        root=_hash(get("root"), "root"),
        previous_manifest_hash=None if previous is None else _hash(previous, "previous_manifest_hash"),
    )


# --- verdicts -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Difference:
    """One check that did not hold: ``expected`` is what public data recomputes to, ``actual`` what the
    manifest or the chain holds."""

    field: str
    expected: str
    actual: str

    def to_json(self) -> dict[str, str]:
        return {"field": self.field, "expected": self.expected, "actual": self.actual}


def _show(value: object) -> str:
    if value is None:
        return "absent"
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    VETOED = "VETOED"  # posted, vetoed by the guardian, not posted again yet: nothing live to audit


@dataclass(frozen=True)
class EpochAudit:
    epoch: int
    verdict: Verdict
    differences: tuple[Difference, ...]
    posting: Posting | None
    vetoed: tuple[tuple[Posting, Veto], ...] = ()

    @property
    def first(self) -> Difference | None:
        return self.differences[0] if self.differences else None

    @property
    def inherited(self) -> bool:
        """The epoch fails only because an earlier one could not be recomputed: vetoing it fixes nothing."""
        return bool(self.differences) and self.differences[0].field == "previous_epoch"

    @property
    def missing_manifest(self) -> bool:
        return bool(self.differences) and self.differences[0].field == "manifest"


@dataclass(frozen=True)
class AuditReport:
    block: int
    timestamp: int
    epochs: tuple[EpochAudit, ...]
    chain_wide: tuple[Difference, ...]
    unposted_manifests: tuple[int, ...]
    claims_checked: bool

    @property
    def audited(self) -> list[EpochAudit]:
        """The epochs with a live posting: what the verdicts are about."""
        return [e for e in self.epochs if e.posting is not None]

    @property
    def passed(self) -> int:
        return sum(1 for e in self.epochs if e.verdict is Verdict.PASS)

    @property
    def failures(self) -> list[tuple[int | None, Difference]]:
        """The first difference of each failed epoch, then every chain-wide difference."""
        found: list[tuple[int | None, Difference]] = [
            (e.epoch, e.differences[0]) for e in self.epochs if e.verdict is Verdict.FAIL
        ]
        found += [(None, d) for d in self.chain_wide]
        return found

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        return {
            "epochs": len(self.audited),
            "passed": self.passed,
            "failed": [{"epoch": epoch, **d.to_json()} for epoch, d in self.failures],
            "vetoed": [
                {
                    "epoch": e.epoch,
                    "root": _show(posting.root),
                    "guardian": veto.guardian,
                    "reposted": e.posting is not None,
                }
                for e in self.epochs
                for posting, veto in e.vetoed
            ],
            "unposted_manifests": list(self.unposted_manifests),
            "block": self.block,
            "claims_checked": self.claims_checked,
        }


# --- the chain's history, replayed ----------------------------------------------------------------------


@dataclass
class _Timeline:
    live: list[Posting]  # the live posting of epochs 0 … n-1
    vetoed: dict[int, list[tuple[Posting, Veto]]]
    claims: dict[int, list[Claim]]  # by the epoch that was claimable when the claim was made
    problems: list[Difference]


def _replay(snapshot: ChainSnapshot) -> _Timeline:
    """Replays postings, vetoes and claims in chain order, as the distributor saw them."""
    events: list[tuple[tuple[int, int], Posting | Veto | Claim]] = [
        *((p.at.order, p) for p in snapshot.postings),
        *((v.at.order, v) for v in snapshot.vetoes),
        *((c.at.order, c) for c in snapshot.claims),
    ]
    events.sort(key=lambda item: item[0])
    timeline = _Timeline([], defaultdict(list), defaultdict(list), [])
    # Postings are sequential, so their claimable times ascend: the epoch claimable at a claim is the
    # last whose window had closed when the claim was mined.
    closes: list[int] = []
    for _, event in events:
        if isinstance(event, Posting):
            if event.epoch != len(timeline.live):
                timeline.problems.append(
                    Difference("chain.postings", f"epoch {len(timeline.live)} posted next", str(event.epoch))
                )
                continue
            timeline.live.append(event)
            closes.append(event.claimable_at)
        elif isinstance(event, Veto):
            # A veto takes the epoch and every later posting down with it (they build on its amounts).
            for posting in timeline.live[event.epoch :]:
                timeline.vetoed[posting.epoch].append((posting, event))
            del timeline.live[event.epoch :], closes[event.epoch :]
        else:
            index = bisect_right(closes, event.at.timestamp) - 1
            if index < 0:
                timeline.problems.append(Difference(f"claims[{event.account}]", "a claimable epoch", "none"))
            else:
                timeline.claims[index].append(event)
    return timeline


# --- recomputing one epoch ------------------------------------------------------------------------------


@dataclass
class _State:
    """What the next epoch builds on: carries, cumulative totals and entitlements after an epoch."""

    driving_carry: int = 0
    cocreation_carry: int = 0
    driving_total: int = 0
    cocreation_total: int = 0
    cumulative: dict[str, int] = field(default_factory=dict)
    manifest_hash: bytes | None = None  # as posted on chain
    posted_totals: tuple[int, int] = (0, 0)
    known: bool = True  # False once an epoch could not be recomputed at all


@dataclass(frozen=True)
class _Figures:
    driving_allocated: int
    driving_carry_out: int
    driving_credits: Mapping[str, int]
    cocreation_allocated: int
    cocreation_carry_out: int
    cocreation_credits: Mapping[str, int]

    @classmethod
    def recomputed(cls, driving: DrivingResult, cocreation: CocreationResult) -> _Figures:
        return cls(
            driving.allocated,
            driving.carry_out,
            driving.credits,
            cocreation.allocated,
            cocreation.carry_out,
            cocreation.credits,
        )

    @classmethod
    def published(cls, manifest: ParsedManifest) -> _Figures:
        d, c = manifest.driving, manifest.cocreation
        return cls(d.allocated, d.carry_out, d.credits, c.allocated, c.carry_out, c.credits)


class _Checks:
    def __init__(self) -> None:
        self.found: list[Difference] = []

    def add(self, field_name: str, expected: object, actual: object) -> None:
        self.found.append(Difference(field_name, _show(expected), _show(actual)))

    def same(self, field_name: str, expected: object, actual: object) -> bool:
        if expected == actual:
            return True
        self.add(field_name, expected, actual)
        return False

    def same_entries(self, prefix: str, expected: Mapping[str, int], actual: Mapping[str, int]) -> None:
        """The first entry (in key order) that differs; one is enough to fail, and a wrong seed would
        otherwise list every win of the day."""
        if expected == actual:
            return
        for key in sorted(set(expected) | set(actual)):
            if expected.get(key) != actual.get(key):
                self.add(f"{prefix}[{key}]", expected.get(key), actual.get(key))
                return


class _EpochCheck:
    """Recomputes one epoch from its manifest, the chain's values and the previous epoch's state."""

    def __init__(
        self,
        snapshot: ChainSnapshot,
        posting: Posting,
        commit: SeedCommit | None,
        previous: _State,
    ) -> None:
        self.snapshot = snapshot
        self.epoch = posting.epoch
        self.posting = posting
        self.commit = commit
        self.previous = previous
        self.checks = _Checks()

    def run(self, document: Mapping[str, Any] | None) -> _State:
        if not self.previous.known:
            self.checks.add(
                "previous_epoch",
                f"epoch {self.epoch - 1} recomputed",
                f"epoch {self.epoch - 1} not recomputable",
            )
            return _State(known=False)
        if document is None:
            self.checks.add("manifest", f"manifest of epoch {self.epoch} published", None)
            return _State(known=False)
        try:
            manifest = parse_manifest(document)
        except _Unparsable as bad:
            self.checks.found.append(bad.difference)
            return _State(known=False)
        self._header(manifest)
        self._secret(manifest)
        verified = self._inputs(manifest)
        seed = epoch_seed(self.posting.secret, self.posting.inputs_root)
        self.checks.same("seed", seed, manifest.seed)
        driving = self._draw(manifest, seed)
        cocreation = self._split(manifest)
        if driving is not None and cocreation is not None:
            figures, recomputed = _Figures.recomputed(driving, cocreation), True
        else:
            figures, recomputed = _Figures.published(manifest), False
        after = self._totals_and_root(manifest, figures)
        self.checks.same(
            "previous_manifest_hash", self.previous.manifest_hash, manifest.previous_manifest_hash
        )
        self.checks.same("manifest_hash", self.posting.manifest_hash, manifest_hash(manifest.document))
        if verified and recomputed:
            return after
        # Unverified inputs make the recomputation meaningless: go on from what was published, so that
        # the failure stays with this epoch (and it has failed already).
        published = _Figures.published(manifest)
        return self._state_after(
            published, manifest.driving_total, manifest.cocreation_total, self._cumulative(published)
        )

    def _header(self, manifest: ParsedManifest) -> None:
        self.checks.same("format", FORMAT, manifest.format)
        self.checks.same("epoch", self.epoch, manifest.epoch)
        self.checks.same("genesis", self.snapshot.genesis, manifest.genesis)
        self.checks.same("slot_seconds", self.snapshot.slot_seconds, manifest.slot_seconds)

    def _secret(self, manifest: ParsedManifest) -> None:
        if self.commit is None:
            self.checks.add("chain.commitment", f"a SeedCommitted event for epoch {self.epoch}", None)
            return
        self.checks.same("commitment", self.commit.commitment, manifest.commitment)
        start = self.snapshot.epoch_start(self.epoch)
        if self.commit.at.timestamp >= start:
            self.checks.add("chain.commitment", f"committed before {start}", self.commit.at.timestamp)
        self.checks.same("chain.secret", self.commit.commitment, commitment(self.posting.secret))
        self.checks.same("secret", self.posting.secret, manifest.secret)

    def _inputs(self, manifest: ParsedManifest) -> bool:
        self.checks.same("inputs_root", self.posting.inputs_root, manifest.inputs_root)
        fixed = manifest.inputs
        try:
            root = inputs_root(fixed.cars, fixed.ownership, fixed.points)
        except ValidationError as exc:
            self.checks.add("inputs", "inputs without duplicates", str(exc))
            return False
        verified = self.checks.same("inputs", self.posting.inputs_root, root)
        cap = manifest.weight_cap_metres
        for car in sorted(fixed.cars, key=lambda c: c.car_id):
            if cap is not None and car.weight > cap:
                self.checks.add(f"inputs.cars[{car.car_id}]", f"weight at most {cap}", car.weight)
                break
        return verified

    def _draw(self, manifest: ParsedManifest, seed: bytes) -> DrivingResult | None:
        carry = self.previous.driving_carry
        self.checks.same("driving.carry_in", carry, manifest.driving.carry_in)
        fixed = manifest.inputs
        try:
            result = draw_driving(
                self.epoch, seed, fixed.cars, fixed.ownership, carry, manifest.shares_per_drop
            )
        except ValidationError as exc:
            self.checks.add("driving", "a draw over valid inputs", str(exc))
            return None
        published = manifest.driving
        self.checks.same("driving.emission", result.emission, published.emission)
        self.checks.same_entries("driving.credits", result.credits, published.credits)
        wins = {_win_key(car, slot): shares for (car, slot), shares in result.wins.items()}
        self.checks.same_entries("driving.wins", wins, manifest.wins)
        self.checks.same("driving.allocated", result.allocated, published.allocated)
        self.checks.same("driving.carry_out", result.carry_out, published.carry_out)
        return result

    def _split(self, manifest: ParsedManifest) -> CocreationResult | None:
        carry = self.previous.cocreation_carry
        self.checks.same("cocreation.carry_in", carry, manifest.cocreation.carry_in)
        try:
            result = split_cocreation(self.epoch, manifest.inputs.points, carry)
        except ValidationError as exc:
            self.checks.add("cocreation", "a split over valid inputs", str(exc))
            return None
        published = manifest.cocreation
        self.checks.same("cocreation.emission", result.emission, published.emission)
        self.checks.same_entries("cocreation.credits", result.credits, published.credits)
        self.checks.same("cocreation.allocated", result.allocated, published.allocated)
        self.checks.same("cocreation.carry_out", result.carry_out, published.carry_out)
        return result

    def _totals_and_root(self, manifest: ParsedManifest, figures: _Figures) -> _State:
        previous, posting = self.previous, self.posting
        driving = previous.driving_total + figures.driving_allocated
        cocreation = previous.cocreation_total + figures.cocreation_allocated
        self.checks.same("totals.driving", driving, manifest.driving_total)
        self.checks.same("totals.cocreation", cocreation, manifest.cocreation_total)
        self.checks.same("chain.driving_total", driving, posting.driving_total)
        self.checks.same("chain.cocreation_total", cocreation, posting.cocreation_total)
        posted = (posting.driving_total, posting.cocreation_total)
        for pool, name, total, before in zip(
            Pool, ("driving", "cocreation"), posted, previous.posted_totals, strict=True
        ):
            cap = available_at_epoch_end(pool, self.epoch)
            if total > cap:
                self.checks.add(f"schedule.{name}", f"at most {cap}", total)
            if total < before:
                self.checks.add(f"monotonic.{name}", f"at least {before}", total)
        cumulative = self._cumulative(figures)
        root = _cumulative_root(cumulative)
        self.checks.same("root", root, manifest.root)
        self.checks.same("chain.root", root, posting.root)
        return self._state_after(figures, driving, cocreation, cumulative)

    def _cumulative(self, figures: _Figures) -> dict[str, int]:
        cumulative = dict(self.previous.cumulative)
        for credits in (figures.driving_credits, figures.cocreation_credits):
            for account, amount in credits.items():
                cumulative[account] = cumulative.get(account, 0) + amount
        return cumulative

    def _state_after(
        self, figures: _Figures, driving_total: int, cocreation_total: int, cumulative: dict[str, int]
    ) -> _State:
        return _State(
            driving_carry=figures.driving_carry_out,
            cocreation_carry=figures.cocreation_carry_out,
            driving_total=driving_total,
            cocreation_total=cocreation_total,
            cumulative=cumulative,
            manifest_hash=self.posting.manifest_hash,
            posted_totals=(self.posting.driving_total, self.posting.cocreation_total),
        )


def _cumulative_root(cumulative: Mapping[str, int]) -> bytes:
    entries = sorted((account, amount) for account, amount in cumulative.items() if amount > 0)
    # As settlement builds it: the contract refuses a zero root, so nobody-earned-yet is a lone zero leaf.
    return MerkleTree.build(entries or [(ZERO_ADDRESS, 0)]).root


def _check_claims(
    claims: Sequence[Claim], entitlements: Mapping[str, int], sums: dict[str, int]
) -> list[Difference]:
    found: list[Difference] = []
    for claim in claims:
        sums[claim.account] = sums.get(claim.account, 0) + claim.amount
        if claim.cumulative != sums[claim.account]:
            found.append(
                Difference(
                    f"claims[{claim.account}]",
                    f"{sums[claim.account]} (sum of its Claimed amounts)",
                    str(claim.cumulative),
                )
            )
        entitled = entitlements.get(claim.account, 0)
        if claim.cumulative > entitled:
            found.append(Difference(f"claims[{claim.account}]", f"at most {entitled}", str(claim.cumulative)))
    return found


def _chain_wide(snapshot: ChainSnapshot, timeline: _Timeline, *, with_claims: bool) -> list[Difference]:
    found = list(timeline.problems)
    found.extend(
        Difference(f"deployment.code[{name}]", recorded, actual)
        for name, recorded, actual in snapshot.code_mismatches
    )
    if snapshot.next_epoch != len(timeline.live):
        found.append(Difference("chain.next_epoch", str(len(timeline.live)), str(snapshot.next_epoch)))
    if not with_claims:
        return found
    claimed = sum(c.amount for c in snapshot.claims)
    burned = sum(b.amount for b in snapshot.burns)
    minted = sum(m.amount for m in snapshot.mints)
    if snapshot.total_supply != claimed - burned:
        found.append(
            Difference(
                "supply",
                f"{claimed - burned} (claimed {claimed} - burned {burned})",
                str(snapshot.total_supply),
            )
        )
    if minted != claimed:
        found.append(Difference("mints", f"{claimed} (sum of Claimed amounts)", str(minted)))
    if snapshot.total_claimed != claimed:
        found.append(Difference("chain.total_claimed", str(claimed), str(snapshot.total_claimed)))
    return found


# --- the audit ------------------------------------------------------------------------------------------


@dataclass
class _Pinned:
    """A recomputed epoch whose manifest the chain pins (its hash was posted), so it never changes."""

    key: tuple[int, int]
    differences: tuple[Difference, ...]


class Auditor:
    """Audits every live epoch; kept across polls, it recomputes only what is new (the watcher's use).

    A full audit (``check_claims=True``) always starts from genesis: claims are checked against the
    entitlements of the epoch they were made under, which only a pass from the start has at hand.
    """

    def __init__(self, manifests: ManifestSource) -> None:
        self.manifests = manifests
        self._pinned: list[_Pinned] = []
        self._pinned_state = _State()

    def run(
        self, snapshot: ChainSnapshot, *, check_claims: bool = True, lenient: bool = False
    ) -> AuditReport:
        """Audits ``snapshot``; with ``lenient`` an unreadable manifest fails its epoch instead of raising
        :class:`AuditInputError` (a watcher must not stop on what the operator publishes)."""
        timeline = _replay(snapshot)
        commits = {c.epoch: c for c in snapshot.commitments}
        results, state = self._resume(timeline) if not check_claims else ([], _State())
        sums: dict[str, int] = {}
        for posting in timeline.live[len(results) :]:
            document, unreadable = self._document(posting.epoch, lenient)
            check = _EpochCheck(snapshot, posting, commits.get(posting.epoch), state)
            if unreadable is not None:
                check.checks.found.append(unreadable)
                after = _State(known=False)
            else:
                after = check.run(document)
            if check_claims and after.known:
                check.checks.found.extend(
                    _check_claims(timeline.claims.get(posting.epoch, []), after.cumulative, sums)
                )
            results.append(tuple(check.checks.found))
            pinnable = document is not None and manifest_hash(document) == posting.manifest_hash
            if not check_claims and pinnable and len(self._pinned) == posting.epoch:
                self._pinned.append(_Pinned(posting.at.order, results[-1]))
                self._pinned_state = after
            state = after
        epochs = [
            EpochAudit(
                posting.epoch,
                Verdict.FAIL if found else Verdict.PASS,
                found,
                posting,
                tuple(timeline.vetoed.get(posting.epoch, [])),
            )
            for posting, found in zip(timeline.live, results, strict=True)
        ]
        epochs += [
            EpochAudit(epoch, Verdict.VETOED, (), None, tuple(vetoed))
            for epoch, vetoed in sorted(timeline.vetoed.items())
            if epoch >= len(timeline.live)
        ]
        posted = {e.epoch for e in epochs}
        return AuditReport(
            block=snapshot.block,
            timestamp=snapshot.timestamp,
            epochs=tuple(epochs),
            chain_wide=tuple(_chain_wide(snapshot, timeline, with_claims=check_claims)),
            unposted_manifests=tuple(e for e in self.manifests.published() if e not in posted),
            claims_checked=check_claims,
        )

    def _resume(self, timeline: _Timeline) -> tuple[list[tuple[Difference, ...]], _State]:
        keys = [p.at.order for p in timeline.live]
        if [p.key for p in self._pinned] != keys[: len(self._pinned)]:
            # A pinned posting was vetoed (or the chain is another one): start over.
            self._pinned, self._pinned_state = [], _State()
        return [p.differences for p in self._pinned], self._pinned_state

    def _document(self, epoch: int, lenient: bool) -> tuple[dict[str, Any] | None, Difference | None]:
        try:
            return load_document(self.manifests, epoch), None
        except AuditInputError as exc:
            if not lenient:
                raise
            return None, Difference("manifest", "a readable JSON manifest", str(exc))


def audit(chain: AuditChain | ChainSnapshot, manifests: ManifestSource) -> AuditReport:
    """The full audit: every live epoch from genesis, claims and the chain-wide checks."""
    snapshot = chain if isinstance(chain, ChainSnapshot) else chain.snapshot()
    return Auditor(manifests).run(snapshot)


# --- the watcher ----------------------------------------------------------------------------------------


class WatchAction(StrEnum):
    PASSED = "passed"  # a newly posted root recomputes
    VETOED = "vetoed"
    VETO_FAILED = "veto-failed"
    UNVETOED = "failed-not-vetoed"  # it does not recompute and there is no guardian key to veto with
    WAITING = "waiting-for-manifest"
    UNAUDITABLE = "unauditable"  # an earlier, final epoch cannot be recomputed: a veto would fix nothing


@dataclass(frozen=True)
class WatchEvent:
    epoch: int
    action: WatchAction
    difference: Difference | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "action": self.action.value,
            "difference": self.difference.to_json() if self.difference else None,
            "detail": self.detail,
        }


@dataclass
class WatchState:
    """What the watcher keeps between polls.

    ``veto_missing_after``: seconds after a posting with no (readable) manifest before the watcher treats it
    as not recomputing and vetoes; ``None`` means half the challenge window. A compromised oracle that
    posts and never publishes is stopped this way, while a publisher a little late is given time.
    """

    auditor: Auditor
    veto_missing_after: int | None = None
    reported: set[tuple[int, int, int, str]] = field(default_factory=set)


@dataclass(frozen=True)
class WatchReport:
    block: int
    timestamp: int
    events: tuple[WatchEvent, ...]
    report: AuditReport

    @property
    def vetoed(self) -> list[int]:
        return [e.epoch for e in self.events if e.action is WatchAction.VETOED]

    @property
    def failed(self) -> bool:
        return any(
            e.action is not WatchAction.PASSED and e.action is not WatchAction.WAITING for e in self.events
        )


def watch_once(chain: AuditChain, state: WatchState, guardian: Guardian | None = None) -> WatchReport:
    """One poll: audits every posting still inside its challenge window and vetoes the first that does not
    recompute (a veto takes every later posting down with it). Each outcome is reported once per posting."""
    snapshot = chain.snapshot()
    report = state.auditor.run(snapshot, check_claims=False, lenient=True)
    grace = state.veto_missing_after
    if grace is None:
        grace = snapshot.challenge_window // 2
    events: list[WatchEvent] = []
    for epoch in report.audited:
        posting = epoch.posting
        assert posting is not None
        if snapshot.timestamp >= posting.claimable_at:
            continue  # its window has closed: a veto would revert, and the full audit reports it
        if epoch.verdict is Verdict.PASS:
            _once(state, events, posting, WatchEvent(epoch.epoch, WatchAction.PASSED))
            continue
        if epoch.inherited:
            _once(state, events, posting, WatchEvent(epoch.epoch, WatchAction.UNAUDITABLE, epoch.first))
            continue
        if epoch.missing_manifest and snapshot.timestamp < posting.at.timestamp + grace:
            _once(state, events, posting, WatchEvent(epoch.epoch, WatchAction.WAITING, epoch.first))
            continue
        if guardian is None:
            _once(state, events, posting, WatchEvent(epoch.epoch, WatchAction.UNVETOED, epoch.first))
            continue
        try:
            tx = guardian.veto(epoch.epoch)
        except ChainError as exc:
            events.append(WatchEvent(epoch.epoch, WatchAction.VETO_FAILED, epoch.first, str(exc)))
        else:
            events.append(WatchEvent(epoch.epoch, WatchAction.VETOED, epoch.first, tx))
        break  # later postings fall with this one (or wait for the next poll)
    return WatchReport(snapshot.block, snapshot.timestamp, tuple(events), report)


def _once(state: WatchState, events: list[WatchEvent], posting: Posting, event: WatchEvent) -> None:
    key = (posting.epoch, posting.at.block, posting.at.log_index, event.action.value)
    if key not in state.reported:
        state.reported.add(key)
        events.append(event)


# --- annual statements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementRow:
    """One account's year, in base units: stones (18 decimals) except ``buyback_proceeds`` and
    ``equity_value_received``, which are in the settlement token's base units."""

    year: int
    account: str
    earned_driving: int = 0
    earned_cocreation: int = 0
    claimed: int = 0
    redeemed: int = 0
    bought_back: int = 0
    buyback_proceeds: int = 0
    equity_value_received: int = 0

    @property
    def earned_total(self) -> int:
        return self.earned_driving + self.earned_cocreation

    def values(self) -> list[str | int]:
        return [
            self.year,
            self.account,
            self.earned_driving,
            self.earned_cocreation,
            self.earned_total,
            self.claimed,
            self.redeemed,
            self.bought_back,
            self.buyback_proceeds,
            self.equity_value_received,
        ]


def _year_of(timestamp: int) -> int:
    return datetime.fromtimestamp(timestamp, tz=UTC).year


def statements(snapshot: ChainSnapshot, manifests: ManifestSource, year: int) -> list[StatementRow]:
    """Per account, ``year``'s stones earned by source (live epochs starting in that UTC year, from their
    manifests), claimed, redeemed at the desk, sold back, and equity value received; accounts with any
    activity, in address order. Raises :class:`AuditInputError` when a manifest of that year is missing."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for posting in _replay(snapshot).live:
        if _year_of(snapshot.epoch_start(posting.epoch)) != year:
            continue
        manifest = _statement_manifest(manifests, posting.epoch)
        for source, credits in (
            ("earned_driving", manifest.driving.credits),
            ("earned_cocreation", manifest.cocreation.credits),
        ):
            for account, amount in credits.items():
                totals[account][source] += amount

    def add(rows: Iterable[tuple[str, str, int, EventRef]]) -> None:
        for account, column, amount, at in rows:
            if _year_of(at.timestamp) == year:
                totals[normalize_address(account)][column] += amount

    add((c.account, "claimed", c.amount, c.at) for c in snapshot.claims)
    add((r.buyer, "redeemed", r.price, r.at) for r in snapshot.redemptions)
    add((b.seller, "bought_back", b.stones, b.at) for b in snapshot.buybacks)
    add((b.seller, "buyback_proceeds", b.payout, b.at) for b in snapshot.buybacks)
    add((p.account, "equity_value_received", p.payout, p.at) for p in snapshot.round_payouts)
    return [StatementRow(year, account, **totals[account]) for account in sorted(totals)]


def _statement_manifest(manifests: ManifestSource, epoch: int) -> ParsedManifest:
    document = load_document(manifests, epoch)
    if document is None:
        raise AuditInputError(
            f"no manifest for epoch {epoch} ({manifests.describe(epoch)}): statements need all"
        )
    try:
        return parse_manifest(document)
    except _Unparsable as bad:
        raise AuditInputError(
            f"{manifests.describe(epoch)}: field {bad.difference.field} is malformed"
        ) from None


def write_statements(rows: Sequence[StatementRow], path: Path) -> None:
    """Writes ``rows`` as CSV with a header of :data:`STATEMENT_COLUMNS`, integers in base units."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(STATEMENT_COLUMNS)
        writer.writerows(row.values() for row in rows)


# --- publishing the manifests ---------------------------------------------------------------------------


def export_manifests(sessions: sessionmaker[Session], folder: Path) -> list[Path]:
    """Writes every manifest stored in the ledger to ``folder/<epoch>.json``, byte for byte as hashed."""
    folder.mkdir(parents=True, exist_ok=True)
    with sessions() as session:
        rows = session.execute(
            select(Epoch.number, Epoch.manifest).where(Epoch.manifest.is_not(None)).order_by(Epoch.number)
        ).all()
    written: list[Path] = []
    for number, manifest in rows:
        if manifest is None:
            continue
        path = folder / f"{number}.json"
        partial = folder / f".{number}.json.partial"
        # Written aside and renamed, so a reader (or a crash) never sees half a manifest.
        partial.write_bytes(manifest.encode())
        os.replace(partial, path)
        written.append(path)
    return written
