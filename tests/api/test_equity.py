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
    keyed = headers | {"Idempotency-Key": "round-1"}
    opened = api.client.post("/v1/equity/rounds", json=body, headers=keyed)
    assert opened.status_code == 201, opened.text
    round_ = opened.json()["round"]
    assert (round_["round_id"], round_["funding"], round_["balance_root"]) == (1, str(FUNDING), None)
    assert len(opened.json()["txs"]) == 2  # approve, open
    # A retry after a lost answer gets the same answer and opens (and funds) nothing more.
    with Unchanged(api):
        again = api.client.post("/v1/equity/rounds", json=body, headers=keyed)
        assert (again.status_code, again.content) == (201, opened.content)
        assert again.headers["Idempotent-Replayed"] == "true"
        other = body | {"funding": str(FUNDING + 1)}
        assert_problem(api.client.post("/v1/equity/rounds", json=other, headers=keyed), 409, None, "round-1")
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
    keyed = headers | {"Idempotency-Key": "buyback-1"}
    opened = api.client.post("/v1/equity/buybacks", json=body, headers=keyed)
    assert opened.status_code == 201, opened.text
    window = opened.json()["buyback"]
    assert window["funding"] == str(100 * price)
    with Unchanged(api):
        again = api.client.post("/v1/equity/buybacks", json=body, headers=keyed)
        assert (again.status_code, again.content) == (201, opened.content)
        assert again.headers["Idempotent-Replayed"] == "true"
    assert [w["buyback_id"] for w in api.client.get("/v1/equity/buybacks").json()] == [1]

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


def test_the_vault_names_its_settlement_token(api: Api) -> None:
    system = api.world.system
    body = api.client.get("/v1/equity").json()
    assert body == {
        "vault": system.vault.address,
        "settlement_token": {
            "address": system.settlement.address,
            "name": "Test Settlement Yuan",
            "symbol": "tCNY",
            "decimals": 6,
        },
        "challenge_window": system.vault.functions.challengeWindow().call(),
        "rounds": system.vault.functions.roundCount().call(),
        "buybacks": system.vault.functions.buybackCount().call(),
    }


def payee_cases(api: Api) -> list[tuple[object, int, str]]:
    system = api.world.system
    return [
        ({"to": system.vault.address}, 422, "EquityVault"),
        ({"to": system.settlement.address}, 422, "SettlementToken"),
        ({"to": system.token.address.lower()}, 422, "StoneToken"),
        ({"to": "0x" + "00" * 20}, 422, "zero address"),
        ({"to": "0x1234"}, 422, "to"),
        ({"to": 5}, 422, "to"),
        ({}, 422, "to"),
        ({"to": system.roles.treasurer, "amount": "1"}, 422, "amount"),
        ([system.roles.treasurer], 422, "body"),
    ]


@pytest.mark.parametrize("path", ["/v1/equity/rounds/1/sweep", "/v1/equity/buybacks/1/close"])
def test_payments_out_of_the_vault_are_validated(api: Api, path: str) -> None:
    headers = api.auth("treasury")
    for body, status, mention in payee_cases(api):
        with Unchanged(api):
            assert_problem(api.client.post(path, json=body, headers=headers), status, None, mention)
    treasurer = {"to": api.world.system.roles.treasurer}
    with Unchanged(api):
        unknown = path.replace("/1/", "/42/")
        assert_problem(api.client.post(unknown, json=treasurer, headers=headers), 404, "not-found")
        for bad_id in ("0", "x", str(2**256)):
            assert_problem(
                api.client.post(path.replace("/1/", f"/{bad_id}/"), json=treasurer, headers=headers), 422
            )
        assert_problem(api.client.post(path, json=treasurer), 401, "unauthenticated", "treasury")
        assert_problem(
            api.client.post(path, json=treasurer, headers=api.auth("catalogue")), 403, "forbidden", "treasury"
        )


def test_a_buyback_is_closed_once_from_its_end(api: Api) -> None:
    world, headers = api.world, api.auth("treasury")
    window = api.client.get("/v1/equity/buybacks/1").json()
    treasurer = world.system.roles.treasurer
    close = "/v1/equity/buybacks/1/close"
    with Unchanged(api):
        early = assert_problem(
            api.client.post(close, json={"to": treasurer}, headers=headers), 409, "conflict", "end"
        )
        assert "NotClosable" in early["detail"]
    world.chain.travel_to(window["end"])

    before = settlement_balance(api, treasurer)
    closed = api.client.post(close, json={"to": treasurer}, headers=headers)
    assert closed.status_code == 200, closed.text
    body = closed.json()
    refund = int(window["funding"]) - int(window["paid"])
    assert int(window["paid"]) > 0  # a sale was made: the refund is what is left
    assert (body["to"], body["refund"]) == (treasurer, str(refund))
    assert (body["buyback"]["closed"], body["buyback"]["open_now"]) == (True, False)
    assert body["tx"] is not None
    assert settlement_balance(api, treasurer) == before + refund

    with Unchanged(api):
        again = api.client.post(close, json={"to": treasurer}, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == body | {"tx": None}
        assert_problem(
            api.client.post(close, json={"to": world.fleet.owners[1].address}, headers=headers),
            409,
            "conflict",
            "closed already",
        )
        # A closed window buys no more.
        seller = world.fleet.owners[2]
        late = api.client.post("/v1/equity/buybacks/1/sell-backs", json=sell_back_body(api, seller, UNIT))
        assert assert_problem(late, 409, "contract-revert")["error"] == "BuybackNotOpen"


def test_a_round_is_swept_once_from_its_deadline(api: Api) -> None:
    world, headers = api.world, api.auth("treasury")
    round_ = api.client.get("/v1/equity/rounds/1").json()
    treasurer = world.system.roles.treasurer
    sweep = "/v1/equity/rounds/1/sweep"
    with Unchanged(api):
        early = assert_problem(
            api.client.post(sweep, json={"to": treasurer}, headers=headers), 409, "conflict", "deadline"
        )
        assert "NotClosable" in early["detail"]

    world.chain.travel_to(round_["claim_deadline"])
    before = settlement_balance(api, treasurer)
    swept = api.client.post(sweep, json={"to": treasurer.lower()}, headers=headers)
    assert swept.status_code == 200, swept.text
    body = swept.json()
    rest = int(round_["funding"]) - int(round_["paid"])
    assert rest > 0
    assert (body["to"], body["amount"], body["round"]["swept"]) == (treasurer, str(rest), True)
    assert body["tx"]["tx_hash"].startswith("0x")
    assert settlement_balance(api, treasurer) == before + rest
    assert api.client.get("/v1/equity/rounds/1").json()["swept"] is True

    # A retry answers the same sweep and sends nothing; another payee is a conflict.
    with Unchanged(api):
        again = api.client.post(sweep, json={"to": treasurer}, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == body | {"tx": None}
        other = assert_problem(
            api.client.post(sweep, json={"to": world.fleet.owners[0].address}, headers=headers),
            409,
            "conflict",
            "swept already",
        )
        assert treasurer in other["detail"]
    assert settlement_balance(api, treasurer) == before + rest
