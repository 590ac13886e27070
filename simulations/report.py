"""A run's outputs: headline figures (JSON), CSV files and a self-contained HTML report with plots."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# Figure objects without pyplot: no global state, no backend to choose, no GUI toolkit imported; savefig
# renders through Agg.
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ledger.schedule import UNIT
from simulations.model import SimulationResult
from simulations.oracle import oracle_series
from simulations.scenario import DAYS_PER_YEAR
from simulations.stats import lorenz


def _number(value: float | None) -> float | None:
    """JSON has no NaN: a figure that does not exist (no later cohort, say) is null."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return value


def _mean_over(values: npt.NDArray[np.float64], start: int, stop: int) -> float | None:
    window = values[max(start, 0) : stop]
    window = window[~np.isnan(window)]
    return float(window.mean()) if window.size else None


def headline(result: SimulationResult) -> dict[str, Any]:
    """The figures ``--json`` prints; amounts are integer strings in base units, statistics floats."""
    daily = result.daily.columns
    days = result.days
    fraud = result.fraud
    return {
        "scenario": result.scenario.name,
        "seed": result.scenario.seed,
        "days": days,
        "horizon_years": result.scenario.horizon_years,
        "cars": int(result.daily.counts["cars"][-1]),
        "owners": result.owners,
        "consenting_owners": result.drivers,
        "task_participants": result.participants,
        "emitted_driving": str(result.emitted_driving),
        "emitted_cocreation": str(result.emitted_cocreation),
        "schedule_driving": str(result.schedule_driving),
        "schedule_cocreation": str(result.schedule_cocreation),
        "carry_driving": str(result.carry_driving),
        "carry_cocreation": str(result.carry_cocreation),
        "within_schedule": result.emitted_driving <= result.schedule_driving
        and result.emitted_cocreation <= result.schedule_cocreation,
        "early_adopter_ratio": _number(result.early_adopter_ratio),
        "gini": result.gini,
        "gini_first_cohort": result.gini_first_cohort,
        "stones_per_1000km_first_30_days": _number(_mean_over(daily["stones_per_1000km"], 0, 30)),
        "stones_per_1000km_last_30_days": _number(_mean_over(daily["stones_per_1000km"], days - 30, days)),
        "cohorts": [
            {
                "year": c.year,
                "owners": c.owners,
                "consenting": c.drivers,
                "km": c.km,
                "driving_stones": c.driving_stones,
                "cocreation_stones": c.cocreation_stones,
                "stones_per_1000_km": _number(c.stones_per_1000_km),
                "stones_per_owner": _number(c.stones_per_owner),
            }
            for c in result.cohorts
        ],
        "dispersion": {str(d.window_days): d.to_json() for d in result.dispersion},
        "valuation_rmb": float(daily["valuation_rmb"][-1]),
        "equity_value_rmb": result.scenario.valuation.equity_share * float(daily["valuation_rmb"][-1]),
        "equity_value_per_stone_rmb": _number(float(daily["equity_value_per_stone_rmb"][-1])),
        "fraud": {
            "plausibility_checks": result.scenario.fraud.plausibility_checks,
            "spoofing_cars": fraud.spoofers,
            "spoof_share_checks_on": fraud.spoof_share_checks_on,
            "spoof_share_checks_off": fraud.spoof_share_checks_off,
            "farmers_per_participant": fraud.farmers_per_participant,
            "farm_points_per_day_checks_on": fraud.farm_points_checks_on,
            "farm_points_per_day_checks_off": fraud.farm_points_checks_off,
            "farm_share_checks_on": fraud.farm_share_checks_on,
            "farm_share_checks_off": fraud.farm_share_checks_off,
            "farmers_paid": str(fraud.farmers_paid),
        },
        "oracle": result.oracle.to_json(),
    }


# --- CSV ------------------------------------------------------------------------------------------


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(f"{prefix}.{index}", item)
    else:
        yield prefix, value


def write_csvs(result: SimulationResult, summary: Mapping[str, Any], out: Path) -> list[Path]:
    daily, counts, exact = result.daily.columns, result.daily.counts, result.daily.exact
    paths = [out / "daily.csv", out / "cohorts.csv", out / "summary.csv"]
    with paths[0].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["day", *exact, *counts, *daily])
        for day in range(result.days):
            writer.writerow(
                [
                    day,
                    *(values[day] for values in exact.values()),
                    *(int(values[day]) for values in counts.values()),
                    *(repr(float(values[day])) for values in daily.values()),
                ]
            )
    with paths[1].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["join_year", "owners", "consenting", "valid_km", "driving_stones", "cocreation_stones",
             "driving_stones_per_1000_km", "stones_per_owner"]
        )  # fmt: skip
        for c in result.cohorts:
            writer.writerow(
                [c.year, c.owners, c.drivers, repr(c.km), repr(c.driving_stones), repr(c.cocreation_stones),
                 repr(c.stones_per_1000_km), repr(c.stones_per_owner)]
            )  # fmt: skip
    with paths[2].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["figure", "value"])
        for key, value in _flatten("", summary):
            writer.writerow([key, value])
    return paths


# --- plots ----------------------------------------------------------------------------------------


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _axes(width: float = 8, height: float = 4) -> tuple[Figure, Axes]:
    figure = Figure(figsize=(width, height))
    return figure, figure.subplots()


def _years(days: int) -> npt.NDArray[np.float64]:
    return (np.arange(days, dtype=np.float64) + 1.0) / DAYS_PER_YEAR


def _rolling(values: npt.NDArray[np.float64], width: int) -> npt.NDArray[np.float64]:
    clean = np.nan_to_num(values, nan=0.0)
    present = (~np.isnan(values)).astype(np.float64)
    kernel = np.ones(width)
    counts = np.convolve(present, kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        smoothed: npt.NDArray[np.float64] = np.convolve(clean, kernel, mode="same") / counts
    return smoothed


Plot = tuple[str, str, str]  # title, caption, base64 PNG


def _plot_schedule(result: SimulationResult) -> Plot:
    exact = result.daily.exact
    years = _years(result.days)
    fig = Figure(figsize=(11, 4))
    left, right = fig.subplots(1, 2)
    for pool, colour in (("driving", "tab:blue"), ("cocreation", "tab:orange")):
        cumulative = np.array([v / UNIT for v in exact[f"{pool}_cumulative"]])
        schedule = np.array([v / UNIT for v in exact[f"{pool}_schedule"]])
        left.plot(years, schedule / 1e6, color=colour, linestyle="--", label=f"{pool}: available")
        left.plot(years, cumulative / 1e6, color=colour, alpha=0.6, linewidth=3, label=f"{pool}: emitted")
        gap = [s - c for s, c in zip(exact[f"{pool}_schedule"], exact[f"{pool}_cumulative"], strict=True)]
        right.plot(years, gap, color=colour, label=pool)
    left.set_ylabel("million stones")
    left.legend()
    right.set_yscale("symlog", linthresh=100)
    right.set_yticks([0, 1e2, 1e6, 1e12, 1e18, 1e24])
    right.set_ylabel("available - emitted (base units)")
    right.legend()
    for axis in (left, right):
        axis.set_xlabel("years since genesis")
        axis.grid(alpha=0.3)
    caption = (
        "Left: cumulative stones allocated per pool and ledger.schedule.available at each day's end. "
        "Right: the difference, in base units (10^-18 stone), never negative: it is the carry (a day with "
        "no eligible car, then floor dust under 100 base units per slot for driving and under the number "
        "of accounts with points for co-creation). The run checks emitted + carry = available every day, "
        "exactly."
    )
    return "Emitted against the schedule", caption, _png(fig)


def _plot_fleet(result: SimulationResult) -> Plot:
    counts = result.daily.counts
    years = _years(result.days)
    fig, ax = _axes(8, 4)
    ax.plot(years, counts["cars"], label="registered cars")
    ax.plot(years, counts["eligible"], label="eligible (consenting) cars")
    ax.plot(years, counts["participants"], label="task participants")
    ax.set_xlabel("years since genesis")
    ax.set_ylabel("owners")
    ax.legend()
    ax.grid(alpha=0.3)
    return "Fleet", "The S-curve of registered cars and those taking part.", _png(fig)


def _plot_yield(result: SimulationResult) -> Plot:
    per_km = result.daily.columns["stones_per_1000km"]
    years = _years(result.days)
    fig, ax = _axes(8, 4)
    ax.plot(years, per_km, alpha=0.3, label="daily")
    ax.plot(years, _rolling(per_km, 30), label="30-day mean")
    ax.set_yscale("log")
    ax.set_xlabel("years since genesis")
    ax.set_ylabel("driving stones per 1,000 valid km")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    caption = (
        "Driving stones allocated each day divided by the valid km driven that day by consenting cars. "
        "It falls as the fleet grows (the day's budget is fixed) and halves at each era boundary."
    )
    return "Stones per 1,000 km", caption, _png(fig)


def _plot_cohorts(result: SimulationResult) -> Plot:
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    labels = [f"year {c.year}" for c in result.cohorts]
    left.bar(labels, [c.stones_per_1000_km for c in result.cohorts], color="tab:blue")
    left.set_ylabel("driving stones per 1,000 km")
    right.bar(labels, [c.stones_per_owner for c in result.cohorts], color="tab:green")
    right.set_ylabel("stones per owner (both pools)")
    for axis in (left, right):
        axis.set_xlabel("join-year cohort")
        axis.grid(alpha=0.3, axis="y")
    ratio = result.early_adopter_ratio
    caption = (
        "Owners grouped by the year they joined. Early-adopter advantage (the first-year cohort's "
        f"stones per km over later cohorts'): {f'{ratio:.2f}' if ratio is not None else 'n/a'}."
    )
    return "Earnings by cohort", caption, _png(fig)


def _plot_lorenz(result: SimulationResult) -> Plot:
    fig, ax = _axes(5, 5)
    population, held = lorenz(result.owner_stones)
    ax.plot(population, held, label=f"owners (Gini {result.gini:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="equality")
    ax.set_xlabel("share of owners (poorest first)")
    ax.set_ylabel("share of stones held")
    ax.legend()
    ax.grid(alpha=0.3)
    caption = (
        "Lorenz curve of the stones held at the horizon by owners taking part (consenting or doing "
        "tasks). Much of the inequality is tenure: owners who joined late have had little time to earn; "
        f"within the first-year cohort alone the Gini is {result.gini_first_cohort:.3f}."
    )
    return "Inequality among owners", caption, _png(fig)


def _plot_luck(result: SimulationResult) -> Plot:
    fig, ax = _axes(8, 4)
    top = max(float(np.quantile(spread.ratios, 0.999)) for spread in result.dispersion)
    bins = [float(edge) for edge in np.linspace(0.0, max(2.0, top), 121)]
    for spread in result.dispersion:
        quantiles = f"p5 {spread.p5:.3f}, p50 {spread.p50:.3f}, p95 {spread.p95:.3f}"
        ax.hist(
            spread.ratios, bins=bins, density=True, alpha=0.5, label=f"{spread.window_days} days: {quantiles}"
        )
    ax.axvline(1.0, color="grey", linestyle="--")
    ax.set_xlabel("realised / expected driving stones over the window (the horizon's last days)")
    ax.set_ylabel("density")
    ax.legend()
    ax.grid(alpha=0.3)
    caption = (
        "For a random sample of consenting owners eligible throughout the window, the stones their drops "
        "paid divided by what a pro-rata split of the same budgets by the same weights would have paid."
    )
    return "Luck: realised drops against pro-rata expectation", caption, _png(fig)


def _plot_equity(result: SimulationResult) -> Plot:
    fig, ax = _axes(8, 4)
    ax.plot(_years(result.days), result.daily.columns["equity_value_per_stone_rmb"])
    ax.set_yscale("log")
    ax.set_xlabel("years since genesis")
    ax.set_ylabel("RMB per stone")
    ax.grid(alpha=0.3, which="both")
    caption = (
        f"{result.scenario.valuation.equity_share:.1%} of the company valuation path divided by the "
        "stones outstanding (everything emitted; no redemptions or burns assumed)."
    )
    return "Equity value per stone", caption, _png(fig)


def _plot_fraud(result: SimulationResult) -> Plot:
    daily = result.daily.columns
    years = _years(result.days)
    fig, ax = _axes(8, 4)
    ax.plot(years, _rolling(daily["spoof_share_checks_off"], 30), label="fake mileage, checks off")
    ax.plot(years, _rolling(daily["spoof_share_checks_on"], 30), label="fake mileage, checks on")
    ax.plot(years, _rolling(daily["farm_share_checks_off"], 30), label="scripted tasks, caps off")
    ax.plot(years, _rolling(daily["farm_share_checks_on"], 30), label="scripted tasks, caps on")
    ax.set_xlabel("years since genesis")
    ax.set_ylabel("share of the pool's stones (30-day mean)")
    ax.legend()
    ax.grid(alpha=0.3)
    caption = (
        "Expected share of each day's driving stones won through fake kilometres, and of co-creation "
        "stones taken by scripted accounts, with the ledger's checks on and off."
    )
    return "Farming and spoofing", caption, _png(fig)


def _plot_oracle(result: SimulationResult) -> Plot:
    exact = result.daily.exact
    fig, ax = _axes(8, 4)
    posted = [d + c for d, c in zip(exact["driving_cumulative"], exact["cocreation_cumulative"], strict=True)]
    interval = result.scenario.oracle.claim_interval_days
    lines = [(f"owners claim every {interval} days (scenario)", exact["oracle_at_risk"])]
    for other in (0, 30):
        if other != interval:
            label = "owners claim as soon as they can" if other == 0 else f"owners claim every {other} days"
            lines.append((label, oracle_series(posted, other)))
    lines.append(("nobody has claimed", oracle_series(posted, result.days)))
    years = _years(result.days)
    for label, series in lines:
        ax.plot(years, np.array([v / UNIT for v in series]), label=label)
    day = (result.oracle.day + 1) / DAYS_PER_YEAR
    ax.axvline(day, color="tab:red", linestyle="--", label="compromise day")
    ax.set_yscale("log")
    ax.set_xlabel("years since genesis (day the key is stolen)")
    ax.set_ylabel("stones")
    ax.legend()
    ax.grid(alpha=0.3, which="both")
    caption = (
        "The most claims could mint against a forged root once its challenge window closes without a "
        "veto: available at the forged epoch's end (both pools) minus what owners had claimed by then. "
        "Claiming often shrinks it to the headroom (a day's emission plus carries); with a veto inside "
        "the window nothing is minted at all."
    )
    return "What a stolen oracle key could misdirect", caption, _png(fig)


def _plots(result: SimulationResult) -> list[Plot]:
    plots = [_plot_schedule, _plot_fleet, _plot_yield, _plot_cohorts, _plot_lorenz]
    if result.dispersion:
        plots.append(_plot_luck)
    plots += [_plot_equity, _plot_fraud, _plot_oracle]
    return [plot(result) for plot in plots]


# --- HTML -----------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; }
table { border-collapse: collapse; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
td { font-variant-numeric: tabular-nums; }
th { background: #f3f3f3; }
figure { margin: 2rem 0; }
figcaption { color: #555; max-width: 50rem; }
code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _rows(pairs: list[tuple[str, Any]]) -> str:
    return "\n".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>" for key, value in pairs
    )


def _stones(amount: int) -> str:
    whole, frac = divmod(amount, UNIT)
    return f"{whole:,}" + (f".{frac:018d}".rstrip("0") if frac else "") + " stones"


def write_html(result: SimulationResult, summary: Mapping[str, Any], path: Path) -> None:
    scenario = result.scenario
    oracle = result.oracle
    exact_rows = [
        ("driving emitted", _stones(result.emitted_driving)),
        ("driving available (schedule)", _stones(result.schedule_driving)),
        ("driving carried", _stones(result.carry_driving)),
        ("co-creation emitted", _stones(result.emitted_cocreation)),
        ("co-creation available (schedule)", _stones(result.schedule_cocreation)),
        ("co-creation carried", _stones(result.carry_cocreation)),
        ("oracle: at risk when the window closes", _stones(oracle.at_risk)),
        ("oracle: of which never posted (headroom)", _stones(oracle.headroom)),
        ("oracle: of which posted but unclaimed", _stones(oracle.unclaimed)),
        ("oracle: each further day without a veto", _stones(oracle.per_extra_day)),
        ("oracle: misdirected in this scenario", _stones(oracle.misdirected)),
    ]
    stat_rows = [(key, value) for key, value in _flatten("", summary) if not key.startswith("cohorts.")]
    figures = "\n".join(
        f'<figure><h3>{html.escape(title)}</h3><img alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{png}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        for title, caption, png in _plots(result)
    )
    document = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Yuanshi simulation: {html.escape(scenario.name)}</title>
<style>{_STYLE}</style></head><body>
<h1>Yuanshi simulation: {html.escape(scenario.name)}</h1>
<p>{html.escape(scenario.description)}</p>
<p>{result.days:,} daily epochs, seed {scenario.seed}. Amounts compared with the schedule are exact integers
(base units, 18 decimals) from <code>ledger.schedule</code> and the ledger's slot step; everything else is a
statistic of a random run. See <code>docs/simulations.md</code>.</p>
<h2>Against the schedule (exact)</h2>
<table>{_rows(exact_rows)}</table>
<h2>Figures</h2>
{figures}
<h2>Headline figures</h2>
<table>{_rows(stat_rows)}</table>
<h2>Scenario parameters</h2>
<table>{_rows(list(_flatten("", scenario.to_json())))}</table>
</body></html>
"""
    path.write_text(document, encoding="utf-8")


def write_outputs(result: SimulationResult, out: Path) -> dict[str, Any]:
    """Writes ``daily.csv``, ``cohorts.csv``, ``summary.csv``, ``scenario.json`` and ``report.html``
    into ``out``; returns the headline figures."""
    out.mkdir(parents=True, exist_ok=True)
    summary = headline(result)
    write_csvs(result, summary, out)
    (out / "scenario.json").write_text(
        json.dumps(result.scenario.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    write_html(result, summary, out / "report.html")
    return summary
