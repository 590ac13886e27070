"""What ``yuanshi simulate`` does; the Typer command in ``yuanshi/cli.py`` only parses options and calls
:func:`run_simulate` or :func:`run_cross_check`, which print and return the process's exit code."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ledger.schedule import UNIT
from simulations.scenario import Scenario, ScenarioError, available_scenarios, load_scenario

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_BAD_INPUT: Final = 2


def _stones(amount: int) -> str:
    whole, frac = divmod(amount, UNIT)
    return f"{whole:,}" + (f".{frac:018d}".rstrip("0") if frac else "")


def _error(err: Console, message: str) -> None:
    # Escaped (a path may hold brackets) and unwrapped, so that paths and keys stay whole in a log.
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def _overrides(cars: int | None, years: float | None, seed: int | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if cars is not None:
        overrides["fleet"] = {"final_cars": cars}
    if years is not None:
        overrides["horizon_years"] = years
    if seed is not None:
        overrides["seed"] = seed
    return overrides


def _simulate_with_progress(scenario: Scenario, err: Console) -> Any:
    from simulations.model import simulate

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("days"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task(f"simulating {scenario.name}", total=scenario.days)
        return simulate(scenario, lambda _day: progress.advance(task))


def run_simulate(
    scenario_name: str | None,
    out: Path | None,
    as_json: bool,
    cars: int | None,
    years: float | None,
    seed: int | None,
    console: Console,
    err: Console,
) -> int:
    if scenario_name is None:
        _error(err, "name a scenario (" + ", ".join(available_scenarios()) + ") or pass --cross-check")
        return EXIT_BAD_INPUT
    try:
        scenario = load_scenario(scenario_name, _overrides(cars, years, seed))
    except ScenarioError as exc:
        _error(err, str(exc))
        return EXIT_BAD_INPUT

    from simulations.report import write_outputs

    started = time.perf_counter()
    result = _simulate_with_progress(scenario, err)
    folder = out if out is not None else Path(f"simulation-{scenario.name}")
    try:
        summary = write_outputs(result, folder)
    except OSError as exc:
        _error(err, f"cannot write the outputs to {folder}: {exc}")
        return EXIT_BAD_INPUT
    summary["output"] = str(folder)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    if as_json:
        print(json.dumps(summary))  # plain, one line: for machines, whatever the terminal
        return EXIT_OK

    table = Table(
        title=f"{scenario.name}: {result.days:,} days, {summary['cars']:,} cars, seed {scenario.seed}"
    )
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row(
        "driving emitted / available (stones)",
        f"{_stones(result.emitted_driving)} / {_stones(result.schedule_driving)}",
    )
    table.add_row(
        "co-creation emitted / available (stones)",
        f"{_stones(result.emitted_cocreation)} / {_stones(result.schedule_cocreation)}",
    )
    ratio = summary["early_adopter_ratio"]
    table.add_row("early-adopter ratio (stones per km, year 1 / later)", f"{ratio:.3f}" if ratio else "n/a")
    table.add_row("Gini among owners (first cohort)", f"{result.gini:.3f} ({result.gini_first_cohort:.3f})")
    for spread in result.dispersion:
        table.add_row(
            f"realised / expected over {spread.window_days} days (p5 / p50 / p95)",
            f"{spread.p5:.3f} / {spread.p50:.3f} / {spread.p95:.3f}",
        )
    per_stone = summary["equity_value_per_stone_rmb"]
    table.add_row("equity value per stone at the horizon (RMB)", f"{per_stone:,.2f}" if per_stone else "n/a")
    fraud = result.fraud
    table.add_row(
        "driving stones to fake km, checks on / off",
        f"{fraud.spoof_share_checks_on:.2%} / {fraud.spoof_share_checks_off:.2%}",
    )
    table.add_row(
        "co-creation stones to scripts, caps on / off",
        f"{fraud.farm_share_checks_on:.2%} / {fraud.farm_share_checks_off:.2%}",
    )
    table.add_row(
        f"stolen oracle key on day {result.oracle.day}: at risk (stones)", _stones(result.oracle.at_risk)
    )
    table.add_row("… misdirected in this scenario (stones)", _stones(result.oracle.misdirected))
    console.print(table)
    console.print(f"report: {folder / 'report.html'} (CSV files beside it); {summary['seconds']} s")
    return EXIT_OK


def run_cross_check(cars: int | None, seed: int | None, as_json: bool, console: Console, err: Console) -> int:
    from simulations.crosscheck import CrossCheckError, run_crosscheck

    count = cars if cars is not None else 20
    if count < 2:
        _error(err, "--cars must be at least 2 for the cross-check")
        return EXIT_BAD_INPUT
    if not as_json:
        console.print(
            f"[bold]Cross-check: {count} cars, 3 epochs, on the embedded chain and in the simulation…[/bold]"
        )
    try:
        report = run_crosscheck(
            cars=count, owners=max(2, min(count, count * 3 // 5)), seed=seed if seed is not None else 7
        )
    except CrossCheckError as exc:
        err.print(
            f"[bold red]FAIL[/bold red]: the real run went off script: {escape(str(exc))}", soft_wrap=True
        )
        return EXIT_FAILED
    if as_json:
        print(json.dumps(report.to_json()))
        return EXIT_OK if report.passed else EXIT_FAILED
    checks = Table(title="Ledger on chain vs simulation (ledger.drops), same inputs and secrets")
    checks.add_column("check")
    checks.add_column("result")
    checks.add_column("detail")
    for check in report.checks:
        checks.add_row(check.name, "[green]ok[/green]" if check.ok else "[red]differs[/red]", check.detail)
    console.print(checks)
    accounts = Table(title="Stones per account (base units)")
    accounts.add_column("account")
    accounts.add_column("claimed on chain", justify="right")
    accounts.add_column("simulation", justify="right")
    for account in sorted(set(report.ledger.balances) | set(report.simulation.balances)):
        accounts.add_row(
            account,
            str(report.ledger.balances.get(account, 0)),
            str(report.simulation.balances.get(account, 0)),
        )
    console.print(accounts)
    console.print("[bold green]PASS[/bold green]" if report.passed else "[bold red]FAIL[/bold red]")
    return EXIT_OK if report.passed else EXIT_FAILED
