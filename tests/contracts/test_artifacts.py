"""The checked-in artifacts are what the pinned compiler makes of the current sources."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.chain import artifacts

ROOT = Path(__file__).resolve().parents[2]


def node() -> str:
    path = shutil.which("node")
    assert path, "Node.js is required for this test: run `make test`, which installs what it needs"
    assert (ROOT / "node_modules" / "solc").is_dir(), "npm packages missing: run `npm ci`"
    return path


def test_build_info_hashes_match_the_project_sources() -> None:
    info = artifacts.build_info()
    ours = {p: h for p, h in info["sources"].items() if not p.startswith("@openzeppelin/")}
    on_disk = sorted(
        str(p.relative_to(ROOT))
        for d in ("contracts", "bench/contracts")
        for p in (ROOT / d).rglob("*.sol")
        if "build" not in p.parts
    )
    assert sorted(ours) == on_disk
    for path, digest in ours.items():
        assert hashlib.sha256((ROOT / path).read_bytes()).hexdigest() == digest, f"{path} changed"
    assert info["compiler"]["version"].startswith("0.8.30+")
    assert info["settings"]["optimizer"] == {"enabled": True, "runs": 10000}


def test_every_artifact_has_abi_and_bytecode() -> None:
    for name in ("EmissionSchedule", "StoneToken", "RewardDistributor", "RedemptionDesk", "EquityVault"):
        artifact = artifacts.load(name)
        assert artifact.bytecode.startswith("0x6")
        assert len(artifact.deployed_bytecode) > 1000
        assert any(item["type"] == "error" for item in artifact.abi)
        # EIP-170: a deployable contract's runtime code stays under 24,576 bytes.
        assert (len(artifact.deployed_bytecode) - 2) // 2 < 24_576


@pytest.mark.node
def test_recompiling_reproduces_the_checked_in_artifacts() -> None:
    result = subprocess.run(
        [node(), "contracts/compile.mjs", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.node
def test_the_check_fails_when_a_source_changes(tmp_path: Path) -> None:
    for part in ("contracts", "bench/contracts"):
        shutil.copytree(ROOT / part, tmp_path / part)
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    shutil.copy(ROOT / "package.json", tmp_path / "package.json")
    schedule = tmp_path / "contracts" / "EmissionSchedule.sol"
    schedule.write_text(schedule.read_text().replace("SLOTS_PER_EPOCH = 144", "SLOTS_PER_EPOCH = 145"))
    result = subprocess.run(
        [node(), "contracts/compile.mjs", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "EmissionSchedule.json" in result.stderr
    assert "build-info.json" in result.stderr
    assert json.loads((tmp_path / "contracts/build/build-info.json").read_text())["contracts"]
