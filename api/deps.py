"""Request dependencies: the services, a database session per request, the clock, rate limits and
operator authentication.

The session is committed when the endpoint returns and rolled back when it raises, before the answer is
sent (``scope="function"``): an accepted report is durable before the client hears so, and a refused
request leaves no trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.limits import RateLimitedError
from api.services import Services
from ledger import tokens
from ledger.tokens import AuthenticationError, Scope, TokenIdentity

__all__ = [
    "NowDep",
    "ServicesDep",
    "SessionDep",
    "authenticate",
    "bearer",
    "client_key",
    "client_limit",
    "operator",
]


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


def db_session(svc: ServicesDep) -> Iterator[Session]:
    with svc.runtime.sessions() as session:
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        session.commit()


SessionDep = Annotated[Session, Depends(db_session, scope="function")]


def chain_now(svc: ServicesDep) -> int:
    return svc.now()


NowDep = Annotated[int, Depends(chain_now)]


def client_key(request: Request) -> str:
    # Behind a proxy, run uvicorn with --proxy-headers so that this is the real client's address.
    return request.client.host if request.client is not None else "unknown"


def client_limit(request: Request, svc: ServicesDep) -> None:
    """Every /v1 request counts against its client address's bucket."""
    wait = svc.client_limits.take(client_key(request))
    if wait:
        raise RateLimitedError(f"too many requests from this client; retry in {wait} s", wait)


bearer = HTTPBearer(
    auto_error=False,
    scheme_name="OperatorToken",
    description="Operator API token (`yst_…`); each operator endpoint names the scope it needs",
)


def authenticate(
    svc: Services, session: Session, credentials: HTTPAuthorizationCredentials | None, scope: Scope
) -> TokenIdentity:
    """The identity of a valid, unrevoked operator token with ``scope``, within the token's rate."""
    if credentials is None:
        raise AuthenticationError(
            f"this endpoint needs an operator bearer token with the {scope.value!r} scope"
        )
    identity = tokens.verify_token(session, credentials.credentials)
    wait = svc.token_limits.take(identity.name)
    if wait:
        raise RateLimitedError(f"too many requests with token {identity.name!r}; retry in {wait} s", wait)
    tokens.require_scope(identity, scope)
    return identity


def operator(scope: Scope) -> Callable[..., TokenIdentity]:
    """A dependency admitting operator tokens with ``scope`` (see :func:`authenticate`)."""

    def check(
        svc: ServicesDep,
        session: SessionDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> TokenIdentity:
        return authenticate(svc, session, credentials, scope)

    check.__name__ = f"operator_{scope.value}"
    return check
