"""Compiled contract artifacts, as checked in under ``contracts/build/`` by ``contracts/compile.mjs``."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any


def artifacts_dir() -> Path:
    override = os.environ.get("YUANSHI_ARTIFACTS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "contracts" / "build"


@dataclass(frozen=True)
class Artifact:
    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load(name: str) -> Artifact:
    path = artifacts_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"no artifact {path}; run `make contracts` to compile")
    raw = json.loads(path.read_text())
    return Artifact(
        raw["contractName"], raw["sourceName"], raw["abi"], raw["bytecode"], raw["deployedBytecode"]
    )


@cache
def build_info() -> dict[str, Any]:
    info: dict[str, Any] = json.loads((artifacts_dir() / "build-info.json").read_text())
    return info


def all_names() -> list[str]:
    names: list[str] = build_info()["contracts"]
    return names
