"""Equity value: a round from opening to claims (record-date balances from Transfer events, escrow
excluded, root posted, relayed claims) and a buy-back with relayed sell-backs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from ledger.merkle import MerkleTree
from ledger.schedule import UNIT
from ledger.store.models import EquityBalance, EquitySnapshot
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem, settle_epochs, sign_typed

FUNDING = 1_000_000 * 10**6  # one million tCNY (6 decimals)
DAY = 86_400


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("equity"), cars=6, owners=3) as api:
        settle_epochs(api, 1)
        for holder in api.world.fleet.owners:
            assert api.client.post(f"/v1/accounts/{holder.address}/claim").status_code == 200
        system = api.world.system
        api.world.chain.send(
            system.settlement.functions.mint(system.roles.treasurer, 10 * FUNDING), system.roles.admin
        )
        yield api


def settlement_balance(api: Api, account: str) -> int:
    return int(api.world.system.settlement.functions.balanceOf(account).call())


def stones(api: Api, account: str) -> int:
    return int(api.world.system.token.functions.balanceOf(account).call())


def escrow_an_order(api: Api, buyer: LocalAccount) -> None:
    item = {"price": str(UNIT), "stock": 10, "active": True, "title": "Floor mats"}
    assert (
        api.client.put("/v1/redemptions/catalogue/1", json=item, headers=api.auth("catalogue")).status_code
        == 200
    )
    params = {
        "buyer": buyer.address,
        "item_id": 1,
        "max_price": str(UNIT),
        "deadline": api.world.chain.now() + 600,
    }
    typed = api.client.get("/v1/redemptions/orders/typed-data", params=params).json()["typed_data"]
    order = params | {"signature": sign_typed(typed, bytes(buyer.key))}
    assert api.client.post("/v1/redemptions/orders", json=order).status_code == 201


def test_a_round_from_opening_to_claims(api: Api) -> None:
    world, headers = api.world, api.auth("treasury")
    now = world.chain.now()
    body = {"record_date": now + 100, "funding": str(FUNDING), "claim_deadline": now + 30 * DAY}
    opened = api.client.post("/v1/equity/rounds", json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    round_ = opened.json()["round"]
    assert (round_["round_id"], round_["funding"], round_["balance_root"]) == (1, str(FUNDING), None)
    assert len(opened.json()["txs"]) == 2  # approve, open
    assert api.client.get("/v1/equity/rounds").json() == [round_]

    with Unchanged(api):
        assert_problem(
            api.client.post("/v1/equity/rounds/1/balance-root", headers=headers),
            409,
            "conflict",
            "not passed",
        )
    escrow_an_order(api, world.fleet.owners[0])  # stones in the desk's escrow at the record date
    world.chain.travel_to(now + 101)
    escrow_an_order(api, world.fleet.owners[0])  # after the record date: must not count

    posted = api.client.post("/v1/equity/rounds/1/balance-root", headers=headers)
    assert posted.status_code == 200, posted.text
    snapshot = posted.json()
    assert snapshot["tx"] is not None
    holders = [str(owner.address) for owner in world.fleet.owners]
    with world.sessions() as session:
        row = session.get(EquitySnapshot, 1)
        assert row is not None
        leaves = {
            b.account: b.balance
            for b in session.scalars(select(EquityBalance).where(EquityBalance.round_id == 1))
        }
    token = world.system.token.functions
    at_record = {a: token.balanceOf(a).call(block_identifier=row.block) for a in holders}
    assert leaves == {a: v for a, v in at_record.items() if v}
    assert world.system.desk.address not in leaves
    assert token.balanceOf(world.system.desk.address).call(block_identifier=row.block) == UNIT
    assert snapshot["total_eligible"] == str(sum(leaves.values()))
    assert snapshot["root"] == "0x" + MerkleTree.build(sorted(leaves.items())).root.hex()
    assert api.client.get("/v1/equity/rounds/1").json()["balance_root"] == snapshot["root"]
    again = api.client.post("/v1/equity/rounds/1/balance-root", headers=headers)
    assert again.json()["tx"] is None

    holder = holders[1]
    entitlement = api.client.get(f"/v1/equity/rounds/1/accounts/{holder}").json()
    assert entitlement["balance"] == str(leaves[holder])
    assert entitlement["payout"] == str(FUNDING * leaves[holder] // sum(leaves.values()))
    assert entitlement["claimed"] is False
    with Unchanged(api):
        early = api.client.post("/v1/equity/rounds/1/claims", json={"account": holder})
    assert assert_problem(early, 409, "contract-revert")["error"] == "RoundNotClaimable"

    world.chain.travel_to(entitlement["claimable_at"] + 1)
    before = settlement_balance(api, holder)
    claimed = api.client.post("/v1/equity/rounds/1/claims", json={"account": holder})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["claim"]["claimed"] is True
    assert settlement_balance(api, holder) == before + int(entitlement["payout"])
    with Unchanged(api):
        assert_problem(
            api.client.post("/v1/equity/rounds/1/claims", json={"account": holder}), 409, "conflict"
        )
        nobody = Account.create().address
        assert_problem(api.client.get(f"/v1/equity/rounds/1/accounts/{nobody}"), 404, "not-found")
        assert_problem(api.client.post("/v1/equity/rounds/1/claims", json={"account": nobody}), 404)


def test_round_requests_are_validated(api: Api) -> None:
    headers = api.auth("treasury")
    now = api.world.chain.now()
    good = {"record_date": now + 100, "funding": str(FUNDING), "claim_deadline": now + 30 * DAY}
    cases: list[tuple[dict[str, Any], int, str]] = [
        (good | {"funding": "0"}, 422, "funding"),
        (good | {"funding": 5}, 422, "funding"),
        (good | {"funding": "1e6"}, 422, "funding"),
        (good | {"claim_deadline": now + 50}, 422, "InvalidWindow"),
        (good | {"record_date": -1}, 422, "record_date"),
    ]
    for body, status, mention in cases:
        with Unchanged(api):
            assert_problem(
                api.client.post("/v1/equity/rounds", json=body, headers=headers), status, None, mention
            )
    assert_problem(api.client.get("/v1/equity/rounds/42"), 404, "not-found")
    assert_problem(api.client.post("/v1/equity/rounds/42/balance-root", headers=headers), 404)


def sell_back_body(
    api: Api, seller: LocalAccount, stones: int, signer: LocalAccount | None = None
) -> dict[str, Any]:
    params = {
        "seller": seller.address,
        "stones": str(stones),
        "min_payout": "1",
        "deadline": api.world.chain.now() + 600,
    }
    typed = api.client.get("/v1/equity/buybacks/1/sell-backs/typed-data", params=params)
    assert typed.status_code == 200, typed.text
    return params | {"signature": sign_typed(typed.json()["typed_data"], bytes((signer or seller).key))}


def test_a_buyback_burns_the_stones_sold_into_it(api: Api) -> None:
    world, headers = api.world, api.auth("treasury")
    now = world.chain.now()
    price = 2_500_000  # 2.5 tCNY per stone
    body = {
        "price_per_stone": str(price),
        "stone_budget": str(100 * UNIT),
        "start": now,
        "end": now + 7 * DAY,
    }
    opened = api.client.post("/v1/equity/buybacks", json=body, headers=headers)
    assert opened.status_code == 201, opened.text
    window = opened.json()["buyback"]
    assert window["funding"] == str(100 * price)
    assert api.client.get("/v1/equity/buybacks").json()[0]["buyback_id"] == 1

    seller = world.fleet.owners[2]
    held, cash, supply = stones(api, seller.address), settlement_balance(api, seller.address), 0
    supply = world.system.token.functions.totalSupply().call()
    sold = api.client.post("/v1/equity/buybacks/1/sell-backs", json=sell_back_body(api, seller, UNIT))
    assert sold.status_code == 201, sold.text
    assert (sold.json()["stones"], sold.json()["payout"]) == (str(UNIT), str(price))
    assert stones(api, seller.address) == held - UNIT
    assert settlement_balance(api, seller.address) == cash + price
    assert world.system.token.functions.totalSupply().call() == supply - UNIT
    assert api.client.get("/v1/equity/buybacks/1").json()["stones_bought"] == str(UNIT)

    with Unchanged(api):
        forged = sell_back_body(api, seller, UNIT, signer=Account.create())
        assert_problem(api.client.post("/v1/equity/buybacks/1/sell-backs", json=forged), 403, "bad-signature")
        greedy = sell_back_body(api, seller, 101 * UNIT)
        problem = assert_problem(
            api.client.post("/v1/equity/buybacks/1/sell-backs", json=greedy), 409, "contract-revert"
        )
        assert problem["error"] == "BuybackBudgetExceeded"
        negative = sell_back_body(api, seller, UNIT) | {"stones": "-1"}
        assert_problem(
            api.client.post("/v1/equity/buybacks/1/sell-backs", json=negative), 422, None, "stones"
        )
        assert_problem(api.client.get("/v1/equity/buybacks/9"), 404)
