"""deploy → settle → restart: the operator's commands on the embedded chain, in a real process each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ledger.schedule import Pool, available


def yuanshi(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "YUANSHI_DATA_DIR": str(data_dir)}
    env.pop("YUANSHI_CHAIN_URL", None)
    env.pop("YUANSHI_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "yuanshi.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_deploy_settle_and_schedule_onchain_survive_process_restarts(tmp_path: Path) -> None:
    data = tmp_path / "var"
    deployed = yuanshi(data, "deploy", "--genesis-delay", "600")
    assert deployed.returncode == 0, deployed.stderr
    record = json.loads((data / "deployment.json").read_text())
    assert set(record["addresses"]) >= {"StoneToken", "RewardDistributor", "EmissionSchedule"}
    assert all(h.startswith("0x") and len(h) == 66 for h in record["code_sha256"].values())

    # A second process rebuilds the embedded chain from its journal: same contracts, same answers.
    slot = 210_384
    onchain = yuanshi(data, "schedule", "--slot", str(slot), "--json", "--onchain")
    assert onchain.returncode == 0, onchain.stderr
    result = json.loads(onchain.stdout)
    assert result["onchain"]["driving"] == result["driving"] == str(available(Pool.DRIVING, slot))
    assert result["onchain"]["cocreation"] == result["cocreation"] == str(available(Pool.COCREATION, slot))
    assert result["onchain"]["address"] == record["addresses"]["EmissionSchedule"]

    # deploy committed the first seeds; with nothing due, settle changes nothing and says so, every time.
    for _ in range(2):
        settled = yuanshi(data, "settle", "--json")
        assert settled.returncode == 0, settled.stderr
        assert json.loads(settled.stdout) == []

    again = yuanshi(data, "deploy")
    assert again.returncode == 1
    assert "deployed already" in again.stderr
    assert "Traceback" not in again.stderr


def test_settle_without_a_deployment_is_a_clear_error(tmp_path: Path) -> None:
    result = yuanshi(tmp_path / "empty", "settle")
    assert result.returncode == 1
    assert "yuanshi deploy" in result.stderr
    assert "Traceback" not in result.stderr
