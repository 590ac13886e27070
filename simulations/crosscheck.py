"""Cross-check: the real ledger on the embedded chain against the simulation, same inputs, same secrets.

One small scenario (by default 20 cars of 12 owners over 3 daily epochs) is generated from a seed: each
car's valid kilometres per day, one owner who never consents, one car that also sends an impossible trip
(the plausibility check holds it; the hold stays open over the next epoch, then is denied), and
co-creation tasks per owner and day. Then it runs twice:

* **the real system**: an embedded chain (eth-tester on py-evm) with the five contracts deployed, a SQLite
  ledger, device-signed trip reports through ingest, EIP-712 consent, task completions through the
  catalogue, the settlement state machine posting one root a day with the fixed secrets, the challenge
  window waited out, and a relayer's ``claimMany`` for every owner: the stones each account holds on chain;
* **the simulation's exact path**: from the scenario's numbers alone (no database, no chain), the weights
  through ``ledger.drops.normalize_weight``, the inputs root and seed, ``draw_driving`` and
  ``split_cocreation`` with carries: the stones each account is owed.

It passes when both agree for every account to the base unit, every epoch's allocation per pool and
account agrees, and the vectorised model's exact half (each day's driving budget and carry from
:func:`simulations.budget.driving_day`, the co-creation floors of
:func:`simulations.budget.split_cocreation_into`) reproduces the ledger's figures as well.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ledger import ingest, tasks
from ledger.chain.deploy import DeployParams, System, deploy_system
from ledger.chain.embedded import EmbeddedChain, test_accounts
from ledger.chain.gateway import DistributorGateway
from ledger.claims import claim_many_args, tickets
from ledger.drops import (
    CarInput,
    OwnershipSpan,
    PointsInput,
    draw_driving,
    epoch_seed,
    inputs_root,
    normalize_weight,
    split_cocreation,
)
from ledger.merkle import keccak256
from ledger.runtime import embedded_roles
from ledger.settlement import WINDOW_SECONDS, SettlementParams, Settler
from ledger.store.db import make_engine, migrate, session_factory
from ledger.store.journal import StoreTxJournal
from ledger.store.models import Allocation, Epoch, EpochState, Pool, Trip, TripStatus
from ledger.telemetry import DriveMode, Status, TripReport, report_to_json, sign_report
from simulations.budget import Limbs, driving_day, split_cocreation_into
from simulations.model import SELF_SERVICE_TASKS
from yuanshi.fleet import Fleet

START: Final = 2_000_000_000  # a fixed chain time, so two runs alike are alike to the second
GENESIS: Final = START + 3600
SLOT_SECONDS: Final = 600
EPOCH_SECONDS: Final = 144 * SLOT_SECONDS
GRACE_SECONDS: Final = 1800
CHALLENGE_WINDOW: Final = 6 * 3600
# The held trip is denied during the second epoch after it, which is what the scenarios' hold_days = 1
# means: a trip reported after epoch d closes holds its car out of epoch d + 1 only.
HOLD_EPOCHS: Final = 1
VIN_SALT: Final = b"crosscheck-salt-0123456789"
KMH: Final = 60  # real trips run at 60 km/h and 150 Wh/km: plausible by construction
IMPOSSIBLE_KMH: Final = 900
WH_PER_KM: Final = 150
SPOOFED_METRES: Final = 400_000
TASK_POINTS: Final = {spec.task_id: spec.points for spec in tasks.DEFAULT_CATALOGUE}


@dataclass(frozen=True)
class CrossCheckInputs:
    """What both paths get: per car and day the valid metres, who owns which car, who consents, which car
    sends an impossible trip on which day, each owner's tasks per day, and (from the seed) each epoch's
    secret."""

    seed: int
    days: int
    fleet: Fleet
    metres: list[list[int]]  # [car][day]
    consenting: list[bool]  # [owner]
    spoof: tuple[int, int]  # (car, day)
    completions: list[list[list[str]]]  # [owner][day] -> task ids

    @property
    def car_ids(self) -> list[str]:
        return [car.vehicle_id for car in self.fleet.cars]

    def owner_index(self, car: int) -> int:
        return self.fleet.owners.index(self.fleet.cars[car].owner)

    def points(self, owner: int, day: int) -> int:
        return sum(TASK_POINTS[task] for task in self.completions[owner][day])

    def secret(self, epoch: int) -> bytes:
        """Epoch ``epoch``'s seed secret (settlement also asks for the epochs it commits ahead)."""
        return keccak256(b"yuanshi-crosscheck" + self.seed.to_bytes(8, "big") + epoch.to_bytes(8, "big"))


def crosscheck_inputs(cars: int = 20, owners: int = 12, days: int = 3, seed: int = 7) -> CrossCheckInputs:
    if not 2 <= owners <= cars or days < HOLD_EPOCHS + 2:
        raise ValueError(f"the cross-check needs 2 <= owners <= cars and at least {HOLD_EPOCHS + 2} days")
    rng = np.random.default_rng(seed)
    fleet = Fleet.create(cars, owners, seed=seed)
    km = rng.lognormal(np.log(40.0), 0.7, size=(cars, days))
    idle = rng.random((cars, days)) < 0.15
    metres = np.where(idle, 0, np.minimum(km, 400.0) * 1000).astype(np.int64)
    consenting = [index != owners - 1 for index in range(owners)]  # the last owner never consents
    spoofer = next(c for c in range(cars) if consenting[fleet.owners.index(fleet.cars[c].owner)])
    # It must have real kilometres before its hold, or the hold would change nothing and prove nothing.
    metres[spoofer, 0] = max(int(metres[spoofer, 0]), 20_000)
    completions = [
        [
            [
                SELF_SERVICE_TASKS[(owner + day + n) % len(SELF_SERVICE_TASKS)]
                for n in range((owner * 7 + day) % 4)
            ]
            for day in range(days)
        ]
        for owner in range(owners)
    ]
    return CrossCheckInputs(
        seed=seed,
        days=days,
        fleet=fleet,
        metres=[[int(m) for m in row] for row in metres],
        consenting=consenting,
        spoof=(spoofer, 0),
        completions=completions,
    )


# --- outcomes -------------------------------------------------------------------------------------


@dataclass
class EpochFigures:
    driving: dict[str, int]
    cocreation: dict[str, int]
    driving_allocated: int
    driving_carry_out: int
    cocreation_allocated: int
    cocreation_carry_out: int


@dataclass
class Outcome:
    epochs: list[EpochFigures]
    balances: dict[str, int]  # per account, both pools; on chain for the ledger's run
    total_supply: int


# --- the simulation's exact path ------------------------------------------------------------------


def _held(inputs: CrossCheckInputs, car: int, epoch: int) -> bool:
    spoofer, day = inputs.spoof
    return car == spoofer and day + 1 <= epoch <= day + HOLD_EPOCHS


def _window_metres(inputs: CrossCheckInputs, car: int, epoch: int) -> int:
    window_days = WINDOW_SECONDS // EPOCH_SECONDS
    return sum(inputs.metres[car][max(0, epoch - window_days + 1) : epoch + 1])


@dataclass(frozen=True)
class EpochInputs:
    cars: list[CarInput]
    ownership: list[OwnershipSpan]
    points: list[PointsInput]


def epoch_inputs(inputs: CrossCheckInputs, epoch: int) -> EpochInputs:
    """The epoch's eligible cars and weights, ownership spans and points, from the scenario alone."""
    cars = []
    ownership = []
    for index, car_id in enumerate(inputs.car_ids):
        weight = normalize_weight(_window_metres(inputs, index, epoch))
        if weight and inputs.consenting[inputs.owner_index(index)] and not _held(inputs, index, epoch):
            cars.append(CarInput(car_id, weight))
            # Registered before genesis: owned from slot 0.
            ownership.append(OwnershipSpan(car_id, inputs.fleet.cars[index].owner.address, 0))
    points = [
        PointsInput(owner.address, inputs.points(index, epoch))
        for index, owner in enumerate(inputs.fleet.owners)
        if inputs.points(index, epoch)
    ]
    return EpochInputs(cars, ownership, points)


def simulate_exact(inputs: CrossCheckInputs) -> Outcome:
    """The scenario through ``ledger.drops`` alone: what the ledger must pay, from the inputs and secrets."""
    balances: dict[str, int] = defaultdict(int)
    epochs: list[EpochFigures] = []
    carry_driving = carry_cocreation = 0
    for epoch in range(inputs.days):
        fixed = epoch_inputs(inputs, epoch)
        seed = epoch_seed(inputs.secret(epoch), inputs_root(fixed.cars, fixed.ownership, fixed.points))
        driving = draw_driving(epoch, seed, fixed.cars, fixed.ownership, carry_driving)
        cocreation = split_cocreation(epoch, fixed.points, carry_cocreation)
        carry_driving, carry_cocreation = driving.carry_out, cocreation.carry_out
        for credits in (driving.credits, cocreation.credits):
            for account, amount in credits.items():
                balances[account] += amount
        epochs.append(
            EpochFigures(
                dict(driving.credits),
                dict(cocreation.credits),
                driving.allocated,
                driving.carry_out,
                cocreation.allocated,
                cocreation.carry_out,
            )
        )
    return Outcome(epochs, dict(balances), sum(balances.values()))


# --- the real system ------------------------------------------------------------------------------


class CrossCheckError(AssertionError):
    """The real run did not behave as the scenario says (a report's verdict, an epoch not final)."""


@dataclass
class _World:
    inputs: CrossCheckInputs
    chain: EmbeddedChain
    system: System
    sessions: sessionmaker[Session]
    params: SettlementParams
    settler: Settler
    odometers: list[int]
    seqs: list[int]


def _trip(world: _World, car: int, start: int, metres: int, kmh: int) -> dict[str, object]:
    sim_car = world.inputs.fleet.cars[car]
    world.seqs[car] += 1
    report = TripReport(
        vehicle_id=sim_car.vehicle_id,
        seq=world.seqs[car],
        started_at=start,
        ended_at=start + max(60, metres * 3600 // (kmh * 1000)),
        odometer_start_m=world.odometers[car],
        odometer_end_m=world.odometers[car] + metres,
        energy_wh=metres * WH_PER_KM // 1000,
        drive_mode=DriveMode.NORMAL,
        algorithm=sim_car.algorithm,
    )
    world.odometers[car] += metres
    return report_to_json(sign_report(report, sim_car.private_key))


def _live_epoch(world: _World, epoch: int) -> None:
    """Cars drive and owners do tasks during ``epoch``; reports and completions arrive just after it."""
    inputs, params = world.inputs, world.params
    start = params.epoch_start(epoch)
    reports: list[dict[str, object]] = []
    expected: list[Status] = []
    for car in range(len(inputs.fleet.cars)):
        begin = start + 3600 + 120 * car
        trips = [(inputs.metres[car][epoch], KMH)] if inputs.metres[car][epoch] else []
        if inputs.spoof == (car, epoch):
            trips.append((SPOOFED_METRES, IMPOSSIBLE_KMH))
        for metres, kmh in trips:
            reports.append(_trip(world, car, begin, metres, kmh))
            consented = inputs.consenting[inputs.owner_index(car)]
            expected.append(
                Status.REJECTED
                if not consented
                else Status.HELD
                if kmh == IMPOSSIBLE_KMH
                else Status.ACCEPTED
            )
            begin += max(60, metres * 3600 // (kmh * 1000)) + 600
    world.chain.travel_to(params.epoch_end(epoch) + 60)
    now = world.chain.now()
    with world.sessions.begin() as session:
        verdicts = ingest.submit_reports(session, reports, now)
        for index, owner in enumerate(inputs.fleet.owners):
            for n, task in enumerate(inputs.completions[index][epoch]):
                tasks.record_completion(
                    session,
                    task,
                    owner.address,
                    f"{task}-{owner.address}-{epoch}-{n}",
                    completed_at=start + 600 * (index + n + 1),
                    now=now,
                    genesis=params.genesis,
                )
    for report, verdict, wanted in zip(reports, verdicts, expected, strict=True):
        if verdict.status is not wanted:
            name = f"{report['vehicle_id']}#{report['seq']}"
            raise CrossCheckError(
                f"report {name}: {verdict.status.value}, not {wanted.value} ({verdict.detail})"
            )


def _deny_holds(world: _World) -> None:
    now = world.chain.now()
    with world.sessions.begin() as session:
        for trip_id in session.scalars(select(Trip.id).where(Trip.status == TripStatus.HELD)).all():
            ingest.review_hold(session, trip_id, ingest.ReviewDecision.DENY, "crosscheck", now)


def _build_world(inputs: CrossCheckInputs, sessions: sessionmaker[Session]) -> _World:
    chain = EmbeddedChain()
    for account in test_accounts():
        chain.add_signer(account)
    chain.travel_to(START)
    roles = embedded_roles()
    system = deploy_system(chain, roles, DeployParams(genesis=GENESIS, challenge_window=CHALLENGE_WINDOW))
    gateway = DistributorGateway(system, roles.oracle, StoreTxJournal(sessions))
    params = SettlementParams(
        genesis=GENESIS, slot_seconds=SLOT_SECONDS, grace_seconds=GRACE_SECONDS, seed_lookahead=3
    )
    settler = Settler(sessions, gateway, params, secret_source=inputs.secret)
    settler.run()  # commits the first seeds before genesis
    now = chain.now()
    with sessions.begin() as session:
        tasks.seed_default_catalogue(session, now)
        inputs.fleet.enrol(session, VIN_SALT, chain.chain_id, now, inputs.consenting)
    odometers = [car.odometer_m for car in inputs.fleet.cars]
    return _World(inputs, chain, system, sessions, params, settler, odometers, [0] * len(inputs.fleet.cars))


def _ledger_epochs(world: _World) -> list[EpochFigures]:
    figures = []
    with world.sessions() as session:
        for epoch in range(world.inputs.days):
            row = session.get(Epoch, epoch)
            if row is None or row.state is not EpochState.FINAL:
                raise CrossCheckError(f"epoch {epoch} is {row.state.value if row else 'missing'}, not final")
            credits: dict[Pool, dict[str, int]] = {Pool.DRIVING: {}, Pool.COCREATION: {}}
            query = select(Allocation.pool, Allocation.account, Allocation.amount).where(
                Allocation.epoch == epoch
            )
            for pool, account, amount in session.execute(query):
                credits[pool][account] = amount
            figures.append(
                EpochFigures(
                    credits[Pool.DRIVING],
                    credits[Pool.COCREATION],
                    row.driving_allocated or 0,
                    row.driving_carry_out or 0,
                    row.cocreation_allocated or 0,
                    row.cocreation_carry_out or 0,
                )
            )
    return figures


def _claim_all(world: _World) -> Outcome:
    last = world.inputs.days - 1
    with world.sessions() as session:
        batch = tickets(session, last)
    distributor = world.system.distributor
    relayer = world.chain.accounts[9]  # anyone may claim for anyone; the stones go to the account
    for offset in range(0, len(batch), 25):
        chunk = batch[offset : offset + 25]
        world.chain.send(distributor.functions.claimMany(*claim_many_args(chunk)), relayer)
    token = world.system.token.functions
    balances = {t.account: int(token.balanceOf(t.account).call()) for t in batch}
    for owner in world.inputs.fleet.owners:
        balances.setdefault(owner.address, int(token.balanceOf(owner.address).call()))
    return Outcome(_ledger_epochs(world), balances, int(token.totalSupply().call()))


def run_ledger(inputs: CrossCheckInputs, workdir: Path) -> Outcome:
    """The scenario through the whole product: ingest, consent, tasks, settlement, chain, claims."""
    engine = make_engine(f"sqlite:///{workdir / 'crosscheck-ledger.db'}")
    try:
        migrate(engine)
        world = _build_world(inputs, session_factory(engine))
        spoof_day = inputs.spoof[1]
        for epoch in range(inputs.days):
            _live_epoch(world, epoch)
            world.chain.travel_to(
                max(world.chain.now() + 1, world.params.epoch_end(epoch) + GRACE_SECONDS + 1)
            )
            world.settler.run()
            if epoch == spoof_day + HOLD_EPOCHS:
                _deny_holds(world)  # now inside the next epoch: its inputs see the hold reviewed
        world.chain.advance(CHALLENGE_WINDOW + 1)
        world.settler.run()
        return _claim_all(world)
    finally:
        engine.dispose()


# --- the comparison -------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class CrossCheckReport:
    inputs: CrossCheckInputs
    ledger: Outcome
    simulation: Outcome
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def to_json(self) -> dict[str, object]:
        accounts = sorted(set(self.ledger.balances) | set(self.simulation.balances))
        return {
            "passed": self.passed,
            "cars": len(self.inputs.fleet.cars),
            "owners": len(self.inputs.fleet.owners),
            "days": self.inputs.days,
            "seed": self.inputs.seed,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "accounts": {
                account: {
                    "ledger": str(self.ledger.balances.get(account, 0)),
                    "simulation": str(self.simulation.balances.get(account, 0)),
                }
                for account in accounts
            },
        }


def _first_difference(left: dict[str, int], right: dict[str, int]) -> str:
    for account in sorted(set(left) | set(right)):
        if left.get(account, 0) != right.get(account, 0):
            return f"{account}: ledger {left.get(account, 0)} vs simulation {right.get(account, 0)}"
    return "equal"


def _model_checks(inputs: CrossCheckInputs, ledger: Outcome) -> list[Check]:
    """The vectorised model's exact functions on the same inputs, against the ledger's figures."""
    checks = []
    carry_driving = carry_cocreation = 0
    for epoch, real in enumerate(ledger.epochs):
        fixed = epoch_inputs(inputs, epoch)
        day = driving_day(epoch, carry_driving, sum(car.weight for car in fixed.cars))
        ok = (day.allocated, day.carry_out) == (real.driving_allocated, real.driving_carry_out)
        checks.append(
            Check(
                f"epoch {epoch}: model driving budget and carry",
                ok,
                f"model {day.allocated} + carry {day.carry_out}; "
                f"ledger {real.driving_allocated} + carry {real.driving_carry_out}",
            )
        )
        points = np.array([p.points for p in fixed.points], dtype=np.int64)
        limbs = Limbs(points.size)
        split = split_cocreation_into(epoch, points, carry_cocreation, limbs)
        model = {p.account: limbs.exact(i) for i, p in enumerate(fixed.points) if limbs.exact(i)}
        ok = model == real.cocreation and (split.allocated, split.carry_out) == (
            real.cocreation_allocated,
            real.cocreation_carry_out,
        )
        checks.append(
            Check(
                f"epoch {epoch}: model co-creation split per account",
                ok,
                _first_difference(real.cocreation, model),
            )
        )
        carry_driving, carry_cocreation = day.carry_out, split.carry_out
    return checks


def compare(inputs: CrossCheckInputs, ledger: Outcome, simulation: Outcome) -> list[Check]:
    checks = []
    for epoch, (real, sim) in enumerate(zip(ledger.epochs, simulation.epochs, strict=True)):
        for pool, left, right in (
            ("driving", real.driving, sim.driving),
            ("co-creation", real.cocreation, sim.cocreation),
        ):
            checks.append(
                Check(f"epoch {epoch}: {pool} per account", left == right, _first_difference(left, right))
            )
        carries = (real.driving_carry_out, real.cocreation_carry_out)
        checks.append(
            Check(
                f"epoch {epoch}: carries",
                carries == (sim.driving_carry_out, sim.cocreation_carry_out),
                f"ledger {carries}, simulation {(sim.driving_carry_out, sim.cocreation_carry_out)}",
            )
        )
    checks.append(
        Check(
            "claimed on chain = simulated, per account",
            ledger.balances == {a: simulation.balances.get(a, 0) for a in ledger.balances}
            and set(simulation.balances) <= set(ledger.balances),
            _first_difference(ledger.balances, simulation.balances),
        )
    )
    checks.append(
        Check(
            "total supply = simulated total",
            ledger.total_supply == simulation.total_supply,
            f"ledger {ledger.total_supply}, simulation {simulation.total_supply}",
        )
    )
    checks.extend(_model_checks(inputs, ledger))
    return checks


def run_crosscheck(
    cars: int = 20, owners: int = 12, days: int = 3, seed: int = 7, workdir: Path | None = None
) -> CrossCheckReport:
    inputs = crosscheck_inputs(cars, owners, days, seed)
    simulation = simulate_exact(inputs)
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="yuanshi-crosscheck-") as folder:
            ledger = run_ledger(inputs, Path(folder))
    else:
        ledger = run_ledger(inputs, workdir)
    return CrossCheckReport(inputs, ledger, simulation, compare(inputs, ledger, simulation))
