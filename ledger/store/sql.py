"""SQL helpers shared by the ledger's set-based reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = ["one_of"]


def one_of(
    session: Session, column: InstrumentedAttribute[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL as ``column = ANY(:array)``: one parameter, so the statement's
    text, and with it SQLAlchemy's compiled form and psycopg's prepared statement, is the same whatever the
    number of values; an expanded IN list is rendered, parsed and planned again for every distinct length."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
