"""The per-epoch settlement state machine (DESIGN §4, issue 3).

Steps, in order, each recorded in the database only once its work is durable::

    SECRET_CREATED → COMMITTED → CLOSED → INPUTS_FIXED → ALLOCATED → TREE_BUILT → MANIFEST_WRITTEN
                   → POSTED → CONFIRMED → FINAL                      (or VETOED, for an operator to look at)

Invariants:

* Every step is idempotent: it runs in one database transaction that also advances the state, and the two
  chain steps (commit, post) go through :meth:`ledger.chain.client.ChainClient.send_once`, which journals
  the signed transaction before broadcasting it. A crash at any point therefore resumes without losing or
  double-paying a stone: rerunning :meth:`Settler.run` continues where the state says.
* Results are a pure function of the fixed inputs and the secret (``ledger.drops``), so a recomputation from
  the manifest gives the same allocations and root.
* Cumulative totals only grow, and each pool's total is at most ``available`` at the epoch's end (the
  contract checks it too); undrawn budget and floor dust carry to the next epoch.
* One settlement worker at a time: :func:`ledger.store.db.settlement_lock`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from itertools import compress, repeat
from operator import add, itemgetter
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ledger import consent, ingest, tasks, vehicles
from ledger.consent import TRIP_WINDOW_S
from ledger.drops import (
    CarInput,
    OwnershipSpan,
    commitment,
    draw_driving,
    epoch_seed,
    inputs_root,
    normalize_weight,
    split_cocreation,
)
from ledger.errors import ChainError
from ledger.manifest import EpochInputs, build_manifest, canonical_json, hex32, manifest_hash
from ledger.merkle import MerkleTree, _gc_paused
from ledger.schedule import SLOTS_PER_EPOCH
from ledger.store.models import Allocation, DropWin, Entitlement, Epoch, EpochState, EpochTree, Pool

log = logging.getLogger(__name__)

WINDOW_SECONDS = TRIP_WINDOW_S  # a car's weight counts the valid mileage of the trailing 720 hours
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

ORDER = list(EpochState)


@dataclass(frozen=True)
class OnchainEpoch:
    root: bytes
    posted_at: int
    driving_total: int
    cocreation_total: int


class SettlementChain(Protocol):
    """What settlement needs from the chain (implemented by ``ledger.chain.gateway``)."""

    challenge_window: int

    def now(self) -> int: ...

    def seed_commitment(self, epoch: int) -> bytes: ...

    def commit_seed(self, epoch: int, commitment: bytes) -> None: ...

    def next_epoch(self) -> int: ...

    def epoch_record(self, epoch: int) -> OnchainEpoch: ...

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
        """Posts once per (epoch, attempt); returns the block number and its timestamp."""
        ...

    def confirmations(self, block: int) -> int: ...


@dataclass(frozen=True)
class SettlementParams:
    genesis: int
    slot_seconds: int
    grace_seconds: int = 3600
    seed_lookahead: int = 7
    weight_cap_metres: int = 5_000_000
    shares_per_drop: int = 100
    confirmations: int = 1

    @property
    def epoch_seconds(self) -> int:
        return SLOTS_PER_EPOCH * self.slot_seconds

    def epoch_start(self, epoch: int) -> int:
        return self.genesis + epoch * self.epoch_seconds

    def epoch_end(self, epoch: int) -> int:
        return self.epoch_start(epoch + 1)

    def epoch_at(self, timestamp: int) -> int:
        """The epoch running at ``timestamp`` (-1 before genesis)."""
        return (timestamp - self.genesis) // self.epoch_seconds if timestamp >= self.genesis else -1

    def first_slot_at_or_after(self, timestamp: int) -> int:
        if timestamp <= self.genesis:
            return 0
        return -(-(timestamp - self.genesis) // self.slot_seconds)


@dataclass
class StepReport:
    epoch: int
    state: EpochState


class Settler:
    """Runs every settlement step that is due; safe to run again at any time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        chain: SettlementChain,
        params: SettlementParams,
        secret_source: Callable[[int], bytes] | None = None,
    ) -> None:
        self.sessions = sessions
        self.chain = chain
        self.params = params
        # Tests pin secrets to compare runs; production draws 32 fresh random bytes per epoch.
        self.secret_source = secret_source or (lambda _epoch: secrets.token_bytes(32))

    def run(self, max_steps: int | None = None) -> list[StepReport]:
        """Advances epochs until nothing is due (or ``max_steps`` steps ran); returns the steps taken."""
        done: list[StepReport] = []
        while max_steps is None or len(done) < max_steps:
            step = self._next_step()
            if step is None:
                break
            done.append(step())
        return done

    # ----- scheduling -----

    def _next_step(self) -> Callable[[], StepReport] | None:
        now = self.chain.now()
        with self.sessions() as session:
            epochs = {e.number: e for e in session.scalars(select(Epoch).order_by(Epoch.number))}
        # Seeds first: a commitment missed before its epoch starts can never be made up.
        for number, epoch in sorted(epochs.items()):
            if epoch.state is EpochState.SECRET_CREATED:
                return partial(self._commit, number)
        current = self.params.epoch_at(now)
        for number in range(current + 1, current + 1 + self.params.seed_lookahead):
            if number not in epochs:
                return partial(self._create_secret, number)
        for epoch in (epochs[n] for n in sorted(epochs)):
            step = self._due(epoch, now)
            if step is not None:
                return step
            if epoch.state not in (EpochState.FINAL, EpochState.CONFIRMED, EpochState.POSTED):
                break  # later epochs wait for this one: postings are strictly sequential
        return None

    def _due(self, epoch: Epoch, now: int) -> Callable[[], StepReport] | None:
        e = epoch.number
        steps: dict[EpochState, Callable[[int], StepReport]] = {
            EpochState.COMMITTED: self._close,
            EpochState.CLOSED: self._fix_inputs,
            EpochState.INPUTS_FIXED: self._allocate,
            EpochState.ALLOCATED: self._build_tree,
            EpochState.TREE_BUILT: self._write_manifest,
            EpochState.MANIFEST_WRITTEN: self._post,
            EpochState.POSTED: self._confirm,
            EpochState.CONFIRMED: self._finalize,
        }
        ready = {
            EpochState.COMMITTED: now >= self.params.epoch_end(e) + self.params.grace_seconds,
            EpochState.MANIFEST_WRITTEN: self._previous_posted(e),
            EpochState.CONFIRMED: now >= (epoch.posted_at or 0) + self.chain.challenge_window,
        }
        step = steps.get(epoch.state)
        if step is None or not ready.get(epoch.state, True):
            return None
        return partial(step, e)

    def _previous_posted(self, e: int) -> bool:
        if e == 0:
            return True
        with self.sessions() as session:
            previous = session.get(Epoch, e - 1)
        return previous is not None and previous.state in (
            EpochState.POSTED,
            EpochState.CONFIRMED,
            EpochState.FINAL,
        )

    # ----- steps -----

    def _create_secret(self, e: int) -> StepReport:
        if self.chain.now() >= self.params.epoch_start(e):
            raise ChainError(f"epoch {e} has started: its seed can no longer be committed")
        secret = self.secret_source(e)
        with self.sessions.begin() as session:
            session.add(
                Epoch(
                    number=e,
                    state=EpochState.SECRET_CREATED,
                    secret=secret,
                    commitment=hex32(commitment(secret)),
                    updated_at=self.chain.now(),
                )
            )
        return StepReport(e, EpochState.SECRET_CREATED)

    def _commit(self, e: int) -> StepReport:
        with self.sessions() as session:
            epoch = _get(session, e)
            wanted = bytes.fromhex(epoch.commitment[2:])
        onchain = self.chain.seed_commitment(e)
        if onchain == bytes(32):
            self.chain.commit_seed(e, wanted)
        elif onchain != wanted:
            raise ChainError(f"epoch {e}: the chain holds commitment {onchain.hex()}, not ours")
        return self._advance(e, EpochState.COMMITTED)

    def _close(self, e: int) -> StepReport:
        return self._advance(e, EpochState.CLOSED)

    def _advance(self, e: int, state: EpochState) -> StepReport:
        with self.sessions.begin() as session:
            _get(session, e).state = state
        return StepReport(e, state)

    def _fix_inputs(self, e: int) -> StepReport:
        start, end = self.params.epoch_start(e), self.params.epoch_end(e)
        with self.sessions.begin() as session:
            metres = ingest.valid_metres_by_vehicle(session, end - WINDOW_SECONDS, end)
            held = ingest.vehicles_with_open_holds(session, end)
            history = vehicles.ownership_history(session, sorted(metres))
            spans_by_car: dict[str, list[tuple[str, int]]] = defaultdict(list)
            for vehicle_id, account, from_time in history:
                spans_by_car[vehicle_id].append((account, from_time))
            cars: list[CarInput] = []
            ownership: list[OwnershipSpan] = []
            for vehicle_id, valid in sorted(metres.items()):
                weight = normalize_weight(valid, self.params.weight_cap_metres)
                spans = sorted(spans_by_car.get(vehicle_id, []), key=lambda s: s[1])
                if weight == 0 or vehicle_id in held or not spans or spans[0][1] > start:
                    continue  # no weight, an open hold, or registered after the epoch began
                relevant = self._spans_in_epoch(vehicle_id, spans, start, end)
                if not all(consent.consent_active(session, span.account, until) for span, until in relevant):
                    continue  # no consent, no earning: the whole epoch is forfeited for this car
                cars.append(CarInput(vehicle_id, weight))
                ownership.extend(span for span, _ in relevant)
            points = tasks.points_for_epoch(session, start, end)
            fixed = EpochInputs(tuple(cars), tuple(ownership), tuple(points))
            root = inputs_root(fixed.cars, fixed.ownership, fixed.points)
            epoch = _get(session, e)
            epoch.inputs = canonical_json(fixed.to_json()).decode()
            epoch.inputs_root = hex32(root)
            epoch.state = EpochState.INPUTS_FIXED
        return StepReport(e, EpochState.INPUTS_FIXED)

    def _spans_in_epoch(
        self, vehicle_id: str, spans: list[tuple[str, int]], start: int, end: int
    ) -> list[tuple[OwnershipSpan, int]]:
        """Ownership spans covering the epoch, each with the time its consent must still hold."""
        by_slot: dict[int, tuple[OwnershipSpan, int]] = {}
        for index, (account, from_time) in enumerate(spans):
            until = spans[index + 1][1] if index + 1 < len(spans) else end
            if until <= start or from_time >= end:
                continue
            slot = self.params.first_slot_at_or_after(from_time)
            # Two transfers within one slot: the slot belongs to whoever owned the car when it started.
            by_slot[slot] = (OwnershipSpan(vehicle_id, account, slot), min(until, end) - 1)
        return [by_slot[slot] for slot in sorted(by_slot)]

    def _allocate(self, e: int) -> StepReport:
        with self.sessions.begin() as session:
            epoch = _get(session, e)
            previous = session.get(Epoch, e - 1) if e > 0 else None
            fixed = EpochInputs.from_json(json.loads(epoch.inputs or "{}"))
            seed = epoch_seed(epoch.secret, bytes.fromhex((epoch.inputs_root or "")[2:]))
            driving = draw_driving(
                e,
                seed,
                fixed.cars,
                fixed.ownership,
                previous.driving_carry_out or 0 if previous else 0,
                self.params.shares_per_drop,
            )
            cocreation = split_cocreation(
                e, fixed.points, previous.cocreation_carry_out or 0 if previous else 0
            )
            session.execute(delete(Allocation).where(Allocation.epoch == e))
            session.execute(delete(DropWin).where(DropWin.epoch == e))
            for pool, credits in ((Pool.DRIVING, driving.credits), (Pool.COCREATION, cocreation.credits)):
                session.add_all(
                    Allocation(epoch=e, account=a, pool=pool, amount=v) for a, v in credits.items()
                )
            share_by_slot = {draw.slot: draw.share for draw in driving.slots}
            owners = _OwnerLookup(fixed.ownership)
            session.add_all(
                DropWin(
                    epoch=e,
                    vehicle_id=car,
                    slot=slot,
                    account=owners.at(car, slot),
                    shares=shares,
                    amount=shares * share_by_slot[slot],
                )
                for (car, slot), shares in driving.wins.items()
            )
            epoch.seed = hex32(seed)
            epoch.driving_carry_in, epoch.driving_budget = driving.carry_in, driving.emission
            epoch.driving_allocated, epoch.driving_carry_out = driving.allocated, driving.carry_out
            epoch.cocreation_carry_in, epoch.cocreation_budget = cocreation.carry_in, cocreation.emission
            epoch.cocreation_allocated, epoch.cocreation_carry_out = (
                cocreation.allocated,
                cocreation.carry_out,
            )
            epoch.driving_total = (previous.driving_total or 0 if previous else 0) + driving.allocated
            epoch.cocreation_total = (
                previous.cocreation_total or 0 if previous else 0
            ) + cocreation.allocated
            epoch.state = EpochState.ALLOCATED
        return StepReport(e, EpochState.ALLOCATED)

    def _build_tree(self, e: int) -> StepReport:
        with self.sessions.begin() as session:
            previous = (
                session.execute(
                    select(Entitlement.account, Entitlement.cumulative).where(Entitlement.epoch == e - 1)
                )
                if e > 0
                else ()
            )
            allocations = [
                session.execute(
                    select(Allocation.account, Allocation.amount).where(
                        Allocation.epoch == e, Allocation.pool == pool
                    )
                )
                for pool in (Pool.DRIVING, Pool.COCREATION)
            ]
            entries = cumulative_entries(previous, *allocations)
            # The contract refuses a zero root; an epoch in which nobody has earned yet gets a lone zero leaf.
            tree = MerkleTree.build(entries or [(ZERO_ADDRESS, 0)])
            session.execute(delete(Entitlement).where(Entitlement.epoch == e))
            session.execute(delete(EpochTree).where(EpochTree.epoch == e))
            positions = dict(zip((a for a, _ in tree.entries), tree.tree_indices, strict=True))
            session.add_all(
                Entitlement(epoch=e, account=a, cumulative=v, tree_index=positions[a]) for a, v in entries
            )
            session.add(EpochTree(epoch=e, nodes=tree.nodes))
            epoch = _get(session, e)
            epoch.root = hex32(tree.root)
            epoch.state = EpochState.TREE_BUILT
        return StepReport(e, EpochState.TREE_BUILT)

    def _write_manifest(self, e: int) -> StepReport:
        with self.sessions.begin() as session:
            epoch = _get(session, e)
            previous = session.get(Epoch, e - 1) if e > 0 else None
            fixed = EpochInputs.from_json(json.loads(epoch.inputs or "{}"))
            seed = bytes.fromhex((epoch.seed or "")[2:])
            # What _allocate drew and split, read back rather than recomputed: it committed the figures,
            # the credits and the wins in the transaction that made the epoch ALLOCATED.
            driving, cocreation = _stored_outcomes(session, epoch)
            document = build_manifest(
                epoch=e,
                genesis=self.params.genesis,
                slot_seconds=self.params.slot_seconds,
                parameters={
                    "shares_per_drop": self.params.shares_per_drop,
                    "weight_cap_metres": self.params.weight_cap_metres,
                    "window_seconds": WINDOW_SECONDS,
                    "grace_seconds": self.params.grace_seconds,
                },
                commitment=bytes.fromhex(epoch.commitment[2:]),
                secret=epoch.secret,
                inputs=fixed,
                inputs_root=bytes.fromhex((epoch.inputs_root or "")[2:]),
                seed=seed,
                driving=driving,
                cocreation=cocreation,
                driving_total=epoch.driving_total or 0,
                cocreation_total=epoch.cocreation_total or 0,
                root=bytes.fromhex((epoch.root or "")[2:]),
                previous_manifest_hash=bytes.fromhex(previous.manifest_hash[2:])
                if previous and previous.manifest_hash
                else None,
            )
            epoch.manifest = canonical_json(document).decode()
            epoch.manifest_hash = hex32(manifest_hash(document))
            epoch.state = EpochState.MANIFEST_WRITTEN
        return StepReport(e, EpochState.MANIFEST_WRITTEN)

    def _post(self, e: int) -> StepReport:
        with self.sessions() as session:
            epoch = _get(session, e)
        root = bytes.fromhex((epoch.root or "")[2:])
        if self.chain.next_epoch() > e:
            onchain = self.chain.epoch_record(e)
            if onchain.root != root:
                raise ChainError(
                    f"epoch {e} is on chain with root {onchain.root.hex()}, not ours {root.hex()}"
                )
            block, timestamp = -1, onchain.posted_at
        else:
            block, timestamp = self.chain.post_epoch(
                e,
                epoch.vetoed,
                root,
                epoch.driving_total or 0,
                epoch.cocreation_total or 0,
                bytes.fromhex((epoch.inputs_root or "")[2:]),
                epoch.secret,
                bytes.fromhex((epoch.manifest_hash or "")[2:]),
            )
        with self.sessions.begin() as session:
            stored = _get(session, e)
            stored.posted_at = timestamp
            stored.confirmed_block = block if block >= 0 else None
            stored.state = EpochState.POSTED
        return StepReport(e, EpochState.POSTED)

    def _confirm(self, e: int) -> StepReport:
        with self.sessions() as session:
            epoch = _get(session, e)
        if self._vetoed(epoch):
            return self._advance(e, EpochState.VETOED)
        block = epoch.confirmed_block
        if block is not None and self.chain.confirmations(block) < self.params.confirmations:
            return StepReport(e, EpochState.POSTED)
        return self._advance(e, EpochState.CONFIRMED)

    def _finalize(self, e: int) -> StepReport:
        with self.sessions() as session:
            epoch = _get(session, e)
        if self._vetoed(epoch):
            return self._advance(e, EpochState.VETOED)
        return self._advance(e, EpochState.FINAL)

    def _vetoed(self, epoch: Epoch) -> bool:
        if self.chain.next_epoch() <= epoch.number:
            return True
        return self.chain.epoch_record(epoch.number).root != bytes.fromhex((epoch.root or "")[2:])


def cumulative_entries(
    *sources: Mapping[str, int] | Iterable[tuple[str, int]],
) -> list[tuple[str, int]]:
    """The reward tree's entries: each account's total over ``sources`` (the previous epoch's cumulative
    entitlements, this epoch's credits from each pool: mappings or ``(account, amount)`` pairs), the
    positive totals only.

    They are in an order fixed by the sources' orders, not sorted: the tree's root and every account's
    leaf index depend only on the set of entries (OpenZeppelin's tree sorts the leaves by hash), and
    sorting a million pairs, then reading them out of memory order, cost more than the merge itself.
    Whole-list passes throughout: there is a pair per account and pool."""
    totals: dict[str, int] = {}
    with _gc_paused():
        for source in sources:
            if isinstance(source, Mapping):
                if not totals and type(source) is dict:
                    totals = dict(source)  # a copy in one C call
                    continue
                accounts, amounts = list(source.keys()), list(source.values())
            else:
                pairs = source if type(source) is list else list(source)
                accounts, amounts = list(map(itemgetter(0), pairs)), list(map(itemgetter(1), pairs))
                if len(set(accounts)) < len(accounts):  # an account twice in one source: one by one
                    for account, amount in zip(accounts, amounts, strict=True):
                        totals[account] = totals.get(account, 0) + amount
                    continue
            if not totals:
                totals = dict(zip(accounts, amounts, strict=True))
            elif 2 * len(accounts) < len(totals):  # a few accounts: add them in place
                sums = map(add, map(totals.get, accounts, repeat(0)), amounts)
                totals.update(zip(accounts, sums, strict=True))
            else:  # about as many: a new dict in this source's order, then the accounts it lacks
                sums = map(add, map(totals.pop, accounts, repeat(0)), amounts)
                merged = dict(zip(accounts, sums, strict=True))
                merged.update(totals)
                totals = merged
        if not totals or min(totals.values()) > 0:
            return list(totals.items())
        return list(compress(totals.items(), map((0).__lt__, totals.values())))


@dataclass(frozen=True)
class _StoredDriving:
    """The driving pool's outcome as ``_allocate`` stored it (what the manifest publishes)."""

    carry_in: int
    emission: int
    allocated: int
    carry_out: int
    credits: Mapping[str, int]
    wins: Mapping[tuple[str, int], int]


@dataclass(frozen=True)
class _StoredCocreation:
    carry_in: int
    emission: int
    allocated: int
    carry_out: int
    credits: Mapping[str, int]


def _stored_outcomes(session: Session, epoch: Epoch) -> tuple[_StoredDriving, _StoredCocreation]:
    e = epoch.number
    credits: dict[Pool, dict[str, int]] = {Pool.DRIVING: {}, Pool.COCREATION: {}}
    for account, pool, amount in session.execute(
        select(Allocation.account, Allocation.pool, Allocation.amount).where(Allocation.epoch == e)
    ):
        credits[pool][account] = amount
    wins = {
        (car, slot): shares
        for car, slot, shares in session.execute(
            select(DropWin.vehicle_id, DropWin.slot, DropWin.shares).where(DropWin.epoch == e)
        )
    }
    driving = _StoredDriving(
        carry_in=epoch.driving_carry_in or 0,
        emission=epoch.driving_budget or 0,
        allocated=epoch.driving_allocated or 0,
        carry_out=epoch.driving_carry_out or 0,
        credits=credits[Pool.DRIVING],
        wins=wins,
    )
    cocreation = _StoredCocreation(
        carry_in=epoch.cocreation_carry_in or 0,
        emission=epoch.cocreation_budget or 0,
        allocated=epoch.cocreation_allocated or 0,
        carry_out=epoch.cocreation_carry_out or 0,
        credits=credits[Pool.COCREATION],
    )
    return driving, cocreation


class _OwnerLookup:
    def __init__(self, spans: tuple[OwnershipSpan, ...]) -> None:
        self._spans: dict[str, list[OwnershipSpan]] = defaultdict(list)
        for span in sorted(spans, key=lambda s: s.from_slot):
            self._spans[span.car_id].append(span)

    def at(self, car_id: str, slot: int) -> str:
        owner = ZERO_ADDRESS
        for span in self._spans[car_id]:
            if span.from_slot <= slot:
                owner = span.account
        return owner


def _get(session: Session, e: int) -> Epoch:
    epoch = session.get(Epoch, e)
    if epoch is None:
        raise LookupError(f"epoch {e} is not in the ledger")
    return epoch
