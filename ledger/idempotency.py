"""Idempotency keys: a request sent again with the same key gets the first answer, byte for byte.

Rules:

* A key is 1..255 printable ASCII characters, unique within a ``scope`` (the endpoint). A client should
  use a fresh random key (a UUID) per logical request.
* The first request with a key claims it by inserting a row *before* doing its work, in the same
  transaction as that work, and stores its answer at the end (:func:`finish`). If the work fails, the
  transaction rolls back and the key is free again.
* A concurrent second request with the same key waits on the row's unique index (PostgreSQL) or on the
  write lock (SQLite, ``BEGIN IMMEDIATE``), then sees the committed answer and replays it: the work is done
  once.
* The same key with a different request (another SHA-256 of the body) is a :class:`ConflictError`: the
  client reused a key by mistake, and silently answering the old request would hide it.
* Rows older than the retention the operator chooses are removed with :func:`purge`.

Services flush, callers commit.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.errors import ConflictError, ValidationError
from ledger.store.models import IdempotencyKey

__all__ = ["StoredResponse", "begin", "finish", "purge", "request_hash"]

_KEY_RE: Final = re.compile(r"[\x21-\x7e][\x20-\x7e]{0,254}")


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes


def request_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValidationError("Idempotency-Key must be 1..255 printable ASCII characters")
    return key


def _replay(row: IdempotencyKey, digest: str) -> StoredResponse:
    if row.request_hash != digest:
        raise ConflictError(
            f"Idempotency-Key {row.key!r} was used for a different request; use a new key for a new request"
        )
    if row.status_code is None or row.response is None:  # only the claiming transaction sees this
        raise ConflictError(f"a request with Idempotency-Key {row.key!r} is still being processed")
    return StoredResponse(row.status_code, row.response.encode("utf-8"))


def _find(session: Session, scope: str, key: str) -> IdempotencyKey | None:
    query = select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    return session.scalars(query.execution_options(populate_existing=True)).first()


def begin(session: Session, scope: str, key: str, digest: str, now: int) -> StoredResponse | None:
    """The stored answer for ``key`` if it was used before (None: the key is now claimed for this request)."""
    key = _check_key(key)
    row = _find(session, scope, key)
    if row is not None:
        return _replay(row, digest)
    try:
        with session.begin_nested():
            session.add(IdempotencyKey(scope=scope, key=key, request_hash=digest, created_at=now))
    except IntegrityError:
        # A concurrent request claimed the key and has committed by now (our insert waited for it).
        row = _find(session, scope, key)
        if row is None:
            raise ConflictError(
                f"Idempotency-Key {key!r} collided with a concurrent request; retry"
            ) from None
        return _replay(row, digest)
    return None


def finish(session: Session, scope: str, key: str, status_code: int, body: bytes) -> None:
    """Stores the answer of the request that claimed ``key``."""
    row = _find(session, scope, key)
    if row is None:
        raise ConflictError(f"Idempotency-Key {key!r} was not claimed by this request")
    row.status_code = status_code
    row.response = body.decode("utf-8")
    session.flush()


def purge(session: Session, older_than: int) -> int:
    """Deletes keys created before ``older_than``; returns how many."""
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < older_than))
    assert isinstance(result, CursorResult)
    return int(result.rowcount)
