"""The command line as a user meets it: real process, real embedded chain."""

from __future__ import annotations

import json
import subprocess
import sys

from ledger.schedule import SLOTS_PER_ERA, UNIT, Pool, available


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yuanshi.cli", *args], capture_output=True, text=True, timeout=600, check=False
    )


def test_schedule_json_at_era_boundary() -> None:
    result = run("schedule", "--slot", str(SLOTS_PER_ERA), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "slot": SLOTS_PER_ERA,
        "era": 1,
        "driving": str(105_000_000 * UNIT),
        "cocreation": str(45_000_000 * UNIT),
    }


def test_schedule_rejects_negative_slot_with_a_reason() -> None:
    result = run("schedule", "--slot", "-1", "--json")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--slot" in result.stderr
    assert "greater than or equal to 0" in result.stderr


def test_demo_settles_and_claims_a_first_epoch_within_the_schedule() -> None:
    result = run("demo", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    driving, cocreation = int(summary["minted_driving"]), int(summary["minted_cocreation"])
    assert 0 < driving <= int(summary["available_driving"]) == available(Pool.DRIVING, 144)
    assert 0 < cocreation <= int(summary["available_cocreation"]) == available(Pool.COCREATION, 144)
    balances = [int(b) for b in summary["balances"].values()]
    assert summary["accounts"] == len(balances) == 5
    assert sum(balances) == int(summary["total_supply"]) == driving + cocreation
    assert summary["invariants_ok"] is True
    assert set(summary["addresses"]) >= {"StoneToken", "RewardDistributor", "EmissionSchedule"}
