"""``yuanshi audit-trips`` as an auditor with read access to the operator's database runs it: exit code 0 when
no stored trip fails, 1 when one does, 2 on a database it cannot audit (never a traceback); read-only."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, Executable, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ledger.store.db import session_factory
from ledger.store.models import Trip, Upload
from tests.db import BACKENDS, fresh_database
from tests.ledger.test_consent import ALICE_KEY, grant
from tests.ledger.test_ingest import P256_CAR, P256_KEY_2, envelope, trip
from tests.ledger.test_trip_audit import ingest_mixed
from tests.ledger.test_vehicles import OTHER_VIN, P256_KEY, T0, VEHICLE, register
from yuanshi.cli import app

runner = CliRunner()
CLEAN = {
    "trips": 7,
    "verified": 7,
    "hash_verified_details_erased": 0,
    "not_checkable": 0,
    "failed": 0,
    "reasons": {},
    "failures": [],
}


def yuanshi(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``yuanshi audit-trips ARGS`` with no ``YUANSHI_*`` setting but ``env``'s."""
    unset: dict[str, str | None] = {name: None for name in os.environ if name.startswith("YUANSHI_")}
    result = runner.invoke(app, ["audit-trips", *args], env={"COLUMNS": "200", **unset, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stdout, result.stderr


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A ledger database holding seven trips of two cars, signed alone and in envelopes (committed)."""
    with fresh_database(str(request.param), tmp_path) as engine:
        with session_factory(engine)() as session:
            register(session, now=T0)
            register(session, P256_CAR, vin=OTHER_VIN, key=P256_KEY, now=T0)
            grant(session, now=T0, key=ALICE_KEY)
            ingest_mixed(session)
            session.commit()
        yield engine


def edit(engine: Engine, *statements: Executable) -> None:
    with session_factory(engine)() as session:
        for statement in statements:
            session.execute(statement)
        session.commit()


def trip_id(engine: Engine, vehicle_id: str, seq: int) -> int:
    with session_factory(engine)() as session:
        return session.scalars(select(Trip.id).where(Trip.vehicle_id == vehicle_id, Trip.seq == seq)).one()


def test_a_clean_ledger_exits_0(ledger: Engine) -> None:
    code, stdout, _ = yuanshi("--database-url", url_of(ledger), "--json")
    assert code == 0
    assert json.loads(stdout) == CLEAN

    code, stdout, _ = yuanshi("--database-url", url_of(ledger))
    assert code == 0
    assert "Stored trips re-verified: 7" in stdout
    assert stdout.rstrip().endswith("PASS")

    # A trip stored before migration 0005 cannot be checked; that is no failure.
    edit(ledger, update(Trip).where(Trip.vehicle_id == VEHICLE, Trip.seq == 1).values(signature=None))
    code, stdout, _ = yuanshi("--database-url", url_of(ledger), "--json")
    assert code == 0
    assert json.loads(stdout) == CLEAN | {
        "verified": 6,
        "not_checkable": 1,
        "reasons": {"stored_before_0005": 1},
    }


def test_an_edited_trip_or_a_forged_envelope_exits_1_naming_the_trips(ledger: Engine) -> None:
    forged = envelope(trip(2, P256_CAR), trip(3, P256_CAR), key=P256_KEY_2)["signature"]
    with Session(ledger) as session:
        p256_upload = session.scalars(
            select(Trip.upload_hash).where(Trip.vehicle_id == P256_CAR, Trip.seq == 2)
        ).one()
    edit(
        ledger,
        update(Trip).where(Trip.vehicle_id == VEHICLE, Trip.seq == 1).values(energy_wh=Trip.energy_wh + 1),
        update(Upload).where(Upload.upload_hash == p256_upload).values(signature=forged),
    )
    code, stdout, _ = yuanshi("--database-url", url_of(ledger), "--json")
    assert code == 1
    summary = json.loads(stdout)
    assert {name: summary[name] for name in ("trips", "verified", "failed", "reasons")} == {
        "trips": 7,
        "verified": 4,
        "failed": 3,
        "reasons": {"payload_hash_mismatch": 1, "bad_upload_signature": 2},
    }
    first = summary["failures"][0]
    assert first == {
        "trip": trip_id(ledger, VEHICLE, 1),
        "vehicle_id": VEHICLE,
        "seq": 1,
        "outcome": "failed",
        "reason": "payload_hash_mismatch",
        "detail": first["detail"],
    }
    assert [(f["vehicle_id"], f["seq"], f["reason"]) for f in summary["failures"][1:]] == [
        (P256_CAR, 2, "bad_upload_signature"),
        (P256_CAR, 3, "bad_upload_signature"),
    ]
    assert [f["trip"] for f in summary["failures"]] == sorted(f["trip"] for f in summary["failures"])

    code, stdout, _ = yuanshi("--database-url", url_of(ledger), "--json", "--show-failures", "1")
    assert (code, len(json.loads(stdout)["failures"]), json.loads(stdout)["failed"]) == (1, 1, 3)
    code, stdout, _ = yuanshi("--database-url", url_of(ledger), "--json", "--show-failures", "0")
    assert (code, json.loads(stdout)["failures"]) == (1, [])

    code, stdout, _ = yuanshi("--database-url", url_of(ledger), "--show-failures", "2")
    assert code == 1
    assert "Failed trips (first 2 of 3)" in stdout
    assert "payload_hash_mismatch" in stdout
    assert "bad_upload_signature" in stdout
    assert stdout.rstrip().endswith("FAIL")


def test_a_database_it_cannot_audit_exits_2_with_a_reason(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    code, stdout, stderr = yuanshi("--database-url", f"sqlite:///{missing}", "--json")
    assert (code, stdout) == (2, "")
    assert f"no SQLite database at {missing}" in stderr
    assert not missing.exists(), "a read-only audit must not create a database"

    (tmp_path / "empty.db").touch()
    code, _, stderr = yuanshi("--database-url", f"sqlite:///{tmp_path / 'empty.db'}")
    assert code == 2
    assert "no trips table" in stderr

    code, _, stderr = yuanshi("--database-url", "postgresql://auditor:secret@127.0.0.1:9/yuanshi")
    assert code == 2
    assert "cannot read the database postgresql://auditor:***@127.0.0.1:9/yuanshi" in stderr
    assert "secret" not in stderr

    for url, message in [("::", "not a usable database URL"), ("mysql://a@b/c", "unsupported database")]:
        code, _, stderr = yuanshi("--database-url", url)
        assert code == 2
        assert message in stderr

    code, _, stderr = yuanshi("--show-failures", "-1")
    assert code == 2
    assert "--show-failures" in stderr


def test_the_configured_database_is_the_default(ledger: Engine, tmp_path: Path) -> None:
    code, stdout, _ = yuanshi("--json", env={"YUANSHI_DATABASE_URL": url_of(ledger)})
    assert (code, json.loads(stdout)) == (0, CLEAN)
    if ledger.dialect.name == "sqlite":  # the data folder's SQLite file when no URL is set
        assert ledger.url.database is not None
        data_dir = tmp_path / "var"
        data_dir.mkdir()
        with (
            closing(sqlite3.connect(ledger.url.database)) as source,
            closing(sqlite3.connect(data_dir / "yuanshi.db")) as copy,
        ):
            source.backup(copy)
        code, stdout, _ = yuanshi("--json", env={"YUANSHI_DATA_DIR": str(data_dir)})
        assert (code, json.loads(stdout)) == (0, CLEAN)
    empty = tmp_path / "empty-data"
    code, _, stderr = yuanshi("--json", env={"YUANSHI_DATA_DIR": str(empty)})
    assert code == 2
    assert "no SQLite database at" in stderr
    assert not empty.exists()


def _rows(path: Path) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as connection:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [row for table in sorted(tables) for row in connection.execute(f'SELECT * FROM "{table}"')]


def test_a_real_process_reads_without_waiting_for_a_writer_and_writes_nothing(tmp_path: Path) -> None:
    with fresh_database("sqlite", tmp_path) as engine:
        with session_factory(engine)() as session:
            register(session, now=T0)
            register(session, P256_CAR, vin=OTHER_VIN, key=P256_KEY, now=T0)
            grant(session, now=T0, key=ALICE_KEY)
            ingest_mixed(session)
            session.commit()
        database = tmp_path / "ledger.db"
    before = _rows(database)
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # the ledger's write lock, with a change not committed yet
        writer.execute("UPDATE trips SET energy_wh = energy_wh + 1")
        env = {k: v for k, v in os.environ.items() if not k.startswith("YUANSHI_")}
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "yuanshi.cli",
                "audit-trips",
                "--database-url",
                f"sqlite:///{database}",
                "--json",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == CLEAN
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert _rows(database) == before
