"""Turns revert data into the custom error it encodes, using every ABI the project compiles."""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_abi.abi import decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from ledger.chain import artifacts
from ledger.errors import ContractRevert

_ERROR_STRING = "08c379a0"  # Error(string)
_PANIC = "4e487b71"  # Panic(uint256)


def _abi_type(param: dict[str, Any]) -> str:
    kind: str = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){kind[len('tuple') :]}"
    return kind


@cache
def _errors_by_selector() -> dict[str, tuple[str, list[str]]]:
    table: dict[str, tuple[str, list[str]]] = {}
    for name in artifacts.all_names():
        for item in artifacts.load(name).abi:
            if item["type"] != "error":
                continue
            types = [_abi_type(p) for p in item["inputs"]]
            signature = f"{item['name']}({','.join(types)})"
            table[function_signature_to_4byte_selector(signature).hex()] = (item["name"], types)
    return table


def decode_revert(data: str | bytes | None) -> ContractRevert:
    """Decodes revert ``data``; unknown data keeps its hex so nothing is lost."""
    if isinstance(data, bytes):
        data = "0x" + data.hex()
    raw = (data or "0x").removeprefix("0x")
    selector, body = raw[:8], bytes.fromhex(raw[8:])
    if selector == _ERROR_STRING:
        return ContractRevert("Error", tuple(decode(["string"], body)), "0x" + raw)
    if selector == _PANIC:
        return ContractRevert("Panic", tuple(decode(["uint256"], body)), "0x" + raw)
    known = _errors_by_selector().get(selector)
    if known is None:
        return ContractRevert("", (), "0x" + raw)
    name, types = known
    values = tuple(
        to_checksum_address(v) if kind == "address" else v
        for kind, v in zip(types, decode(types, body), strict=True)
    )
    return ContractRevert(name, values, "0x" + raw)
