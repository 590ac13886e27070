"""Time and memory of ``yuanshi simulate`` at scale (issue 5, "Scale": 1,000,000 cars over 4 years of daily
steps in under 60 s and under 4 GiB on the 2-core machine).

Run ``python -m bench.simulate`` (the default scenario with 1,000,000 final cars over 4 years), with
``--full-fleet`` for the worst case (every one of the cars registered and consenting from day 0, so every
daily step works on the whole fleet), ``--report`` to also write the CSV files and the HTML report, and
``--json`` for one JSON object. One configuration per process, so peak memory is that configuration's.

It prints wall and CPU seconds (``time.perf_counter``, ``time.process_time``) of the model run and of the
outputs, the process's peak RSS (``ru_maxrss``, imports included) and the load average before and after:
on a shared machine the CPU figure is the one to compare between runs.
"""

from __future__ import annotations

import json
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from simulations.model import simulate
from simulations.report import write_outputs
from simulations.scenario import load_scenario

app = typer.Typer(add_completion=False)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


@app.command()
def main(
    scenario: Annotated[str, typer.Option(help="Bundled scenario or TOML file.")] = "default",
    cars: Annotated[int, typer.Option(min=1, help="Final fleet size.")] = 1_000_000,
    years: Annotated[float, typer.Option(help="Horizon in years.")] = 4.0,
    full_fleet: Annotated[
        bool, typer.Option("--full-fleet", help="Worst case: all cars registered and consenting on day 0.")
    ] = False,
    report: Annotated[bool, typer.Option("--report", help="Also write the CSVs and report.html.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    overrides: dict[str, Any] = {"fleet": {"final_cars": cars}, "horizon_years": years}
    if full_fleet:
        # A midpoint far before genesis and a steep curve: the S-curve is flat at its final size from day 0.
        overrides["fleet"].update(midpoint_years=0.0, steepness_per_year=100.0, consent_share=1.0)
    configuration = load_scenario(scenario, overrides)
    load_before = _load()
    wall, cpu = time.perf_counter(), time.process_time()
    result = simulate(configuration)
    run_wall, run_cpu = time.perf_counter() - wall, time.process_time() - cpu
    figures: dict[str, Any] = {
        "scenario": configuration.name,
        "cars": int(result.daily.counts["cars"][-1]),
        "eligible_cars_last_day": int(result.daily.counts["eligible"][-1]),
        "mean_eligible_cars": round(float(result.daily.counts["eligible"].mean())),
        "days": result.days,
        "full_fleet": full_fleet,
        "simulate_wall_s": round(run_wall, 2),
        "simulate_cpu_s": round(run_cpu, 2),
        "emitted_driving": str(result.emitted_driving),
        "schedule_driving": str(result.schedule_driving),
    }
    if report:
        with tempfile.TemporaryDirectory(prefix="yuanshi-bench-") as folder:
            wall, cpu = time.perf_counter(), time.process_time()
            write_outputs(result, Path(folder))
            figures["report_wall_s"] = round(time.perf_counter() - wall, 2)
            figures["report_cpu_s"] = round(time.process_time() - cpu, 2)
    figures["peak_rss_mib"] = round(_peak_rss_mib(), 1)
    figures["load_average_before"] = load_before
    figures["load_average_after"] = _load()
    figures["cpus"] = os.cpu_count()
    if as_json:
        typer.echo(json.dumps(figures))
        return
    width = max(map(len, figures))
    for key, value in figures.items():
        typer.echo(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    app()
