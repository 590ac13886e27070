"""Assertions and shortcuts shared by the API tests."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import eip712
from ledger.store.models import Base
from ledger.telemetry import DriveMode, TripReport, report_to_json, sign_report
from tests.api.conftest import Api
from yuanshi.fleet import SimCar

PROBLEM = "application/problem+json"


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None, mentions: str | None = None
) -> dict[str, Any]:
    """``response`` is RFC 9457 problem details with ``status`` (and ``slug``), whose detail mentions
    ``mentions``; never a traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    if mentions is not None:
        assert mentions in body["detail"], body["detail"]
    return body


def table_counts(session: Session) -> dict[str, int]:
    return {
        table.name: int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables
    }


class Unchanged:
    """``with Unchanged(api): ...`` asserts that no table gained or lost rows and no block was mined."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def _state(self) -> tuple[dict[str, int], int]:
        with self.api.world.sessions() as session:
            counts = table_counts(session)
        return counts, int(self.api.world.chain.w3.eth.block_number)

    def __enter__(self) -> Unchanged:
        self.before = self._state()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            (counts, block), (counts_before, block_before) = self._state(), self.before
            changed = {
                name: (counts_before[name], n) for name, n in counts.items() if counts_before[name] != n
            }
            assert not changed, f"a refused request changed rows (before, after): {changed}"
            assert block == block_before, "a refused request mined a block"


def sign_typed(typed_data_json: dict[str, Any], key: bytes) -> str:
    """Signs typed data as the API returns it (integers as decimal strings), as a wallet would."""
    return eip712.sign(_integers(typed_data_json), key)


def _integers(data: dict[str, Any]) -> dict[str, Any]:
    types = {field["name"]: field["type"] for field in data["types"][data["primaryType"]]}
    message = {
        name: int(value) if types[name].startswith("uint") else value
        for name, value in data["message"].items()
    }
    return data | {"message": message}


def settle_epochs(api: Api, epochs: int, claimable: bool = True) -> None:
    """Cars drive and users do tasks for ``epochs`` epochs, each settled; then past the challenge window."""
    world = api.world
    for epoch in range(epochs):
        world.live_epoch(epoch, implausible_rate=0.1)
        world.settle_after(epoch)
    if claimable:
        world.chain.advance(world.gateway.challenge_window + 1)
        world.settler().run()


def draft(
    car: SimCar,
    ended_at: int,
    metres: int = 20_000,
    minutes: int = 30,
    energy_wh: int | None = None,
) -> TripReport:
    """``car``'s next trip ending at ``ended_at``, unsigned (advancing its seq and odometer)."""
    car.seq += 1
    report = TripReport(
        vehicle_id=car.vehicle_id,
        seq=car.seq,
        started_at=ended_at - minutes * 60,
        ended_at=ended_at,
        odometer_start_m=car.odometer_m,
        odometer_end_m=car.odometer_m + metres,
        energy_wh=metres * 150 // 1000 if energy_wh is None else energy_wh,
        drive_mode=DriveMode.ECO,
        algorithm=car.algorithm,
    )
    car.odometer_m += metres
    return report


def trip(
    car: SimCar,
    ended_at: int,
    metres: int = 20_000,
    minutes: int = 30,
    energy_wh: int | None = None,
) -> dict[str, object]:
    """A signed report of ``car``'s next trip ending at ``ended_at`` (advancing its seq and odometer)."""
    return report_to_json(sign_report(draft(car, ended_at, metres, minutes, energy_wh), car.private_key))
