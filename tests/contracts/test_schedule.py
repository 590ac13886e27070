"""EmissionSchedule against DESIGN §2: cross-checked with an independent integer model written here and with
``ledger.schedule``, plus the slot and epoch clock."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.contract import Contract

import ledger.schedule as py_schedule
from ledger.chain.deploy import System
from ledger.chain.embedded import EmbeddedChain
from tests.contracts.helpers import epoch_end, epoch_start, reverts

# The numbers of DESIGN §2, restated rather than imported so that a wrong constant is caught.
STONE = 10**18
ERA = 1461 * 144
DAY_SLOTS = 144
DRIVING, COCREATION = 0, 1
POOL_SIZE = {DRIVING: 210_000_000 * STONE, COCREATION: 90_000_000 * STONE}
PY_POOL = {DRIVING: py_schedule.Pool.DRIVING, COCREATION: py_schedule.Pool.COCREATION}
UINT256_MAX = 2**256 - 1


def model_available(pool: int, slots: int) -> int:
    """A second statement of the schedule: walk era by era, each emitting what is left minus what is left
    for later (the remainder halves, floored, once per era), then add the running era's even share."""
    left = POOL_SIZE[pool]
    emitted = 0
    whole_eras = slots // ERA
    era = 0
    while era < whole_eras and left > 0:
        kept = left // 2
        emitted += left - kept
        left = kept
        era += 1
    into_era = slots - whole_eras * ERA
    return emitted + (left // 2) * into_era // ERA


# An explicit sender spares web3 from looking up a default one on every call (a third of a call's cost here).
CALLER = "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"  # eth-tester's first pre-funded account


def on_chain(schedule: Contract, pool: int, slots: int) -> int:
    return int(schedule.functions.available(pool, slots).call({"from": CALLER}))


def explicit_slots() -> list[int]:
    points = {0, 1}
    for k in range(41):
        boundary = k * ERA
        points.update(s for s in (boundary - 1, boundary, boundary + 1) if s >= 0)
    return sorted(points)


def test_model_agrees_with_design_at_known_points() -> None:
    # Independent of both implementations under test: plain arithmetic on the era structure.
    assert model_available(DRIVING, 0) == 0
    assert model_available(DRIVING, ERA) == 105_000_000 * STONE
    assert model_available(DRIVING, 2 * ERA) == 157_500_000 * STONE
    assert model_available(COCREATION, ERA) == 45_000_000 * STONE
    assert model_available(DRIVING, ERA // 2) == 52_500_000 * STONE
    assert model_available(DRIVING, 10**9 * ERA) == POOL_SIZE[DRIVING]


@pytest.mark.parametrize("pool", [DRIVING, COCREATION], ids=["driving", "cocreation"])
def test_available_at_slot_0_1_and_every_era_boundary(deployed: System, pool: int) -> None:
    mismatches: list[tuple[int, int, int, int]] = []
    for s in explicit_slots():
        chain_value = on_chain(deployed.schedule, pool, s)
        model_value = model_available(pool, s)
        python_value = py_schedule.available(PY_POOL[pool], s)
        if not chain_value == model_value == python_value:
            mismatches.append((s, chain_value, model_value, python_value))
    assert mismatches == []


slot_strategy = st.one_of(
    st.integers(min_value=0, max_value=4 * ERA),
    st.integers(min_value=0, max_value=100 * ERA),
    st.integers(min_value=0, max_value=2**200),
    st.builds(
        lambda k, d: max(0, k * ERA + d),
        st.integers(min_value=0, max_value=300),
        st.integers(min_value=-3, max_value=3),
    ),
)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(pool=st.sampled_from([DRIVING, COCREATION]), s=slot_strategy)
def test_available_at_random_slots(deployed: System, pool: int, s: int) -> None:
    chain_value = on_chain(deployed.schedule, pool, s)
    assert chain_value == model_available(pool, s)
    assert chain_value == py_schedule.available(PY_POOL[pool], s)
    assert 0 <= chain_value <= POOL_SIZE[pool]


def test_first_driving_drop_is_499_point_087_stones(deployed: System) -> None:
    drop = on_chain(deployed.schedule, DRIVING, 1)
    # (210M stones / 2) / 210,384 slots, floored to base units.
    assert drop == 105_000_000 * STONE // ERA == 499_087_383_070_955_966_233
    assert 499_087 * STONE // 1000 < drop < 499_088 * STONE // 1000
    assert on_chain(deployed.schedule, COCREATION, 1) == 45_000_000 * STONE // ERA


@pytest.mark.parametrize("pool", [DRIVING, COCREATION], ids=["driving", "cocreation"])
def test_pool_is_exhausted_and_never_exceeded(deployed: System, pool: int) -> None:
    size = POOL_SIZE[pool]
    last_era = size.bit_length()  # 88 for driving, 87 for co-creation
    assert on_chain(deployed.schedule, pool, last_era * ERA - 1) < size
    assert on_chain(deployed.schedule, pool, (last_era - 1) * ERA) == size - 1
    for s in (
        last_era * ERA,
        256 * ERA,
        256 * ERA + 1,
        257 * ERA - 1,
        300 * ERA + 12_345,
        2**100,
        2**200,
        UINT256_MAX,
    ):
        assert on_chain(deployed.schedule, pool, s) == size, s


def test_constants_and_immutables(deployed: System) -> None:
    fns = deployed.schedule.functions
    assert fns.UNIT().call() == STONE
    assert fns.POOL_DRIVING().call() == POOL_SIZE[DRIVING] == py_schedule.Pool.DRIVING.size
    assert fns.POOL_COCREATION().call() == POOL_SIZE[COCREATION] == py_schedule.Pool.COCREATION.size
    assert fns.SLOTS_PER_ERA().call() == ERA == py_schedule.SLOTS_PER_ERA
    assert fns.SLOTS_PER_EPOCH().call() == DAY_SLOTS == py_schedule.SLOTS_PER_EPOCH
    assert fns.genesis().call() == deployed.params.genesis
    assert fns.slotLength().call() == deployed.params.slot_seconds == py_schedule.SLOT_SECONDS == 600


def assert_clock(chain: EmbeddedChain, schedule: Contract, genesis: int, slot_length: int) -> None:
    """slotAt, slotsElapsedAt, epochStart and epochEnd of a schedule with the given genesis and slot."""
    fns = schedule.functions
    for before in (0, 1, genesis - slot_length, genesis - 1):
        # Sent as a transaction: its gas estimate runs the view and surfaces the revert data.
        with reverts("BeforeGenesis", before, genesis):
            chain.send(fns.slotAt(before), chain.accounts[0])
        assert fns.slotsElapsedAt(before).call() == 0
    cases = {
        genesis: 0,
        genesis + 1: 0,
        genesis + slot_length - 1: 0,
        genesis + slot_length: 1,
        genesis + 143 * slot_length + slot_length - 1: 143,
        genesis + 144 * slot_length: 144,
        genesis + ERA * slot_length - 1: ERA - 1,
        genesis + ERA * slot_length: ERA,
        genesis + 10**12 * slot_length + slot_length - 1: 10**12,
    }
    for timestamp, slot in cases.items():
        assert fns.slotAt(timestamp).call() == slot, timestamp
        assert fns.slotsElapsedAt(timestamp).call() == slot, timestamp
    for epoch in (0, 1, 2, 1460, 1461, 10**6):
        start = genesis + epoch * DAY_SLOTS * slot_length
        end = genesis + (epoch + 1) * DAY_SLOTS * slot_length
        assert fns.epochStart(epoch).call() == start
        assert fns.epochEnd(epoch).call() == end
        assert fns.epochEnd(epoch).call() == fns.epochStart(epoch + 1).call()
        # The epoch's first slot starts at its start; its last slot ends exactly at its end.
        assert fns.slotAt(start).call() == epoch * DAY_SLOTS
        assert fns.slotAt(end - 1).call() == (epoch + 1) * DAY_SLOTS - 1
        assert fns.slotsElapsedAt(end).call() == (epoch + 1) * DAY_SLOTS


def test_slot_and_epoch_clock(chain: EmbeddedChain, deployed: System) -> None:
    genesis = deployed.params.genesis
    assert_clock(chain, deployed.schedule, genesis, 600)
    for epoch in (0, 1, 11, 365):
        assert deployed.schedule.functions.epochEnd(epoch).call() == epoch_end(deployed, epoch)
        assert deployed.schedule.functions.epochStart(epoch).call() == epoch_start(deployed, epoch)
        assert epoch_end(deployed, epoch) == genesis + (epoch + 1) * 144 * 600


def test_before_genesis_is_decoded_on_a_read(chain: EmbeddedChain, deployed: System) -> None:
    # How the ledger reads the clock: ChainClient.call must decode the custom error like send does.
    genesis = deployed.params.genesis
    with reverts("BeforeGenesis", genesis - 1, genesis):
        chain.call(deployed.schedule.functions.slotAt(genesis - 1))


def test_epoch_arithmetic_overflow_reverts_instead_of_wrapping(
    chain: EmbeddedChain, deployed: System
) -> None:
    fns = deployed.schedule.functions
    with reverts("Panic", 0x11):
        chain.send(fns.epochEnd(UINT256_MAX), chain.accounts[0])
    with reverts("Panic", 0x11):
        chain.send(fns.epochStart(UINT256_MAX // 144), chain.accounts[0])


@pytest.mark.parametrize("pool", [DRIVING, COCREATION], ids=["driving", "cocreation"])
def test_available_at_epoch_end(deployed: System, pool: int) -> None:
    fns = deployed.schedule.functions
    for epoch in (0, 1, 11, 1459, 1460, 1461, 2 * 1461 - 1, 40 * 1461, 100 * 1461, 10**40):
        expected = model_available(pool, (epoch + 1) * DAY_SLOTS)
        assert fns.availableAtEpochEnd(pool, epoch).call() == expected, epoch
        assert py_schedule.available_at_epoch_end(PY_POOL[pool], epoch) == expected, epoch


def test_short_slot_schedule(chain: EmbeddedChain, system: System) -> None:
    sender = chain.accounts[0]
    genesis = chain.now() + 100
    short, _ = chain.deploy("EmissionSchedule", sender, genesis, 6)
    assert short.functions.genesis().call() == genesis
    assert short.functions.slotLength().call() == 6
    assert_clock(chain, short, genesis, 6)
    assert short.functions.epochEnd(0).call() == genesis + 864
    # The slot length changes the clock only: the formula is in slots.
    for pool in (DRIVING, COCREATION):
        for s in (0, 1, ERA, 3 * ERA + 17):
            assert on_chain(short, pool, s) == on_chain(system.schedule, pool, s) == model_available(pool, s)


def test_genesis_in_the_past(chain: EmbeddedChain, system: System) -> None:
    now = chain.now()
    schedule, _ = chain.deploy("EmissionSchedule", chain.accounts[0], now - 6 * 1000 - 3, 6)
    assert schedule.functions.slotAt(now).call() == 1000
    assert schedule.functions.slotsElapsedAt(now).call() == 1000


@pytest.mark.parametrize("args", [(0, 0), (10**9, 0)])
def test_zero_slot_length_is_rejected(chain: EmbeddedChain, system: System, args: Any) -> None:
    with reverts("InvalidSlotLength", 0):
        chain.deploy("EmissionSchedule", chain.accounts[0], *args)
