"""A running API over a whole world (``tests/e2e/world.py``): embedded chain, deployed contracts, database,
fleet and consents, served through FastAPI's TestClient. Worlds are expensive (a deployment each), so each
test module shares one (``module_api``), and tests within a module are written to tolerate each other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.services import Services
from api.settings import ApiSettings
from ledger import tokens
from ledger.config import LedgerSettings
from ledger.runtime import Runtime
from ledger.tokens import Scope
from tests.e2e.world import VIN_SALT, World, build_world

# Limits high enough that only the tests about limits ever meet them.
GENEROUS = {
    "client_burst": 100_000,
    "client_per_minute": 6_000_000,
    "token_burst": 100_000,
    "token_per_minute": 6_000_000,
    "vehicle_burst": 100_000,
    "vehicle_per_minute": 6_000_000,
}


@dataclass
class Api:
    client: TestClient
    world: World
    runtime: Runtime
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, scope: Scope | str) -> dict[str, str]:
        """Headers with a token holding ``scope`` alone (or the ``all`` token)."""
        return {"Authorization": f"Bearer {self.tokens[str(scope)]}"}

    @property
    def services(self) -> Services:
        app = self.client.app
        assert isinstance(app, FastAPI)
        found: Services = app.state.services
        return found

    @property
    def everything(self) -> dict[str, str]:
        return self.auth("all")


@contextmanager
def running_api(
    tmp_path: Path, backend: str = "sqlite", cars: int = 6, owners: int = 3, **limits: int
) -> Iterator[Api]:
    with build_world(tmp_path, backend, cars=cars, owners=owners) as world:
        settings = LedgerSettings(data_dir=tmp_path / "data", vin_salt=SecretStr(VIN_SALT.decode()))
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        settings.deployment_file.write_text(json.dumps(world.system.record()))
        engine = world.sessions.kw["bind"]
        runtime = Runtime(settings, engine, world.sessions, world.chain, embedded=True)
        api_settings = ApiSettings.model_validate(GENEROUS | limits)
        app = create_app(lambda: runtime, api_settings)
        with TestClient(app) as client:
            api = Api(client, world, runtime)
            with world.sessions.begin() as session:
                for scope in Scope:
                    api.tokens[scope.value] = tokens.create_token(session, f"op-{scope.value}", [scope])
                api.tokens["all"] = tokens.create_token(session, "op-all", list(Scope))
            yield api


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(tmp_path_factory.mktemp("api")) as api:
        yield api
