"""POST /v1/telemetry/trips, POST /v1/telemetry/uploads and hold review, on SQLite and PostgreSQL:
per-report verdicts, device and upload signatures, idempotent retries, batch and body limits, per-car and
per-client rates, hostile input."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, cast

import pytest
from sqlalchemy import func, select

from api.limits import BucketTable
from ledger import telemetry, uploads, vehicles
from ledger.store.models import IdempotencyKey, Trip, TripStatus
from ledger.store.models import Upload as UploadRow
from ledger.telemetry import PrivateKey, TripReport
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem, draft, trip
from tests.db import BACKENDS
from yuanshi.fleet import Fleet, SimCar

URL = "/v1/telemetry/trips"
UPLOADS_URL = "/v1/telemetry/uploads"


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    backend = str(request.param)
    with running_api(tmp_path_factory.mktemp(f"telemetry-{backend}"), backend, cars=16, owners=4) as api:
        # Trips must end after the cars' registration and their owners' consent.
        api.world.chain.advance(4 * 3600)
        yield api


def trips_of(api: Api, vehicle_id: str) -> list[Trip]:
    with api.world.sessions() as session:
        return list(session.scalars(select(Trip).where(Trip.vehicle_id == vehicle_id).order_by(Trip.seq)))


def test_each_report_gets_its_own_verdict_and_accepted_ones_are_stored(api: Api) -> None:
    car = api.world.fleet.cars[0]
    now = api.world.chain.now()
    good = trip(car, now - 7200)
    too_fast = trip(car, now - 3600, metres=400_000, minutes=30)  # 800 km/h: held for review
    forged = copy.deepcopy(trip(car, now - 1800))
    forged["odometer_end_m"] = int(str(forged["odometer_end_m"])) + 1_000  # signature no longer matches
    response = api.client.post(URL, json={"reports": [good, too_fast, forged, {"vehicle_id": 7}, good]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["held"], body["rejected"], body["duplicate"]) == (1, 1, 2, 1)
    statuses = [(r["index"], r["status"], r["reason"]) for r in body["results"]]
    assert statuses == [
        (0, "accepted", "ok"),
        (1, "held", "too_fast"),
        (2, "rejected", "bad_signature"),
        (3, "rejected", "malformed"),
        (4, "duplicate", "duplicate"),
    ]
    assert body["results"][0]["payload_hash"].startswith("0x")
    assert body["results"][3]["detail"]  # says what was malformed
    stored = trips_of(api, car.vehicle_id)
    assert [(t.seq, t.status) for t in stored] == [
        (good["seq"], TripStatus.ACCEPTED),
        (too_fast["seq"], TripStatus.HELD),
    ]


def test_a_report_from_an_unknown_or_revoked_device_is_rejected_per_report(api: Api) -> None:
    car = api.world.fleet.cars[1]
    now = api.world.chain.now()
    unknown = trip(car, now - 600)
    unknown["vehicle_id"] = "no-such-car"
    response = api.client.post(URL, json={"reports": [unknown]})
    assert response.json()["results"][0]["reason"] == "unknown_device"

    assert (
        api.client.post(f"/v1/cars/{car.vehicle_id}/keys/revoke", headers=api.auth("cars")).status_code == 200
    )
    response = api.client.post(URL, json={"reports": [trip(car, now - 300)]})
    assert response.json()["results"][0]["reason"] == "device_revoked"
    assert trips_of(api, car.vehicle_id) == []


def test_a_retry_with_the_same_idempotency_key_answers_the_same_bytes_and_stores_nothing_more(
    api: Api,
) -> None:
    car = api.world.fleet.cars[2]
    now = api.world.chain.now()
    batch = {"reports": [trip(car, now - 5000), trip(car, now - 1000)]}
    key = str(uuid.uuid4())
    first = api.client.post(URL, json=batch, headers={"Idempotency-Key": key})
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    stored = len(trips_of(api, car.vehicle_id))
    with Unchanged(api):
        again = api.client.post(URL, json=batch, headers={"Idempotency-Key": key})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(trips_of(api, car.vehicle_id)) == stored == 2
    # Without the key the same batch is harmless too, but answers "duplicate".
    plain = api.client.post(URL, json=batch).json()
    assert [r["status"] for r in plain["results"]] == ["duplicate", "duplicate"]


def test_the_same_idempotency_key_with_another_batch_is_a_conflict_and_changes_nothing(api: Api) -> None:
    car = api.world.fleet.cars[3]
    now = api.world.chain.now()
    key = str(uuid.uuid4())
    assert (
        api.client.post(
            URL, json={"reports": [trip(car, now - 900)]}, headers={"Idempotency-Key": key}
        ).status_code
        == 200
    )
    other = {"reports": [trip(car, now - 300)]}
    with Unchanged(api):
        response = api.client.post(URL, json=other, headers={"Idempotency-Key": key})
    assert_problem(response, 409, "conflict", "different request")
    with api.world.sessions() as session:
        row = session.get(IdempotencyKey, ("telemetry.trips", key))
        assert row is not None
        assert row.status_code == 200


@pytest.mark.parametrize("key", [b"", b" leading-space", b"k" * 256, "ключ".encode()])
def test_a_malformed_idempotency_key_is_refused(api: Api, key: bytes) -> None:
    car = api.world.fleet.cars[3]
    with Unchanged(api):
        response = api.client.post(
            URL,
            json={"reports": [trip(car, api.world.chain.now() - 60)]},
            headers=[(b"Idempotency-Key", key)],
        )
    assert response.status_code in (400, 422), response.text
    assert_problem(response, response.status_code)
    car.seq -= 1  # the report was never stored: let the car reuse its number


def test_1001_reports_are_refused_whole_and_store_nothing(api: Api) -> None:
    car = api.world.fleet.cars[4]
    report = trip(car, api.world.chain.now() - 60)
    with Unchanged(api):
        response = api.client.post(URL, json={"reports": [report] * 1001})
    body = assert_problem(response, 422, "invalid-input", "reports")
    assert body["errors"][0]["field"] == "reports"
    car.seq -= 1


def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(api: Api) -> None:
    limit = api.services.settings.max_body_bytes
    huge = b'{"reports": [' + b'"x",' * (limit // 4) + b'"x"]}'
    with Unchanged(api):
        declared = api.client.post(URL, content=huge, headers={"Content-Type": "application/json"})
        streamed = api.client.post(
            URL,
            content=iter([huge[i : i + 65536] for i in range(0, len(huge), 65536)]),
            headers={"Content-Type": "application/json"},
        )
    assert_problem(declared, 413, "body-too-large")
    assert_problem(streamed, 413, "body-too-large")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b'{"reports": {"a": 1}}', 422, "reports"),
        (b'{"reports": "many"}', 422, "reports"),
        (b'{"batch": []}', 422, "reports"),
        (b'{"reports": [], "extra": true}', 422, "extra"),
        (b"[]", 422, None),
    ],
)
def test_a_malformed_body_is_a_4xx_problem_naming_the_field(
    api: Api, body: bytes, status: int, field: str | None
) -> None:
    with Unchanged(api):
        response = api.client.post(URL, content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(response, status)
    if field is not None:
        assert field in problem["detail"]
        assert any(error["field"] == field for error in problem["errors"])


def test_wrongly_typed_fields_in_a_report_are_rejected_one_by_one(api: Api) -> None:
    car = api.world.fleet.cars[5]
    now = api.world.chain.now()
    variants = []
    for name, value in [
        ("seq", "1"),
        ("ended_at", 1.5),
        ("energy_wh", -5),
        ("odometer_end_m", True),
        ("seq", 2**64),
    ]:
        report = trip(car, now - 60)
        car.seq -= 1
        report[name] = value
        variants.append(report)
    with Unchanged(api):
        response = api.client.post(URL, json={"reports": variants})
    results = response.json()["results"]
    assert [r["reason"] for r in results] == ["malformed"] * len(variants)
    assert all(r["detail"] for r in results)


def test_a_cars_rate_limit_refuses_its_extra_reports_but_forgeries_cannot_use_it_up(api: Api) -> None:
    services = api.services
    saved = services.vehicle_limits
    services.vehicle_limits = BucketTable(burst=2, per_minute=1)
    try:
        car = api.world.fleet.cars[6]
        now = api.world.chain.now()
        forged = trip(car, now - 4000)
        forged["signature"] = "0x" + "00" * 64
        car.seq -= 1
        # Ten forged reports in the car's name: refunded, so the car keeps its budget.
        api.client.post(URL, json={"reports": [forged] * 10})
        reports = [trip(car, now - 5400), trip(car, now - 3600), trip(car, now - 1800)]
        results = api.client.post(URL, json={"reports": reports}).json()["results"]
        assert [r["status"] for r in results] == ["accepted", "accepted", "rejected"]
        assert results[2]["reason"] == "rate_limited"
        assert results[2]["retry_after"] >= 1
        assert len(trips_of(api, car.vehicle_id)) == 2
        # A batch entirely over its car's rate is refused whole.
        with Unchanged(api):
            response = api.client.post(URL, json={"reports": [reports[2]]})
        assert_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) >= 1
        car.seq -= 1
    finally:
        services.vehicle_limits = saved


def test_a_client_over_its_request_rate_gets_429_with_retry_after(api: Api) -> None:
    services = api.services
    saved = services.client_limits
    services.client_limits = BucketTable(burst=1, per_minute=1)
    try:
        assert api.client.post(URL, json={"reports": []}).status_code == 200
        response = api.client.post(URL, json={"reports": []})
        problem = assert_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) >= 1
        assert problem["retry_after"] == int(response.headers["Retry-After"])
    finally:
        services.client_limits = saved


def test_a_held_trip_is_released_once_by_a_reviewer(api: Api) -> None:
    car = api.world.fleet.cars[7]
    now = api.world.chain.now()
    held = trip(car, now - 3600, metres=500_000, minutes=30)
    assert api.client.post(URL, json={"reports": [held]}).json()["results"][0]["status"] == "held"
    trip_id = trips_of(api, car.vehicle_id)[0].id
    review = f"/v1/telemetry/holds/{trip_id}/review"
    decision = {"decision": "release", "reviewer": "ops-li"}
    assert_problem(api.client.post(review, json=decision), 401, "unauthenticated")
    assert_problem(api.client.post(review, json=decision, headers=api.auth("cars")), 403, "forbidden")
    assert_problem(
        api.client.post(review, json={"decision": "maybe", "reviewer": "x"}, headers=api.auth("review")), 422
    )
    response = api.client.post(review, json=decision, headers=api.auth("review"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "released"
    assert response.json()["reviewer"] == "ops-li"
    assert_problem(api.client.post(review, json=decision, headers=api.auth("review")), 409, "conflict")
    assert_problem(
        api.client.post("/v1/telemetry/holds/999999/review", json=decision, headers=api.auth("review")), 404
    )


def test_metrics_count_reports_by_verdict(api: Api) -> None:
    text = api.client.get("/metrics").text
    assert 'yuanshi_trip_reports_total{reason="ok",status="accepted"}' in text
    assert 'yuanshi_trip_reports_total{reason="bad_signature",status="rejected"}' in text
    with api.world.sessions() as session:
        assert (session.scalar(select(func.count()).select_from(Trip)) or 0) > 0
    assert json.loads(api.client.get("/healthz").text)["status"] == "ok"


# --- POST /v1/telemetry/uploads ---------------------------------------------------------------------------
# Cars 10 and up are the upload tests' own.


def upload(car: SimCar, *reports: TripReport, key: PrivateKey | None = None) -> dict[str, Any]:
    """``reports`` of ``car`` in one envelope signed by ``key`` (the car's device key by default)."""
    if key is None:
        return Fleet.envelope(car, reports)
    envelope = uploads.Upload(vehicle_id=car.vehicle_id, algorithm=car.algorithm, reports=reports)
    return uploads.upload_to_json(uploads.sign_upload(envelope, key))


def other_key(car: SimCar, api: Api) -> PrivateKey:
    """Another car's key of the same algorithm."""
    return next(
        other.private_key
        for other in api.world.fleet.cars
        if other.algorithm is car.algorithm and other.vehicle_id != car.vehicle_id
    )


def hash_of(report: TripReport) -> str:
    return "0x" + telemetry.payload_hash(report).hex()


def positions(body: dict[str, Any]) -> list[tuple[int, int, str, str]]:
    return [(r["upload"], r["index"], r["status"], r["reason"]) for r in body["results"]]


def upload_rows_of(api: Api, vehicle_id: str) -> list[UploadRow]:
    with api.world.sessions() as session:
        query = select(UploadRow).where(UploadRow.vehicle_id == vehicle_id).order_by(UploadRow.received_at)
        return list(session.scalars(query))


def test_each_report_of_each_upload_gets_its_verdict_and_position(api: Api) -> None:
    car, other = api.world.fleet.cars[10], api.world.fleet.cars[11]
    now = api.world.chain.now()
    first = [draft(car, now - 7200), draft(car, now - 5400, metres=400_000), draft(car, now - 1800)]
    second = [draft(other, now - 600)]
    raw = [upload(car, *first), upload(other, *second)]
    response = api.client.post(UPLOADS_URL, json={"uploads": raw})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["held"], body["rejected"], body["duplicate"]) == (3, 1, 0, 0)
    assert positions(body) == [
        (0, 0, "accepted", "ok"),
        (0, 1, "held", "too_fast"),
        (0, 2, "accepted", "ok"),
        (1, 0, "accepted", "ok"),
    ]
    assert [(r["vehicle_id"], r["seq"], r["payload_hash"]) for r in body["results"]] == [
        (report.vehicle_id, report.seq, hash_of(report)) for report in first + second
    ]
    stored = trips_of(api, car.vehicle_id)
    assert [(t.seq, t.status, t.signature) for t in stored] == [
        (first[0].seq, TripStatus.ACCEPTED, None),
        (first[1].seq, TripStatus.HELD, None),
        (first[2].seq, TripStatus.ACCEPTED, None),
    ]
    [row] = upload_rows_of(api, car.vehicle_id)
    assert {t.upload_hash for t in stored} == {row.upload_hash}
    assert (row.algorithm, row.signature) == (car.algorithm.value, raw[0]["signature"])
    assert json.loads(row.payload_hashes) == [hash_of(report) for report in first]
    # Sent again, the same uploads change nothing.
    with Unchanged(api):
        again = api.client.post(UPLOADS_URL, json={"uploads": raw}).json()
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 4


def test_a_malformed_or_forged_upload_is_answered_per_report_beside_good_ones(api: Api) -> None:
    car = api.world.fleet.cars[12]
    now = api.world.chain.now()
    good = upload(car, draft(car, now - 7200), draft(car, now - 5400))
    broken = upload(car, draft(car, now - 3600), draft(car, now - 3000))
    broken["reports"][1]["signature"] = "0x" + "00" * 64  # a report signed on its own does not belong here
    forged = upload(car, draft(car, now - 2400), draft(car, now - 1800))
    forged["reports"][0]["energy_wh"] += 1  # after signing
    wrong_key = upload(car, draft(car, now - 1200), key=other_key(car, api))
    empty: dict[str, Any] = {
        "vehicle_id": car.vehicle_id,
        "algorithm": car.algorithm.value,
        "reports": [],
        "signature": "0x",
    }
    batch = [good, broken, "junk", forged, wrong_key, empty]
    response = api.client.post(UPLOADS_URL, json={"uploads": batch})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["held"], body["rejected"], body["duplicate"]) == (2, 0, 7, 0)
    assert positions(body) == [
        (0, 0, "accepted", "ok"),
        (0, 1, "accepted", "ok"),
        (1, 0, "rejected", "malformed"),
        (1, 1, "rejected", "malformed"),
        (2, 0, "rejected", "malformed"),
        (3, 0, "rejected", "bad_signature"),
        (3, 1, "rejected", "bad_signature"),
        (4, 0, "rejected", "bad_signature"),
        (5, 0, "rejected", "malformed"),
    ]
    results = body["results"]
    assert all("upload report 1" in r["detail"] and "'signature'" in r["detail"] for r in results[2:4])
    assert all(r["payload_hash"] is None and r["seq"] is None for r in results[2:5])
    assert "upload must be a JSON object" in results[4]["detail"]
    assert all("the upload's signature does not verify" in r["detail"] for r in results[5:8])
    assert "reports must be an array" in results[8]["detail"]
    assert [t.seq for t in trips_of(api, car.vehicle_id)] == [r["seq"] for r in results[:2]]
    assert len(upload_rows_of(api, car.vehicle_id)) == 1


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{not json", 400, None),
        (b'{"uploads": {"a": 1}}', 422, "uploads"),
        (b'{"uploads": "many"}', 422, "uploads"),
        (b'{"reports": []}', 422, "uploads"),
        (b'{"uploads": [], "extra": true}', 422, "extra"),
        (b"[]", 422, None),
    ],
)
def test_a_body_that_is_not_a_list_of_uploads_is_a_4xx_problem(
    api: Api, body: bytes, status: int, field: str | None
) -> None:
    with Unchanged(api):
        response = api.client.post(UPLOADS_URL, content=body, headers={"Content-Type": "application/json"})
    problem = assert_problem(response, status)
    if field is not None:
        assert field in problem["detail"]
        assert any(error["field"] == field for error in problem["errors"])


def test_more_than_1000_reports_in_all_uploads_are_refused_whole(api: Api) -> None:
    car = api.world.fleet.cars[13]
    report = telemetry.report_to_json(draft(car, api.world.chain.now() - 60))
    car.seq -= 1
    car.odometer_m -= 20_000
    for key in ("vehicle_id", "algorithm", "signature"):
        del report[key]
    envelope = {"vehicle_id": car.vehicle_id, "algorithm": car.algorithm.value, "signature": "0x" + "00" * 64}
    for batch in (
        [envelope | {"reports": [report] * 500}, envelope | {"reports": [report] * 501}],
        [envelope | {"reports": [report] * 1001}],
        [envelope | {"reports": [report] * 999}, "junk", "junk"],  # an upload without reports counts one
    ):
        with Unchanged(api):
            response = api.client.post(UPLOADS_URL, json={"uploads": batch})
        assert_problem(response, 422, "invalid-input", "at most 1000 reports in all, got 1001")
    with Unchanged(api):
        response = api.client.post(UPLOADS_URL, json={"uploads": ["junk"] * 1001})
    body = assert_problem(response, 422, "invalid-input", "uploads")
    assert body["errors"][0]["field"] == "uploads"
    # Exactly 1000 is one batch, answered per report.
    with Unchanged(api):
        results = api.client.post(UPLOADS_URL, json={"uploads": [envelope | {"reports": [report] * 1000}]})
    assert results.status_code == 200, results.text
    assert [r["reason"] for r in results.json()["results"]] == ["bad_signature"] * 1000


def test_a_retried_upload_with_the_same_idempotency_key_answers_the_same_bytes(api: Api) -> None:
    car = api.world.fleet.cars[13]
    now = api.world.chain.now()
    batch = {"uploads": [upload(car, draft(car, now - 5000), draft(car, now - 1000))]}
    key = str(uuid.uuid4())
    first = api.client.post(UPLOADS_URL, json=batch, headers={"Idempotency-Key": key})
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert [r["status"] for r in first.json()["results"]] == ["accepted", "accepted"]
    with Unchanged(api):
        again = api.client.post(UPLOADS_URL, json=batch, headers={"Idempotency-Key": key})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(trips_of(api, car.vehicle_id)) == 2
    assert len(upload_rows_of(api, car.vehicle_id)) == 1
    # Without the key the same uploads are harmless too, but answer "duplicate".
    plain = api.client.post(UPLOADS_URL, json=batch).json()
    assert [r["status"] for r in plain["results"]] == ["duplicate", "duplicate"]
    # The same key with other uploads is a conflict.
    other = {"uploads": [upload(car, draft(car, now - 500))]}
    with Unchanged(api):
        response = api.client.post(UPLOADS_URL, json=other, headers={"Idempotency-Key": key})
    assert_problem(response, 409, "conflict", "different request")
    with api.world.sessions() as session:
        row = session.get(IdempotencyKey, ("telemetry.uploads", key))
        assert row is not None
        assert row.status_code == 200
        assert session.get(IdempotencyKey, ("telemetry.trips", key)) is None
    # Keys are per endpoint: the same key on /trips is a new request there.
    car.seq -= 1
    car.odometer_m -= 20_000
    trips = api.client.post(
        URL, json={"reports": [trip(car, now - 500, minutes=5)]}, headers={"Idempotency-Key": key}
    )
    assert trips.status_code == 200, trips.text
    assert [(r["upload"], r["index"], r["status"]) for r in trips.json()["results"]] == [
        (None, 0, "accepted")
    ]


def test_a_cars_rate_is_charged_per_report_of_its_uploads(api: Api) -> None:
    services = api.services
    saved = services.vehicle_limits
    services.vehicle_limits = BucketTable(burst=3, per_minute=1)
    try:
        car = api.world.fleet.cars[14]
        now = api.world.chain.now()
        seq, odometer = car.seq, car.odometer_m
        forged = upload(car, *(draft(car, now - 9000 + 60 * i) for i in range(3)), key=other_key(car, api))
        broken = copy.deepcopy(forged)
        del broken["reports"][2]["seq"]
        car.seq, car.odometer_m = seq, odometer
        # Forged and malformed uploads in the car's name are refunded, so the car keeps its budget; within
        # one request they do count, so the later ones are over the rate.
        body = api.client.post(UPLOADS_URL, json={"uploads": [forged, broken]}).json()
        assert positions(body) == [(0, i, "rejected", "bad_signature") for i in range(3)] + [
            (1, i, "rejected", "rate_limited") for i in range(3)
        ]
        body = api.client.post(UPLOADS_URL, json={"uploads": [broken]}).json()
        assert [r["reason"] for r in body["results"]] == ["malformed"] * 3
        # An upload larger than the burst could never pass: refused whole.
        four = upload(car, *(draft(car, now - 9000 + 600 * i) for i in range(4)))
        car.seq, car.odometer_m = seq, odometer
        with Unchanged(api):
            response = api.client.post(UPLOADS_URL, json={"uploads": [four]})
        assert_problem(response, 422, "invalid-input", "at most 3 reports at once, got 4")
        # Two good uploads of two: the first spends two of three tokens, the second is over the rate.
        within = upload(car, draft(car, now - 7200), draft(car, now - 5400))
        over = upload(car, draft(car, now - 3600), draft(car, now - 1800))
        body = api.client.post(UPLOADS_URL, json={"uploads": [within, over]}).json()
        assert positions(body) == [
            (0, 0, "accepted", "ok"),
            (0, 1, "accepted", "ok"),
            (1, 0, "rejected", "rate_limited"),
            (1, 1, "rejected", "rate_limited"),
        ]
        assert all(r["retry_after"] >= 1 and r["vehicle_id"] == car.vehicle_id for r in body["results"][2:])
        assert (body["accepted"], body["rejected"]) == (2, 2)
        assert len(trips_of(api, car.vehicle_id)) == 2
        # A request whose every upload is over its car's rate is refused whole.
        with Unchanged(api):
            response = api.client.post(UPLOADS_URL, json={"uploads": [over]})
        assert_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) >= 1
    finally:
        services.vehicle_limits = saved


def test_an_unknown_or_revoked_cars_upload_is_rejected_per_report(api: Api) -> None:
    car = api.world.fleet.cars[15]
    now = api.world.chain.now()
    stranger = replace(car, vehicle_id="no-such-car", seq=0)
    unknown = upload(stranger, draft(stranger, now - 900), draft(stranger, now - 600))
    body = api.client.post(UPLOADS_URL, json={"uploads": [unknown]}).json()
    assert positions(body) == [(0, 0, "rejected", "unknown_device"), (0, 1, "rejected", "unknown_device")]
    revoke = api.client.post(f"/v1/cars/{car.vehicle_id}/keys/revoke", headers=api.auth("cars"))
    assert revoke.status_code == 200, revoke.text
    with Unchanged(api):
        body = api.client.post(UPLOADS_URL, json={"uploads": [upload(car, draft(car, now - 300))]}).json()
    assert positions(body) == [(0, 0, "rejected", "device_revoked")]


def test_the_fleets_simulated_uploads_are_accepted(api: Api) -> None:
    api.world.chain.advance(86_400)  # after every trip the other tests sent
    now = api.world.chain.now()
    batch = api.world.fleet.uploads_between(now - 6 * 3600, now - 600)
    assert batch
    response = api.client.post(UPLOADS_URL, json={"uploads": batch})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == sum(len(cast("list[object]", raw["reports"])) for raw in batch)
    with api.world.sessions() as session:
        revoked = {
            raw["vehicle_id"]
            for raw in batch
            if (key := vehicles.latest_device_key(session, str(raw["vehicle_id"]))) is not None
            and key.revoked_at is not None
        }
    for result in results:
        expected = "device_revoked" if result["vehicle_id"] in revoked else "ok"
        assert result["reason"] == expected, result
