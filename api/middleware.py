"""The outermost guard of every HTTP request (plain ASGI, so it adds no per-request task or copy):

* the body limit: a declared ``Content-Length`` over the limit is refused before anything is read, and a
  streamed body is counted as it arrives (413 problem either way);
* the catch-all: an exception no handler took is a bug: it is logged with its traceback and the client
  gets a bare 500 problem, never the traceback;
* metrics: count and latency per route template (never per raw path, which would let clients create
  unbounded label values).
"""

from __future__ import annotations

import logging
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import internal_error, problem
from api.metrics import Metrics

__all__ = ["BodyTooLargeError", "Guard"]

log = logging.getLogger("yuanshi.api")


class BodyTooLargeError(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds the limit of {limit} bytes")


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: Scope, templates: dict[int, str]) -> str:
    route = scope.get("route")
    if route is None:
        return "unmatched"
    path = templates.get(id(route), getattr(route, "path", None))
    return path if isinstance(path, str) else "unmatched"


class Guard:
    def __init__(
        self, app: ASGIApp, metrics: Metrics, max_body_bytes: int, templates: dict[int, str]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # Routes of included routers know their path without the prefix they were mounted under.
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500
        started = False
        received = 0
        limit = self.max_body_bytes

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = int(message["status"]), True
            await send(message)

        try:
            declared = _declared_length(scope)
            if declared is not None and declared > limit:
                raise BodyTooLargeError(limit)
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLargeError as exc:
            if started:
                raise
            answer = problem(413, "body-too-large", "Request body too large", str(exc.detail), scope["path"])
            await answer(scope, receive, watched_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if not started:  # once the answer is under way, having logged it is all that can be done
                await internal_error(scope["path"])(scope, receive, watched_send)
        finally:
            elapsed = time.perf_counter() - began
            self.metrics.observe(
                scope.get("method", ""), _route_template(scope, self.templates), status, elapsed
            )
