"""Statistics of a run: fleet curve, inequality, cohorts, realised-against-expected dispersion, valuation.

Pure functions of arrays, so each can be checked on small hand-computed cases. These are statistics
(float64); the amounts compared with the schedule live in :mod:`simulations.budget`, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from simulations.scenario import DAYS_PER_YEAR

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def fleet_curve(final_cars: int, midpoint_years: float, steepness: float, days: int) -> IntArray:
    """Cars registered by the end of each day: the logistic S-curve, floored (so non-decreasing)."""
    t = (np.arange(days, dtype=np.float64) + 1.0) / DAYS_PER_YEAR
    cars = np.floor(final_cars / (1.0 + np.exp(-steepness * (t - midpoint_years))))
    return cars.astype(np.int64)


def join_days(fleet: IntArray) -> IntArray:
    """Owner ``i`` (in order of joining) joins on the first day whose fleet exceeds ``i``."""
    owners = int(fleet[-1]) if fleet.size else 0
    days: IntArray = np.searchsorted(fleet, np.arange(owners, dtype=np.int64), side="right").astype(np.int64)
    return days


def cohort_of(join_day: IntArray) -> IntArray:
    """Join-year cohort: 0 for owners who joined in the first 365.25 days, 1 for the next year, ..."""
    cohort: IntArray = np.floor(join_day / DAYS_PER_YEAR).astype(np.int64)
    return cohort


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative amounts: 0 when all are equal, (n-1)/n when one holds all.

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the amounts sorted ascending, ``i`` from 1."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n = x.size
    total = float(x.sum())
    if n == 0 or total <= 0.0:
        return 0.0
    rank = np.arange(1, n + 1, dtype=np.float64)
    return float(np.dot(2.0 * rank - n - 1.0, x) / (n * total))


def lorenz(values: npt.ArrayLike, points: int = 201) -> tuple[FloatArray, FloatArray]:
    """The Lorenz curve at ``points`` population shares: (share of owners, share of stones they hold)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    population = np.linspace(0.0, 1.0, points)
    if x.size == 0 or x.sum() <= 0:
        return population, population.copy()
    cumulative = np.concatenate(([0.0], np.cumsum(x) / x.sum()))
    held: FloatArray = np.interp(population * x.size, np.arange(x.size + 1, dtype=np.float64), cumulative)
    return population, held


@dataclass(frozen=True)
class Dispersion:
    """How far owners' realised drops stray from their pro-rata expectation over a window: quantiles of
    realised / expected among owners with a positive expectation."""

    window_days: int
    owners: int
    p5: float
    p50: float
    p95: float
    mean: float
    zero_share: float
    ratios: FloatArray = field(repr=False, compare=False)

    def to_json(self) -> dict[str, float | int]:
        return {
            "window_days": self.window_days,
            "owners": self.owners,
            "p5": self.p5,
            "p50": self.p50,
            "p95": self.p95,
            "mean": self.mean,
            "zero_share": self.zero_share,
        }


def dispersion(window_days: int, realised: npt.ArrayLike, expected: npt.ArrayLike) -> Dispersion | None:
    got = np.asarray(realised, dtype=np.float64)
    want = np.asarray(expected, dtype=np.float64)
    keep = want > 0
    if not keep.any():
        return None
    ratio = got[keep] / want[keep]
    p5, p50, p95 = (float(v) for v in np.quantile(ratio, [0.05, 0.5, 0.95]))
    return Dispersion(
        window_days, int(ratio.size), p5, p50, p95, float(ratio.mean()), float(np.mean(ratio == 0)), ratio
    )


@dataclass(frozen=True)
class Cohort:
    """Owners who joined in year ``year``: their driving stones against the kilometres that earned them."""

    year: int
    owners: int
    drivers: int
    km: float
    driving_stones: float
    cocreation_stones: float

    @property
    def stones_per_1000_km(self) -> float:
        return self.driving_stones / self.km * 1000.0 if self.km > 0 else math.nan

    @property
    def stones_per_owner(self) -> float:
        return (self.driving_stones + self.cocreation_stones) / self.owners if self.owners else math.nan


def cohorts(
    owner_cohort: IntArray,
    driver_cohort: IntArray,
    driver_stones: FloatArray,
    participant_cohort: IntArray,
    participant_stones: FloatArray,
    km_by_cohort: FloatArray,
) -> list[Cohort]:
    """Totals per join-year cohort (every cohort from 0 to the latest, empty ones included);
    ``km_by_cohort[y]`` is the valid km the drivers of cohort ``y`` drove."""
    years = int(owner_cohort.max()) + 1 if owner_cohort.size else 0
    owners = np.bincount(owner_cohort, minlength=years)
    drivers = np.bincount(driver_cohort, minlength=years)
    km = np.zeros(years, dtype=np.float64)
    km[: min(years, km_by_cohort.size)] = km_by_cohort[:years]
    driving = np.bincount(driver_cohort, weights=driver_stones, minlength=years)
    cocreation = np.bincount(participant_cohort, weights=participant_stones, minlength=years)
    return [
        Cohort(year, int(owners[year]), int(drivers[year]), float(km[year]), float(driving[year]), float(cc))
        for year, cc in enumerate(cocreation[:years])
    ]


def early_adopter_ratio(table: list[Cohort]) -> float | None:
    """First-year cohort's driving stones per km divided by all later cohorts' together; None when either
    side drove nothing (a horizon under a year, say)."""
    if not table:
        return None
    first = table[0]
    later_km = sum(c.km for c in table[1:])
    later_stones = sum(c.driving_stones for c in table[1:])
    if first.km <= 0 or later_km <= 0 or later_stones <= 0:
        return None
    return (first.driving_stones / first.km) / (later_stones / later_km)


def valuation_at(valuation_by_year: list[float], day: npt.ArrayLike) -> FloatArray:
    """Company valuation on ``day``: linear between the values given for the start of each year, the last
    one held afterwards."""
    years = np.asarray(day, dtype=np.float64) / DAYS_PER_YEAR
    points = np.arange(len(valuation_by_year), dtype=np.float64)
    values: FloatArray = np.interp(years, points, np.asarray(valuation_by_year, dtype=np.float64))
    return values
