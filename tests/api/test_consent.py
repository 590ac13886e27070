"""Consent signed by the owner: typed data to sign, grant, read, revoke; bad and stale signatures."""

from __future__ import annotations

from eth_account import Account

from ledger import consent
from tests.api.conftest import Api
from tests.api.helpers import Unchanged, assert_problem, sign_typed

CATEGORIES = ["trip_summaries", "energy_usage"]


def grant_body(api: Api, key: bytes, owner: str, issued_at: int | None = None) -> dict[str, object]:
    issued = api.world.chain.now() if issued_at is None else issued_at
    grant = consent.ConsentGrant(owner, "2.0", tuple(CATEGORIES), issued)
    return {
        "owner": owner,
        "version": "2.0",
        "categories": CATEGORIES,
        "issued_at": issued,
        "signature": consent.sign(grant, key, api.world.chain.chain_id),
    }


def test_the_typed_data_endpoint_gives_what_the_wallet_signs(module_api: Api) -> None:
    owner = Account.create()
    now = module_api.world.chain.now()
    params = {"owner": owner.address, "version": "2.0", "categories": CATEGORIES, "issued_at": now}
    response = module_api.client.get("/v1/consents/typed-data", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["typed_data"]["primaryType"] == "Consent"
    assert body["typed_data"]["message"]["issuedAt"] == str(now)
    grant = consent.ConsentGrant(owner.address, "2.0", tuple(CATEGORIES), now)
    assert body["digest"] == consent.receipt_of(grant, module_api.world.chain.chain_id)
    # A signature over the returned typed data is accepted by the grant endpoint.
    signature = sign_typed(body["typed_data"], bytes(owner.key))
    granted = module_api.client.post("/v1/consents", json=params | {"signature": signature})
    assert granted.status_code == 201, granted.text
    assert granted.json()["receipt"] == body["digest"]


def test_grant_read_and_revoke(module_api: Api) -> None:
    owner = Account.create()
    body = grant_body(module_api, bytes(owner.key), owner.address)
    granted = module_api.client.post("/v1/consents", json=body)
    assert granted.status_code == 201, granted.text
    receipt = granted.json()["receipt"]
    current = module_api.client.get(f"/v1/consents/{owner.address.lower()}")
    assert current.json() == granted.json()
    assert current.json()["active"] is True

    now = module_api.world.chain.now()
    revocation = consent.ConsentRevocation(owner.address, receipt, now)
    signature = consent.sign(revocation, bytes(owner.key), module_api.world.chain.chain_id)
    revoke = {"owner": owner.address, "receipt": receipt, "issued_at": now, "signature": signature}
    revoked = module_api.client.post("/v1/consents/revocations", json=revoke)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["receipt"] == receipt
    assert_problem(module_api.client.get(f"/v1/consents/{owner.address}"), 404, "not-found")
    assert_problem(module_api.client.post("/v1/consents/revocations", json=revoke), 409, "conflict")


def test_a_signature_by_someone_else_is_403_and_stores_nothing(module_api: Api) -> None:
    owner, thief = Account.create(), Account.create()
    body = grant_body(module_api, bytes(thief.key), owner.address)
    with Unchanged(module_api):
        response = module_api.client.post("/v1/consents", json=body)
    assert_problem(response, 403, "bad-signature", owner.address)


def test_a_stale_signature_is_403(module_api: Api) -> None:
    owner = Account.create()
    body = grant_body(
        module_api, bytes(owner.key), owner.address, issued_at=module_api.world.chain.now() - 3600
    )
    with Unchanged(module_api):
        response = module_api.client.post("/v1/consents", json=body)
    assert_problem(response, 403, "bad-signature", "expired")


def test_the_same_signed_consent_twice_is_a_conflict(module_api: Api) -> None:
    owner = Account.create()
    body = grant_body(module_api, bytes(owner.key), owner.address)
    assert module_api.client.post("/v1/consents", json=body).status_code == 201
    with Unchanged(module_api):
        assert_problem(module_api.client.post("/v1/consents", json=body), 409, "conflict")


def test_malformed_consent_requests_are_422_naming_the_field(module_api: Api) -> None:
    owner = Account.create()
    good = grant_body(module_api, bytes(owner.key), owner.address)
    cases = [
        (good | {"signature": "0x1234"}, "signature"),
        (good | {"categories": []}, "categories"),
        (good | {"categories": ["gps_traces"]}, "gps_traces"),
        (good | {"issued_at": "now"}, "issued_at"),
        (good | {"issued_at": -1}, "issued_at"),
        (good | {"owner": "alice"}, "owner"),
        (good | {"version": "v 1"}, "version"),
    ]
    for body, mention in cases:
        with Unchanged(module_api):
            response = module_api.client.post("/v1/consents", json=body)
        assert_problem(response, 422, "invalid-input", mention)
    assert_problem(module_api.client.get("/v1/consents/0x1234"), 422, "invalid-input", "address")
