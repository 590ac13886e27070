"""The exact, schedule-bound half of the simulation: each day's driving and co-creation budgets, their
carries, and per-account amounts held exactly in int64 arrays.

Every amount here is an integer number of base units derived from ``ledger.schedule`` and the ledger's
own slot step (``ledger.drops``), never from a copy of the formula. Per-account amounts exceed int64
(a stone is 10**18 base units), so they are held as two int64 *limbs*: ``value = hi * 2**32 + lo``.
Each day adds ``share >> 32`` and ``share & (2**32 - 1)`` per share won, which keeps both limbs far from
overflow over any horizon the scenarios allow (see :class:`Limbs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ledger.drops import SHARES_PER_DROP
from ledger.drops import (
    _slot_draw as ledger_slot_draw,
)  # the ledger's one slot step, reused rather than copied
from ledger.schedule import SLOTS_PER_EPOCH, Pool, available, epoch_slots

LIMB_BITS: Final = 32
LIMB_MASK: Final = (1 << LIMB_BITS) - 1

Int64Array = npt.NDArray[np.int64]


# --- driving --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrivingDay:
    """One epoch of the driving pool as DESIGN §3's loop runs it: ``shares[k]`` is what each of the
    ``shares_per_drop`` shares of the epoch's ``k``-th slot is worth (0 when nothing is drawn)."""

    epoch: int
    carry_in: int
    emission: int
    shares: tuple[int, ...]
    shares_per_drop: int
    carry_out: int

    @property
    def allocated(self) -> int:
        return self.carry_in + self.emission - self.carry_out

    def share_limbs(self) -> tuple[Int64Array, Int64Array]:
        """Per drawn share, in draw order (slot by slot), the value's two limbs."""
        hi = np.array([share >> LIMB_BITS for share in self.shares], dtype=np.int64)
        lo = np.array([share & LIMB_MASK for share in self.shares], dtype=np.int64)
        return np.repeat(hi, self.shares_per_drop), np.repeat(lo, self.shares_per_drop)


def driving_day(
    epoch: int, carry_in: int, total_weight: int, shares_per_drop: int = SHARES_PER_DROP
) -> DrivingDay:
    """The epoch's slot budgets, shares and carry, computed by the ledger's own slot step.

    Only whether ``total_weight`` is zero matters to the amounts: with no eligible car every slot's budget
    carries; otherwise each slot's budget splits into ``shares_per_drop`` equal shares and floor dust."""
    carry = carry_in
    emission = 0
    shares: list[int] = []
    for slot in epoch_slots(epoch):
        draw = ledger_slot_draw(slot, carry, total_weight, shares_per_drop)
        emission += draw.emission
        shares.append(draw.share)
        carry = draw.carry
    return DrivingDay(epoch, carry_in, emission, tuple(shares), shares_per_drop, carry)


def schedule_at_day_end(pool: Pool, day: int) -> int:
    """What ``pool`` may have emitted once epoch ``day`` has ended (the contract's cap on a posted total)."""
    return available(pool, (day + 1) * SLOTS_PER_EPOCH)


# --- co-creation ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CocreationDay:
    """One epoch of the co-creation pool: ``budget`` includes the carry (as ``split_cocreation``'s does);
    ``extra_each`` is what each of ``extra_accounts`` identical accounts (scripted ones) received."""

    epoch: int
    carry_in: int
    emission: int
    total_points: int
    allocated: int
    carry_out: int
    extra_accounts: int
    extra_each: int

    @property
    def budget(self) -> int:
        return self.carry_in + self.emission


def cocreation_emission(epoch: int) -> int:
    slots = epoch_slots(epoch)
    return available(Pool.COCREATION, slots.stop) - available(Pool.COCREATION, slots.start)


def split_cocreation_into(
    epoch: int,
    points: Int64Array,
    carry_in: int,
    limbs: Limbs,
    start: int = 0,
    extra_accounts: int = 0,
    extra_points: int = 0,
) -> CocreationDay:
    """``ledger.drops.split_cocreation`` in array form: account ``i`` gets ``budget * points[i] //
    total``, added into ``limbs[start + i]``; ``extra_accounts`` more accounts of ``extra_points`` each
    take part in the total (their amounts are returned, not stored).

    The floor is split so that int64 never overflows: with ``q, rem = divmod(budget, total)``,
    ``budget * p // total == q * p + (rem * p) // total`` exactly, where ``rem * p < total * p`` fits in
    int64 for any fleet the scenarios allow and ``q * p <= budget`` is added limb by limb."""
    emission = cocreation_emission(epoch)
    budget = carry_in + emission
    total = int(points.sum()) + extra_accounts * extra_points
    if total == 0:
        return CocreationDay(epoch, carry_in, emission, 0, 0, budget, extra_accounts, 0)
    q, rem = divmod(budget, total)
    dust = (np.int64(rem) * points) // np.int64(total)
    hi = limbs.hi[start : start + points.size]
    lo = limbs.lo[start : start + points.size]
    hi += np.int64(q >> LIMB_BITS) * points
    lo += np.int64(q & LIMB_MASK) * points
    lo += dust
    extra_each = q * extra_points + rem * extra_points // total
    allocated = q * (total - extra_accounts * extra_points) + int(dust.sum()) + extra_accounts * extra_each
    return CocreationDay(
        epoch, carry_in, emission, total, allocated, budget - allocated, extra_accounts, extra_each
    )


def split_cocreation_uniform(
    epoch: int,
    active: npt.NDArray[np.bool_],
    points_each: int,
    carry_in: int,
    limbs: Limbs,
    scratch: Int64Array,
    extra_accounts: int = 0,
    extra_points: int = 0,
) -> CocreationDay:
    """:func:`split_cocreation_into` when every account with points has the same ``points_each``: each
    then gets the same ``budget * points_each // total``, computed once in Python integers and added to
    the active accounts' limbs (``scratch``: an int64 buffer at least ``active.size`` long)."""
    emission = cocreation_emission(epoch)
    budget = carry_in + emission
    holders = int(np.count_nonzero(active)) if points_each else 0
    total = holders * points_each + extra_accounts * extra_points
    if total == 0:
        return CocreationDay(epoch, carry_in, emission, 0, 0, budget, extra_accounts, 0)
    each = budget * points_each // total
    extra_each = budget * extra_points // total
    if each:
        limbs.add_where(active, each, scratch)
    allocated = holders * each + extra_accounts * extra_each
    return CocreationDay(
        epoch, carry_in, emission, total, allocated, budget - allocated, extra_accounts, extra_each
    )


# --- exact per-account amounts --------------------------------------------------------------------


class Limbs:
    """Per-account amounts in base units, exactly: ``hi[i] * 2**32 + lo[i]``.

    Bounds: ``hi`` never exceeds the pool over 2**32 (about 4.9e16 for driving) because every amount
    added is ``value >> 32`` of a value the schedule paid; ``lo`` grows by less than 2**32 per share or
    per point a day, and :meth:`normalize` folds it into ``hi`` (the simulation does so yearly), so both
    stay far below 2**63."""

    def __init__(self, size: int) -> None:
        self.hi: Int64Array = np.zeros(size, dtype=np.int64)
        self.lo: Int64Array = np.zeros(size, dtype=np.int64)

    def add_shares(self, winners: npt.NDArray[np.intp], hi: Int64Array, lo: Int64Array) -> None:
        """Credit share ``j`` (limbs ``hi[j]``, ``lo[j]``) to account ``winners[j]``, repeats allowed."""
        np.add.at(self.hi, winners, hi)
        np.add.at(self.lo, winners, lo)

    def add_where(self, mask: npt.NDArray[np.bool_], amount: int, scratch: Int64Array) -> None:
        """Add ``amount`` to every account ``i < mask.size`` with ``mask[i]``; ``amount`` may exceed int64."""
        size = mask.size
        buffer = scratch[:size]
        for limb, part in ((self.hi, amount >> LIMB_BITS), (self.lo, amount & LIMB_MASK)):
            if part:
                np.multiply(mask, np.int64(part), out=buffer)
                limb[:size] += buffer

    def normalize(self) -> None:
        self.hi += self.lo >> LIMB_BITS
        self.lo &= LIMB_MASK

    def total(self, start: int = 0, stop: int | None = None) -> int:
        """The exact sum over ``[start, stop)`` as a Python int.

        ``lo`` is summed in its two halves: un-normalized ``lo`` values are each in range, but a million
        of them together need not be."""
        lo = self.lo[start:stop]
        hi = int(self.hi[start:stop].sum(dtype=np.int64)) + int((lo >> LIMB_BITS).sum(dtype=np.int64))
        return (hi << LIMB_BITS) + int((lo & LIMB_MASK).sum(dtype=np.int64))

    def exact(self, index: int) -> int:
        return (int(self.hi[index]) << LIMB_BITS) + int(self.lo[index])

    def as_stones(self, unit: int) -> npt.NDArray[np.float64]:
        """Statistics only: amounts as float64 stones (about 16 significant digits)."""
        result: npt.NDArray[np.float64] = self.hi.astype(np.float64) * (float(1 << LIMB_BITS) / unit)
        result += self.lo.astype(np.float64) / unit
        return result
