"""The FastAPI application: ``create_app()`` builds it, its lifespan opens the ledger runtime once.

    create_app()                          # settings from the environment (YUANSHI_*, YUANSHI_API_*)
    create_app(LedgerSettings(...))       # explicit ledger settings
    create_app(lambda: runtime)           # a runtime built elsewhere (tests, the demo)

``api/`` is a thin layer: routes parse (pydantic), call one ledger service and map its errors
(``api.errors``). Everything that touches the chain goes through ``ledger.relay`` and its area modules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final

from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api import errors
from api.deps import client_limit
from api.metrics import Metrics
from api.middleware import Guard
from api.routes import accounts, cars, consent, emission, equity, health, holds, redemptions, tasks, telemetry
from api.services import Services
from api.settings import ApiSettings, vin_salt
from api.wallet import mount_wallet
from ledger.config import LedgerSettings
from ledger.runtime import Runtime, open_runtime

__all__ = ["create_app", "open_configured_runtime"]

RuntimeFactory = Callable[[], Runtime]
VERSION: Final = "1.0.0"

DESCRIPTION: Final = """
Yuanshi (原石) data-rights ledger: cars report signed trips, owners consent and redeem, operators run the
catalogue, fulfilment and treasury. Amounts are integers in base units (18 decimals for stones), written
as **decimal strings**. Errors are RFC 9457 problem details (`application/problem+json`).

Authentication: device signatures inside each trip report; the owner's EIP-712 signature for consent,
orders, sell-backs and data exports; operator bearer tokens with scopes for the rest.
See `docs/api.md`.
"""

TAGS: Final = [
    {"name": "telemetry", "description": "Signed trip reports from cars, and review of held reports"},
    {"name": "cars", "description": "Car registration, device keys, ownership (operator scope `cars`)"},
    {"name": "consent", "description": "Data-rights consent signed by the owner (EIP-712)"},
    {"name": "tasks", "description": "Co-creation task catalogue and completions (operator scope `tasks`)"},
    {"name": "accounts", "description": "Balances, claimable and pending stones, history, claims, export"},
    {"name": "redemptions", "description": "Upgrade catalogue and orders on the redemption desk"},
    {"name": "equity", "description": "Equity-value rounds, buy-back windows, sell-backs"},
    {"name": "emission", "description": "The emission schedule now, epochs and their manifests"},
    {"name": "operations", "description": "Health and Prometheus metrics"},
]


def open_configured_runtime(settings: LedgerSettings, api: ApiSettings) -> Runtime:
    """The runtime of a deployed service: on a JSON-RPC chain with the keys the API sends with."""
    if settings.chain_url is None:
        return open_runtime(settings)
    from ledger.chain.keys import load_operator_key

    paths = [*api.operator_keystores, *([api.relayer_keystore] if api.relayer_keystore else [])]
    if settings.keystore is not None:
        paths.append(settings.keystore)
    return open_runtime(settings, [load_operator_key(path) for path in paths])


def create_app(
    runtime: RuntimeFactory | LedgerSettings | None = None,
    api_settings: ApiSettings | None = None,
    *,
    clock: Callable[[], int] | None = None,
) -> FastAPI:
    """The application. ``clock`` replaces chain time as the ledger's ``now`` (default: chain time)."""
    api = api_settings or ApiSettings()
    if runtime is None or isinstance(runtime, LedgerSettings):
        ledger_settings = runtime or LedgerSettings()

        def factory() -> Runtime:
            return open_configured_runtime(ledger_settings, api)

    else:
        factory = runtime
    state: dict[str, Services] = {}

    def sessions() -> sessionmaker[Session] | None:
        return state["services"].runtime.sessions if "services" in state else None

    metrics = Metrics(sessions)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = await run_in_threadpool(factory)
        services = Services(opened, api, metrics, vin_salt(opened.settings), clock)
        state["services"] = app.state.services = services
        try:
            yield
        finally:
            state.pop("services", None)
            opened.engine.dispose()

    app = FastAPI(
        title="Yuanshi API",
        version=VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    errors.install(app)
    limited = [Depends(client_limit)]
    templates: dict[int, str] = {}
    for module in (telemetry, holds, cars, consent, tasks, accounts, redemptions, equity, emission):
        app.include_router(module.router, prefix="/v1", dependencies=limited)
        templates.update({id(route): "/v1" + getattr(route, "path", "") for route in module.router.routes})
    app.include_router(health.router)
    app.add_middleware(Guard, metrics=metrics, max_body_bytes=api.max_body_bytes, templates=templates)
    mount_wallet(app)
    return app
