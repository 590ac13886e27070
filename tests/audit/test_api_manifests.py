"""The audit reads the published manifests straight from the service, byte for byte."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr

from api.app import create_app
from api.settings import ApiSettings
from ledger.audit import ApiManifests, AuditInputError, Verdict, audit, open_manifests
from ledger.config import LedgerSettings
from ledger.runtime import Runtime
from tests.audit.conftest import EPOCHS, Honest
from tests.e2e.world import VIN_SALT


def test_the_audit_passes_reading_manifests_from_the_api(honest: Honest, tmp_path: Path) -> None:
    world = honest.world
    settings = LedgerSettings(data_dir=tmp_path / "data", vin_salt=SecretStr(VIN_SALT.decode()))
    settings.data_dir.mkdir(parents=True)
    settings.deployment_file.write_text(json.dumps(honest.record))
    runtime = Runtime(settings, world.sessions.kw["bind"], world.sessions, world.chain, embedded=True)
    app = create_app(lambda: runtime, ApiSettings())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        source = open_manifests(url)
        assert isinstance(source, ApiManifests)
        assert source.published() == list(range(EPOCHS))
        for epoch in range(EPOCHS):
            assert source.get(epoch) == (honest.manifests / f"{epoch}.json").read_bytes()
        assert source.get(EPOCHS + 5) is None
        report = audit(honest.snapshot, source)
        assert report.ok, report.failures
        assert [e.verdict for e in report.epochs] == [Verdict.PASS] * EPOCHS
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_an_unreachable_service_is_a_clear_input_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(AuditInputError, match="cannot reach"):
        ApiManifests(f"http://127.0.0.1:{port}", timeout=2).published()
