"""``yuanshi audit`` and ``yuanshi manifests export`` as an auditor runs them: exit code 0 when every epoch
recomputes, 1 on a failure, 2 on input the audit cannot use (never a traceback)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from ledger.manifest import canonical_json
from tests.audit.conftest import EPOCHS, Honest
from yuanshi.cli import app

runner = CliRunner()


def yuanshi(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_an_honest_chain_passes_in_a_real_process(honest: Honest) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YUANSHI_")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yuanshi.cli",
            "audit",
            "--manifests",
            str(honest.manifests),
            "--data-dir",
            str(honest.data_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["epochs"], summary["passed"], summary["failed"]) == (EPOCHS, EPOCHS, [])


def test_the_table_says_pass_per_epoch_and_statements_are_written(honest: Honest, tmp_path: Path) -> None:
    out = tmp_path / "2033.csv"
    code, stdout, _ = yuanshi(
        "audit",
        "--manifests",
        str(honest.manifests),
        "--data-dir",
        str(honest.data_dir),
        "--statements",
        str(out),
        "--year",
        "2033",
    )
    assert code == 0
    assert stdout.count("PASS") == EPOCHS + 1  # one per epoch and the verdict
    assert out.read_text().startswith("year,account,earned_driving,")


def test_an_altered_manifest_exits_1_naming_the_epoch_and_field(honest: Honest, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    shutil.copytree(honest.manifests, folder)
    document = json.loads((folder / "1.json").read_text())
    account = sorted(document["driving"]["credits"])[0]
    honest_amount = document["driving"]["credits"][account]
    document["driving"]["credits"][account] = str(int(honest_amount) + 10**18)
    (folder / "1.json").write_bytes(canonical_json(document))

    code, stdout, _ = yuanshi(
        "audit", "--manifests", str(folder), "--data-dir", str(honest.data_dir), "--json"
    )
    assert code == 1
    summary = json.loads(stdout)
    assert summary["passed"] == EPOCHS - 1
    assert summary["failed"] == [
        {
            "epoch": 1,
            "field": f"driving.credits[{account}]",
            "expected": honest_amount,
            "actual": str(int(honest_amount) + 10**18),
        }
    ]

    code, stdout, _ = yuanshi(
        "audit", "--manifests", str(folder), "--data-dir", str(honest.data_dir), env={"COLUMNS": "400"}
    )
    assert code == 1
    # The human table wraps long cells to the terminal's width (the JSON above names the field exactly);
    # here the verdicts must show, and Rich must not have eaten the bracketed account as markup.
    flat = "".join(line.strip(" │┃") for line in stdout.splitlines())
    assert "FAIL" in flat
    assert "PASS" in flat
    assert "[/" not in flat
    assert stdout.rstrip().endswith("FAIL")


def test_bad_input_exits_2_with_a_reason(honest: Honest, tmp_path: Path) -> None:
    data = str(honest.data_dir)
    code, _, stderr = yuanshi("audit", "--manifests", str(tmp_path / "nowhere"), "--data-dir", data)
    assert code == 2
    assert "does not exist" in stderr

    code, _, stderr = yuanshi("audit", "--manifests", str(honest.manifests), "--data-dir", str(tmp_path))
    assert code == 2
    assert "no embedded chain" in stderr
    assert not (tmp_path / "chain").exists(), "a read-only audit must not create a chain"

    code, _, stderr = yuanshi(
        "audit", "--manifests", str(honest.manifests), "--data-dir", data, "--chain-url", "http://127.0.0.1:9"
    )
    assert code == 2
    assert "not both" in stderr

    code, _, stderr = yuanshi(
        "audit", "--manifests", str(honest.manifests), "--data-dir", data, "--year", "2033"
    )
    assert code == 2
    assert "--statements and --year" in stderr

    # A service that does not answer (nothing listens on the discard port here): a reason, exit 2.
    code, _, stderr = yuanshi("audit", "--manifests", "http://127.0.0.1:9", "--data-dir", data)
    assert code == 2
    assert "cannot reach http://127.0.0.1:9" in stderr
    assert "Traceback" not in stderr


def test_a_malformed_manifest_exits_2(honest: Honest, tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    shutil.copytree(honest.manifests, folder)
    (folder / "2.json").write_text('{"epoch": 2, ')
    code, _, stderr = yuanshi("audit", "--manifests", str(folder), "--data-dir", str(honest.data_dir))
    assert code == 2
    assert "2.json is not valid JSON" in stderr


def test_a_deployment_record_of_another_chain_exits_2(honest: Honest, tmp_path: Path) -> None:
    data = tmp_path / "var"
    shutil.copytree(honest.data_dir, data)
    record = json.loads((data / "deployment.json").read_text())
    record["chain_id"] += 1
    (data / "deployment.json").write_text(json.dumps(record))
    code, _, stderr = yuanshi("audit", "--manifests", str(honest.manifests), "--data-dir", str(data))
    assert code == 2
    assert "deployment record" in stderr
    assert f"is for chain {record['chain_id']}" in stderr


def test_watch_polls_a_bounded_number_of_times(honest: Honest) -> None:
    code, stdout, _ = yuanshi(
        "audit",
        "--manifests",
        str(honest.manifests),
        "--data-dir",
        str(honest.data_dir),
        "--watch",
        "--max-polls",
        "2",
        "--poll-interval",
        "0",
        "--json",
    )
    assert code == 0
    assert stdout == ""  # every posting is past its window: nothing for a watcher to do


def test_manifests_export_writes_what_the_ledger_stored(honest: Honest, tmp_path: Path) -> None:
    env = {"YUANSHI_DATA_DIR": str(honest.data_dir), "YUANSHI_DATABASE_URL": f"sqlite:///{honest.database}"}
    code, stdout, _ = yuanshi("manifests", "export", str(tmp_path / "out"), env=env)
    assert code == 0
    assert f"wrote {EPOCHS} manifest(s)" in stdout
    for epoch in range(EPOCHS):
        assert (tmp_path / "out" / f"{epoch}.json").read_bytes() == (
            honest.manifests / f"{epoch}.json"
        ).read_bytes()
