"""The epoch manifest: everything needed to recompute an epoch, as canonical JSON, and its hash.

The hash posted on chain is ``keccak256`` of the canonical bytes (UTF-8 JSON, keys sorted, no spaces, every
amount a decimal string). Manifests chain by ``previous_manifest_hash``, so an auditor holding all of them
can recompute every cumulative entitlement and every root from epoch 0 on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final, Protocol, TypeVar

from ledger.drops import CarInput, OwnershipSpan, PointsInput
from ledger.merkle import keccak256

_Row = TypeVar("_Row")

FORMAT: Final = "yuanshi-epoch-manifest-v1"
CODE_VERSION: Final = "yuanshi-ledger 0.1.0"


def canonical_json(document: Mapping[str, Any]) -> bytes:
    """The one byte form of a manifest: sorted keys, no whitespace, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def manifest_hash(document: Mapping[str, Any]) -> bytes:
    return keccak256(canonical_json(document))


def hex32(value: bytes) -> str:
    return "0x" + value.hex()


@dataclass(frozen=True)
class EpochInputs:
    """What settlement fixed for an epoch before drawing: the published inputs."""

    cars: tuple[CarInput, ...]
    ownership: tuple[OwnershipSpan, ...]
    points: tuple[PointsInput, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "cars": [[c.car_id, str(c.weight)] for c in sorted(self.cars, key=lambda c: c.car_id)],
            "ownership": [
                [s.car_id, s.account, s.from_slot]
                for s in sorted(self.ownership, key=lambda s: (s.car_id, s.from_slot))
            ],
            "points": [[p.account, str(p.points)] for p in sorted(self.points, key=lambda p: p.account)],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EpochInputs:
        """The inputs from :meth:`to_json`'s form. Well-formed rows are converted and checked a column at
        a time (``CarInput.batch`` and its kin); anything else is read one row at a time, which raises
        what the first bad row raises."""
        return cls(
            cars=_rows(
                data["cars"], 2, lambda c, w: CarInput.batch(list(map(str, c)), list(map(int, w))), _car
            ),
            ownership=_rows(
                data["ownership"],
                3,
                lambda c, a, s: OwnershipSpan.batch(list(map(str, c)), list(map(str, a)), list(map(int, s))),
                _span,
            ),
            points=_rows(
                data["points"],
                2,
                lambda a, p: PointsInput.batch(list(map(str, a)), list(map(int, p))),
                _points,
            ),
        )


def _car(row: Any) -> CarInput:
    car_id, weight = row
    return CarInput(str(car_id), int(weight))


def _span(row: Any) -> OwnershipSpan:
    car_id, account, from_slot = row
    return OwnershipSpan(str(car_id), str(account), int(from_slot))


def _points(row: Any) -> PointsInput:
    account, points = row
    return PointsInput(str(account), int(points))


def _rows(
    rows: Any,
    width: int,
    by_columns: Callable[..., Sequence[_Row]],
    by_row: Callable[[Any], _Row],
) -> tuple[_Row, ...]:
    """``tuple(map(by_row, rows))``, made by ``by_columns`` from the columns when ``rows`` is a list of
    lists (or tuples) of ``width`` items and the conversions succeed; otherwise row by row, which
    raises what the first bad row raises."""
    if type(rows) is list and not set(map(type, rows)) - {list, tuple} and set(map(len, rows)) <= {width}:
        try:
            return tuple(by_columns(*(list(map(itemgetter(i), rows)) for i in range(width))))
        except (TypeError, ValueError):
            pass  # a bad row: reported as the row-by-row reading reports it
    return tuple(map(by_row, rows))


class PoolOutcome(Protocol):
    """What the manifest publishes of a pool's allocation (:class:`ledger.drops.CocreationResult`, or
    the figures settlement stored)."""

    @property
    def carry_in(self) -> int: ...

    @property
    def emission(self) -> int: ...

    @property
    def allocated(self) -> int: ...

    @property
    def carry_out(self) -> int: ...

    @property
    def credits(self) -> Mapping[str, int]: ...


class DrivingOutcome(PoolOutcome, Protocol):
    """:class:`PoolOutcome` and the wins (:class:`ledger.drops.DrivingResult`, or as stored)."""

    @property
    def wins(self) -> Mapping[tuple[str, int], int]: ...


def build_manifest(
    *,
    epoch: int,
    genesis: int,
    slot_seconds: int,
    parameters: Mapping[str, int],
    commitment: bytes,
    secret: bytes,
    inputs: EpochInputs,
    inputs_root: bytes,
    seed: bytes,
    driving: DrivingOutcome,
    cocreation: PoolOutcome,
    driving_total: int,
    cocreation_total: int,
    root: bytes,
    previous_manifest_hash: bytes | None,
) -> dict[str, Any]:
    wins = sorted(driving.wins.items())
    return {
        "format": FORMAT,
        "code_version": CODE_VERSION,
        "epoch": epoch,
        "genesis": genesis,
        "slot_seconds": slot_seconds,
        "parameters": dict(parameters),
        "commitment": hex32(commitment),
        "secret": hex32(secret),
        "inputs_root": hex32(inputs_root),
        "seed": hex32(seed),
        "inputs": inputs.to_json(),
        "driving": {
            "carry_in": str(driving.carry_in),
            "emission": str(driving.emission),
            "allocated": str(driving.allocated),
            "carry_out": str(driving.carry_out),
            "credits": {a: str(v) for a, v in sorted(driving.credits.items())},
            "wins": [[car, slot, shares] for (car, slot), shares in wins],
        },
        "cocreation": {
            "carry_in": str(cocreation.carry_in),
            "emission": str(cocreation.emission),
            "allocated": str(cocreation.allocated),
            "carry_out": str(cocreation.carry_out),
            "credits": {a: str(v) for a, v in sorted(cocreation.credits.items())},
        },
        "totals": {"driving": str(driving_total), "cocreation": str(cocreation_total)},
        "root": hex32(root),
        "previous_manifest_hash": hex32(previous_manifest_hash) if previous_manifest_hash else None,
    }
