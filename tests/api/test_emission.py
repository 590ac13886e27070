"""Emission state, the epoch list and manifests served byte for byte."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.merkle import keccak256
from ledger.schedule import SLOTS_PER_ERA, Pool, available, slot_budget
from ledger.store.models import Epoch
from tests.api.conftest import Api, running_api
from tests.api.helpers import assert_problem, settle_epochs


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("emission"), cars=4, owners=2) as api:
        yield api


def test_emission_before_genesis(api: Api) -> None:
    body = api.client.get("/v1/emission").json()
    assert body["started"] is False
    assert (body["slot"], body["era"], body["posted_epochs"]) == (0, 0, 0)
    assert body["drop_size"] == str(slot_budget(Pool.DRIVING, 0))
    assert [p["emitted"] for p in body["pools"]] == ["0", "0"]


def test_emission_after_settled_epochs(api: Api) -> None:
    settle_epochs(api, 2)
    world = api.world
    body = api.client.get("/v1/emission").json()
    now = world.chain.now()
    slot = (now - world.params.genesis) // 600
    assert body["started"] is True
    assert body["slot"] == slot
    assert body["epoch"] == slot // 144
    assert body["next_halving_slot"] == SLOTS_PER_ERA
    assert body["next_halving_at"] == world.params.genesis + SLOTS_PER_ERA * 600
    assert body["posted_epochs"] == 2
    record = world.gateway.epoch_record(1)
    pools = {p["pool"]: p for p in body["pools"]}
    assert pools["driving"]["emitted"] == str(record.driving_total)
    assert pools["cocreation"]["emitted"] == str(record.cocreation_total)
    assert pools["driving"]["available"] == str(available(Pool.DRIVING, slot))
    assert int(pools["driving"]["size"]) == int(pools["driving"]["available"]) + int(
        pools["driving"]["remaining"]
    )
    assert body["total_supply"] == "0"  # nobody has claimed


def test_epochs_list_and_pages(api: Api) -> None:
    body = api.client.get("/v1/epochs").json()
    numbers = [e["epoch"] for e in body["epochs"]]
    assert numbers == sorted(numbers, reverse=True)
    assert {0, 1} <= set(numbers)
    first = next(e for e in body["epochs"] if e["epoch"] == 0)
    assert first["state"] == "final"
    assert first["manifest_published"] is True
    assert first["seed"] is not None
    unposted = [e for e in body["epochs"] if e["state"] in ("committed", "secret_created")]
    assert unposted
    assert all(e["seed"] is None and not e["manifest_published"] for e in unposted)
    page = api.client.get("/v1/epochs", params={"limit": 1}).json()
    assert len(page["epochs"]) == 1
    assert page["next_before"] == page["epochs"][0]["epoch"]
    older = api.client.get("/v1/epochs", params={"limit": 1, "before": page["next_before"]}).json()
    assert older["epochs"][0]["epoch"] == page["next_before"] - 1
    assert api.client.get("/v1/epochs/0").json() == first
    assert_problem(api.client.get("/v1/epochs/999"), 404, "not-found")
    assert_problem(api.client.get("/v1/epochs", params={"limit": 0}), 422, None, "limit")


def test_a_manifest_is_served_byte_for_byte_with_its_hash(api: Api) -> None:
    response = api.client.get("/v1/epochs/1/manifest")
    assert response.status_code == 200
    with api.world.sessions() as session:
        epoch = session.get(Epoch, 1)
        assert epoch is not None
        stored = epoch.manifest
    assert stored is not None
    assert response.content == stored.encode()
    digest = "0x" + keccak256(response.content).hex()
    assert response.headers["X-Manifest-Hash"] == digest == epoch.manifest_hash
    posted = api.world.system.distributor.events.EpochPosted().get_logs(from_block=0)
    assert "0x" + bytes(posted[1]["args"]["manifestHash"]).hex() == digest
    latest = api.client.get("/v1/epochs").json()["epochs"][0]["epoch"]
    assert_problem(api.client.get(f"/v1/epochs/{latest}/manifest"), 404, "not-found", "posted")
