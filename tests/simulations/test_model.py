"""The vectorised model: exact against the schedule across an era boundary, deterministic, sensible."""

from __future__ import annotations

import numpy as np
import pytest

from ledger.schedule import SLOTS_PER_EPOCH, SLOTS_PER_ERA, UNIT, Pool, available
from simulations.model import SimulationResult, day_factor_table, simulate
from simulations.report import headline
from tests.simulations.conftest import small

ERA_DAYS = SLOTS_PER_ERA // SLOTS_PER_EPOCH


@pytest.fixture(scope="module")
def across_the_halving() -> SimulationResult:
    # 1,465 days: the halving falls after day 1,460. A fleet of a few dozen keeps it quick.
    return simulate(small(cars=60, years=1465 / 365.25, fleet={"final_cars": 60, "midpoint_years": 0.1}))


def test_emitted_totals_are_the_schedule_to_the_base_unit_across_an_era_boundary(
    across_the_halving: SimulationResult,
) -> None:
    result = across_the_halving
    days = result.days
    assert days == ERA_DAYS + 4
    for pool, emitted, carry, schedule in (
        (Pool.DRIVING, result.emitted_driving, result.carry_driving, result.schedule_driving),
        (Pool.COCREATION, result.emitted_cocreation, result.carry_cocreation, result.schedule_cocreation),
    ):
        assert schedule == available(pool, days * SLOTS_PER_EPOCH)
        assert emitted + carry == schedule
        assert 0 <= carry < 10**6  # floor dust only, once cars are eligible
    exact = result.daily.exact
    for day in (0, 1, ERA_DAYS - 1, ERA_DAYS, days - 1):
        for pool, name in ((Pool.DRIVING, "driving"), (Pool.COCREATION, "cocreation")):
            end = available(pool, (day + 1) * SLOTS_PER_EPOCH)
            assert exact[f"{name}_schedule"][day] == end
            assert exact[f"{name}_cumulative"][day] <= end
            assert exact[f"{name}_cumulative"][day] + exact[f"{name}_carry"][day] == end
            assert exact[f"{name}_emission"][day] == end - available(pool, day * SLOTS_PER_EPOCH)
    assert (
        exact["driving_cumulative"][ERA_DAYS - 1] + exact["driving_carry"][ERA_DAYS - 1] == 105_000_000 * UNIT
    )
    # Era 1 pays half as much a day.
    assert exact["driving_emission"][ERA_DAYS] * 2 == pytest.approx(
        exact["driving_emission"][ERA_DAYS - 1], abs=300
    )


def test_day_zero_has_no_eligible_car_and_carries_its_budget(across_the_halving: SimulationResult) -> None:
    exact = across_the_halving.daily.exact
    assert exact["driving_allocated"][0] == 0
    assert exact["driving_carry"][0] == available(Pool.DRIVING, SLOTS_PER_EPOCH)
    assert exact["driving_allocated"][1] > exact["driving_emission"][1]  # day 1 pays the carry out


def test_same_seed_same_run_other_seed_other_run() -> None:
    first, again, other = (simulate(small(seed=s)) for s in (11, 11, 12))
    assert headline(first) == headline(again)
    assert first.daily.exact == again.daily.exact
    assert np.array_equal(first.owner_stones, again.owner_stones)
    assert not np.array_equal(first.owner_stones, other.owner_stones)
    # The exact totals do not depend on luck once cars are eligible every day.
    assert first.emitted_driving + first.carry_driving == other.emitted_driving + other.carry_driving


def test_plausibility_checks_cut_what_fake_mileage_and_scripts_capture() -> None:
    fraud = {
        "plausibility_checks": True,
        "spoofing_share": 0.1,
        "spoofed_km_per_day": 300.0,
        "spoof_detection_rate": 0.95,
        "hold_days": 1,
        "farming_share": 0.2,
        "farmed_points_per_day": 5000,
    }
    on = simulate(small(cars=2000, fraud=fraud)).fraud
    off = simulate(small(cars=2000, fraud={**fraud, "plausibility_checks": False})).fraud
    for figures in (on, off):  # both modes are reported whichever the run applies
        assert figures.spoof_share_checks_on < figures.spoof_share_checks_off / 10
        assert figures.farm_share_checks_on < figures.farm_share_checks_off
        assert figures.farm_points_checks_on == 175  # the self-service tasks' daily caps
    assert on.farmers_paid < off.farmers_paid


def test_no_cheats_capture_nothing() -> None:
    fraud = {
        "plausibility_checks": True,
        "spoofing_share": 0.0,
        "spoofed_km_per_day": 300.0,
        "spoof_detection_rate": 0.95,
        "hold_days": 1,
        "farming_share": 0.0,
        "farmed_points_per_day": 5000,
    }
    figures = simulate(small(fraud=fraud)).fraud
    assert figures.spoof_share_checks_off == figures.farm_share_checks_off == 0.0
    assert figures.farmers_paid == 0


def test_early_owners_earn_more_per_km_and_luck_evens_out_over_a_year() -> None:
    result = simulate(small(cars=3000, years=2.0))
    assert result.early_adopter_ratio is not None
    assert result.early_adopter_ratio > 1.5
    month, year = result.dispersion
    assert (month.window_days, year.window_days) == (30, 365)
    assert month.p5 < year.p5 < 1.0 < year.p95 < month.p95
    assert year.p50 == pytest.approx(1.0, abs=0.02)
    assert 0.0 < result.gini < 1.0


def test_day_factors_average_one_with_the_idle_share() -> None:
    table = day_factor_table(0.5, 0.15)
    assert table.size == 256
    assert float(table.mean()) == pytest.approx(1.0, rel=1e-6)
    assert float(np.mean(table == 0)) == pytest.approx(0.15, abs=1 / 256)
