"""The simulation's exact half against the ledger: budgets, carries, co-creation floors, to the base unit."""

from __future__ import annotations

import random

import numpy as np
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.drops import CarInput, OwnershipSpan, PointsInput, draw_driving, split_cocreation
from ledger.schedule import SLOTS_PER_EPOCH, SLOTS_PER_ERA, UNIT, Pool, available
from simulations.budget import (
    LIMB_BITS,
    Limbs,
    driving_day,
    schedule_at_day_end,
    split_cocreation_into,
    split_cocreation_uniform,
)

ERA_DAYS = SLOTS_PER_ERA // SLOTS_PER_EPOCH  # 1,461: an era boundary falls between two epochs
OWNER = Account.from_key(b"\x01" * 32).address
BOUNDARY_DAYS = [0, 1, ERA_DAYS - 1, ERA_DAYS, 2 * ERA_DAYS - 1, 2 * ERA_DAYS, 7 * ERA_DAYS + 3]


@pytest.mark.parametrize("day", BOUNDARY_DAYS)
@pytest.mark.parametrize("carry_in", [0, 99, 10**21 + 7])
def test_driving_day_is_the_ledgers_draw_slot_by_slot(day: int, carry_in: int) -> None:
    # One car wins every share, so the ledger's draw exposes each slot's share and carry.
    real = draw_driving(day, b"\x07" * 32, [CarInput("car", 1)], [OwnershipSpan("car", OWNER, 0)], carry_in)
    model = driving_day(day, carry_in, total_weight=1)
    assert model.shares == tuple(slot.share for slot in real.slots)
    assert (model.emission, model.allocated, model.carry_out) == (
        real.emission,
        real.allocated,
        real.carry_out,
    )
    assert real.credits == {OWNER: model.allocated}
    assert model.emission == available(Pool.DRIVING, (day + 1) * SLOTS_PER_EPOCH) - available(
        Pool.DRIVING, day * SLOTS_PER_EPOCH
    )


@pytest.mark.parametrize("day", BOUNDARY_DAYS)
def test_a_day_without_eligible_cars_carries_its_whole_budget(day: int) -> None:
    model = driving_day(day, 123, total_weight=0)
    assert model.shares == (0,) * SLOTS_PER_EPOCH
    assert model.allocated == 0
    assert model.carry_out == 123 + model.emission


def test_the_halving_falls_between_day_1460_and_day_1461() -> None:
    last, first = driving_day(ERA_DAYS - 1, 0, 1), driving_day(ERA_DAYS, 0, 1)
    assert schedule_at_day_end(Pool.DRIVING, ERA_DAYS - 1) == 105_000_000 * UNIT
    assert schedule_at_day_end(Pool.COCREATION, ERA_DAYS - 1) == 45_000_000 * UNIT
    # Era 1 emits half of era 0 per day (to floor rounding inside the era).
    assert abs(2 * first.emission - last.emission) < 2 * SLOTS_PER_EPOCH


def _accounts(n: int) -> list[str]:
    return [Account.from_key(bytes([0] * 30 + [1 + i // 256, i % 256])).address for i in range(n)]


ACCOUNTS = _accounts(40)


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from([*BOUNDARY_DAYS, 17, 500]),
    points=st.lists(st.integers(0, 100_000), min_size=0, max_size=30),
    carry_in=st.integers(0, 10**26),
    extra=st.tuples(st.integers(0, 10), st.integers(0, 100_000)),
)
def test_cocreation_split_in_arrays_is_split_cocreation(
    day: int, points: list[int], carry_in: int, extra: tuple[int, int]
) -> None:
    extra_accounts, extra_points = extra
    accounts = ACCOUNTS[: len(points) + extra_accounts]
    entries = [
        PointsInput(a, p) for a, p in zip(accounts, points + [extra_points] * extra_accounts, strict=True)
    ]
    real = split_cocreation(day, [e for e in entries if e.points], carry_in)

    limbs = Limbs(len(points))
    model = split_cocreation_into(
        day, np.array(points, dtype=np.int64), carry_in, limbs, 0, extra_accounts, extra_points
    )
    assert (model.allocated, model.carry_out, model.budget) == (real.allocated, real.carry_out, real.budget)
    for index, account in enumerate(accounts[: len(points)]):
        assert limbs.exact(index) == real.credits.get(account, 0)
    for account in accounts[len(points) :]:
        assert model.extra_each == real.credits.get(account, 0)


def test_limbs_hold_amounts_beyond_int64_exactly() -> None:
    rng = random.Random(5)
    limbs = Limbs(4)
    truth = [0] * 4
    for _ in range(2_000):
        share = rng.randrange(0, 10**24)
        winners = np.array([rng.randrange(4) for _ in range(3)], dtype=np.intp)
        limbs.add_shares(
            winners,
            np.full(3, share >> LIMB_BITS, dtype=np.int64),
            np.full(3, share & ((1 << LIMB_BITS) - 1), dtype=np.int64),
        )
        for winner in winners:
            truth[winner] += share
    assert max(truth) > 2**63
    assert [limbs.exact(i) for i in range(4)] == truth
    assert limbs.total() == sum(truth)
    assert limbs.total(1, 3) == truth[1] + truth[2]
    limbs.normalize()
    assert [limbs.exact(i) for i in range(4)] == truth
    assert np.all(limbs.lo < 2**LIMB_BITS)
    assert np.allclose(limbs.as_stones(UNIT), [t / UNIT for t in truth])


@settings(max_examples=60, deadline=None)
@given(
    day=st.sampled_from([*BOUNDARY_DAYS, 17]),
    active=st.lists(st.booleans(), min_size=0, max_size=30),
    points_each=st.integers(0, 100_000),
    carry_in=st.integers(0, 10**26),
    extra=st.tuples(st.integers(0, 10), st.integers(0, 100_000)),
)
def test_uniform_cocreation_split_is_split_cocreation(
    day: int, active: list[bool], points_each: int, carry_in: int, extra: tuple[int, int]
) -> None:
    # The model's fast path: every active participant earned the same points that day.
    extra_accounts, extra_points = extra
    accounts = ACCOUNTS[: len(active) + extra_accounts]
    points = [points_each if on else 0 for on in active] + [extra_points] * extra_accounts
    real = split_cocreation(
        day, [PointsInput(a, p) for a, p in zip(accounts, points, strict=True) if p], carry_in
    )

    limbs = Limbs(len(active))
    mask = np.array(active, dtype=np.bool_)
    model = split_cocreation_uniform(
        day,
        mask,
        points_each,
        carry_in,
        limbs,
        np.zeros(len(active), dtype=np.int64),
        extra_accounts,
        extra_points,
    )
    assert (model.allocated, model.carry_out, model.budget) == (real.allocated, real.carry_out, real.budget)
    for index, account in enumerate(accounts[: len(active)]):
        assert limbs.exact(index) == real.credits.get(account, 0)
    for account in accounts[len(active) :]:
        assert model.extra_each == real.credits.get(account, 0)
