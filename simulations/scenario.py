"""Scenarios: TOML files under ``simulations/scenarios/``, validated by the pydantic schema below.

A scenario names every assumption the simulation makes, so two auditors who disagree about a result can
point at the parameter they disagree about. Validation is strict (TOML types as written, no unknown keys),
and every failure is reported as ``section.key: what is wrong (got value)`` through
:class:`ScenarioError`, never a traceback.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledger.errors import YuanshiError

SCENARIO_DIR: Final = Path(__file__).resolve().parent / "scenarios"
DAYS_PER_YEAR: Final = 365.25
_NAME_RE: Final = re.compile(r"[a-z0-9_-]{1,64}")


class ScenarioError(YuanshiError):
    """A scenario that cannot be found, parsed or validated; the message says which key and why."""


class _Section(BaseModel):
    # Strict: a TOML string "5" where a number belongs is a typo to report, not to coerce.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class FleetParams(_Section):
    """Fleet growth as a logistic S-curve: ``cars(t) = final_cars / (1 + exp(-steepness * (t - midpoint)))``
    with ``t`` in years since genesis; owners decide on data-rights consent when they join."""

    final_cars: int = Field(gt=0, le=20_000_000)
    midpoint_years: float = Field(ge=0, le=50)
    steepness_per_year: float = Field(gt=0, le=100)
    consent_share: float = Field(ge=0, le=1)


class MileageParams(_Section):
    """Daily distance: each car's typical day is lognormal across the fleet (median, sigma), and each day
    varies around it (a lognormal factor of mean 1, with some idle days)."""

    median_km_per_day: float = Field(gt=0, le=1_000)
    sigma_between_cars: float = Field(ge=0, le=3)
    sigma_day_to_day: float = Field(ge=0, le=3)
    idle_day_share: float = Field(ge=0, lt=1)


class TaskParams(_Section):
    """Co-creation: a share of owners does tasks; each is active on a share of days, earning fixed points."""

    participation_share: float = Field(ge=0, le=1)
    active_day_share: float = Field(ge=0, le=1)
    points_per_active_day: int = Field(ge=1, le=100_000)


class ValuationParams(_Section):
    """The backing equity: ``equity_share`` of the company; its valuation at the start of each year
    (linear in between, the last value held)."""

    equity_share: float = Field(gt=0, le=1)
    registered_capital_rmb: float = Field(gt=0)
    valuation_rmb_by_year: list[float] = Field(min_length=1, max_length=100)

    @field_validator("valuation_rmb_by_year")
    @classmethod
    def _positive(cls, values: list[float]) -> list[float]:
        for index, value in enumerate(values):
            if not value > 0 or math.isinf(value):
                raise ValueError(f"every valuation must be a positive finite number; item {index} is {value}")
        return values


class FraudParams(_Section):
    """Fake mileage (spoofing) and scripted task accounts (farming), with the ledger's checks on or off."""

    plausibility_checks: bool
    spoofing_share: float = Field(ge=0, le=1)
    spoofed_km_per_day: float = Field(ge=0, le=6_000)
    spoof_detection_rate: float = Field(ge=0, le=1)
    hold_days: int = Field(ge=0, le=365)
    farming_share: float = Field(ge=0, le=10)
    farmed_points_per_day: int = Field(ge=0, le=100_000)


class OracleParams(_Section):
    """A stolen oracle key: when, how long the challenge window is, how often owners claim, and whether
    the guardian vetoes the forged root in time."""

    compromise_day: int = Field(ge=0)
    challenge_window_hours: float = Field(ge=0, le=24 * 30)
    claim_interval_days: int = Field(ge=0, le=3_650)
    guardian_vetoes: bool


class Scenario(_Section):
    """One scenario file, validated; :meth:`days` is the horizon in daily epochs."""

    name: str
    description: str
    seed: int = Field(ge=0, lt=2**63)
    horizon_years: float = Field(gt=0, le=40)
    fleet: FleetParams
    mileage: MileageParams
    tasks: TaskParams
    valuation: ValuationParams
    fraud: FraudParams
    oracle: OracleParams

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.fullmatch(value):
            raise ValueError("must be 1-64 characters of a-z, 0-9, '_' or '-'")
        return value

    @model_validator(mode="after")
    def _at_least_a_day(self) -> Scenario:
        if self.days < 1:
            raise ValueError(f"horizon_years {self.horizon_years} is shorter than one daily epoch")
        return self

    @property
    def days(self) -> int:
        return round(self.horizon_years * DAYS_PER_YEAR)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def available_scenarios() -> list[str]:
    return sorted(path.stem for path in SCENARIO_DIR.glob("*.toml"))


def scenario_path(name_or_path: str) -> Path:
    """A bundled scenario by name (``default``) or any TOML file by path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise ScenarioError(f"scenario file {name_or_path} does not exist")
        return path
    path = SCENARIO_DIR / f"{name_or_path}.toml"
    if not _NAME_RE.fullmatch(name_or_path) or not path.is_file():
        known = ", ".join(available_scenarios())
        raise ScenarioError(f"unknown scenario {name_or_path!r}; bundled scenarios: {known}")
    return path


def _format_errors(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        shown = "" if item["type"] == "missing" else f" (got {item['input']!r})"
        lines.append(f"  {where}: {message}{shown}")
    return f"scenario {source} is invalid:\n" + "\n".join(lines)


def _merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_scenario(data: Mapping[str, Any], source: str = "<data>") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(source, exc)) from None


def load_scenario(name_or_path: str, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Reads, merges ``overrides`` (nested like the TOML, e.g. ``{"fleet": {"final_cars": 1000}}``) and
    validates; overrides go through the same validation as the file."""
    path = scenario_path(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {path} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"scenario {path} cannot be read: {exc}") from None
    return parse_scenario(_merge(data, overrides or {}), str(path))
