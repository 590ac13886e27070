"""The most a stolen oracle key can misdirect, bounded by the schedule and the challenge window.

What the key can do (``RewardDistributor``): post the next epoch, once it has ended, with any root and any
pool totals up to ``available`` at the epoch's end, with its committed secret (the attacker has the
operator's secrets too, or the commitments would stop them). What it cannot do: mint directly, post out of
order, lower a posted total, exceed the schedule, or make a root claimable before its challenge window
has passed. Claims always run against the latest epoch whose window has passed, and they may mint at most
that epoch's two totals minus everything claimed since genesis (``totalClaimed``).

So if the attacker posts forged epoch ``d``:

* before the window closes, the forged root mints nothing at all; a guardian veto in that time (the
  audit watcher recomputes every root) deletes it and everything posted after it: nothing is lost;
* when the window closes without a veto, claims against the forged root can mint at most
  ``cap_d - claimed``, where ``cap_d = available(driving, end of d) + available(co-creation, end of d)``
  and ``claimed`` is what honest claims minted before. That splits into the **headroom** never posted
  (``cap_d`` minus the honest totals through ``d - 1``: the day's emission plus carried dust) and owners'
  **unclaimed entitlements**, which a forged tree can hand to the attacker (leaves are not checked against
  the old ones, only the sum of claims against the totals);
* every further day without a veto adds that day's emission of both pools.

``claimed`` depends on how often owners claim. The forged root is posted as epoch ``d`` ends and becomes
claimable one window later; an honest epoch ``e`` is posted a grace period after it ends and becomes
claimable one window after that. An owner who claims every ``c`` days last claimed at worst ``c`` days
before the forged window closes, collecting the epochs claimable then: the window length cancels out and
the grace period costs one epoch, so the honest totals through epoch ``d - c - 1`` are claimed (with
``c = 0``, claims the moment they can: through ``d - 1``). The bound takes the least an owner who keeps to
that rhythm can have claimed; with nobody claiming at all it is ``cap_d`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger.schedule import Pool
from simulations.budget import schedule_at_day_end


def _cap(day: int) -> int:
    return schedule_at_day_end(Pool.DRIVING, day) + schedule_at_day_end(Pool.COCREATION, day)


def claimed_before(posted: Sequence[int], day: int, claim_interval_days: int) -> int:
    """What honest claims minted by the time a root forged for ``day`` becomes claimable.

    ``posted[e]`` is the honest cumulative total (both pools) after epoch ``e``."""
    last = day - claim_interval_days - 1
    return posted[last] if last >= 0 else 0


@dataclass(frozen=True)
class OracleExposure:
    """The bound for a key stolen so that the attacker posts epoch ``day`` first (amounts in base units)."""

    day: int
    challenge_window_seconds: int
    claim_interval_days: int
    cap: int
    posted_before: int
    claimed: int
    per_extra_day: int
    guardian_vetoes: bool

    @property
    def at_risk(self) -> int:
        """The most claims can mint against the forged root once its window has closed."""
        return self.cap - self.claimed

    @property
    def headroom(self) -> int:
        return self.cap - self.posted_before

    @property
    def unclaimed(self) -> int:
        return self.posted_before - self.claimed

    @property
    def misdirected(self) -> int:
        """What actually leaves: nothing if the guardian vetoes within the window, else the whole bound."""
        return 0 if self.guardian_vetoes else self.at_risk

    def to_json(self) -> dict[str, object]:
        return {
            "day": self.day,
            "challenge_window_seconds": self.challenge_window_seconds,
            "claim_interval_days": self.claim_interval_days,
            "cap": str(self.cap),
            "posted_before": str(self.posted_before),
            "claimed": str(self.claimed),
            "at_risk": str(self.at_risk),
            "headroom": str(self.headroom),
            "unclaimed": str(self.unclaimed),
            "per_extra_day": str(self.per_extra_day),
            "guardian_vetoes": self.guardian_vetoes,
            "misdirected": str(self.misdirected),
        }


def oracle_exposure(
    posted: Sequence[int], day: int, challenge_window_seconds: int, claim_interval_days: int, vetoes: bool
) -> OracleExposure:
    return OracleExposure(
        day=day,
        challenge_window_seconds=challenge_window_seconds,
        claim_interval_days=claim_interval_days,
        cap=_cap(day),
        posted_before=posted[day - 1] if day > 0 else 0,
        claimed=claimed_before(posted, day, claim_interval_days),
        per_extra_day=_cap(day + 1) - _cap(day),
        guardian_vetoes=vetoes,
    )


def oracle_series(posted: Sequence[int], claim_interval_days: int) -> list[int]:
    """``at_risk`` had the key been stolen on each day of the run."""
    return [_cap(day) - claimed_before(posted, day, claim_interval_days) for day in range(len(posted))]
