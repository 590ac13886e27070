"""Types every area shares: amounts as decimal strings, addresses, hashes, signatures, problem details.

Amounts are integers of base units (18 decimals for stones), written as JSON strings of decimal digits so
that no client rounds them through a float; a JSON number, a sign, a fraction or an exponent is refused.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from ledger.chain.views import SentTx
from ledger.vehicles import checksum_account

UINT256_LIMIT: Final = 2**256
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,77}")
AMOUNT_PATTERN: Final = r"^(0|[1-9][0-9]{0,77})$"
ONE_STONE: Final = "1000000000000000000"
EXAMPLE_ACCOUNT: Final = "0x2B5AD5c4795c026514f8317c7a215E218DcCD6cF"
EXAMPLE_HASH: Final = "0x13bcfa94bdfa9592ea6b4e4e6c07411c40862be05c3cf6e250adde63c3fce011"
EXAMPLE_SIGNATURE: Final = "0x" + "ab" * 64 + "1b"


def _amount(value: object) -> int:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise ValueError(
            "must be a string of decimal digits (base units: no sign, fraction, exponent or JSON number)"
        )
    number = int(value)
    if number >= UINT256_LIMIT:
        raise ValueError("must be below 2**256")
    return number


def _account(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an account address: 0x followed by 40 hex digits")
    return checksum_account(value)


Amount = Annotated[
    int,
    BeforeValidator(_amount),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "integer amount in base units, as a decimal string",
            "examples": [ONE_STONE],
        }
    ),
]
# Answers: the same JSON form, built from the ledger's integers.
AmountOut = Annotated[
    int,
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": AMOUNT_PATTERN,
            "description": "integer amount in base units, as a decimal string",
            "examples": [ONE_STONE],
        }
    ),
]
Address = Annotated[
    str,
    BeforeValidator(_account),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^0x[0-9a-fA-F]{40}$",
            "description": "account address (lower case or EIP-55 checksummed; answers are checksummed)",
            "examples": [EXAMPLE_ACCOUNT],
        }
    ),
]
Hash32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$"), Field(examples=[EXAMPLE_HASH])]
Signature = Annotated[
    str,
    StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$"),
    Field(
        description="65-byte ECDSA signature r ‖ s ‖ v as 0x + 130 hex digits", examples=[EXAMPLE_SIGNATURE]
    ),
]
UnixTime = Annotated[
    StrictInt, Field(ge=0, lt=2**63, description="unix seconds (UTC)", examples=[2_000_086_400])
]
# Query strings carry text, so their times are parsed from decimal digits (a body's must be JSON integers).
QueryTime = Annotated[int, Field(ge=0, lt=2**63, description="unix seconds (UTC)", examples=[2_000_086_400])]


class Strict(BaseModel):
    """Request bodies: an unknown field is an error, not something silently ignored."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    location: str = Field(examples=["body"])
    field: str = Field(examples=["reports"])
    message: str = Field(examples=["List should have at most 1000 items after validation, not 1001"])
    type: str | None = Field(default=None, examples=["too_long"])


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/invalid-input",
                    "title": "Invalid input",
                    "status": 422,
                    "detail": "body reports: List should have at most 1000 items after validation, not 1001",
                    "instance": "/v1/telemetry/trips",
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    error: str | None = Field(default=None, description="the contract's custom error, for a revert")
    args: list[Any] | None = Field(default=None, description="its arguments (integers as decimal strings)")
    retry_after: int | None = Field(default=None, description="seconds to wait, for 429")


class Tx(BaseModel):
    """A transaction the service sent."""

    tx_hash: Hash32
    block: int
    gas_used: int

    @classmethod
    def of(cls, sent: SentTx) -> Tx:
        return cls(tx_hash=sent.tx_hash, block=sent.block, gas_used=sent.gas_used)


class TypedData(BaseModel):
    """An EIP-712 request to sign with ``eth_signTypedData_v4``; message integers are decimal strings."""

    typed_data: dict[str, Any]
    digest: Hash32 = Field(description="the 32 bytes the wallet signs")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting that ``statuses`` answer with problem details."""
    descriptions = {
        400: "Malformed JSON or a refused request",
        401: "Missing or invalid bearer token",
        403: "Token lacks the scope, or a signature does not authorise the request",
        404: "Not found",
        409: "Conflicts with the current state (or the contract refused)",
        413: "Body too large",
        422: "Invalid input; `errors` names each field",
        429: "Rate limited; see `Retry-After`",
        502: "The chain failed",
        503: "Not deployed, or relaying not configured",
    }
    return {
        status: {
            "model": Problem,
            "description": descriptions[status],
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
