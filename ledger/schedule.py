"""The emission schedule of DESIGN §2, stated once for Python.

Invariants (checked against the ``EmissionSchedule`` contract in ``tests/contracts/test_schedule.py``):

* ``available(pool, s)`` is non-decreasing in ``s``, starts at 0 and never exceeds the pool;
* era ``k`` emits ``pool >> (k + 1)`` over its ``SLOTS_PER_ERA`` slots, up to floor rounding inside the era,
  so each era emits half of what the pool still holds;
* every amount is an integer number of base units (18 decimals).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

UNIT: Final = 10**18
SLOT_SECONDS: Final = 600
SLOTS_PER_EPOCH: Final = 144
SLOTS_PER_ERA: Final = 1461 * SLOTS_PER_EPOCH
CAP: Final = 300_000_000 * UNIT


class Pool(IntEnum):
    """The two emission pools, numbered as the contracts' ``Pool`` enum."""

    DRIVING = 0
    COCREATION = 1

    @property
    def size(self) -> int:
        return POOL_SIZES[self]


POOL_SIZES: Final = {Pool.DRIVING: 210_000_000 * UNIT, Pool.COCREATION: 90_000_000 * UNIT}


def available(pool: Pool, slots_elapsed: int) -> int:
    """Cumulative base units ``pool`` may have emitted once ``slots_elapsed`` slots have passed."""
    if slots_elapsed < 0:
        raise ValueError(f"slots_elapsed must be non-negative, got {slots_elapsed}")
    total = pool.size
    era, into_era = divmod(slots_elapsed, SLOTS_PER_ERA)
    return total - (total >> era) + ((total >> (era + 1)) * into_era) // SLOTS_PER_ERA


def era_of(slot: int) -> int:
    """The era (0-based, four years each) a slot belongs to."""
    return slot // SLOTS_PER_ERA


def epoch_of(slot: int) -> int:
    """The settlement epoch (one day of 144 slots) a slot belongs to."""
    return slot // SLOTS_PER_EPOCH


def epoch_slots(epoch: int) -> range:
    """The absolute slot numbers of ``epoch``."""
    return range(epoch * SLOTS_PER_EPOCH, (epoch + 1) * SLOTS_PER_EPOCH)


def available_at_epoch_end(pool: Pool, epoch: int) -> int:
    """What ``pool`` may have emitted once ``epoch`` has ended; the contract's cap on a posted total."""
    return available(pool, (epoch + 1) * SLOTS_PER_EPOCH)


def slot_budget(pool: Pool, slot: int) -> int:
    """What ``pool`` emits during ``slot`` alone (before any carried remainder)."""
    return available(pool, slot + 1) - available(pool, slot)
