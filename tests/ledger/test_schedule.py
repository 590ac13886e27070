"""Properties of the Python schedule (DESIGN §2), without a chain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.schedule import (
    CAP,
    POOL_SIZES,
    SLOTS_PER_EPOCH,
    SLOTS_PER_ERA,
    UNIT,
    Pool,
    available,
    available_at_epoch_end,
    epoch_of,
    epoch_slots,
    era_of,
    slot_budget,
)

pools = st.sampled_from(list(Pool))
# Slots well past exhaustion (~88 eras) as well as the first few eras, where the interesting values are.
slots = st.one_of(
    st.integers(min_value=0, max_value=3 * SLOTS_PER_ERA),
    st.integers(min_value=0, max_value=120 * SLOTS_PER_ERA),
    st.integers(min_value=0, max_value=2**200),
)
eras = st.integers(min_value=0, max_value=300)


def remaining(pool: Pool, slots_elapsed: int) -> int:
    return pool.size - available(pool, slots_elapsed)


def test_constants_match_design() -> None:
    assert UNIT == 10**18
    assert SLOTS_PER_EPOCH == 144
    assert SLOTS_PER_ERA == 210_384
    assert POOL_SIZES[Pool.DRIVING] == 210_000_000 * UNIT
    assert POOL_SIZES[Pool.COCREATION] == 90_000_000 * UNIT
    assert Pool.DRIVING.size + Pool.COCREATION.size == CAP == 300_000_000 * UNIT
    assert [int(p) for p in Pool] == [0, 1]


@pytest.mark.parametrize("pool", list(Pool))
def test_nothing_is_available_at_genesis(pool: Pool) -> None:
    assert available(pool, 0) == 0


def test_first_driving_drop_is_499_point_087_stones() -> None:
    drop = available(Pool.DRIVING, 1)
    assert drop == 105_000_000 * UNIT // 210_384 == 499_087_383_070_955_966_233
    assert 499_087 * UNIT // 1000 < drop < 499_088 * UNIT // 1000
    # 500 stones every ten minutes would overrun the pool within era 0's share.
    assert Pool.DRIVING.size // 2 < 500 * UNIT * SLOTS_PER_ERA


@pytest.mark.parametrize("pool", list(Pool))
@pytest.mark.parametrize("bad", [-1, -2, -SLOTS_PER_ERA, -(2**70)])
def test_negative_slots_are_rejected(pool: Pool, bad: int) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        available(pool, bad)
    with pytest.raises(ValueError, match="non-negative"):
        slot_budget(pool, bad)


@pytest.mark.parametrize("pool", list(Pool))
def test_negative_epoch_slot_count_is_rejected(pool: Pool) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        available_at_epoch_end(pool, -2)


@given(pool=pools, s=slots, step=st.integers(min_value=0, max_value=2 * SLOTS_PER_ERA))
def test_available_is_non_decreasing(pool: Pool, s: int, step: int) -> None:
    assert available(pool, s) <= available(pool, s + step)
    assert slot_budget(pool, s) >= 0


@given(pool=pools, s=slots)
def test_never_exceeds_the_pool(pool: Pool, s: int) -> None:
    assert 0 <= available(pool, s) <= pool.size


@pytest.mark.parametrize("pool", list(Pool))
def test_pool_is_exhausted_after_its_last_era_and_not_before(pool: Pool) -> None:
    last = pool.size.bit_length()  # remaining halves each era: after bit_length eras nothing is left
    assert available(pool, last * SLOTS_PER_ERA) == pool.size
    assert available(pool, last * SLOTS_PER_ERA - 1) < pool.size
    assert remaining(pool, (last - 1) * SLOTS_PER_ERA) == 1
    assert available(pool, 256 * SLOTS_PER_ERA) == pool.size
    assert available(pool, 2**200) == pool.size


@given(pool=pools, k=eras)
def test_each_era_emits_half_of_what_remains(pool: Pool, k: int) -> None:
    start, end = k * SLOTS_PER_ERA, (k + 1) * SLOTS_PER_ERA
    before = remaining(pool, start)
    assert before == pool.size >> k
    emitted = available(pool, end) - available(pool, start)
    # Exactly half, rounded up: what remains after the era is what remained before, halved (floored).
    assert remaining(pool, end) == before // 2
    assert emitted == before - before // 2
    assert emitted in (pool.size >> (k + 1), (pool.size >> (k + 1)) + 1)


@given(pool=pools, k=eras, into=st.integers(min_value=0, max_value=SLOTS_PER_ERA - 1))
def test_inside_an_era_emission_is_linear_up_to_the_floor(pool: Pool, k: int, into: int) -> None:
    start = k * SLOTS_PER_ERA
    half = pool.size >> (k + 1)
    assert available(pool, start + into) - available(pool, start) == half * into // SLOTS_PER_ERA
    # Each slot of the era emits the era's per-slot rate, floored or ceiled.
    budget = slot_budget(pool, start + into)
    rate = half // SLOTS_PER_ERA
    if into < SLOTS_PER_ERA - 1:
        assert budget in (rate, rate + 1)
    else:
        # The era's last slot also carries the in-era floor dust and the odd bit of what remained.
        assert budget == (pool.size >> k) - half - half * (SLOTS_PER_ERA - 1) // SLOTS_PER_ERA


@given(pool=pools, a=slots, length=st.integers(min_value=0, max_value=400))
def test_slot_budgets_sum_to_available(pool: Pool, a: int, length: int) -> None:
    total = sum(slot_budget(pool, s) for s in range(a, a + length))
    assert total == available(pool, a + length) - available(pool, a)


@given(
    pool=pools,
    k=st.integers(min_value=1, max_value=100),
    before=st.integers(min_value=0, max_value=300),
    after=st.integers(min_value=0, max_value=300),
)
def test_slot_budgets_sum_across_an_era_boundary(pool: Pool, k: int, before: int, after: int) -> None:
    boundary = k * SLOTS_PER_ERA
    total = sum(slot_budget(pool, s) for s in range(boundary - before, boundary + after))
    assert total == available(pool, boundary + after) - available(pool, boundary - before)


@pytest.mark.parametrize("pool", list(Pool))
def test_slot_budgets_from_genesis_sum_to_available(pool: Pool) -> None:
    running = 0
    for s in range(3 * SLOTS_PER_EPOCH):
        assert running == available(pool, s)
        running += slot_budget(pool, s)
    assert running == available(pool, 3 * SLOTS_PER_EPOCH)


@given(slot=st.integers(min_value=0, max_value=2**64))
def test_slot_epoch_and_era_are_consistent(slot: int) -> None:
    epoch = epoch_of(slot)
    assert epoch == slot // SLOTS_PER_EPOCH
    span = epoch_slots(epoch)
    assert slot in span
    assert len(span) == SLOTS_PER_EPOCH
    assert span.step == 1
    assert span.start == epoch * SLOTS_PER_EPOCH
    assert all(epoch_of(s) == epoch for s in (span.start, span.stop - 1))
    assert epoch_of(span.stop) == epoch + 1
    assert era_of(slot) == slot // SLOTS_PER_ERA
    # An era is 1461 whole epochs, so an epoch never straddles two eras.
    assert era_of(span.start) == era_of(span.stop - 1)


@given(epoch=st.integers(min_value=0, max_value=2**40))
def test_consecutive_epochs_tile_the_slots(epoch: int) -> None:
    assert epoch_slots(epoch).stop == epoch_slots(epoch + 1).start
    assert epoch_slots(epoch).start == epoch * SLOTS_PER_EPOCH


@given(pool=pools, epoch=st.integers(min_value=0, max_value=200 * 1461))
def test_available_at_epoch_end(pool: Pool, epoch: int) -> None:
    span = epoch_slots(epoch)
    at_end = available_at_epoch_end(pool, epoch)
    assert at_end == available(pool, span.stop)
    assert at_end == available(pool, (epoch + 1) * SLOTS_PER_EPOCH)
    previous_end = available_at_epoch_end(pool, epoch - 1) if epoch > 0 else 0
    assert previous_end == available(pool, span.start)
    assert at_end >= previous_end


@pytest.mark.parametrize("pool", list(Pool))
def test_epoch_budget_is_the_sum_of_its_slot_budgets(pool: Pool) -> None:
    # The last epoch of era 0 and the first of era 1: the epoch that carries the era's final dust.
    for epoch in (0, 1, 1460, 1461):
        span = epoch_slots(epoch)
        start = available_at_epoch_end(pool, epoch - 1) if epoch > 0 else 0
        assert sum(slot_budget(pool, s) for s in span) == available_at_epoch_end(pool, epoch) - start
