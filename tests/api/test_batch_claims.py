"""POST /v1/accounts/claims: one relayed claimMany for many accounts, each answered (claimed, claimed
already, not entitled); retries with and without an Idempotency-Key; bad batches; auth; no relayer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account

from ledger.relay import MAX_CLAIMS, Relay
from ledger.store.models import Entitlement
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem, settle_epochs

CLAIMS = "/v1/accounts/claims"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("batch-claims"), cars=8, owners=6) as api:
        owners = [owner.address for owner in api.world.fleet.owners]
        with Unchanged(api):  # before any root is past its challenge window
            assert_problem(
                api.client.post(CLAIMS, json={"accounts": owners}, headers=api.auth("accounts")),
                409,
                "conflict",
                "no epoch is claimable",
            )
        settle_epochs(api, 1)
        yield api


def owners(api: Api) -> list[str]:
    return [str(owner.address) for owner in api.world.fleet.owners]


def entitlement(api: Api, account: str, epoch: int = 0) -> int:
    with api.world.sessions() as session:
        row = session.get(Entitlement, (epoch, account))
        return 0 if row is None else row.cumulative


def stones(api: Api, account: str) -> int:
    return int(api.world.system.token.functions.balanceOf(account).call())


def test_one_transaction_claims_for_those_owed_and_reports_the_rest(api: Api) -> None:
    first, second, third = owners(api)[:3]
    assert all(entitlement(api, a) > 0 for a in (first, second, third))
    assert api.client.post(f"/v1/accounts/{first}/claim").status_code == 200  # paid already
    stranger = Account.create().address
    batch = [second.lower(), first, stranger, third]
    blocks = api.world.chain.w3.eth.block_number

    response = api.client.post(CLAIMS, json={"accounts": batch}, headers=api.auth("accounts"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert api.world.chain.w3.eth.block_number == blocks + 1  # one transaction for the batch
    assert body["epoch"] == 0
    assert body["tx"]["tx_hash"].startswith("0x")
    assert [(c["account"], c["status"]) for c in body["claims"]] == [
        (second, "claimed"),
        (first, "claimed_already"),
        (stranger, "not_entitled"),
        (third, "claimed"),
    ]
    for claim in body["claims"]:
        owed = entitlement(api, claim["account"])
        assert claim["cumulative"] == str(owed)
        assert claim["amount"] == (str(owed) if claim["status"] == "claimed" else "0")
        assert claim["detail"]
        assert stones(api, claim["account"]) == owed
    assert body["claimed"] == 2
    assert body["minted"] == str(entitlement(api, second) + entitlement(api, third))
    assert "no entitlement" in body["claims"][2]["detail"]

    # Sent again: nothing is owed any more, so nothing is sent, and that is not an error.
    with Unchanged(api):
        again = api.client.post(CLAIMS, json={"accounts": batch}, headers=api.auth("accounts"))
    assert again.status_code == 200, again.text
    assert again.json()["tx"] is None
    assert (again.json()["claimed"], again.json()["minted"]) == (0, "0")
    assert [c["status"] for c in again.json()["claims"]] == [
        "claimed_already",
        "claimed_already",
        "not_entitled",
        "claimed_already",
    ]
    # The single-account claim agrees.
    assert_problem(api.client.post(f"/v1/accounts/{second}/claim"), 409, "conflict", "claimed")


def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(api: Api) -> None:
    batch = owners(api)[3:5]
    headers = api.auth("accounts") | {"Idempotency-Key": "batch-claims-0001"}
    first = api.client.post(CLAIMS, json={"accounts": batch}, headers=headers)
    assert first.status_code == 200, first.text
    assert [c["status"] for c in first.json()["claims"]] == ["claimed", "claimed"]
    assert "Idempotent-Replayed" not in first.headers

    with Unchanged(api):
        replay = api.client.post(CLAIMS, json={"accounts": batch}, headers=headers)
    assert replay.status_code == 200
    assert replay.content == first.content
    assert replay.headers["Idempotent-Replayed"] == "true"
    with Unchanged(api):
        reused = api.client.post(CLAIMS, json={"accounts": batch[:1]}, headers=headers)
    assert_problem(reused, 409, "conflict", "different request")
    for bad_key in (b"", b" leading-space", "é".encode(), b"k" * 256):
        bad: dict[str, str | bytes] = {**api.auth("accounts"), "Idempotency-Key": bad_key}
        with Unchanged(api):
            response = api.client.post(CLAIMS, json={"accounts": batch}, headers=bad)
        assert_problem(response, 422, "invalid-input")


@pytest.mark.parametrize(
    ("accounts", "mention"),
    [
        ([], "accounts"),
        (["0x1234"], "accounts.0"),
        ([Account.create().address, Account.create().address, "not an address"], "accounts.2"),
        ([Account.create().address, 7], "accounts.1"),
        (["0x" + "00" * 20], "accounts.0"),
        ([Account.create().address for _ in range(MAX_CLAIMS + 1)], "at most 200"),
        ("0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF", "accounts"),
    ],
)
def test_malformed_batches_are_422_naming_the_index(api: Api, accounts: object, mention: str) -> None:
    with Unchanged(api):
        response = api.client.post(CLAIMS, json={"accounts": accounts}, headers=api.auth("accounts"))
    assert_problem(response, 422, "invalid-input", mention)


def test_an_account_named_twice_is_422_naming_both_indices(api: Api) -> None:
    everyone = owners(api)
    batch = [everyone[0], everyone[5], Account.create().address, everyone[5].lower()]
    with Unchanged(api):
        response = api.client.post(CLAIMS, json={"accounts": batch}, headers=api.auth("accounts"))
    assert_problem(response, 422, "invalid-input", "accounts[3] repeats accounts[1]")


def test_other_bodies_are_422(api: Api) -> None:
    headers = api.auth("accounts")
    address = Account.create().address
    for body in ({}, {"accounts": [address], "epoch": 1}, [address]):
        with Unchanged(api):
            assert_problem(api.client.post(CLAIMS, json=body, headers=headers), 422, "invalid-input")
    with Unchanged(api):
        response = api.client.post(
            CLAIMS, content=b'{"accounts": [', headers=headers | {"Content-Type": "application/json"}
        )
    assert_problem(response, 400, "malformed-json")


def test_the_accounts_scope_is_required(api: Api) -> None:
    body = {"accounts": owners(api)}
    with Unchanged(api):
        no_token = api.client.post(CLAIMS, json=body)
        assert_problem(no_token, 401, "unauthenticated", "accounts")
        assert no_token.headers["WWW-Authenticate"].startswith("Bearer")
        assert_problem(api.client.post(CLAIMS, json=body, headers=api.auth("treasury")), 403, "forbidden")


def test_without_a_relayer_a_batch_with_something_owed_is_503(api: Api) -> None:
    services = api.services
    saved = services.relay()
    services._relay = Relay(saved.system, None)
    try:
        with Unchanged(api):
            response = api.client.post(
                CLAIMS, json={"accounts": owners(api)[5:]}, headers=api.auth("accounts")
            )
        assert_problem(response, 503, "relayer-unavailable")
        # Nothing owed: nothing to relay, so no relayer is needed.
        quiet = api.client.post(CLAIMS, json={"accounts": owners(api)[:1]}, headers=api.auth("accounts"))
        assert quiet.status_code == 200, quiet.text
    finally:
        services._relay = saved
