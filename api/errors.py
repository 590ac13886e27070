"""Every refusal as RFC 9457 problem details (``application/problem+json``), never a traceback.

``type`` is a relative URI ``/problems/<slug>`` naming the kind of problem (listed in ``docs/api.md``),
``title`` its fixed summary, ``detail`` what exactly was wrong with this request. Extensions: ``errors``
(one entry per invalid field), ``error`` and ``args`` (a contract's custom error, arguments as strings),
``retry_after`` (seconds, with a ``Retry-After`` header).

Statuses: 400 malformed JSON or an otherwise refused request, 401 missing or invalid credentials, 403 a
valid token without the scope or a signature that does not authorise the request, 404 unknown things,
409 a conflict with current state (including most contract reverts), 413 a body over the limit, 422
invalid input, 429 rate limited, 502 the chain failed, 503 not deployed or not configured. Anything else
is a bug: logged with its traceback and answered with a bare 500 problem.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.limits import RateLimitedError
from ledger.eip712 import json_value
from ledger.errors import (
    ChainError,
    ConflictError,
    ContractRevert,
    NotFoundError,
    SignatureError,
    ValidationError,
    YuanshiError,
)
from ledger.relay import RelayerUnavailableError
from ledger.runtime import NotDeployedError
from ledger.tokens import AuthenticationError, PermissionDeniedError

__all__ = ["PROBLEM_MEDIA_TYPE", "install", "internal_error", "problem"]

log = logging.getLogger("yuanshi.api")

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

# Most specific first: the first class in an error's MRO found here decides.
_LEDGER_ERRORS: Final[dict[type[BaseException], tuple[int, str, str]]] = {
    RateLimitedError: (429, "rate-limited", "Too many requests"),
    AuthenticationError: (401, "unauthenticated", "Authentication required"),
    PermissionDeniedError: (403, "forbidden", "Not allowed"),
    SignatureError: (403, "bad-signature", "Signature not accepted"),
    NotFoundError: (404, "not-found", "Not found"),
    ConflictError: (409, "conflict", "Conflict with the current state"),
    ValidationError: (422, "invalid-input", "Invalid input"),
    NotDeployedError: (503, "not-deployed", "The contracts are not deployed"),
    RelayerUnavailableError: (503, "relayer-unavailable", "Relaying is not configured"),
    ChainError: (502, "chain-error", "The chain did not answer as expected"),
    YuanshiError: (400, "refused", "Request refused"),
}

# Contract errors that say the request itself was wrong; every other revert is a conflict with state.
_INPUT_REVERTS: Final = frozenset(
    {
        "InvalidPrice",
        "InvalidStock",
        "InvalidWindow",
        "ZeroAmount",
        "InvalidProof",
        "PayoutTooLow",
        "LengthMismatch",
        "ZeroAddress",
        "UnknownId",
        "InvalidRecoveryAccount",
        "ERC20InvalidReceiver",
        "ERC20InvalidSender",
        "ERC20InvalidSpender",
        "ERC20InvalidApprover",
    }
)
# Reverts that mean the service is misconfigured (its key lacks a role), not that the client erred.
_CONFIG_REVERTS: Final = frozenset({"AccessControlUnauthorizedAccount"})

_HTTP_SLUGS: Final = {
    400: ("bad-request", "Bad request"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    if instance is not None:
        body["instance"] = instance
    body.update({key: value for key, value in extensions.items() if value is not None})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def internal_error(instance: str | None) -> JSONResponse:
    return problem(
        500, "internal-error", "Internal error", "the service failed; the error was logged", instance
    )


def _revert(exc: ContractRevert, instance: str) -> JSONResponse:
    name = exc.name or "unknown"
    args = [json_value(arg) for arg in exc.args_]
    detail = f"the contract refused: {name}({', '.join(str(a) for a in args)})"
    if exc.name in _CONFIG_REVERTS:
        log.error("the API's chain key lacks a role: %s", exc)
        return problem(503, "chain-misconfigured", "The service's chain keys lack a role", detail, instance)
    if exc.name in ("", "Panic"):
        log.error("unexpected revert: %s", exc)
        return problem(
            502, "chain-error", "The chain did not answer as expected", detail, instance, error=name
        )
    status = 422 if exc.name in _INPUT_REVERTS else 409
    return problem(
        status, "contract-revert", "The contract refused the request", detail, instance, error=name, args=args
    )


def ledger_error(exc: YuanshiError, instance: str) -> JSONResponse:
    if isinstance(exc, ContractRevert):
        return _revert(exc, instance)
    status, slug, title = next(_LEDGER_ERRORS[k] for k in type(exc).__mro__ if k in _LEDGER_ERRORS)
    headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
        extensions["retry_after"] = exc.retry_after
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="yuanshi"'
    if status >= 500:
        log.warning("%s on %s: %s", type(exc).__name__, instance, exc)
    return problem(status, slug, title, str(exc), instance, headers, **extensions)


def _field(loc: Sequence[int | str]) -> tuple[str, str]:
    """(location, dotted field) of a pydantic error location such as ``("body", "reports", 3)``."""
    where = str(loc[0]) if loc else "body"
    path = ".".join(str(part) for part in loc[1:])
    return where, path or where


def _validation(exc: RequestValidationError, instance: str) -> JSONResponse:
    errors = []
    for error in exc.errors():
        where, name = _field(error.get("loc", ()))
        # The input itself is never echoed: it may be huge, or personal (a VIN).
        errors.append(
            {
                "location": where,
                "field": name,
                "message": str(error.get("msg", "")),
                "type": error.get("type"),
            }
        )
    if any(error["type"] == "json_invalid" for error in errors):
        return problem(
            400, "malformed-json", "Malformed JSON", "the request body is not valid JSON", instance
        )
    shown = "; ".join(f"{e['location']} {e['field']}: {e['message']}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return problem(422, "invalid-input", "Invalid input", shown + more, instance, errors=errors)


def _http(exc: StarletteHTTPException, instance: str) -> JSONResponse:
    slug, title = _HTTP_SLUGS.get(exc.status_code, ("http-error", "Request refused"))
    return problem(exc.status_code, slug, title, str(exc.detail), instance, exc.headers)


def install(app: FastAPI) -> None:
    """Registers the handlers (the catch-all for bugs is ``api.middleware``, outside the routing)."""

    async def on_ledger(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, YuanshiError)
        return ledger_error(exc, request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return _validation(exc, request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _http(exc, request.url.path)

    app.add_exception_handler(YuanshiError, on_ledger)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
