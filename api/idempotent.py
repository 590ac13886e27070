"""``Idempotency-Key`` for the endpoints whose retry must not act twice: a retried request with the same key
and the same body gets the first answer byte for byte (``Idempotent-Replayed: true``); the same key with a
different body is a 409.

The answer is stored in the request's own transaction, with its effects: if the request fails, nothing is
stored and the key is free again. Chain transactions are sent before that commit; a commit that fails after
a transaction was mined loses the stored answer, not the transaction's effect, and the ledger functions
behind these endpoints refuse to act twice on chain (a claim already made, a round already open)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.services import Services
from ledger import idempotency

__all__ = ["IdempotencyKeyHeader", "idempotent"]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="makes a retried request answer the same and act once; use a fresh UUID per request",
        examples=["6f1c2d9e-4b7a-4c55-9a43-0d2e8b1f7c11"],
    ),
]


def _json(body: bytes, status_code: int, replayed: bool = False) -> Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return Response(body, status_code, media_type="application/json", headers=headers)


def idempotent(
    svc: Services,
    session: Session,
    now: int,
    scope: str,
    key: str | None,
    request: Any,
    run: Callable[[], BaseModel],
    status_code: int = 200,
) -> Response:
    """``run()``'s answer as JSON, or, for a key used before with the same ``request`` (any JSON value),
    the answer stored then."""
    if key is None:
        return _json(run().model_dump_json().encode(), status_code)
    svc.purge_idempotency_keys(session, now)
    digest = idempotency.request_hash(json.dumps(request, sort_keys=True, separators=(",", ":")).encode())
    stored = idempotency.begin(session, scope, key, digest, now)
    if stored is not None:
        return _json(stored.body, stored.status_code, replayed=True)
    answer = run().model_dump_json().encode()
    idempotency.finish(session, scope, key, status_code, answer)
    return _json(answer, status_code)
