"""Statistics on small cases worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ledger.schedule import SLOTS_PER_EPOCH, Pool, available
from simulations.oracle import claimed_before, oracle_exposure, oracle_series
from simulations.stats import (
    cohort_of,
    cohorts,
    dispersion,
    early_adopter_ratio,
    fleet_curve,
    gini,
    join_days,
    lorenz,
    valuation_at,
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([5, 5, 5, 5], 0.0),
        ([0, 0, 0, 1], 0.75),  # one of four holds everything: (n - 1) / n
        ([1, 2, 3, 4], 0.25),  # mean absolute difference 20/16 over twice the mean 5
        ([3, 1, 4, 2], 0.25),  # order does not matter
        ([0, 0], 0.0),  # nobody holds anything: no inequality to speak of
        ([], 0.0),
    ],
)
def test_gini_by_hand(values: list[float], expected: float) -> None:
    assert gini(values) == pytest.approx(expected)


def test_lorenz_of_one_holder_of_four() -> None:
    population, held = lorenz([0, 0, 0, 8], points=5)
    assert list(population) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert list(held) == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_cohorts_and_the_early_adopter_ratio_by_hand() -> None:
    # Owners 0-2 joined in year 0 (owner 2 without consent), 3 in year 1, 4 in year 2.
    owner_cohort = cohort_of(np.array([0, 100, 365, 366, 800]))
    assert list(owner_cohort) == [0, 0, 0, 1, 2]
    drivers = np.array([0, 1, 3, 4])
    participants = np.array([1, 2])
    table = cohorts(
        owner_cohort,
        owner_cohort[drivers],
        np.array([40.0, 60.0, 20.0, 10.0]),  # driving stones per driver
        owner_cohort[participants],
        np.array([5.0, 7.0]),  # co-creation stones per participant
        np.array([400.0, 200.0, 300.0]),  # km per cohort
    )
    assert [(c.year, c.owners, c.drivers) for c in table] == [(0, 3, 2), (1, 1, 1), (2, 1, 1)]
    assert table[0].stones_per_1000_km == pytest.approx(250.0)  # 100 stones over 400 km
    assert table[1].stones_per_1000_km == pytest.approx(100.0)
    assert table[0].stones_per_owner == pytest.approx((100 + 12) / 3)
    # Later cohorts together: 30 stones over 500 km = 0.06 a km, against 0.25: 4.1666...
    assert early_adopter_ratio(table) == pytest.approx(0.25 / 0.06)


def test_no_later_cohort_means_no_ratio() -> None:
    table = cohorts(
        np.array([0, 0]), np.array([0]), np.array([1.0]), np.array([0]), np.array([1.0]), np.array([5.0])
    )
    assert early_adopter_ratio(table) is None
    assert early_adopter_ratio([]) is None


def test_dispersion_quantiles_by_hand() -> None:
    realised = np.arange(0.0, 101.0)  # ratios 0.00, 0.01, ..., 1.00 against an expectation of 100
    figures = dispersion(30, realised, np.full(101, 100.0))
    assert figures is not None
    assert (figures.owners, figures.p5, figures.p50, figures.p95) == (101, 0.05, 0.5, 0.95)
    assert figures.zero_share == pytest.approx(1 / 101)
    assert dispersion(30, [1.0], [0.0]) is None  # nobody had an expectation


def test_fleet_curve_and_join_days() -> None:
    fleet = fleet_curve(1000, midpoint_years=0.0, steepness=1e6, days=3)  # everyone at once
    assert list(fleet) == [1000, 1000, 1000]
    growing = np.array([2, 2, 5])
    assert list(join_days(growing)) == [0, 0, 2, 2, 2]
    curve = fleet_curve(10_000, 1.0, 3.0, 1461)
    assert np.all(np.diff(curve) >= 0)
    assert curve[-1] < 10_000
    assert abs(int(curve[364]) - 5_000) < 20  # half the fleet at the midpoint


def test_valuation_is_linear_between_year_starts_then_held() -> None:
    path = [10e9, 12e9, 18e9]
    values = valuation_at(path, [0, 365.25 / 2, 365.25, 365.25 * 1.5, 365.25 * 2, 365.25 * 9])
    assert list(values) == [10e9, 11e9, 12e9, 15e9, 18e9, 18e9]


def test_oracle_bound_by_hand() -> None:
    posted = [100, 250, 400, 550, 700]
    # A forged epoch 4, owners claiming every 2 days: they have at worst collected epoch 4 - 2 - 1 = 1.
    assert claimed_before(posted, 4, 2) == 250
    assert claimed_before(posted, 4, 0) == 550  # claiming at once collects everything before the forgery
    assert claimed_before(posted, 2, 5) == 0
    exposure = oracle_exposure(posted, 4, 86_400, 2, vetoes=True)
    cap = available(Pool.DRIVING, 5 * SLOTS_PER_EPOCH) + available(Pool.COCREATION, 5 * SLOTS_PER_EPOCH)
    assert exposure.cap == cap
    assert exposure.at_risk == cap - 250 == exposure.headroom + exposure.unclaimed
    assert exposure.headroom == cap - 550
    assert exposure.unclaimed == 550 - 250
    assert exposure.misdirected == 0
    assert oracle_exposure(posted, 4, 86_400, 2, vetoes=False).misdirected == cap - 250
    assert oracle_series(posted, 2)[4] == exposure.at_risk
    later = available(Pool.DRIVING, 6 * SLOTS_PER_EPOCH) + available(Pool.COCREATION, 6 * SLOTS_PER_EPOCH)
    assert exposure.per_extra_day == later - cap
    assert math.isclose(exposure.per_extra_day, cap / 5, rel_tol=1e-9)  # one day's emission in era 0
