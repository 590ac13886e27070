"""Column types that keep money exact on every database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

UINT256_DIGITS = 78


class Amount(TypeDecorator[int]):
    """A non-negative integer up to 2**256-1 stored as its decimal string.

    SQLite would round a NUMERIC beyond 64 bits to a float; text keeps every base unit on every backend.
    """

    impl = String(UINT256_DIGITS)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**256:
            raise ValueError(f"amount must be an integer in [0, 2**256), got {value!r}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)
