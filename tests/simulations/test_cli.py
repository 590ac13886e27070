"""``yuanshi simulate`` as a user meets it: a real process, files written, clear errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner, Result

from ledger.schedule import SLOTS_PER_EPOCH, Pool, available
from yuanshi.cli import app


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yuanshi.cli", "simulate", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_json_headline_and_output_folder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run("default", "--cars", "500", "--years", "0.3", "--seed", "3", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    for key in ("emitted_driving", "emitted_cocreation", "schedule_driving", "schedule_cocreation"):
        assert isinstance(summary[key], str)
        assert summary[key].isdigit()
    assert isinstance(summary["early_adopter_ratio"], float | None)
    assert isinstance(summary["gini"], float)
    days = summary["days"]
    assert days == 110
    assert summary["seed"] == 3
    assert int(summary["schedule_driving"]) == available(Pool.DRIVING, days * SLOTS_PER_EPOCH)
    assert int(summary["schedule_cocreation"]) == available(Pool.COCREATION, days * SLOTS_PER_EPOCH)
    assert int(summary["emitted_driving"]) + int(summary["carry_driving"]) == int(summary["schedule_driving"])
    assert summary["within_schedule"] is True

    assert sorted(p.name for p in out.iterdir()) == [
        "cohorts.csv",
        "daily.csv",
        "report.html",
        "scenario.json",
        "summary.csv",
    ]
    with (out / "daily.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == days
    assert int(rows[-1]["driving_cumulative"]) == int(summary["emitted_driving"])
    assert int(rows[-1]["driving_schedule"]) == int(summary["schedule_driving"])
    report = (out / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 8
    assert "consent_share" in report
    assert "valuation_rmb_by_year" in report
    assert json.loads((out / "scenario.json").read_text())["fleet"]["final_cars"] == 500


def test_bad_input_exits_2_with_a_reason_and_no_traceback(tmp_path: Path) -> None:
    # In process (the happy path above runs a real process): four interpreter start-ups saved.
    runner = CliRunner()

    def simulate(*args: str) -> Result:
        return runner.invoke(app, ["simulate", *args])

    unknown = simulate("no_such_plan", "--out", str(tmp_path / "x"))
    assert unknown.exit_code == 2
    assert "unknown scenario 'no_such_plan'; bundled scenarios: compromised_oracle, default" in unknown.stderr

    broken = tmp_path / "broken.toml"
    broken.write_text('name = "broken"\nseed = [\n')
    bad_toml = simulate(str(broken))
    assert bad_toml.exit_code == 2
    assert f"scenario {broken} is not valid TOML" in bad_toml.stderr

    negative = simulate("default", "--cars", "-3", "--out", str(tmp_path / "y"))
    assert negative.exit_code == 2
    assert "fleet.final_cars: Input should be greater than 0 (got -3)" in negative.stderr

    nothing = simulate()
    assert nothing.exit_code == 2
    assert "--cross-check" in nothing.stderr

    for result in (unknown, bad_toml, negative, nothing):
        assert isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "y").exists()


def test_cross_check_prints_pass() -> None:
    result = CliRunner().invoke(app, ["simulate", "--cross-check", "--cars", "8"])
    assert result.exit_code == 0, result.output
    assert "PASS" in result.stdout
    assert "differs" not in result.stdout


def test_the_benchmark_prints_seconds_and_peak_memory() -> None:
    from bench.simulate import app as bench

    result = CliRunner().invoke(bench, ["--cars", "300", "--years", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for key in ("simulate_wall_s", "simulate_cpu_s", "peak_rss_mib", "load_average_before"):
        assert key in figures
    assert figures["days"] == 37
    assert int(figures["emitted_driving"]) <= int(figures["schedule_driving"])
