"""The epoch manifest: everything needed to recompute an epoch, as canonical JSON, and its hash.

The hash posted on chain is ``keccak256`` of the canonical bytes (UTF-8 JSON, keys sorted, no spaces, every
amount a decimal string). Manifests chain by ``previous_manifest_hash``, so an auditor holding all of them
can recompute every cumulative entitlement and every root from epoch 0 on.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ledger.drops import CarInput, CocreationResult, DrivingResult, OwnershipSpan, PointsInput
from ledger.merkle import keccak256

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
        return cls(
            cars=tuple(CarInput(str(c), int(w)) for c, w in data["cars"]),
            ownership=tuple(OwnershipSpan(str(c), str(a), int(s)) for c, a, s in data["ownership"]),
            points=tuple(PointsInput(str(a), int(p)) for a, p in data["points"]),
        )


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
    driving: DrivingResult,
    cocreation: CocreationResult,
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
