"""The command line as a user meets it: real process, real embedded chain."""

from __future__ import annotations

import json
import subprocess
import sys

from ledger.schedule import SLOTS_PER_ERA, UNIT


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


def test_demo_refuses_more_than_one_worker_for_serve_on_the_embedded_chain() -> None:
    result = run("serve", "--workers", "2")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "JSON-RPC" in result.stderr


def test_demo_help_names_its_options() -> None:
    # The demo itself runs in tests/cli/test_demo.py, where its JSON is checked against the chain.
    result = run("demo", "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--vehicles", "--days", "--data-dir", "--json", "--serve"):
        assert option in result.stdout
