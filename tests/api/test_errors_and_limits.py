"""Unit tests without a world: how every ledger error maps to a problem, and the token buckets."""

from __future__ import annotations

import json

import pytest

from api.errors import ledger_error
from api.limits import BucketTable, RateLimitedError
from ledger.errors import (
    ChainError,
    ConflictError,
    ContractRevert,
    NotFoundError,
    SignatureError,
    ValidationError,
    YuanshiError,
)
from ledger.relay import RelayerUnavailableError
from ledger.runtime import NotDeployedError
from ledger.tokens import AuthenticationError, PermissionDeniedError


@pytest.mark.parametrize(
    ("error", "status", "slug"),
    [
        (ValidationError("bad"), 422, "invalid-input"),
        (NotFoundError("gone"), 404, "not-found"),
        (ConflictError("taken"), 409, "conflict"),
        (SignatureError("forged"), 403, "bad-signature"),
        (AuthenticationError("who"), 401, "unauthenticated"),
        (PermissionDeniedError("no"), 403, "forbidden"),
        (RateLimitedError("slow down", 7), 429, "rate-limited"),
        (NotDeployedError("deploy first"), 503, "not-deployed"),
        (RelayerUnavailableError("no relayer"), 503, "relayer-unavailable"),
        (ChainError("node down"), 502, "chain-error"),
        (YuanshiError("other"), 400, "refused"),
        (ContractRevert("NothingToClaim", ("0xabc", 5, 5), "0x"), 409, "contract-revert"),
        (ContractRevert("InvalidProof", ("0xabc", 5), "0x"), 422, "contract-revert"),
        (
            ContractRevert("AccessControlUnauthorizedAccount", ("0xabc", b"\x01"), "0x"),
            503,
            "chain-misconfigured",
        ),
        (ContractRevert("", (), "0xdead"), 502, "chain-error"),
    ],
)
def test_every_ledger_error_has_its_status(error: YuanshiError, status: int, slug: str) -> None:
    response = ledger_error(error, "/v1/x")
    body = json.loads(bytes(response.body))
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["instance"] == "/v1/x"
    assert body["detail"]


def test_revert_arguments_are_strings_and_rate_limits_say_when() -> None:
    body = json.loads(
        bytes(ledger_error(ContractRevert("PriceAboveMax", (1, 2**200, b"\xff"), "0x"), "/").body)
    )
    assert body["error"] == "PriceAboveMax"
    assert body["args"] == ["1", str(2**200), "0xff"]
    limited = ledger_error(RateLimitedError("slow", 12), "/")
    assert limited.headers["Retry-After"] == "12"
    assert json.loads(bytes(limited.body))["retry_after"] == 12
    assert ledger_error(AuthenticationError("x"), "/").headers["WWW-Authenticate"].startswith("Bearer")


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_bucket_allows_its_burst_then_refills_at_its_rate() -> None:
    clock = FakeClock()
    table = BucketTable(burst=3, per_minute=60, clock=clock)
    assert [table.take("car") for _ in range(3)] == [0, 0, 0]
    assert table.take("car") == 1
    assert table.take("other") == 0  # buckets are per key
    clock.t += 1.0
    assert table.take("car") == 0
    assert table.take("car", n=3) == 3  # three more tokens need three seconds
    table.give_back("car", 5)
    assert [table.take("car") for _ in range(3)] == [0, 0, 0]  # capped at the burst
    assert table.take("car") > 0


def test_a_zero_rate_disables_the_limit_and_tables_stay_bounded() -> None:
    assert BucketTable(burst=1, per_minute=0).take("x", n=10**6) == 0
    clock = FakeClock()
    table = BucketTable(burst=1, per_minute=1, max_keys=2, clock=clock)
    for key in ("a", "b", "c"):
        assert table.take(key) == 0
    assert len(table._buckets) == 2
    assert table.take("a") == 0  # "a" was dropped, so it comes back full
