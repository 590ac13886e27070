"""Operator tokens (``ledger.tokens``) and their enforcement on every operator endpoint, on SQLite and
PostgreSQL: missing, malformed, unknown, revoked and under-scoped tokens; hashed storage; per-token rate."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from api.limits import BucketTable
from ledger import tokens
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.store.models import ApiToken
from ledger.tokens import AuthenticationError, PermissionDeniedError, Scope
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem
from tests.db import BACKENDS

OWNER = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"

# Every operator endpoint (OpenAPI template) with the scope it needs; ``concrete`` fills in the template.
OPERATOR_ENDPOINTS: list[tuple[str, str, Scope]] = [
    ("POST", "/v1/cars", Scope.CARS),
    ("GET", "/v1/cars/{vehicle_id}", Scope.CARS),
    ("POST", "/v1/cars/{vehicle_id}/keys", Scope.CARS),
    ("POST", "/v1/cars/{vehicle_id}/keys/revoke", Scope.CARS),
    ("POST", "/v1/cars/{vehicle_id}/transfers", Scope.CARS),
    ("GET", "/v1/telemetry/holds", Scope.REVIEW),
    ("GET", "/v1/telemetry/holds/{trip_id}", Scope.REVIEW),
    ("POST", "/v1/telemetry/holds/{trip_id}/review", Scope.REVIEW),
    ("POST", "/v1/tasks", Scope.TASKS),
    ("PATCH", "/v1/tasks/{task_id}", Scope.TASKS),
    ("DELETE", "/v1/tasks/{task_id}", Scope.TASKS),
    ("POST", "/v1/tasks/{task_id}/completions", Scope.TASKS),
    ("PUT", "/v1/redemptions/catalogue/{item_id}", Scope.CATALOGUE),
    ("POST", "/v1/redemptions/orders/{order_id}/fulfil", Scope.FULFILMENT),
    ("POST", "/v1/redemptions/orders/{order_id}/cancel", Scope.FULFILMENT),
    ("POST", "/v1/equity/rounds", Scope.TREASURY),
    ("POST", "/v1/equity/rounds/{round_id}/balance-root", Scope.TREASURY),
    ("POST", "/v1/equity/rounds/{round_id}/sweep", Scope.TREASURY),
    ("POST", "/v1/equity/buybacks", Scope.TREASURY),
    ("POST", "/v1/equity/buybacks/{buyback_id}/close", Scope.TREASURY),
    ("POST", "/v1/accounts/claims", Scope.ACCOUNTS),
    ("GET", "/v1/accounts/{address}/export", Scope.ACCOUNTS),
]
PARAMS = {
    "vehicle_id": "car-00000",
    "trip_id": 1,
    "task_id": "survey",
    "item_id": 1,
    "order_id": 1,
    "round_id": 1,
    "buyback_id": 1,
}


def concrete(template: str) -> str:
    return template.format(address=OWNER, **PARAMS)


IDS = [f"{method} {path}" for method, path, _ in OPERATOR_ENDPOINTS]


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    backend = str(request.param)
    with running_api(tmp_path_factory.mktemp(f"auth-{backend}"), backend, cars=2, owners=1) as api:
        yield api


def call(api: Api, method: str, template: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body: dict[str, object] | None = {} if method in ("POST", "PUT", "PATCH") else None
    response: httpx.Response = api.client.request(method, concrete(template), json=body, headers=headers)
    return response


# --- the ledger's tokens -------------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_sha256_and_verifies_with_its_scopes(api: Api) -> None:
    with api.world.sessions.begin() as session:
        plaintext = tokens.create_token(session, "backend-1", ["tasks", Scope.ACCOUNTS], now=123)
    assert plaintext.startswith("yst_")
    with api.world.sessions() as session:
        row = session.scalars(select(ApiToken).where(ApiToken.name == "backend-1")).one()
        assert row.token_hash == hashlib.sha256(plaintext.encode()).hexdigest()
        assert plaintext not in (row.token_hash, row.scopes, row.name)
        identity = tokens.verify_token(session, plaintext)
    assert identity.scopes == {Scope.TASKS, Scope.ACCOUNTS}
    assert identity.created_at == 123
    tokens.require_scope(identity, Scope.TASKS)
    with pytest.raises(PermissionDeniedError):
        tokens.require_scope(identity, Scope.TREASURY)


@pytest.mark.parametrize(
    ("name", "scopes", "error"),
    [
        ("has space", ["cars"], ValidationError),
        ("", ["cars"], ValidationError),
        ("ok-name", [], ValidationError),
        ("ok-name", ["root"], ValidationError),
        ("op-cars", ["cars"], ConflictError),  # the fixture's token has this name
    ],
)
def test_create_token_refuses_bad_names_scopes_and_duplicates(
    api: Api, name: str, scopes: list[str], error: type[Exception]
) -> None:
    with api.world.sessions() as session, pytest.raises(error):
        tokens.create_token(session, name, scopes)


def test_revocation_is_final_and_idempotent(api: Api) -> None:
    with api.world.sessions.begin() as session:
        plaintext = tokens.create_token(session, "short-lived", ["cars"])
    with api.world.sessions.begin() as session:
        first = tokens.revoke_token(session, "short-lived", now=5)
        again = tokens.revoke_token(session, "short-lived", now=9)
        assert first.revoked_at == again.revoked_at == 5
        with pytest.raises(AuthenticationError):
            tokens.verify_token(session, plaintext)
        with pytest.raises(NotFoundError):
            tokens.revoke_token(session, "never-made")
        assert "short-lived" in [t.name for t in tokens.list_tokens(session)]
    assert_problem(
        api.client.get("/v1/cars/car-00000", headers={"Authorization": f"Bearer {plaintext}"}), 401
    )


# --- enforcement ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "scope"), OPERATOR_ENDPOINTS, ids=IDS)
def test_no_token_is_401_with_a_bearer_challenge(api: Api, method: str, path: str, scope: Scope) -> None:
    with Unchanged(api):
        response = call(api, method, path)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer yst_" + "A" * 43,  # well-formed, unknown
        "Bearer not-a-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "yst_" + "A" * 43,
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "scope"), OPERATOR_ENDPOINTS[:3] + OPERATOR_ENDPOINTS[-2:], ids=IDS[:3] + IDS[-2:]
)
def test_an_invalid_token_is_401(api: Api, method: str, path: str, scope: Scope, header: str) -> None:
    with Unchanged(api):
        response = call(api, method, path, {"Authorization": header})
    assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize(("method", "path", "scope"), OPERATOR_ENDPOINTS, ids=IDS)
def test_a_token_without_the_scope_is_403(api: Api, method: str, path: str, scope: Scope) -> None:
    other = next(s for s in Scope if s is not scope)
    with Unchanged(api):
        response = call(api, method, path, api.auth(other))
    assert_problem(response, 403, "forbidden", scope.value)


@pytest.mark.parametrize(("method", "path", "scope"), OPERATOR_ENDPOINTS, ids=IDS)
def test_a_token_with_the_scope_gets_past_authentication(
    api: Api, method: str, path: str, scope: Scope
) -> None:
    response = call(api, method, path, api.auth(scope))
    assert response.status_code not in (401, 403), response.text


def test_every_operator_endpoint_is_listed_here(api: Api) -> None:
    """The OpenAPI document names the bearer scheme on exactly the endpoints tested above."""
    spec = api.client.get("/openapi.json").json()
    secured = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if any("OperatorToken" in requirement for requirement in operation.get("security", []))
    }
    assert secured == {(method, template) for method, template, _ in OPERATOR_ENDPOINTS}


def test_a_token_over_its_rate_gets_429(api: Api) -> None:
    services = api.services
    saved = services.token_limits
    services.token_limits = BucketTable(burst=2, per_minute=1)
    try:
        for _ in range(2):
            assert api.client.get("/v1/cars/car-00000", headers=api.auth("cars")).status_code == 200
        response = api.client.get("/v1/cars/car-00000", headers=api.auth("cars"))
        assert_problem(response, 429, "rate-limited")
        assert int(response.headers["Retry-After"]) >= 1
        # Another token has its own bucket.
        assert api.client.get("/v1/cars/car-00000", headers=api.everything).status_code == 200
    finally:
        services.token_limits = saved
