"""Accounts over settled epochs: summary, history with reasons, proof, relayed claim, data export."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_account import Account
from sqlalchemy import func, select

from ledger.merkle import MerkleTree
from ledger.store.models import Allocation, Completion, DropWin, Entitlement, Pool
from tests.api.conftest import Api, running_api
from tests.api.helpers import Unchanged, assert_problem, settle_epochs, sign_typed


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("accounts"), cars=6, owners=3) as api:
        settle_epochs(api, 2)  # epochs 0 and 1: claimable
        api.world.live_epoch(2)
        api.world.settle_after(2)  # epoch 2: posted, still in its challenge window
        yield api


def owner(api: Api, index: int = 0) -> str:
    return str(api.world.fleet.owners[index].address)


def allocated(api: Api, account: str, epoch: int, pool: Pool) -> int:
    with api.world.sessions() as session:
        row = session.get(Allocation, (epoch, account, pool))
        return 0 if row is None else row.amount


def test_summary_splits_claimable_and_pending(api: Api) -> None:
    account = owner(api)
    body = api.client.get(f"/v1/accounts/{account.lower()}").json()
    with api.world.sessions() as session:
        entitlement = session.get(Entitlement, (1, account))
    assert entitlement is not None
    assert body["account"] == account
    assert body["claimable_epoch"] == 1
    assert body["claimable_now"] == str(entitlement.cumulative)
    assert body["balance"] == body["claimed"] == "0"
    pending = allocated(api, account, 2, Pool.DRIVING) + allocated(api, account, 2, Pool.COCREATION)
    assert body["pending"] == str(pending)
    assert body["pending_epochs"] == ([2] if pending else [])


def test_history_explains_every_stone_with_drops_and_task_points(api: Api) -> None:
    account = owner(api)
    body = api.client.get(f"/v1/accounts/{account}", params={"history_epochs": 5}).json()
    epochs = {entry["epoch"]: entry for entry in body["history"]}
    assert sorted(epochs, reverse=True) == [entry["epoch"] for entry in body["history"]]
    assert {0, 1, 2} <= set(epochs)
    for number in (0, 1, 2):
        entry = epochs[number]
        assert entry["state"] in ("final", "confirmed", "posted")
        assert entry["driving"] == str(allocated(api, account, number, Pool.DRIVING))
        assert entry["cocreation"] == str(allocated(api, account, number, Pool.COCREATION))
        assert sum(int(drop["amount"]) for drop in entry["drops"]) == int(entry["driving"])
        assert all(drop["vehicle_id"].startswith("car-") for drop in entry["drops"])
        with api.world.sessions() as session:
            points = session.scalar(
                select(func.sum(Completion.points)).where(
                    Completion.account == account,
                    Completion.completed_at >= entry["start"],
                    Completion.completed_at < entry["end"],
                )
            )
        assert entry["points"] == sum(task["points"] for task in entry["tasks"]) == (points or 0)
        assert all(task["completions"] >= 1 and task["title"] for task in entry["tasks"])
    with api.world.sessions() as session:
        wins = session.scalar(select(func.count()).select_from(DropWin).where(DropWin.account == account))
    assert sum(len(entry["drops"]) for entry in body["history"]) == wins
    assert body["history_next_until"] is None or body["history_next_until"] >= 0


def test_history_paging(api: Api) -> None:
    account = owner(api)
    page = api.client.get(f"/v1/accounts/{account}", params={"history_epochs": 1, "until_epoch": 1}).json()
    assert [entry["epoch"] for entry in page["history"]] == [1]
    assert page["history_next_until"] == 0
    assert_problem(
        api.client.get(f"/v1/accounts/{account}", params={"history_epochs": 0}), 422, None, "history"
    )
    assert_problem(api.client.get(f"/v1/accounts/{account}", params={"until_epoch": -1}), 422)


def test_the_proof_verifies_against_the_claimable_root_on_chain(api: Api) -> None:
    account = owner(api, 1)
    body = api.client.get(f"/v1/accounts/{account}/proof").json()
    assert body["epoch"] == 1
    onchain = api.world.gateway.epoch_record(1).root
    assert body["root"] == "0x" + onchain.hex()
    proof = [bytes.fromhex(node[2:]) for node in body["proof"]]
    assert MerkleTree.verify(onchain, account, int(body["cumulative"]), proof)
    assert body["claimable"] == body["cumulative"]
    assert_problem(api.client.get(f"/v1/accounts/{Account.create().address}/proof"), 404, "not-found")
    assert_problem(api.client.get(f"/v1/accounts/{account}/proof", params={"epoch": 99}), 404)


def test_a_relayed_claim_mints_what_is_owed_once(api: Api) -> None:
    account = owner(api, 1)
    owed = int(api.client.get(f"/v1/accounts/{account}").json()["claimable_now"])
    response = api.client.post(f"/v1/accounts/{account}/claim")
    assert response.status_code == 200, response.text
    claim = response.json()
    assert claim["amount"] == str(owed)
    assert claim["epoch"] == 1
    assert claim["tx"]["tx_hash"].startswith("0x")
    assert api.world.system.token.functions.balanceOf(account).call() == owed
    after = api.client.get(f"/v1/accounts/{account}").json()
    assert (after["balance"], after["claimed"], after["claimable_now"]) == (str(owed), str(owed), "0")
    with Unchanged(api):
        assert_problem(api.client.post(f"/v1/accounts/{account}/claim"), 409, "conflict", "claimed")
        assert_problem(api.client.post(f"/v1/accounts/{Account.create().address}/claim"), 409, "conflict")
        assert_problem(api.client.post("/v1/accounts/0xnope/claim"), 422, "invalid-input", "address")


def export_headers(
    api: Api, key: bytes, account: str, issued_at: int
) -> tuple[dict[str, str], dict[str, int]]:
    typed = api.client.get(
        f"/v1/accounts/{account}/export/typed-data", params={"issued_at": issued_at}
    ).json()
    return {"X-Owner-Signature": sign_typed(typed["typed_data"], key)}, {"issued_at": issued_at}


def test_the_owner_downloads_everything_the_ledger_holds_about_the_account(api: Api) -> None:
    holder = api.world.fleet.owners[1]
    account = str(holder.address)
    headers, params = export_headers(api, bytes(holder.key), account, api.world.chain.now())
    response = api.client.get(f"/v1/accounts/{account}/export", headers=headers, params=params)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["account"] == account
    assert len(data["consents"]) == 1
    assert data["consents"][0]["signature"].startswith("0x")
    owned = [car.vehicle_id for car in api.world.fleet.cars if car.owner.address == account]
    assert sorted(v["vehicle_id"] for v in data["vehicles"]) == sorted(owned)
    assert any(v["trips"] for v in data["vehicles"])
    assert all(v["owned"][0]["until"] is None for v in data["vehicles"])
    with api.world.sessions() as session:
        allocations = session.scalar(
            select(func.count()).select_from(Allocation).where(Allocation.account == account)
        )
        completions = session.scalar(
            select(func.count()).select_from(Completion).where(Completion.account == account)
        )
    assert len(data["allocations"]) == allocations
    assert len(data["completions"]) == completions
    assert data["drop_wins"]
    assert [c["amount"] for c in data["claims"]] == [
        api.client.get(f"/v1/accounts/{account}").json()["claimed"]
    ]


def test_the_export_needs_the_owners_signature_or_an_operator(api: Api) -> None:
    holder = api.world.fleet.owners[0]
    account = str(holder.address)
    url = f"/v1/accounts/{account}/export"
    assert_problem(api.client.get(url), 401, "unauthenticated")
    thief = Account.create()
    headers, params = export_headers(api, bytes(thief.key), account, api.world.chain.now())
    assert_problem(api.client.get(url, headers=headers, params=params), 403, "bad-signature")
    stale = api.world.chain.now() - 3600
    headers, params = export_headers(api, bytes(holder.key), account, stale)
    assert_problem(api.client.get(url, headers=headers, params=params), 403, "bad-signature", "expired")
    assert_problem(api.client.get(url, headers={"X-Owner-Signature": "0x12"}, params=params), 422)
    assert_problem(api.client.get(url, headers=api.auth("cars")), 403, "forbidden")
    assert api.client.get(url, headers=api.auth("accounts")).status_code == 200
