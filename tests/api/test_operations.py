"""Health, metrics, the OpenAPI document, unknown routes, and the catch-all for real bugs."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import ledger.tasks
from api.app import create_app
from api.settings import ApiSettings
from ledger.config import LedgerSettings
from tests.api.conftest import Api
from tests.api.helpers import assert_problem


def test_healthz_checks_database_and_chain(module_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    body = module_api.client.get("/healthz").json()
    assert body == {
        "status": "ok",
        "database": "ok",
        "chain": "ok",
        "chain_time": module_api.world.chain.now(),
        "deployed": True,
    }

    def down() -> int:
        raise ConnectionError("node gone")

    monkeypatch.setattr(module_api.runtime.client, "now", down)
    problem = assert_problem(module_api.client.get("/healthz"), 503, "unhealthy", "chain")
    assert "node gone" not in problem["detail"]


def test_metrics_are_prometheus_text_with_routes_and_settlement(module_api: Api) -> None:
    module_api.client.get("/v1/tasks")
    module_api.client.get("/v1/tasks/nope")
    response = module_api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'yuanshi_http_requests_total{method="GET",route="/v1/tasks",status="200"}' in text
    assert 'yuanshi_http_requests_total{method="GET",route="/v1/tasks/{task_id}",status="404"}' in text
    assert 'yuanshi_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/tasks"}' in text
    assert 'yuanshi_settlement_epoch{stage="created"}' in text
    assert 'yuanshi_settlement_epoch{stage="final"} -1.0' in text  # nothing settled in this world


def test_unknown_routes_and_methods_are_problems(module_api: Api) -> None:
    assert_problem(module_api.client.get("/v1/nothing-here"), 404, "not-found")
    response = module_api.client.delete("/v1/emission")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["allow"]


def test_a_bug_is_a_bare_500_problem_and_is_logged(
    module_api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(ledger.tasks, "list_tasks", broken)
    with caplog.at_level(logging.ERROR, logger="yuanshi.api"):
        response = module_api.client.get("/v1/tasks")
    problem = assert_problem(response, 500, "internal-error")
    assert "must not leak" not in response.text
    assert problem["instance"] == "/v1/tasks"
    assert any("must not leak" in (record.exc_text or "") for record in caplog.records)


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_openapi_document_is_complete(module_api: Api) -> None:
    spec = module_api.client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas  # every 422 is documented as problem details
    for method, path, operation in operations(spec):
        where = f"{method} {path}"
        assert operation.get("summary"), where
        assert operation.get("tags"), where
        if path.startswith("/v1"):
            assert "429" in operation["responses"], where
            assert "application/problem+json" in operation["responses"]["422"]["content"], where
        body = operation.get("requestBody")
        if body is not None:
            ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            assert schemas[ref].get("examples"), f"{where}: request schema {ref} has no example"
    for name in (
        "AccountOut",
        "BatchResult",
        "ItemOut",
        "ProofOut",
        "Problem",
        "HoldOut",
        "HoldPage",
        "EquityOut",
        "RoundSweepOut",
        "BuybackCloseOut",
        "ClaimsOut",
    ):
        assert schemas[name].get("examples"), name
    assert schemas["OrderIn"]["properties"]["max_price"]["type"] == "string"
    assert spec["components"]["securitySchemes"]["OperatorToken"]["scheme"] == "bearer"
    assert len(operations(spec)) >= 45


def test_concurrent_requests_share_the_embedded_chain_safely(module_api: Api) -> None:
    """eth-tester is not thread-safe; the API serialises its requests, so parallel calls all succeed."""
    owners = [str(owner.address) for owner in module_api.world.fleet.owners]
    paths = ["/v1/emission", "/healthz", *[f"/v1/accounts/{a}" for a in owners], "/v1/redemptions/catalogue"]

    def hammer(path: str) -> list[int]:
        return [module_api.client.get(path).status_code for _ in range(4)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = [status for result in pool.map(hammer, paths * 2) for status in result]
    assert set(statuses) == {200}


def test_an_app_on_a_fresh_data_folder_serves_before_deployment(tmp_path: Path) -> None:
    settings = LedgerSettings(data_dir=tmp_path / "fresh")
    with TestClient(create_app(settings, ApiSettings())) as client:
        health = client.get("/healthz").json()
        assert health["deployed"] is False
        assert_problem(client.get("/v1/emission"), 503, "not-deployed", "yuanshi deploy")
        assert client.get("/v1/tasks").status_code == 200  # the database alone is enough here
    assert (tmp_path / "fresh" / "vin_salt").stat().st_mode & 0o777 == 0o600
