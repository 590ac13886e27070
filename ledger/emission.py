"""The emission schedule's state at a moment, for people: era, drop size, emitted and available per pool.

Pure arithmetic over :mod:`ledger.schedule` (DESIGN §2) and the posted totals the caller reads from the
distributor; no I/O.

* ``slot`` is the number of whole slots elapsed since genesis (0 before genesis); ``available`` is the
  schedule's cumulative allowance after those slots, ``emitted`` the pool's cumulative total in the latest
  posted root (what settlement has allocated so far; what claims may mint at most).
* ``drop_size`` is what one 10-minute driving drop carries in the current slot (before any carried
  remainder); ``cocreation_per_slot`` the co-creation pool's budget for the same slot.
* The next halving is the first slot of the next era.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.schedule import SLOTS_PER_EPOCH, SLOTS_PER_ERA, Pool, available, era_of, slot_budget

__all__ = ["EmissionState", "PoolState", "emission_state"]


@dataclass(frozen=True)
class PoolState:
    pool: Pool
    size: int
    available: int
    emitted: int

    @property
    def remaining(self) -> int:
        return self.size - self.available


@dataclass(frozen=True)
class EmissionState:
    now: int
    genesis: int
    slot_seconds: int
    started: bool
    slot: int
    epoch: int
    era: int
    drop_size: int
    cocreation_per_slot: int
    next_halving_slot: int
    next_halving_at: int
    posted_epochs: int
    pools: tuple[PoolState, PoolState]


def emission_state(
    now: int, genesis: int, slot_seconds: int, posted_epochs: int, posted_totals: tuple[int, int]
) -> EmissionState:
    """The schedule at ``now``; ``posted_totals`` are the latest posted (driving, co-creation) totals."""
    started = now >= genesis
    slot = (now - genesis) // slot_seconds if started else 0
    era = era_of(slot)
    next_halving_slot = (era + 1) * SLOTS_PER_ERA
    driving, cocreation = posted_totals
    return EmissionState(
        now=now,
        genesis=genesis,
        slot_seconds=slot_seconds,
        started=started,
        slot=slot,
        epoch=slot // SLOTS_PER_EPOCH,
        era=era,
        drop_size=slot_budget(Pool.DRIVING, slot),
        cocreation_per_slot=slot_budget(Pool.COCREATION, slot),
        next_halving_slot=next_halving_slot,
        next_halving_at=genesis + next_halving_slot * slot_seconds,
        posted_epochs=posted_epochs,
        pools=(
            PoolState(Pool.DRIVING, Pool.DRIVING.size, available(Pool.DRIVING, slot), driving),
            PoolState(Pool.COCREATION, Pool.COCREATION.size, available(Pool.COCREATION, slot), cocreation),
        ),
    )
