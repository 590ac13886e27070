"""GET /v1/telemetry/holds and /v1/telemetry/holds/{trip_id}, on SQLite and PostgreSQL: the review queue
oldest first and paged, one held trip before and after review, erased details, auth and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from ledger import consent
from ledger.store.models import Trip
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem, trip
from tests.db import BACKENDS

HOLDS = "/v1/telemetry/holds"


@dataclass
class Queue:
    api: Api
    held: list[int]  # trip ids, in the order they were sent
    accepted: int


def trip_id(api: Api, vehicle_id: str, seq: int) -> int:
    with api.world.sessions() as session:
        found = session.scalars(select(Trip.id).where(Trip.vehicle_id == vehicle_id, Trip.seq == seq)).one()
        return int(found)


@pytest.fixture(scope="module", params=BACKENDS)
def queue(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Queue]:
    backend = str(request.param)
    with running_api(tmp_path_factory.mktemp(f"holds-{backend}"), backend, cars=6, owners=3) as api:
        api.world.chain.advance(4 * 3600)  # trips must end after registration and consent
        assert api.client.get(HOLDS, headers=api.auth("review")).json() == {"holds": [], "next_after": None}
        cars, now = api.world.fleet.cars, api.world.chain.now()
        # Cars 0..2 belong to owners 0..2; car 3 to owner 0. Three impossibly fast trips, one plausible.
        reports = [
            trip(cars[2], now - 7200, metres=400_000, minutes=30),
            trip(cars[3], now - 7000),
            trip(cars[0], now - 6800, metres=450_000, minutes=30),
            trip(cars[1], now - 6600, metres=500_000, minutes=30),
        ]
        for report in reports:  # one batch each, so the received order is the order sent
            answer = api.client.post("/v1/telemetry/trips", json={"reports": [report]})
            assert answer.status_code == 200, answer.text
        ids = [trip_id(api, str(r["vehicle_id"]), int(str(r["seq"]))) for r in reports]
        yield Queue(api, [ids[0], ids[2], ids[3]], ids[1])


def test_the_queue_lists_held_trips_oldest_first_with_what_a_reviewer_needs(queue: Queue) -> None:
    api = queue.api
    response = api.client.get(HOLDS, headers=api.auth("review"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [hold["trip_id"] for hold in body["holds"]] == queue.held
    assert body["next_after"] is None
    first = body["holds"][0]
    with api.world.sessions() as session:
        row = session.get(Trip, queue.held[0])
        assert row is not None
        expected = {
            "trip_id": row.id,
            "vehicle_id": api.world.fleet.cars[2].vehicle_id,
            "seq": row.seq,
            "status": "held",
            "started_at": row.started_at,
            "ended_at": row.ended_at,
            "odometer_start_m": row.odometer_start_m,
            "odometer_end_m": row.odometer_end_m,
            "energy_wh": row.energy_wh,
            "drive_mode": "eco",
            "reason": "too_fast",
            "detail": row.detail,
            "payload_hash": row.payload_hash,
            "received_at": row.received_at,
            "reviewed_at": None,
            "reviewer": None,
            "details_deleted": False,
        }
    assert first == expected
    assert first["odometer_end_m"] - first["odometer_start_m"] == 400_000
    assert "km/h" in first["detail"]


def test_the_queue_pages_by_trip_id(queue: Queue) -> None:
    api, headers = queue.api, queue.api.auth("review")
    first = api.client.get(HOLDS, params={"limit": 2}, headers=headers).json()
    assert [hold["trip_id"] for hold in first["holds"]] == queue.held[:2]
    assert first["next_after"] == queue.held[1]
    rest = api.client.get(HOLDS, params={"limit": 2, "after": first["next_after"]}, headers=headers).json()
    assert [hold["trip_id"] for hold in rest["holds"]] == queue.held[2:]
    assert rest["next_after"] is None
    # A page that ends exactly at the end of the queue says there is no more.
    exact = api.client.get(HOLDS, params={"limit": 3}, headers=headers).json()
    assert exact["next_after"] is None
    assert api.client.get(HOLDS, params={"after": queue.held[-1]}, headers=headers).json() == {
        "holds": [],
        "next_after": None,
    }


def test_one_held_trip_before_and_after_its_review(queue: Queue) -> None:
    api, headers = queue.api, queue.api.auth("review")
    reviewed = queue.held[1]
    before = api.client.get(f"{HOLDS}/{reviewed}", headers=headers)
    assert before.status_code == 200, before.text
    assert (before.json()["status"], before.json()["reviewer"], before.json()["reviewed_at"]) == (
        "held",
        None,
        None,
    )
    decision = {"decision": "deny", "reviewer": "ops-wang"}
    done = api.client.post(f"{HOLDS}/{reviewed}/review", json=decision, headers=headers)
    assert done.status_code == 200, done.text

    after = api.client.get(f"{HOLDS}/{reviewed}", headers=headers).json()
    assert after["status"] == "denied"
    assert after["reviewer"] == "ops-wang"
    assert after["reviewed_at"] == done.json()["reviewed_at"] is not None
    assert {k: v for k, v in after.items() if k not in ("status", "reviewer", "reviewed_at")} == {
        k: v for k, v in before.json().items() if k not in ("status", "reviewer", "reviewed_at")
    }
    # Reviewed trips leave the queue; the others keep their order.
    queue_now = api.client.get(HOLDS, headers=headers).json()["holds"]
    assert [hold["trip_id"] for hold in queue_now] == [queue.held[0], queue.held[2]]
    queue.held.remove(reviewed)


def test_a_trip_that_was_never_held_or_does_not_exist_is_404(queue: Queue) -> None:
    api, headers = queue.api, queue.api.auth("review")
    accepted = assert_problem(api.client.get(f"{HOLDS}/{queue.accepted}", headers=headers), 404, "not-found")
    assert "never held" in accepted["detail"]
    assert_problem(api.client.get(f"{HOLDS}/999999", headers=headers), 404, "not-found", "does not exist")


def test_erased_details_are_shown_as_erased(queue: Queue) -> None:
    """Owner 2 revokes consent: car 2's held trip keeps what the record needs, not the readings."""
    api = queue.api
    owner = api.world.fleet.owners[2]
    receipt = api.client.get(f"/v1/consents/{owner.address}").json()["receipt"]
    now = api.world.chain.now()
    signature = consent.sign(
        consent.ConsentRevocation(owner.address, receipt, now), bytes(owner.key), api.world.chain.chain_id
    )
    revoke = {"owner": owner.address, "receipt": receipt, "issued_at": now, "signature": signature}
    assert api.client.post("/v1/consents/revocations", json=revoke).status_code == 200

    hold = api.client.get(f"{HOLDS}/{queue.held[0]}", headers=api.auth("review")).json()
    assert hold["details_deleted"] is True
    assert (hold["odometer_start_m"], hold["odometer_end_m"], hold["energy_wh"], hold["drive_mode"]) == (
        None,
        None,
        None,
        None,
    )
    assert hold["status"] == "held"
    assert hold["started_at"] == hold["ended_at"]
    assert hold["vehicle_id"] == api.world.fleet.cars[2].vehicle_id


@pytest.mark.parametrize("path", [HOLDS, f"{HOLDS}/1"])
def test_the_review_scope_is_required(queue: Queue, path: str) -> None:
    api = queue.api
    no_token = assert_problem(api.client.get(path), 401, "unauthenticated", "review")
    assert no_token["instance"] == path
    assert api.client.get(path).headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(api.client.get(path, headers={"Authorization": "Bearer nope"}), 401, "unauthenticated")
    assert_problem(api.client.get(path, headers=api.auth("cars")), 403, "forbidden", "review")
    assert api.client.get(path, headers=api.everything).status_code in (200, 404)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (HOLDS, {"limit": 0}, "limit"),
        (HOLDS, {"limit": 501}, "limit"),
        (HOLDS, {"limit": "ten"}, "limit"),
        (HOLDS, {"after": -1}, "after"),
        (HOLDS, {"after": "1.5"}, "after"),
        (HOLDS, {"after": str(2**63)}, "after"),
        (f"{HOLDS}/0", {}, "trip_id"),
        (f"{HOLDS}/abc", {}, "trip_id"),
        (f"{HOLDS}/{2**63}", {}, "trip_id"),
    ],
)
def test_bad_queries_are_422_naming_the_field(
    queue: Queue, path: str, params: dict[str, object], field: str
) -> None:
    with Unchanged(queue.api):
        problem = assert_problem(
            queue.api.client.get(path, params=params, headers=queue.api.auth("review")), 422, "invalid-input"
        )
    assert [error["field"] for error in problem["errors"]] == [field]
