"""Small scenarios: the bundled default plan, shrunk by overrides so every test runs in seconds."""

from __future__ import annotations

from typing import Any

from simulations.scenario import Scenario, load_scenario


def small(
    cars: int = 400, years: float = 0.25, seed: int | None = None, **sections: dict[str, Any]
) -> Scenario:
    overrides: dict[str, Any] = {"fleet": {"final_cars": cars}, "horizon_years": years, **sections}
    if seed is not None:
        overrides["seed"] = seed
    return load_scenario("default", overrides)
