"""The real ledger on the embedded chain and the simulation pay the same stones for the same inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations import crosscheck
from simulations.crosscheck import CrossCheckReport, compare, run_crosscheck, simulate_exact


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> CrossCheckReport:
    return run_crosscheck(cars=20, owners=12, days=3, seed=7, workdir=tmp_path_factory.mktemp("crosscheck"))


def test_ledger_and_simulation_pay_the_same_stones_per_account(report: CrossCheckReport) -> None:
    assert report.passed, [c for c in report.checks if not c.ok]
    assert report.ledger.balances == report.simulation.balances
    assert report.ledger.total_supply == sum(report.ledger.balances.values()) > 0
    # Every kind of check ran, for every epoch.
    names = [c.name for c in report.checks]
    for epoch in range(3):
        assert f"epoch {epoch}: driving per account" in names
        assert f"epoch {epoch}: model co-creation split per account" in names
        assert f"epoch {epoch}: model driving budget and carry" in names


def test_the_scenario_exercises_consent_holds_and_shared_owners(report: CrossCheckReport) -> None:
    inputs = report.inputs
    spoofer, day = inputs.spoof
    owner = inputs.fleet.cars[spoofer].owner.address
    assert report.simulation.epochs[day].driving.get(owner, 0) >= 0
    refuser = inputs.fleet.owners[-1].address
    assert not inputs.consenting[-1]
    # The owner without consent earns no driving stones, yet earns co-creation stones for tasks done.
    assert all(refuser not in epoch.driving for epoch in report.ledger.epochs)
    assert any(refuser in epoch.cocreation for epoch in report.ledger.epochs)
    assert len(inputs.fleet.owners) < len(inputs.fleet.cars)


def test_a_simulation_that_ignored_the_hold_would_fail(
    report: CrossCheckReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crosscheck, "_held", lambda _inputs, _car, _epoch: False)
    wrong = simulate_exact(report.inputs)
    checks = {c.name: c.ok for c in compare(report.inputs, report.ledger, wrong)}
    assert not checks["epoch 1: driving per account"]
    assert not checks["claimed on chain = simulated, per account"]
    assert checks["epoch 0: driving per account"]  # the hold starts the epoch after the impossible trip


def test_a_simulation_with_another_secret_would_fail(report: CrossCheckReport, tmp_path: Path) -> None:
    other = crosscheck.crosscheck_inputs(cars=20, owners=12, days=3, seed=8)
    assert other.secret(0) != report.inputs.secret(0)
    checks = compare(report.inputs, report.ledger, simulate_exact(other))
    assert not all(c.ok for c in checks)
