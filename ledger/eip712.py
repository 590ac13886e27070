"""EIP-712 typed data for the requests owners sign for relaying: orders, sell-backs, data exports.

The ledger checks an owner's signature *before* relaying it, with the same rules as OpenZeppelin's
``ECDSA.recover`` (65 bytes ``r ‖ s ‖ v``, ``v`` 27 or 28, ``s`` in the lower half of the curve order), so a
request the contract would refuse is refused here with a clear reason and costs the relayer no gas.

Typed data is built with integers; :func:`to_json` turns it into the JSON a wallet's
``eth_signTypedData_v4`` takes, with every uint256 as a decimal string (above 2**53 a JSON number would
lose digits in JavaScript).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_keys.exceptions import BadSignature

from ledger.errors import SignatureError, ValidationError
from ledger.merkle import keccak256

__all__ = ["SECP256K1_N", "digest", "json_value", "recover", "sign", "to_json", "typed_data", "verify"]

SECP256K1_N: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_SIGNATURE_RE: Final = re.compile(r"0x[0-9a-fA-F]{130}")

_DOMAIN_FIELDS: Final = {
    "name": "string",
    "version": "string",
    "chainId": "uint256",
    "verifyingContract": "address",
}


def typed_data(
    domain: Mapping[str, Any], primary_type: str, fields: list[tuple[str, str]], message: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``full_message`` of an EIP-712 request: ``fields`` are ``(name, type)`` in the signed order."""
    domain_type = [{"name": name, "type": kind} for name, kind in _DOMAIN_FIELDS.items() if name in domain]
    return {
        "types": {
            "EIP712Domain": domain_type,
            primary_type: [{"name": name, "type": kind} for name, kind in fields],
        },
        "primaryType": primary_type,
        "domain": dict(domain),
        "message": dict(message),
    }


def _signable(data: Mapping[str, Any]) -> SignableMessage:
    return encode_typed_data(full_message=dict(data))


def digest(data: Mapping[str, Any]) -> bytes:
    """The 32 bytes a wallet signs: ``keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct(message))``."""
    signable = _signable(data)
    return keccak256(b"\x19" + bytes(signable.version) + signable.header + signable.body)


def sign(data: Mapping[str, Any], private_key: bytes) -> str:
    """``data`` signed as a wallet would (for simulators, docs and tests)."""
    signed = Account.sign_message(_signable(data), private_key)
    return "0x" + bytes(signed.signature).hex()


def _signature_bytes(signature: object) -> bytes:
    if not isinstance(signature, str) or not _SIGNATURE_RE.fullmatch(signature):
        raise ValidationError("a signature is 0x followed by 130 hex digits (r, s, v)")
    raw = bytes.fromhex(signature[2:])
    if raw[64] not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {raw[64]}")
    if int.from_bytes(raw[32:64], "big") > SECP256K1_N // 2:
        raise SignatureError("signature s is in the upper half of the curve order (malleable form)")
    return raw


def recover(data: Mapping[str, Any], signature: str) -> str:
    """The account that signed ``data``, or :class:`SignatureError` when nothing valid is recoverable."""
    raw = _signature_bytes(signature)
    try:
        return str(Account.recover_message(_signable(data), signature=raw))
    except (BadSignature, ValueError) as exc:
        raise SignatureError(f"signature does not verify: {exc}") from None


def verify(data: Mapping[str, Any], signature: str, signer: str) -> None:
    """:class:`SignatureError` unless ``signer`` (checksummed) signed ``data``."""
    recovered = recover(data, signature)
    if recovered != signer:
        raise SignatureError(f"signed by {recovered}, not by {signer}")


def json_value(value: Any) -> Any:
    """An ABI value as JSON: integers as decimal strings (JSON numbers lose precision past 2**53), bytes
    as 0x hex, booleans and strings as they are, lists, tuples and mappings item by item."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, Mapping):
        return {key: json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(item) for item in value]
    return value


def to_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as wallet JSON (:func:`json_value`); the domain's chain id stays a number, as wallets
    compare it with their own."""
    converted: dict[str, Any] = json_value(dict(data))
    if "chainId" in data.get("domain", {}):
        converted["domain"]["chainId"] = int(data["domain"]["chainId"])
    return converted
