"""``yuanshi demo`` at a small size, in a real process, checked against the chain it leaves behind.

Reopening the demo's data folder replays the journaled embedded chain, so the test reads the distributor's
posted totals, its claims and the token's supply from the same chain the demo settled on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.chain import views
from ledger.config import LedgerSettings
from ledger.runtime import open_runtime
from ledger.schedule import Pool, available_at_epoch_end
from ledger.store.models import Trip, TripStatus

VEHICLES, DAYS = 20, 3


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yuanshi.cli", "demo", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    result = run_demo("--vehicles", str(VEHICLES), "--days", str(DAYS), "--data-dir", str(data_dir), "--json")
    assert result.returncode == 0, result.stderr[-4000:]
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary, data_dir


def test_demo_json_has_the_headline_figures(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, _ = demo_run
    for key in ("minted_driving", "minted_cocreation", "available_driving", "available_cocreation"):
        assert int(summary[key]) > 0, key
    assert summary["epochs"] == DAYS
    assert summary["vehicles"] == VEHICLES
    assert 0 < summary["accounts"] <= summary["owners"]
    assert summary["invariants_ok"] is True, summary["invariants"]
    assert all(summary["invariants"].values())
    assert summary["implausible_sent"] > 0
    # Half the cars send upload envelopes: none of their reports may be refused.
    assert summary["uploads_sent"] > 0
    assert summary["reports"].get("rejected", 0) == summary["reports"].get("duplicate", 0) == 0
    assert summary["held_reports"] > 0
    assert summary["reports"]["accepted"] > summary["held_reports"]
    assert summary["redemptions"]["fulfil"]["status"] == "fulfilled"
    assert summary["redemptions"]["cancel"]["status"] == "cancelled"
    assert int(summary["equity_round"]["paid"]) > 0
    assert int(summary["buyback"]["stones"]) > 0
    assert sum(summary["gas"].values()) > 0


def test_demo_json_matches_the_chain_it_leaves(demo_run: tuple[dict[str, Any], Path]) -> None:
    summary, data_dir = demo_run
    runtime = open_runtime(LedgerSettings(data_dir=data_dir, database_url=None, chain_url=None))
    try:
        system = runtime.system()
        distributor, token = system.distributor.functions, system.token.functions
        call = runtime.client.call
        last = DAYS - 1
        assert int(call(distributor.nextEpoch())) == DAYS
        _root, _posted_at, driving, cocreation = call(distributor.epochRecord(last))
        assert int(summary["minted_driving"]) == int(driving)
        assert int(summary["minted_cocreation"]) == int(cocreation)
        assert int(summary["available_driving"]) == available_at_epoch_end(Pool.DRIVING, last)
        assert int(summary["available_cocreation"]) == available_at_epoch_end(Pool.COCREATION, last)
        assert int(driving) <= available_at_epoch_end(Pool.DRIVING, last)
        assert int(cocreation) <= available_at_epoch_end(Pool.COCREATION, last)
        # Everyone claimed: the distributor minted exactly the posted totals.
        total_claimed = int(call(distributor.totalClaimed()))
        assert total_claimed == int(driving) + int(cocreation) == int(summary["total_claimed"])
        supply = int(call(token.totalSupply()))
        assert supply == int(summary["total_supply"]) == total_claimed - int(summary["burned"])
        claimers = {
            views.checksum(str(log.args["account"]))
            for log in views.event_logs(system.distributor.events.Claimed(), system.deployed_at_block)
        }
        assert summary["accounts"] == len(claimers)
        assert summary["demo_account"] in claimers
        with runtime.sessions() as session:
            held_trips = select(func.count()).select_from(Trip).where(Trip.status == TripStatus.HELD)
            held = session.scalar(held_trips)
        assert held == summary["held_reports"] > 0
    finally:
        runtime.engine.dispose()


def test_demo_refuses_a_data_folder_that_holds_a_deployment(demo_run: tuple[dict[str, Any], Path]) -> None:
    _, data_dir = demo_run
    result = run_demo("--vehicles", "2", "--days", "1", "--data-dir", str(data_dir), "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "fresh folder" in result.stderr
