"""Redemptions: the catalogue (scope ``catalogue``), orders signed by the owner and relayed, fulfilment
and cancellation (scope ``fulfilment``), refused orders that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.schedule import UNIT
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem, settle_epochs, sign_typed

LIDAR = {
    "price": str(10 * UNIT),
    "stock": 5,
    "active": True,
    "title": "Lidar upgrade (激光雷达升级)",
    "description": "Roof lidar.",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("redemptions"), cars=6, owners=3) as api:
        settle_epochs(api, 1)
        for holder in api.world.fleet.owners:
            assert api.client.post(f"/v1/accounts/{holder.address}/claim").status_code == 200
        assert (
            api.client.put(
                "/v1/redemptions/catalogue/1", json=LIDAR, headers=api.auth("catalogue")
            ).status_code
            == 200
        )
        yield api


def balance(api: Api, account: str) -> int:
    return int(api.world.system.token.functions.balanceOf(account).call())


def signed_order(
    api: Api,
    buyer: LocalAccount,
    item_id: int = 1,
    max_price: int = 10 * UNIT,
    signer: LocalAccount | None = None,
    deadline: int | None = None,
) -> dict[str, Any]:
    deadline = api.world.chain.now() + 3600 if deadline is None else deadline
    params = {"buyer": buyer.address, "item_id": item_id, "max_price": str(max_price), "deadline": deadline}
    typed = api.client.get("/v1/redemptions/orders/typed-data", params=params)
    assert typed.status_code == 200, typed.text
    signature = sign_typed(typed.json()["typed_data"], bytes((signer or buyer).key))
    return params | {"signature": signature}


def test_the_catalogue_shows_chain_state_with_its_verified_words(api: Api) -> None:
    items = api.client.get("/v1/redemptions/catalogue").json()
    assert [item["item_id"] for item in items] == [1]
    lidar = items[0]
    assert (lidar["price"], lidar["stock"], lidar["active"]) == (LIDAR["price"], 5, True)
    assert lidar["title"] == LIDAR["title"]
    assert lidar["metadata_verified"] is True
    assert api.client.get("/v1/redemptions/catalogue/1").json() == lidar
    assert_problem(api.client.get("/v1/redemptions/catalogue/7"), 404, "not-found")


def test_catalogue_changes_are_validated(api: Api) -> None:
    headers = api.auth("catalogue")
    for body, mention in [
        (LIDAR | {"price": "0"}, "price"),
        (LIDAR | {"price": "-5"}, "price"),
        (LIDAR | {"price": 5}, "price"),
        (LIDAR | {"price": str(2**128)}, "price"),
        (LIDAR | {"stock": 2**64}, "stock"),
        (LIDAR | {"title": ""}, "title"),
        (LIDAR | {"active": "yes"}, "active"),
    ]:
        with Unchanged(api):
            assert_problem(
                api.client.put("/v1/redemptions/catalogue/2", json=body, headers=headers), 422, None, mention
            )


def test_an_order_signed_by_the_buyer_escrows_and_fulfilment_burns(api: Api) -> None:
    buyer = api.world.fleet.owners[0]
    before = balance(api, buyer.address)
    supply = api.world.system.token.functions.totalSupply().call()
    response = api.client.post("/v1/redemptions/orders", json=signed_order(api, buyer))
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    assert (order["buyer"], order["item_id"], order["price"], order["status"]) == (
        buyer.address,
        1,
        str(10 * UNIT),
        "escrowed",
    )
    assert balance(api, buyer.address) == before - 10 * UNIT
    assert api.client.get("/v1/redemptions/catalogue/1").json()["stock"] == 4
    listed = api.client.get("/v1/redemptions/orders", params={"buyer": buyer.address}).json()
    assert [o["order_id"] for o in listed] == [order["order_id"]]

    url = f"/v1/redemptions/orders/{order['order_id']}"
    fulfilled = api.client.post(f"{url}/fulfil", headers=api.auth("fulfilment"))
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["order"]["status"] == "fulfilled"
    assert api.world.system.token.functions.totalSupply().call() == supply - 10 * UNIT
    problem = assert_problem(
        api.client.post(f"{url}/fulfil", headers=api.auth("fulfilment")), 409, "contract-revert"
    )
    assert problem["error"] == "OrderNotEscrowed"
    assert problem["args"] == [str(order["order_id"]), "2"]


def test_a_cancelled_order_refunds_and_restocks(api: Api) -> None:
    buyer = api.world.fleet.owners[1]
    before = balance(api, buyer.address)
    order = api.client.post("/v1/redemptions/orders", json=signed_order(api, buyer)).json()["order"]
    stock = api.client.get("/v1/redemptions/catalogue/1").json()["stock"]
    cancelled = api.client.post(
        f"/v1/redemptions/orders/{order['order_id']}/cancel", headers=api.auth("fulfilment")
    )
    assert cancelled.json()["order"]["status"] == "cancelled"
    assert balance(api, buyer.address) == before
    assert api.client.get("/v1/redemptions/catalogue/1").json()["stock"] == stock + 1
    assert api.client.get(f"/v1/redemptions/orders/{order['order_id']}").json()["status"] == "cancelled"


def test_refused_orders_change_nothing(api: Api) -> None:
    buyer = api.world.fleet.owners[2]
    stranger = Account.create()
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        (signed_order(api, buyer, signer=stranger), 403, "bad-signature", buyer.address),
        (signed_order(api, buyer, deadline=api.world.chain.now() - 1), 403, "bad-signature", "deadline"),
        (signed_order(api, buyer, max_price=UNIT), 409, "contract-revert", "PriceAboveMax"),
        (signed_order(api, buyer, item_id=9), 409, "contract-revert", "ItemUnavailable"),
        (signed_order(api, stranger), 409, "contract-revert", "ERC20InsufficientBalance"),
        (signed_order(api, buyer) | {"max_price": 10 * UNIT}, 422, "invalid-input", "max_price"),
        (signed_order(api, buyer) | {"signature": "0x00"}, 422, "invalid-input", "signature"),
    ]
    for body, status, slug, mention in cases:
        with Unchanged(api):
            assert_problem(api.client.post("/v1/redemptions/orders", json=body), status, slug, mention)
    # A signature is good for one order: the nonce moves on.
    body = signed_order(api, buyer)
    assert api.client.post("/v1/redemptions/orders", json=body).status_code == 201
    with Unchanged(api):
        assert_problem(api.client.post("/v1/redemptions/orders", json=body), 403, "bad-signature")


def test_unknown_orders(api: Api) -> None:
    assert_problem(api.client.get("/v1/redemptions/orders/999"), 404, "not-found")
    assert_problem(api.client.post("/v1/redemptions/orders/999/fulfil", headers=api.auth("fulfilment")), 404)
    assert_problem(api.client.get("/v1/redemptions/orders/0"), 422)
