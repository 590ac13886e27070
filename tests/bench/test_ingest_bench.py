"""The ingest benchmark's structure at a tiny size: one real run (PostgreSQL, 2 uvicorn workers), its JSON.

Signed reports and upload envelopes both go through; the target (accepted reports/s at least 70% of the
Ed25519 bound) is the benchmark's business
(``python -m bench.ingest``, recorded in ``docs/benchmarks.md``); nothing here looks at a clock.
"""

from __future__ import annotations

import json

import pytest

from bench.ingest import main


def test_tiny_run_prints_the_figures(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "--seconds", "3", "--cars", "20", "--verify-seconds", "0.5"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("reports_per_s", "verify_bound_per_s", "p99_ms", "p50_ms", "ratio", "accepted"):
        assert key in figures
    assert figures["accepted"] > 0
    assert figures["http_errors"] == 0
    assert figures["verify_bound_per_s"] > 0
    assert figures["workers"] == 2
    # Both server processes served: the load is split between them, not left to one.
    assert len(figures["workers_cpu_s"]) == 2
    assert all(cpu > 0 for cpu in figures["workers_cpu_s"])
    uploads = figures["uploads"]
    assert uploads["accepted"] > 0
    assert uploads["http_errors"] == 0
    assert uploads["not_accepted"] == {}
    assert uploads["reports_per_upload"] == 10
