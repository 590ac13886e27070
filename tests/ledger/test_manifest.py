"""Settlement is deterministic from the manifest: the published JSON alone recomputes every amount."""

from __future__ import annotations

import json

from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.drops import (
    CarInput,
    OwnershipSpan,
    PointsInput,
    draw_driving,
    epoch_seed,
    inputs_root,
    split_cocreation,
)
from ledger.manifest import EpochInputs, build_manifest, canonical_json, manifest_hash
from ledger.merkle import MerkleTree, keccak256

ACCOUNTS = [Account.from_key(bytes([i + 1]) * 32).address for i in range(6)]


@st.composite
def epoch_inputs(draw: st.DrawFn) -> tuple[int, EpochInputs, bytes, int, int]:
    epoch = draw(st.integers(0, 3000))
    n_cars = draw(st.integers(0, 6))
    cars = tuple(CarInput(f"car-{i}", draw(st.integers(0, 6_000_000))) for i in range(n_cars))
    first = epoch * 144
    ownership = tuple(
        OwnershipSpan(car.car_id, draw(st.sampled_from(ACCOUNTS)), draw(st.integers(0, first)))
        for car in cars
    )
    resales = tuple(
        OwnershipSpan(car.car_id, draw(st.sampled_from(ACCOUNTS)), first + draw(st.integers(1, 143)))
        for car in cars[: draw(st.integers(0, n_cars))]
    )
    accounts = draw(st.lists(st.sampled_from(ACCOUNTS), unique=True, max_size=len(ACCOUNTS)))
    points = tuple(PointsInput(a, draw(st.integers(0, 10_000))) for a in accounts)
    secret = draw(st.binary(min_size=32, max_size=32))
    carry_d = draw(st.integers(0, 10**21))
    carry_c = draw(st.integers(0, 10**21))
    return epoch, EpochInputs(cars, ownership + resales, points), secret, carry_d, carry_c


def settle(epoch: int, inputs: EpochInputs, secret: bytes, carry_d: int, carry_c: int) -> dict[str, object]:
    root_in = inputs_root(inputs.cars, inputs.ownership, inputs.points)
    seed = epoch_seed(secret, root_in)
    driving = draw_driving(epoch, seed, inputs.cars, inputs.ownership, carry_d)
    cocreation = split_cocreation(epoch, inputs.points, carry_c)
    cumulative: dict[str, int] = {}
    for credits in (driving.credits, cocreation.credits):
        for account, amount in credits.items():
            cumulative[account] = cumulative.get(account, 0) + amount
    tree = MerkleTree.build(sorted(cumulative.items()) or [("0x" + "00" * 20, 0)])
    return build_manifest(
        epoch=epoch,
        genesis=1_800_000_000,
        slot_seconds=600,
        parameters={"shares_per_drop": 100, "weight_cap_metres": 5_000_000},
        commitment=keccak256(secret),
        secret=secret,
        inputs=inputs,
        inputs_root=root_in,
        seed=seed,
        driving=driving,
        cocreation=cocreation,
        driving_total=driving.allocated,
        cocreation_total=cocreation.allocated,
        root=tree.root,
        previous_manifest_hash=None,
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(epoch_inputs())
def test_the_manifest_alone_recomputes_the_same_epoch(case: tuple[int, EpochInputs, bytes, int, int]) -> None:
    epoch, inputs, secret, carry_d, carry_c = case
    published = canonical_json(settle(epoch, inputs, secret, carry_d, carry_c))

    # An auditor holds only the published bytes.
    manifest = json.loads(published)
    again = settle(
        manifest["epoch"],
        EpochInputs.from_json(manifest["inputs"]),
        bytes.fromhex(manifest["secret"][2:]),
        int(manifest["driving"]["carry_in"]),
        int(manifest["cocreation"]["carry_in"]),
    )
    assert canonical_json(again) == published
    assert manifest_hash(again) == keccak256(published)
    # Nothing is created or lost in either pool.
    for pool in ("driving", "cocreation"):
        part = manifest[pool]
        credited = sum(int(v) for v in part["credits"].values())
        assert credited == int(part["allocated"])
        assert int(part["allocated"]) + int(part["carry_out"]) == int(part["carry_in"]) + int(
            part["emission"]
        )


def test_canonical_json_is_one_byte_form() -> None:
    assert canonical_json({"b": "1", "a": [1, "二"]}) == '{"a":[1,"二"],"b":"1"}'.encode()
