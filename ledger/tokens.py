"""Operator API tokens: bearer secrets with scopes, stored as their SHA-256 only.

Rules:

* A token is ``yst_`` followed by 43 URL-safe base64 characters (32 random bytes). Only its SHA-256 (hex)
  is stored: with 256 bits of entropy an unsalted hash cannot be inverted, and a deterministic hash lets a
  request find its token by one indexed lookup. The plaintext is returned once, by :func:`create_token`.
* A token has a unique name (1..64 of ``[A-Za-z0-9_.-]``) and a non-empty set of scopes from
  :class:`Scope`; each operator endpoint names the one scope it needs.
* Revocation is immediate and final (the row is kept for the record); a revoked token never verifies.

Services flush, callers commit (as in :mod:`ledger.vehicles`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.errors import ConflictError, NotFoundError, ValidationError, YuanshiError
from ledger.store.models import ApiToken

__all__ = [
    "TOKEN_PREFIX",
    "AuthenticationError",
    "PermissionDeniedError",
    "Scope",
    "TokenIdentity",
    "create_token",
    "hash_token",
    "list_tokens",
    "require_scope",
    "revoke_token",
    "verify_token",
]

TOKEN_PREFIX: Final = "yst_"
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# 32 bytes in URL-safe base64 without padding are 43 characters.
_TOKEN_RE: Final = re.compile(r"yst_[A-Za-z0-9_-]{43}")


class Scope(StrEnum):
    """What an operator token may do; each operator endpoint requires exactly one."""

    CARS = "cars"  # register cars, rotate and revoke device keys, transfer ownership
    REVIEW = "review"  # release or deny held trip reports
    TASKS = "tasks"  # the task catalogue and completions reported by the app backend
    CATALOGUE = "catalogue"  # list and change redemption items
    FULFILMENT = "fulfilment"  # fulfil and cancel redemption orders
    TREASURY = "treasury"  # equity rounds, balance roots, buy-back windows
    ACCOUNTS = "accounts"  # data exports on an owner's behalf, batch relayed claims (the app backend)


class AuthenticationError(YuanshiError):
    """No credentials, or credentials that do not verify (an unknown, malformed or revoked token)."""


class PermissionDeniedError(YuanshiError):
    """Valid credentials without the right to do this (a token lacking the scope)."""


@dataclass(frozen=True)
class TokenIdentity:
    name: str
    scopes: frozenset[Scope]
    created_at: int
    revoked_at: int | None = None


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValidationError(f"token name must be 1..64 of [A-Za-z0-9_.-], got {name!r}")
    return name


def _check_scopes(scopes: Iterable[object]) -> frozenset[Scope]:
    if isinstance(scopes, str):  # a lone string would otherwise be read as its letters
        scopes = [scopes]
    chosen: set[Scope] = set()
    known = {member.value for member in Scope}
    for scope in scopes:
        if not isinstance(scope, str) or scope not in known:
            raise ValidationError(f"unknown scope {scope!r}; known: {', '.join(sorted(known))}")
        chosen.add(Scope(scope))
    if not chosen:
        raise ValidationError("a token needs at least one scope")
    return frozenset(chosen)


def _identity(row: ApiToken) -> TokenIdentity:
    return TokenIdentity(
        row.name, frozenset(Scope(s) for s in row.scopes.split()), row.created_at, row.revoked_at
    )


def create_token(session: Session, name: str, scopes: Iterable[Scope | str], now: int | None = None) -> str:
    """Creates a token named ``name`` with ``scopes`` and returns its plaintext (shown this once only)."""
    name = _check_name(name)
    chosen = _check_scopes(scopes)
    if session.scalars(select(ApiToken.id).where(ApiToken.name == name)).first() is not None:
        raise ConflictError(f"a token named {name!r} exists already")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(plaintext),
        scopes=" ".join(sorted(chosen)),
        created_at=int(time.time()) if now is None else now,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise ConflictError(f"a token named {name!r} was created concurrently") from None
    return plaintext


def verify_token(session: Session, plaintext: str) -> TokenIdentity:
    """The identity of a presented token, or :class:`AuthenticationError` (never saying which check failed,
    so a caller learns nothing about which tokens exist)."""
    if not isinstance(plaintext, str) or not _TOKEN_RE.fullmatch(plaintext):
        raise AuthenticationError("the bearer token is malformed")
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(plaintext))).first()
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("the bearer token is unknown or revoked")
    return _identity(row)


def require_scope(identity: TokenIdentity, scope: Scope) -> None:
    if scope not in identity.scopes:
        raise PermissionDeniedError(f"token {identity.name!r} lacks the {scope.value!r} scope")


def revoke_token(session: Session, name: str, now: int | None = None) -> TokenIdentity:
    """Revokes the token named ``name`` (idempotent: a second call keeps the first time)."""
    row = session.scalars(select(ApiToken).where(ApiToken.name == _check_name(name))).first()
    if row is None:
        raise NotFoundError(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = int(time.time()) if now is None else now
        session.flush()
    return _identity(row)


def list_tokens(session: Session) -> list[TokenIdentity]:
    return [_identity(row) for row in session.scalars(select(ApiToken).order_by(ApiToken.name))]
