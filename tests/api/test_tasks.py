"""Tasks: the public catalogue, catalogue changes and completions with scope ``tasks``."""

from __future__ import annotations

from eth_account import Account

from tests.api.conftest import Api
from tests.api.helpers import Unchanged, assert_problem

NEW_TASK = {
    "task_id": "charging_review",
    "title": "Review a charging station",
    "category": "service_efficiency",
    "points": 15,
    "daily_cap": 2,
    "lifetime_cap": 100,
    "evidence_kind": "review_id",
    "description": "Rate a public charging station after a session.",
}


def test_the_catalogue_is_public(module_api: Api) -> None:
    response = module_api.client.get("/v1/tasks")
    assert response.status_code == 200
    ids = [task["task_id"] for task in response.json()]
    assert "daily_checkin" in ids
    assert ids == sorted(ids)
    assert all(task["active_now"] for task in response.json())
    one = module_api.client.get("/v1/tasks/daily_checkin").json()
    assert one["points"] == 5
    assert_problem(module_api.client.get("/v1/tasks/no_such_task"), 404, "not-found")


def test_create_update_and_deactivate_a_task(module_api: Api) -> None:
    headers = module_api.auth("tasks")
    created = module_api.client.post("/v1/tasks", json=NEW_TASK, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["active_now"] is True
    assert created.json()["active_from"] == module_api.world.chain.now()
    assert_problem(module_api.client.post("/v1/tasks", json=NEW_TASK, headers=headers), 409, "conflict")

    patched = module_api.client.patch("/v1/tasks/charging_review", json={"points": 25}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["points"] == 25
    assert patched.json()["title"] == NEW_TASK["title"]
    until = module_api.world.chain.now() + 86_400
    ended = module_api.client.patch(
        "/v1/tasks/charging_review", json={"active_until": until}, headers=headers
    )
    assert ended.json()["active_until"] == until
    reopened = module_api.client.patch(
        "/v1/tasks/charging_review", json={"active_until": None}, headers=headers
    )
    assert reopened.json()["active_until"] is None

    gone = module_api.client.delete("/v1/tasks/charging_review", headers=headers)
    assert gone.status_code == 200
    assert gone.json()["deactivated_at"] is not None
    assert gone.json()["active_now"] is False
    listed = [t["task_id"] for t in module_api.client.get("/v1/tasks").json()]
    assert "charging_review" not in listed
    assert "charging_review" in [t["task_id"] for t in module_api.client.get("/v1/tasks?all=true").json()]


def test_invalid_task_changes_are_422(module_api: Api) -> None:
    headers = module_api.auth("tasks")
    cases = [
        (NEW_TASK | {"task_id": "Bad Id"}, "task_id"),
        (NEW_TASK | {"task_id": "neg", "points": -5}, "points"),
        (NEW_TASK | {"task_id": "big", "points": 10_001}, "points"),
        (NEW_TASK | {"task_id": "float", "points": 1.5}, "points"),
        (NEW_TASK | {"task_id": "caps", "daily_cap": 10, "lifetime_cap": 5}, "daily_cap"),
        (NEW_TASK | {"task_id": "cat", "category": "gambling"}, "category"),
        (NEW_TASK | {"task_id": "win", "active_from": 100, "active_until": 50}, "active_until"),
    ]
    for body, mention in cases:
        with Unchanged(module_api):
            response = module_api.client.post("/v1/tasks", json=body, headers=headers)
        assert_problem(response, 422, "invalid-input", mention)
    with Unchanged(module_api):
        response = module_api.client.patch("/v1/tasks/survey", json={"points": None}, headers=headers)
    assert_problem(response, 422, "invalid-input", "points")
    assert_problem(module_api.client.patch("/v1/tasks/nope", json={"points": 3}, headers=headers), 404)


def test_completions_reported_by_the_backend(module_api: Api) -> None:
    headers = module_api.auth("tasks")
    account = Account.create().address
    chain = module_api.world.chain
    chain.travel_to(
        max(chain.now() + 1, module_api.world.params.genesis + 600)
    )  # completions start at genesis
    now = chain.now()
    body = {"account": account, "evidence": "survey-response-77", "completed_at": now}
    done = module_api.client.post("/v1/tasks/survey/completions", json=body, headers=headers)
    assert done.status_code == 201, done.text
    assert done.json()["points"] == 30
    assert done.json()["seq"] == 1
    assert "survey-response-77" not in done.text  # only its hash is kept
    with Unchanged(module_api):
        again = module_api.client.post("/v1/tasks/survey/completions", json=body, headers=headers)
    assert_problem(again, 409, "conflict", "duplicate evidence")
    future = body | {"evidence": "survey-response-78", "completed_at": now + 3600}
    assert_problem(
        module_api.client.post("/v1/tasks/survey/completions", json=future, headers=headers),
        422,
        None,
        "future",
    )
    assert_problem(module_api.client.post("/v1/tasks/nope/completions", json=body, headers=headers), 404)
    empty = body | {"evidence": ""}
    assert_problem(
        module_api.client.post("/v1/tasks/survey/completions", json=empty, headers=headers),
        422,
        None,
        "evidence",
    )
