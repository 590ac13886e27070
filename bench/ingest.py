"""Ingest benchmark (issue 4): trip reports accepted per second through the HTTP API, beside the Ed25519
bound, for reports signed one by one and for upload envelopes (one signature per upload, ``ledger.uploads``).

    .venv/bin/python -m bench.ingest [--json] [--seconds 20] [--cars 500] [--clients 8] [--upload-size 10]

One run:

1. a fresh data folder (temporary) with a deployment on the embedded chain (``Runtime.deploy``), and a
   fresh PostgreSQL database on 127.0.0.1:5432 (user postgres, trust auth; ``tests.db``), migrated;
2. ``2 * --cars`` Ed25519 cars registered with their owners' consent (EIP-712 signatures): the first half
   sends signed reports, the second half upload envelopes;
3. a week of trips pre-generated (``yuanshi.fleet``) and pre-encoded into requests of 100 reports, each
   client owning a disjoint set of cars so that every car's reports arrive in sequence order; an uploading
   car seals an envelope each time it has driven ``--upload-size`` trips, and a request carries
   ``100 / --upload-size`` envelopes;
4. the Ed25519 bound: two processes verifying for a few seconds with the fastest library available
   (PyNaCl / libsodium, else ``cryptography``), measured before the server starts so they do not compete;
5. the API as 2 uvicorn processes (uvloop + httptools, one worker each, on two ports of 127.0.0.1, as
   behind a load balancer; see :func:`serving` for why not ``--workers 2``), and a bounded load generator
   (httpx, ``--clients`` concurrent clients split evenly over the two) that stops after ``--seconds`` or
   when the requests run out: first ``POST /v1/telemetry/trips``, then ``POST /v1/telemetry/uploads``. For
   each phase: accepted reports per second, each request's latency, and the CPU seconds each server process
   used (from ``/proc``), so the CPU a report costs the server is printed beside the rates; the servers are
   always stopped;
6. one more batch of 100 signed reports profiled in-process (cProfile of ``ledger.ingest.submit_reports`` +
   commit), after a rolled-back warm-up run of the same batch.

``yuanshi serve`` refuses ``--workers 2`` on the embedded chain (each worker would extend its own copy of
the chain), so the servers run ``uvicorn --factory bench.ingest:server_app``: ``create_app`` with a runtime
on the PostgreSQL database and an in-memory chain that telemetry never touches (the ledger's clock is fixed
by ``YUANSHI_BENCH_NOW``, a week after the cars were registered). Per-car and per-client rate limits are
switched off (``YUANSHI_API_*_PER_MINUTE=0``): the load generator is one address sending far above them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import create_engine, make_url, text

if TYPE_CHECKING:
    from yuanshi.fleet import Fleet

BATCH: Final = 100
START: Final = 2_000_000_000  # the fixed time the cars are registered at
WINDOW_S: Final = 3600  # trips are generated hour by hour
NOW: Final = START + 7 * 86_400 - 600  # the ledger's clock while serving: every trip is under a week old
VIN_SALT: Final = "bench-ingest-salt-0123456789abcdef"
TARGET_RATIO: Final = 0.70
POSTGRES_ADMIN_URL: Final = os.environ.get(
    "YUANSHI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
VERIFY_MESSAGE_BYTES: Final = 256  # about the size of a report's signed payload


# --- the server side (imported by each uvicorn worker) ----------------------------------------------


def server_app() -> Any:
    """The app each worker serves: ``create_app`` on the configured database, the bench's fixed clock."""
    from api.app import create_app
    from ledger.chain.embedded import EmbeddedChain
    from ledger.config import LedgerSettings
    from ledger.runtime import Runtime
    from ledger.store.db import make_engine, session_factory

    settings = LedgerSettings()
    now = int(os.environ["YUANSHI_BENCH_NOW"])

    def factory() -> Runtime:
        assert settings.database_url is not None
        engine = make_engine(settings.database_url)  # migrated by the bench before the workers start
        return Runtime(settings, engine, session_factory(engine), EmbeddedChain(), True)

    return create_app(factory, clock=lambda: now)


# --- the Ed25519 bound -------------------------------------------------------------------------------


def _verify_worker(library: str, seconds: float, out: Any) -> None:
    messages = [os.urandom(VERIFY_MESSAGE_BYTES) for _ in range(64)]
    private = Ed25519PrivateKey.generate()
    signatures = [private.sign(m) for m in messages]
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    count = 0
    if library == "pynacl":
        from nacl.signing import VerifyKey

        key = VerifyKey(raw_public)
        pairs = [(s + m) for m, s in zip(messages, signatures, strict=True)]
        deadline = time.perf_counter() + seconds
        begin = time.perf_counter()
        while time.perf_counter() < deadline:
            for signed in pairs:
                key.verify(signed)
            count += len(pairs)
    else:
        public = Ed25519PublicKey.from_public_bytes(raw_public)
        deadline = time.perf_counter() + seconds
        begin = time.perf_counter()
        while time.perf_counter() < deadline:
            for message, signature in zip(messages, signatures, strict=True):
                public.verify(signature, message)
            count += len(messages)
    out.put(count / (time.perf_counter() - begin))


def fastest_library() -> str:
    try:
        import nacl.signing  # noqa: F401
    except ImportError:
        return "cryptography"
    return "pynacl"


def verify_rate(library: str, processes: int = 2, seconds: float = 3.0) -> float:
    """Ed25519 verifications per second, summed over ``processes`` processes verifying at once."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_verify_worker, args=(library, seconds, queue)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates = [float(queue.get(timeout=seconds + 60)) for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)


# --- preparation -------------------------------------------------------------------------------------


@dataclass
class Prepared:
    database_url: str
    batches: list[list[bytes]]  # per client: pre-encoded request bodies, in order
    reports: int
    upload_batches: list[list[bytes]]  # the same for upload envelopes, on their own cars
    upload_reports: int
    profile_batch: list[dict[str, object]]
    timings: dict[str, float] = field(default_factory=dict)


@contextmanager
def fresh_postgres() -> Iterator[str]:
    import uuid

    name = f"yuanshi_bench_ingest_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(
    data_dir: Path, database_url: str, cars: int, clients: int, max_reports: int, upload_size: int
) -> Prepared:
    from ledger import consent, vehicles
    from ledger.chain.deploy import DeployParams
    from ledger.chain.embedded import test_accounts
    from ledger.config import LedgerSettings
    from ledger.runtime import embedded_roles, open_runtime
    from ledger.telemetry import Algorithm
    from yuanshi.fleet import Fleet

    timings: dict[str, float] = {}
    begin = time.perf_counter()
    settings = LedgerSettings(data_dir=data_dir, database_url=database_url, chain_url=None, keystore=None)
    runtime = open_runtime(settings)  # migrates the database
    for account in test_accounts():
        runtime.client.add_signer(account)
    runtime.deploy(DeployParams(genesis=runtime.client.now() + 3600), embedded_roles())
    timings["deploy_s"] = time.perf_counter() - begin

    begin = time.perf_counter()
    # Fleet.create makes every fourth car P-256; the bound is Ed25519, so keep the Ed25519 cars only. The
    # first ``cars`` send signed reports, the next ``cars`` upload envelopes.
    fleet = Fleet.create(2 * cars + 2 * cars // 3 + 2, max(1, 2 * cars // 3), seed=4)
    fleet.cars = [car for car in fleet.cars if car.algorithm is Algorithm.ED25519][: 2 * cars]
    owners = {car.owner.address: car.owner for car in fleet.cars}
    chain_id = runtime.client.chain_id
    try:
        with runtime.sessions.begin() as session:
            for car in fleet.cars:
                vehicles.register_vehicle(
                    session,
                    car.vehicle_id,
                    car.vin,
                    VIN_SALT.encode(),
                    car.public_key,
                    car.algorithm,
                    car.owner.address,
                    START,
                )
            for owner in owners.values():
                grant = consent.ConsentGrant(owner.address, "1.0", ("trip_summaries",), START)
                signature = consent.sign(grant, bytes(owner.key), chain_id)
                consent.grant_consent(session, grant, signature, chain_id, START)
    finally:
        runtime.engine.dispose()
    timings["register_s"] = time.perf_counter() - begin

    begin = time.perf_counter()
    batches, total, upload_batches, uploaded, profile = _generate(
        fleet, cars, clients, max_reports, upload_size
    )
    timings["generate_s"] = time.perf_counter() - begin
    return Prepared(database_url, batches, total, upload_batches, uploaded, profile, timings)


def _generate(
    fleet: Fleet, cars: int, clients: int, max_reports: int, upload_size: int
) -> tuple[list[list[bytes]], int, list[list[bytes]], int, list[dict[str, object]]]:
    """Request bodies per client: signed reports from the first ``cars`` cars, and upload envelopes of
    ``upload_size`` reports from the next ``cars`` (each car seals an envelope once it has driven that many
    trips); then the batch kept for the in-process profile."""
    from ledger.telemetry import TripReport

    signing, uploading = fleet.cars[:cars], fleet.cars[cars:]
    client_of = {car.vehicle_id: index % clients for index, car in enumerate(fleet.cars)}
    streams: list[list[dict[str, object]]] = [[] for _ in range(clients)]
    pending: dict[str, list[TripReport]] = {}  # each uploading car's trips not yet sealed in an envelope
    envelopes: list[list[dict[str, object]]] = [[] for _ in range(clients)]
    total = uploaded = 0
    window = START + 60
    last_window = NOW - 2 * WINDOW_S  # the last hour is kept for the profiled batch
    while (total < max_reports or uploaded < max_reports) and window + WINDOW_S <= last_window:
        fleet.cars = signing
        for report in fleet.trips_between(window, window + WINDOW_S):
            streams[client_of[str(report["vehicle_id"])]].append(report)
            total += 1
        fleet.cars = uploading
        for car, trip in fleet.drive(window, window + WINDOW_S):
            trips = pending.setdefault(car.vehicle_id, [])
            trips.append(trip)
            if len(trips) == upload_size:
                envelopes[client_of[car.vehicle_id]].append(fleet.envelope(car, trips))
                uploaded += len(trips)
                del pending[car.vehicle_id]
        window += WINDOW_S
    fleet.cars = signing
    profile_batch = fleet.trips_between(last_window, last_window + WINDOW_S)[:BATCH]
    batches = [
        [
            json.dumps({"reports": stream[i : i + BATCH]}, separators=(",", ":")).encode()
            for i in range(0, len(stream), BATCH)
        ]
        for stream in streams
    ]
    per_request = max(1, BATCH // upload_size)  # envelopes per request: about BATCH reports in each
    upload_batches = [
        [
            json.dumps({"uploads": stream[i : i + per_request]}, separators=(",", ":")).encode()
            for i in range(0, len(stream), per_request)
        ]
        for stream in envelopes
    ]
    return batches, total, upload_batches, uploaded, profile_batch


# --- the server and the load -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Worker:
    url: str
    pid: int


@contextmanager
def serving(data_dir: Path, database_url: str, workers: int = 2) -> Iterator[list[Worker]]:
    """``workers`` uvicorn processes (uvloop + httptools), one worker each on its own port, as behind a
    load balancer; always stopped afterwards.

    Not ``uvicorn --workers 2`` on one shared socket: a worker's event loop accepts every connection that
    is waiting, so the load generator's few keep-alive connections all went to one worker (measured: 14.8
    CPU-s in one worker, none in the other), and the run measured one core."""
    env = {
        **os.environ,
        "YUANSHI_DATA_DIR": str(data_dir),
        "YUANSHI_DATABASE_URL": database_url,
        "YUANSHI_VIN_SALT": VIN_SALT,
        "YUANSHI_BENCH_NOW": str(NOW),
        "YUANSHI_API_VEHICLE_PER_MINUTE": "0",
        "YUANSHI_API_CLIENT_PER_MINUTE": "0",
    }
    with ExitStack() as stack:
        started: list[tuple[subprocess.Popen[bytes], IO[bytes], str]] = []
        for _ in range(workers):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "bench.ingest:server_app", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
            ]  # fmt: skip
            log = stack.enter_context(tempfile.TemporaryFile())
            process = subprocess.Popen(
                command,
                env=env,
                cwd=Path(__file__).resolve().parent.parent,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            stack.callback(_stop, process)
            started.append((process, log, f"http://127.0.0.1:{port}"))
        yield [Worker(_wait_ready(process, log, url), process.pid) for process, log, url in started]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(process: subprocess.Popen[bytes], log: IO[bytes], url: str) -> str:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            raise RuntimeError("the API did not start:\n" + log.read().decode(errors="replace")[-4000:])
        try:
            # /healthz asks the chain for the deployed system, which this in-memory chain lacks: an empty
            # batch answers once the worker's runtime (and database connection) is up.
            probe = httpx.post(url + "/v1/telemetry/trips", json={"reports": []}, timeout=5)
            if probe.status_code == 200:
                return url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


@dataclass
class LoadResult:
    accepted: int = 0
    sent: int = 0
    other: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s(database: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving ``database`` on this machine (their
    process titles name it); 0 when there are none, as with SQLite."""
    used = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f" {database} ".encode() in (entry / "cmdline").read_bytes():
                used += cpu_s(int(entry.name))
        except OSError:  # the process ended meanwhile
            continue
    return used


async def _client(
    http: httpx.AsyncClient, path: str, bodies: list[bytes], deadline: float, result: LoadResult
) -> None:
    headers = {"content-type": "application/json"}
    for body in bodies:
        if time.perf_counter() >= deadline:
            return
        begin = time.perf_counter()
        response = await http.post(path, content=body, headers=headers)
        result.latencies_ms.append((time.perf_counter() - begin) * 1000)
        if response.status_code != 200:
            result.errors += 1
            continue
        answer = response.json()
        result.accepted += answer["accepted"]
        result.sent += len(answer["results"])
        for status in ("held", "rejected", "duplicate"):
            if answer[status]:
                result.other[status] = result.other.get(status, 0) + answer[status]


async def load(workers: list[Worker], path: str, streams: list[list[bytes]], seconds: float) -> LoadResult:
    """Client ``i`` sends its bodies in order to worker ``i mod len(workers)``, one request at a time."""
    result = LoadResult()
    async with AsyncExitStack() as stack:
        https = [
            await stack.enter_async_context(httpx.AsyncClient(base_url=worker.url, timeout=120))
            for worker in workers
        ]
        begin = time.perf_counter()
        await asyncio.gather(
            *(
                _client(https[index % len(https)], path, bodies, begin + seconds, result)
                for index, bodies in enumerate(streams)
            )
        )
        result.elapsed_s = time.perf_counter() - begin
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


# --- the profile of one batch ------------------------------------------------------------------------


def profile_batch(database_url: str, reports: list[dict[str, object]], top: int = 12) -> dict[str, Any]:
    """One batch through ``ledger.ingest.submit_reports`` and its commit, in-process, under cProfile, after
    the same batch once unprofiled and rolled back (so the profile shows a warm process, not the compiling
    of each statement)."""
    from ledger import ingest
    from ledger.store.db import make_engine, session_factory

    engine = make_engine(database_url)
    try:
        sessions = session_factory(engine)
        with sessions() as session:  # warm up outside the profile: the same batch, rolled back
            ingest.submit_reports(session, reports, NOW)
            session.rollback()
        profiler = cProfile.Profile()
        begin = time.perf_counter()
        profiler.enable()
        with sessions.begin() as session:
            verdicts = ingest.submit_reports(session, reports, NOW)
        profiler.disable()
        elapsed = time.perf_counter() - begin
    finally:
        engine.dispose()
    stats = pstats.Stats(profiler)
    entries: list[tuple[float, str]] = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    buckets = {"ed25519_verify": 0.0, "db_execute": 0.0, "db_commit": 0.0}
    for (filename, line, name), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
        entries.append((cumulative, f"{Path(filename).name}:{line}({name})"))
        if name == "execute" and filename.endswith("psycopg/cursor.py"):
            buckets["db_execute"] += cumulative
        if name == "commit" and filename.endswith("psycopg/connection.py"):
            buckets["db_commit"] += cumulative
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
        # libsodium's open (PyNaCl) is how the ledger verifies; OpenSSL's verify is what it used before.
        if filename == "~" and (
            "crypto_sign_open" in name or ("Ed25519PublicKey" in name and "verify" in name)
        ):
            buckets["ed25519_verify"] += cumulative
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return {
        "reports": len(reports),
        "accepted": sum(1 for v in verdicts if v.status.value == "accepted"),
        "elapsed_ms": elapsed * 1000,
        "share": {key: value / elapsed for key, value in buckets.items()},
        "top_tottime": out.getvalue(),
    }


# --- the run -----------------------------------------------------------------------------------------


def _phase(
    workers: list[Worker], path: str, streams: list[list[bytes]], seconds: float, database: str
) -> dict[str, Any]:
    cpu_before = [cpu_s(worker.pid) for worker in workers]
    postgres_before = postgres_cpu_s(database)
    result = asyncio.run(load(workers, path, streams, seconds))
    cpu = [cpu_s(worker.pid) - before for worker, before in zip(workers, cpu_before, strict=True)]
    postgres = postgres_cpu_s(database) - postgres_before
    rate = result.accepted / result.elapsed_s if result.elapsed_s else 0.0
    return {
        "reports_per_s": round(rate, 1),
        "p50_ms": round(percentile(result.latencies_ms, 50), 2),
        "p99_ms": round(percentile(result.latencies_ms, 99), 2),
        "accepted": result.accepted,
        "sent": result.sent,
        "not_accepted": result.other,
        "http_errors": result.errors,
        "batches": len(result.latencies_ms),
        "elapsed_s": round(result.elapsed_s, 3),
        "workers_cpu_s": [round(value, 2) for value in cpu],
        "worker_cpu_us_per_report": round(sum(cpu) / result.accepted * 1e6, 1) if result.accepted else None,
        "postgres_cpu_us_per_report": round(postgres / result.accepted * 1e6, 1) if result.accepted else None,
    }


def run(
    seconds: float,
    cars: int,
    clients: int,
    max_reports: int,
    verify_seconds: float,
    upload_size: int,
    database: str = "postgresql",
) -> dict[str, Any]:
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yuanshi-bench-ingest-")))
        if database == "sqlite":
            url = f"sqlite:///{data_dir / 'bench.db'}"
        else:
            url = stack.enter_context(fresh_postgres())
        prepared = prepare(data_dir, url, cars, clients, max_reports, upload_size)
        library = fastest_library()
        bound = verify_rate(library, 2, verify_seconds)
        with serving(data_dir, url) as workers:
            name = make_url(url).database or ""
            signed = _phase(workers, "/v1/telemetry/trips", prepared.batches, seconds, name)
            uploads = _phase(workers, "/v1/telemetry/uploads", prepared.upload_batches, seconds, name)
        profile = profile_batch(url, prepared.profile_batch) if prepared.profile_batch else None
    rate, upload_rate = signed["reports_per_s"], uploads["reports_per_s"]
    load_1, load_5, load_15 = os.getloadavg()
    return {
        **signed,
        "verify_bound_per_s": round(bound, 1),
        "ratio": round(rate / bound, 4) if bound else 0.0,
        "target_ratio": TARGET_RATIO,
        "target_met": bool(bound) and rate / bound >= TARGET_RATIO,
        "uploads": {
            **uploads,
            "reports_per_upload": upload_size,
            "ratio": round(upload_rate / bound, 4) if bound else 0.0,
            "reports_prepared": prepared.upload_reports,
        },
        "reports_prepared": prepared.reports,
        "database": database,
        "verify_library": library,
        "cars": cars,
        "clients": clients,
        "workers": 2,
        "batch": BATCH,
        "prepare": {key: round(value, 2) for key, value in prepared.timings.items()},
        "profile": profile,
        "loadavg_after": [round(load_1, 2), round(load_5, 2), round(load_15, 2)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load runs at most")
    parser.add_argument("--cars", type=int, default=500, help="registered Ed25519 cars")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--max-reports", type=int, default=150_000, help="reports pre-generated at most")
    parser.add_argument("--verify-seconds", type=float, default=3.0, help="length of the bound measurement")
    parser.add_argument("--upload-size", type=int, default=10, help="reports per upload envelope")
    parser.add_argument(
        "--database", choices=("postgresql", "sqlite"), default="postgresql", help="where the reports go"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.upload_size <= BATCH:
        parser.error(f"--upload-size must be in 1..{BATCH}")
    figures = run(
        args.seconds,
        args.cars,
        args.clients,
        args.max_reports,
        args.verify_seconds,
        args.upload_size,
        args.database,
    )
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return 0
    print(f"accepted reports/s      {figures['reports_per_s']:>10,.1f}  ({figures['accepted']:,} accepted)")
    print(f"batch latency p50 / p99 {figures['p50_ms']:>10,.1f} / {figures['p99_ms']:,.1f} ms")
    print(f"Ed25519 bound, 2 cores  {figures['verify_bound_per_s']:>10,.1f}  ({figures['verify_library']})")
    verdict = "met" if figures["target_met"] else "NOT met"
    print(f"ratio                   {figures['ratio']:>10.1%}  (target {TARGET_RATIO:.0%}: {verdict})")
    cpu = f"{figures['worker_cpu_us_per_report']:>10,.1f} us  (workers {figures['workers_cpu_s']} s)"
    print(f"worker CPU per report   {cpu}")
    print(f"PostgreSQL CPU / report {figures['postgres_cpu_us_per_report']:>10,.1f} us")
    uploads = figures["uploads"]
    print(f"upload envelopes of {uploads['reports_per_upload']} reports, one signature each:")
    print(f"  accepted reports/s    {uploads['reports_per_s']:>10,.1f}  ({uploads['accepted']:,} accepted)")
    print(f"  batch latency p50/p99 {uploads['p50_ms']:>10,.1f} / {uploads['p99_ms']:,.1f} ms")
    print(f"  ratio to the bound    {uploads['ratio']:>10.1%}")
    cpu = f"{uploads['worker_cpu_us_per_report']:>10,.1f} us  (workers {uploads['workers_cpu_s']} s)"
    print(f"  worker CPU per report {cpu}")
    print(f"  PostgreSQL CPU/report {uploads['postgres_cpu_us_per_report']:>10,.1f} us")
    if figures["profile"]:
        profile = figures["profile"]
        shares = ", ".join(f"{k} {v:.0%}" for k, v in profile["share"].items())
        print(f"one batch in-process    {profile['elapsed_ms']:>10,.1f} ms  ({shares})")
        print(profile["top_tottime"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
