"""Scenario files: every bundled one validates; bad ones fail with the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.scenario import SCENARIO_DIR, ScenarioError, available_scenarios, load_scenario

BUNDLED = {"default", "slow_adoption", "fast_adoption", "heavy_drivers", "task_farming", "compromised_oracle"}


def test_the_six_bundled_scenarios_load() -> None:
    assert set(available_scenarios()) >= BUNDLED
    for name in BUNDLED:
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.days == 1461
        assert scenario.valuation.equity_share == 0.049


def test_overrides_go_through_the_same_validation() -> None:
    scenario = load_scenario("default", {"fleet": {"final_cars": 123}, "horizon_years": 0.5, "seed": 9})
    assert (scenario.fleet.final_cars, scenario.days, scenario.seed) == (123, 183, 9)
    assert scenario.fleet.consent_share == 0.85  # untouched keys stay
    with pytest.raises(ScenarioError, match=r"fleet\.final_cars: Input should be greater than 0 \(got 0\)"):
        load_scenario("default", {"fleet": {"final_cars": 0}})


def test_an_unknown_scenario_lists_the_bundled_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'; bundled scenarios: .*default"):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario("/no/such/file.toml")


def _write(tmp_path: Path, old: str, new: str) -> Path:
    text = (SCENARIO_DIR / "default.toml").read_text()
    assert old in text
    path = tmp_path / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "consent_share = 0.85",
            "consent_share = 1.5",
            r"fleet\.consent_share: Input should be less than or equal to 1",
        ),
        ("final_cars = 1_000_000", "final_cars = -5", r"fleet\.final_cars: .*greater than 0 \(got -5\)"),
        (
            "median_km_per_day = 35.0",
            'median_km_per_day = "35"',
            r"mileage\.median_km_per_day: .*valid number",
        ),
        (
            "points_per_active_day = 30",
            "points_per_active_day = 2.5",
            r"tasks\.points_per_active_day: .*integer",
        ),
        ("guardian_vetoes = true", "guardian_vetoes = 1", r"oracle\.guardian_vetoes: .*boolean"),
        ("hold_days = 1", "hold_days = 1\nholdays = 2", r"fraud\.holdays: Extra inputs are not permitted"),
        ("[oracle]", "[oracl]", r"oracle: Field required"),
        (
            "valuation_rmb_by_year = [10e9,",
            "valuation_rmb_by_year = [-1.0,",
            r"valuation\.valuation_rmb_by_year: .*item 0",
        ),
        ('name = "default"', 'name = "Bad Name"', r"name: must be 1-64 characters"),
        ("horizon_years = 4.0", "horizon_years = 0.001", r"shorter than one daily epoch"),
        ("seed = 20260501", "seed = = 1", r"not valid TOML"),
    ],
)
def test_invalid_values_name_the_key_and_the_reason(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(str(_write(tmp_path, old, new)))
