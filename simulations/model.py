"""The vectorised simulation: one NumPy step per daily epoch over the scenario's horizon.

What is exact and what is statistical:

* **Exact (integers, base units).** Each day's driving budget, per-slot share and carry come from the
  ledger's own slot step (:func:`simulations.budget.driving_day` over ``ledger.schedule``); the
  co-creation budget from ``ledger.schedule.available`` and its pro-rata floors in integer arithmetic
  (:func:`simulations.budget.split_cocreation_uniform`). Every share drawn is credited to a car exactly, in
  two int64 limbs. The run checks every day that each pool's cumulative total plus its carry equals
  ``available`` at the day's end (so the total never exceeds it), and at the end that the per-car amounts
  add up to the emitted totals, to the base unit.
* **Statistical.** Mileage, consent, tasks and fraud are random (from the scenario's seed). Each share is
  drawn as the ledger draws it, ``r`` uniform in ``[0, W)`` and the first car with cumulative weight above
  ``r``, except that ``r`` comes from NumPy's PCG64 rather than ``keccak256(seed, slot, j)``: the day's
  14,400 shares form a multinomial sample by weight, which is what the exact draw is for anyone who cannot
  predict keccak. The cross-check (:mod:`simulations.crosscheck`) runs the exact draw on the same inputs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from ledger.drops import WEIGHT_CAP_METRES
from ledger.schedule import SLOT_SECONDS, SLOTS_PER_EPOCH, UNIT, Pool
from ledger.settlement import WINDOW_SECONDS
from ledger.tasks import DEFAULT_CATALOGUE
from ledger.telemetry import MAX_SPEED_KMH
from simulations.budget import Int64Array, Limbs, driving_day, schedule_at_day_end, split_cocreation_uniform
from simulations.oracle import OracleExposure, oracle_exposure, oracle_series
from simulations.scenario import Scenario
from simulations.stats import (
    Cohort,
    Dispersion,
    cohort_of,
    cohorts,
    dispersion,
    early_adopter_ratio,
    fleet_curve,
    gini,
    join_days,
    valuation_at,
)

EPOCH_SECONDS: Final = SLOTS_PER_EPOCH * SLOT_SECONDS
WINDOW_DAYS: Final = WINDOW_SECONDS // EPOCH_SECONDS
# A car cannot cover more in a day than the plausibility speed limit allows around the clock.
MAX_DAY_METRES: Final = MAX_SPEED_KMH * 24 * 1000
FACTOR_LEVELS: Final = 256
# Day factors come from one pre-drawn pool: day d reads the slice starting at its own random offset, so
# car i gets pool[offset_d + i]. Offsets are distinct, so one car's days are distinct pool entries (iid);
# two cars share an entry only on two different days at offsets differing by exactly their distance,
# which ties a negligible fraction of car pairs by one day in thirty. It replaces a random draw and a
# gather per car and day with a slice.
FACTOR_POOL_OFFSETS: Final = 1 << 22
DISPERSION_SAMPLE: Final = 20_000
DISPERSION_WINDOWS: Final = (30, 365)
# Tasks a script can complete on its own (no on-site check-in, no operator adopting anything): with caps
# and unique evidence on, a scripted account earns at most these tasks' daily caps.
SELF_SERVICE_TASKS: Final = ("daily_checkin", "community_post", "community_comment", "survey")
SELF_SERVICE_DAILY_POINTS: Final = sum(
    spec.points * spec.daily_cap for spec in DEFAULT_CATALOGUE if spec.task_id in SELF_SERVICE_TASKS
)

assert WINDOW_SECONDS % EPOCH_SECONDS == 0, "the weight window must be whole epochs for daily steps"

Progress = Callable[[int], None]


class SimulationInvariantError(AssertionError):
    """An exact figure broke the schedule: a bug, never a statistical outcome."""


def day_factor_table(sigma: float, idle_share: float, levels: int = FACTOR_LEVELS) -> npt.NDArray[np.float32]:
    """A car's distance on one day relative to its average: ``levels`` equiprobable quantiles of "idle
    with probability ``idle_share``, else lognormal(sigma)", scaled to mean exactly 1.

    The factor pool is drawn from this table by one random byte per entry: far cheaper than a normal
    variate and an exponential, and 256 quantiles reproduce the distribution far closer than a month's
    sum of days can tell."""
    normal = statistics.NormalDist()
    values = []
    for level in range(levels):
        u = (level + 0.5) / levels
        values.append(
            0.0 if u < idle_share else math.exp(sigma * normal.inv_cdf((u - idle_share) / (1 - idle_share)))
        )
    table = np.asarray(values, dtype=np.float64)
    if table.sum() > 0:
        table *= levels / table.sum()
    return table.astype(np.float32)


@dataclass
class Daily:
    """Per-day series: ``exact`` amounts in base units (``*_emission``, ``*_allocated``, ``*_carry``,
    ``*_cumulative``, ``*_schedule``, ``oracle_at_risk``) as Python ints, ``counts`` of cars and accounts,
    and ``columns`` of statistics."""

    days: int
    exact: dict[str, list[int]] = field(default_factory=dict)
    counts: dict[str, npt.NDArray[np.int64]] = field(default_factory=dict)
    columns: dict[str, npt.NDArray[np.float64]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("cars", "drivers", "eligible", "participants", "farmers", "total_weight"):
            self.counts[name] = np.zeros(self.days, dtype=np.int64)
        for name in (
            "valid_km",
            "stones_per_1000km",
            "spoof_share_checks_on",
            "spoof_share_checks_off",
            "farm_share_checks_on",
            "farm_share_checks_off",
            "valuation_rmb",
            "equity_value_per_stone_rmb",
        ):
            self.columns[name] = np.zeros(self.days, dtype=np.float64)
        for pool in ("driving", "cocreation"):
            for kind in ("emission", "allocated", "carry", "cumulative", "schedule"):
                self.exact[f"{pool}_{kind}"] = []


@dataclass
class FraudFigures:
    """Shares of each pool captured by fake mileage (spoofing) and scripted accounts (farming), expected
    from the weights and points of every day, with the checks on and off; and what the run paid them."""

    spoofers: int
    farmers_per_participant: float
    farm_points_checks_on: int
    farm_points_checks_off: int
    spoof_share_checks_on: float
    spoof_share_checks_off: float
    farm_share_checks_on: float
    farm_share_checks_off: float
    farmers_paid: int  # exact base units, in the run's own mode


@dataclass
class SimulationResult:
    scenario: Scenario
    days: int
    owners: int
    drivers: int
    participants: int
    daily: Daily
    emitted_driving: int
    emitted_cocreation: int
    carry_driving: int
    carry_cocreation: int
    schedule_driving: int
    schedule_cocreation: int
    cohorts: list[Cohort]
    early_adopter_ratio: float | None
    gini: float
    gini_first_cohort: float
    owner_stones: npt.NDArray[np.float64]
    dispersion: list[Dispersion]
    fraud: FraudFigures
    oracle: OracleExposure


class _Run:
    """The state of one run; :meth:`step` advances one daily epoch."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.days = scenario.days
        self.rng = np.random.default_rng(scenario.seed)
        self._owners()
        self._cars()
        self._buffers()
        self._fraud()
        self.daily = Daily(self.days)
        self.carry_driving = 0
        self.carry_cocreation = 0
        self.total_driving = 0
        self.total_cocreation = 0
        self.farmers_paid = 0
        self.captured = {"spoof_on": 0.0, "spoof_off": 0.0, "farm_on": 0.0, "farm_off": 0.0}
        # Per dispersion window: eligible drivers at its start, the sample's exact limbs and expectation then.
        self.snapshots: dict[int, tuple[int, Int64Array, Int64Array, npt.NDArray[np.float64]]] = {}

    def _owners(self) -> None:
        fleet, rng = self.scenario.fleet, self.rng
        self.fleet = fleet_curve(fleet.final_cars, fleet.midpoint_years, fleet.steepness_per_year, self.days)
        self.owners = int(self.fleet[-1])
        self.join = join_days(self.fleet)
        self.consent = rng.random(self.owners) < fleet.consent_share
        self.participant = rng.random(self.owners) < self.scenario.tasks.participation_share
        # Owners are numbered in order of joining, so each day's registered drivers (participants) are a
        # prefix of these index arrays and every per-car array is sliced, never masked.
        self.drivers = np.flatnonzero(self.consent)
        self.participants = np.flatnonzero(self.participant)
        self.drivers_by_day = np.searchsorted(self.drivers, self.fleet, side="left")
        self.participants_by_day = np.searchsorted(self.participants, self.fleet, side="left")

    def _cars(self) -> None:
        mileage, rng, n_drivers = self.scenario.mileage, self.rng, self.drivers.size
        self.factors = day_factor_table(mileage.sigma_day_to_day, mileage.idle_day_share)
        pool_size = n_drivers + max(FACTOR_POOL_OFFSETS, self.days)
        self.factor_pool = np.take(self.factors, self._random_bytes(pool_size))
        self.factor_offsets = rng.choice(pool_size - n_drivers, size=self.days, replace=False)
        normal = rng.standard_normal(n_drivers)
        habit = mileage.median_km_per_day * 1000.0 * np.exp(mileage.sigma_between_cars * normal)
        # Capping the average rather than each day keeps a clamp out of the daily loop: no day of any car
        # can then exceed what the speed limit allows around the clock.
        self.habit = np.minimum(habit, MAX_DAY_METRES / float(self.factors.max())).astype(np.float32)
        driver_cohort = cohort_of(self.join[self.drivers])
        self.cohort_starts = np.searchsorted(driver_cohort, np.arange(int(driver_cohort.max(initial=0)) + 1))
        self.cohort_km = np.zeros(
            self.cohort_starts.size, dtype=np.int64
        )  # valid metres per join-year cohort
        self.spoofers = np.flatnonzero(rng.random(n_drivers) < self.scenario.fraud.spoofing_share)
        self.sample = np.sort(rng.choice(n_drivers, size=min(DISPERSION_SAMPLE, n_drivers), replace=False))
        self.expected_sample = np.zeros(self.sample.size, dtype=np.float64)

    def _buffers(self) -> None:
        n_drivers, n_participants = self.drivers.size, self.participants.size
        self.ring = np.zeros((WINDOW_DAYS, n_drivers), dtype=np.int32)
        self.window = np.zeros(n_drivers, dtype=np.int32)  # valid metres of the trailing 720 hours
        self.weights = np.zeros(n_drivers, dtype=np.int32)
        self.cumulative = np.zeros(n_drivers, dtype=np.int64)
        self.factor_buffer = np.zeros(n_drivers, dtype=np.float32)
        self.metres_buffer = np.zeros(n_drivers, dtype=np.int32)
        self.cocreation_scratch = np.zeros(n_participants, dtype=np.int64)
        self.driving = Limbs(n_drivers)
        self.cocreation = Limbs(n_participants)
        # A participant is active when a uniform 16-bit draw falls below this (probability to 1/65,536).
        self.active_threshold = np.uint32(round(self.scenario.tasks.active_day_share * 65_536))

    def _fraud(self) -> None:
        fraud, n_spoofers = self.scenario.fraud, self.spoofers.size
        # Per spoofer and day of the window: was a fake trip counted (checks off: always; on: if not caught).
        self.fake_off = np.zeros((WINDOW_DAYS, n_spoofers), dtype=np.uint8)
        self.fake_on = np.zeros((WINDOW_DAYS, n_spoofers), dtype=np.uint8)
        self.fake_days_off = np.zeros(n_spoofers, dtype=np.int64)
        self.fake_days_on = np.zeros(n_spoofers, dtype=np.int64)
        self.held_until = np.full(n_spoofers, -1, dtype=np.int64)
        self.fake_metres = round(fraud.spoofed_km_per_day * 1000)
        self.farm_points_on = min(fraud.farmed_points_per_day, SELF_SERVICE_DAILY_POINTS)
        self.farm_points_off = fraud.farmed_points_per_day

    def _random_bytes(self, n: int) -> npt.NDArray[np.uint8]:
        """``n`` uniform bytes straight from the bit generator: a third of the cost of ``integers``."""
        raw: npt.NDArray[np.uint64] = self.rng.bit_generator.random_raw(-(-n // 8))
        return raw.view(np.uint8)[:n]

    def _random_u16(self, n: int) -> npt.NDArray[np.uint16]:
        raw: npt.NDArray[np.uint64] = self.rng.bit_generator.random_raw(-(-n // 4))
        return raw.view(np.uint16)[:n]

    # ----- one day -----

    def step(self, day: int) -> None:
        registered = int(self.drivers_by_day[day])
        eligible = int(self.drivers_by_day[day - 1]) if day else 0  # registered before the epoch began
        for length in DISPERSION_WINDOWS:
            if day == self.days - length and day > 0:
                hi, lo = self.driving.hi[self.sample], self.driving.lo[self.sample]
                self.snapshots[length] = (eligible, hi, lo, self.expected_sample.copy())
        self._drive(day, registered)
        held = self._spoof(day, registered, eligible)
        total_weight, shares = self._weigh(day, eligible, held)
        self._draw(day, eligible, total_weight)
        self._cocreate(day)
        self._record(day, registered, eligible, total_weight, shares)
        if day % 365 == 364:
            self.driving.normalize()
            self.cocreation.normalize()

    def _drive(self, day: int, registered: int) -> None:
        if registered == 0:
            return
        # Preallocated buffers: a fresh 4 MB temporary a day costs its page faults every day.
        metres_f = self.factor_buffer[:registered]
        offset = int(self.factor_offsets[day])
        np.multiply(self.factor_pool[offset : offset + registered], self.habit[:registered], out=metres_f)
        metres = self.metres_buffer[:registered]
        np.copyto(metres, metres_f, casting="unsafe")  # truncation to whole metres
        slot = day % WINDOW_DAYS
        window = self.window[:registered]
        window += metres
        window -= self.ring[slot, :registered]
        self.ring[slot, :registered] = metres
        # Cohorts are contiguous runs of drivers, so one pass sums the day's metres per cohort.
        starts = self.cohort_starts[self.cohort_starts < registered]
        by_cohort = np.add.reduceat(metres, starts, dtype=np.int64)
        self.cohort_km[: starts.size] += by_cohort
        self.daily.columns["valid_km"][day] = float(by_cohort.sum()) / 1000.0

    def _spoof(self, day: int, registered: int, eligible: int) -> npt.NDArray[np.bool_]:
        """Fake trips of the day, counted per mode; returns which eligible spoofers are held today (a fake
        trip caught on an earlier day whose hold is still open at this epoch's end)."""
        active = int(np.searchsorted(self.spoofers, registered))
        slot = day % WINDOW_DAYS
        caught = self.rng.random(active) < self.scenario.fraud.spoof_detection_rate
        for ring, counts, today in (
            (self.fake_off, self.fake_days_off, np.ones(active, dtype=np.uint8)),
            (self.fake_on, self.fake_days_on, (~caught).astype(np.uint8)),
        ):
            counts[:active] += today
            counts[:active] -= ring[slot, :active]
            ring[slot, :active] = today
        spoofers_eligible = int(np.searchsorted(self.spoofers, eligible))
        held = self.held_until[:spoofers_eligible] >= day
        # Reports arrive after the epoch ends, so today's catch holds the car from the next epoch on.
        self.held_until[:active][caught] = day + self.scenario.fraud.hold_days
        return held

    def _weigh(self, day: int, eligible: int, held: npt.NDArray[np.bool_]) -> tuple[int, tuple[float, float]]:
        weights = self.weights[:eligible]
        np.minimum(self.window[:eligible], WEIGHT_CAP_METRES, out=weights)
        n = held.size
        index = self.spoofers[:n]
        honest = weights[index].astype(np.int64)
        real = self.window[index].astype(np.int64)
        w_off = np.minimum(real + self.fake_days_off[:n] * self.fake_metres, WEIGHT_CAP_METRES)
        w_on = np.where(
            held, 0, np.minimum(real + self.fake_days_on[:n] * self.fake_metres, WEIGHT_CAP_METRES)
        )
        run = w_on if self.scenario.fraud.plausibility_checks else w_off
        weights[index] = run
        if eligible:
            np.cumsum(weights, dtype=np.int64, out=self.cumulative[:eligible])
        total = int(self.cumulative[eligible - 1]) if eligible else 0
        base = total - int(run.sum())
        shares = []
        for mode in (w_on, w_off):
            mode_total = base + int(mode.sum())
            gained = int(np.maximum(mode - honest, 0).sum())
            shares.append(gained / mode_total if mode_total else 0.0)
        return total, (shares[0], shares[1])

    def _draw(self, day: int, eligible: int, total_weight: int) -> None:
        budget = driving_day(day, self.carry_driving, total_weight)
        if total_weight and any(budget.shares):
            r = self.rng.integers(0, total_weight, size=len(budget.shares) * budget.shares_per_drop)
            # Searching the keys in ascending order halves the cost (each search starts where the last
            # ended); the winners go back to their draw order, which decides the share each one is paid.
            order = np.argsort(r)
            winners = np.empty_like(order)
            winners[order] = np.searchsorted(self.cumulative[:eligible], r[order], side="right")
            self.driving.add_shares(winners, *budget.share_limbs())
            in_sample = int(np.searchsorted(self.sample, eligible))
            sampled = self.sample[:in_sample]
            self.expected_sample[:in_sample] += (
                budget.allocated / UNIT * self.weights[sampled].astype(np.float64) / total_weight
            )
        self.carry_driving = budget.carry_out
        self.total_driving += budget.allocated
        exact = self.daily.exact
        exact["driving_emission"].append(budget.emission)
        exact["driving_allocated"].append(budget.allocated)

    def _cocreate(self, day: int) -> None:
        tasks, fraud = self.scenario.tasks, self.scenario.fraud
        registered = int(self.participants_by_day[day])
        active = self._random_u16(registered) < self.active_threshold
        farmers = round(fraud.farming_share * registered)
        run_points = self.farm_points_on if fraud.plausibility_checks else self.farm_points_off
        split = split_cocreation_uniform(
            day,
            active,
            tasks.points_per_active_day,
            self.carry_cocreation,
            self.cocreation,
            self.cocreation_scratch,
            farmers,
            run_points,
        )
        self.carry_cocreation = split.carry_out
        self.total_cocreation += split.allocated
        self.farmers_paid += farmers * split.extra_each
        honest = split.total_points - farmers * run_points
        for mode, farm_points in (("on", self.farm_points_on), ("off", self.farm_points_off)):
            total = honest + farmers * farm_points
            share = farmers * farm_points / total if total else 0.0
            self.daily.columns[f"farm_share_checks_{mode}"][day] = share
            self.captured[f"farm_{mode}"] += share * split.allocated / UNIT
        self.daily.counts["participants"][day] = registered
        self.daily.counts["farmers"][day] = farmers
        exact = self.daily.exact
        exact["cocreation_emission"].append(split.emission)
        exact["cocreation_allocated"].append(split.allocated)

    def _record(
        self, day: int, registered: int, eligible: int, total_weight: int, shares: tuple[float, float]
    ) -> None:
        columns, exact = self.daily.columns, self.daily.exact
        schedule_driving = schedule_at_day_end(Pool.DRIVING, day)
        schedule_cocreation = schedule_at_day_end(Pool.COCREATION, day)
        # Nothing is lost or created: what was not allocated is carried, to the base unit.
        if self.total_driving + self.carry_driving != schedule_driving:
            raise SimulationInvariantError(f"day {day}: driving allocated + carry != available")
        if self.total_cocreation + self.carry_cocreation != schedule_cocreation:
            raise SimulationInvariantError(f"day {day}: co-creation allocated + carry != available")
        for pool, total, carry, schedule in (
            ("driving", self.total_driving, self.carry_driving, schedule_driving),
            ("cocreation", self.total_cocreation, self.carry_cocreation, schedule_cocreation),
        ):
            exact[f"{pool}_carry"].append(carry)
            exact[f"{pool}_cumulative"].append(total)
            exact[f"{pool}_schedule"].append(schedule)
        allocated = exact["driving_allocated"][-1]
        counts = self.daily.counts
        counts["cars"][day] = self.fleet[day]
        counts["drivers"][day] = registered
        counts["eligible"][day] = eligible
        counts["total_weight"][day] = total_weight
        km = columns["valid_km"][day]
        columns["stones_per_1000km"][day] = allocated / UNIT / km * 1000.0 if km > 0 else math.nan
        columns["spoof_share_checks_on"][day], columns["spoof_share_checks_off"][day] = shares
        self.captured["spoof_on"] += shares[0] * allocated / UNIT
        self.captured["spoof_off"] += shares[1] * allocated / UNIT
        valuation = float(valuation_at(self.scenario.valuation.valuation_rmb_by_year, day + 1))
        outstanding = (self.total_driving + self.total_cocreation) / UNIT
        columns["valuation_rmb"][day] = valuation
        columns["equity_value_per_stone_rmb"][day] = (
            self.scenario.valuation.equity_share * valuation / outstanding if outstanding > 0 else math.nan
        )

    def _realised_since(self, hi: Int64Array, lo: Int64Array) -> npt.NDArray[np.float64]:
        """The sample's driving stones since a snapshot of its limbs: differences taken in integers, so
        an owner who won nothing shows exactly 0 rather than float noise."""
        realised: npt.NDArray[np.float64] = (self.driving.hi[self.sample] - hi).astype(np.float64) * (
            2.0**32 / UNIT
        )
        realised += (self.driving.lo[self.sample] - lo).astype(np.float64) / UNIT
        return realised

    # ----- the end -----

    def finish(self) -> SimulationResult:
        if self.driving.total() != self.total_driving:
            raise SimulationInvariantError("per-car driving amounts do not add up to the emitted total")
        if self.cocreation.total() + self.farmers_paid != self.total_cocreation:
            raise SimulationInvariantError(
                "per-account co-creation amounts do not add up to the emitted total"
            )
        last = self.days - 1
        driver_stones = self.driving.as_stones(UNIT)
        participant_stones = self.cocreation.as_stones(UNIT)
        owner_stones = np.zeros(self.owners, dtype=np.float64)
        owner_stones[self.drivers] += driver_stones
        owner_stones[self.participants] += participant_stones
        owner_cohort = cohort_of(self.join)
        table = cohorts(
            owner_cohort,
            owner_cohort[self.drivers],
            driver_stones,
            owner_cohort[self.participants],
            participant_stones,
            self.cohort_km.astype(np.float64) / 1000.0,
        )
        # Owners who could earn (consent or tasks) and had at least one whole epoch registered.
        taking_part = (self.consent | self.participant) & (self.join < last)
        first_cohort = taking_part & (owner_cohort == 0)
        spread = []
        for length in DISPERSION_WINDOWS:
            if length not in self.snapshots:
                continue
            eligible, hi, lo, expected_then = self.snapshots[length]
            keep = self.sample < eligible
            figures = dispersion(
                length, self._realised_since(hi, lo)[keep], (self.expected_sample - expected_then)[keep]
            )
            if figures is not None:
                spread.append(figures)
        fraud = self.scenario.fraud
        allocated_driving = self.total_driving / UNIT
        allocated_cocreation = self.total_cocreation / UNIT
        exact = self.daily.exact
        posted = [
            d + c for d, c in zip(exact["driving_cumulative"], exact["cocreation_cumulative"], strict=True)
        ]
        oracle = self.scenario.oracle
        self.daily.exact["oracle_at_risk"] = oracle_series(posted, oracle.claim_interval_days)
        return SimulationResult(
            scenario=self.scenario,
            days=self.days,
            owners=self.owners,
            drivers=int(self.drivers.size),
            participants=int(self.participants.size),
            daily=self.daily,
            emitted_driving=self.total_driving,
            emitted_cocreation=self.total_cocreation,
            carry_driving=self.carry_driving,
            carry_cocreation=self.carry_cocreation,
            schedule_driving=schedule_at_day_end(Pool.DRIVING, last),
            schedule_cocreation=schedule_at_day_end(Pool.COCREATION, last),
            cohorts=table,
            early_adopter_ratio=early_adopter_ratio(table),
            gini=gini(owner_stones[taking_part]),
            gini_first_cohort=gini(owner_stones[first_cohort]),
            owner_stones=owner_stones[taking_part],
            dispersion=spread,
            fraud=FraudFigures(
                spoofers=int(self.spoofers.size),
                farmers_per_participant=fraud.farming_share,
                farm_points_checks_on=self.farm_points_on,
                farm_points_checks_off=self.farm_points_off,
                spoof_share_checks_on=self.captured["spoof_on"] / allocated_driving
                if allocated_driving
                else 0.0,
                spoof_share_checks_off=self.captured["spoof_off"] / allocated_driving
                if allocated_driving
                else 0.0,
                farm_share_checks_on=self.captured["farm_on"] / allocated_cocreation
                if allocated_cocreation
                else 0.0,
                farm_share_checks_off=(
                    self.captured["farm_off"] / allocated_cocreation if allocated_cocreation else 0.0
                ),
                farmers_paid=self.farmers_paid,
            ),
            oracle=oracle_exposure(
                posted,
                min(oracle.compromise_day, last),
                round(oracle.challenge_window_hours * 3600),
                oracle.claim_interval_days,
                oracle.guardian_vetoes,
            ),
        )


def simulate(scenario: Scenario, progress: Progress | None = None) -> SimulationResult:
    """Runs ``scenario`` day by day; ``progress(day)`` is called after each day (for a progress bar)."""
    run = _Run(scenario)
    for day in range(run.days):
        run.step(day)
        if progress is not None:
            progress(day)
    return run.finish()
