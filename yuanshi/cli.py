"""``yuanshi``: the product's command line (Typer)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from ledger.chain.deploy import DeployParams, RoleHolders
from ledger.config import LedgerSettings
from ledger.errors import YuanshiError
from ledger.runtime import embedded_roles, open_runtime
from ledger.schedule import UNIT, Pool, available, era_of
from ledger.store.db import settlement_lock

app = typer.Typer(help="Yuanshi (原石): data-rights stones for car owners.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def stones(amount: int) -> str:
    """Base units as stones, exactly (18 decimals, trailing zeros trimmed)."""
    whole, frac = divmod(amount, UNIT)
    return f"{whole:,}" + (f".{frac:018d}".rstrip("0") if frac else "")


def fail(message: str) -> NoReturn:
    """A clear error on stderr and exit code 1, never a traceback."""
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except YuanshiError as exc:
        fail(str(exc))
    except (ValueError, OSError) as exc:
        fail(f"{type(exc).__name__}: {exc}")


@app.command()
def schedule(
    slot: Annotated[int, typer.Option(min=0, help="Slots elapsed since genesis.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    onchain: Annotated[bool, typer.Option("--onchain", help="Also ask the deployed contract.")] = False,
) -> None:
    """The schedule after SLOT slots: era and cumulative available stones per pool (base units)."""
    result: dict[str, object] = {
        "slot": slot,
        "era": era_of(slot),
        "driving": str(available(Pool.DRIVING, slot)),
        "cocreation": str(available(Pool.COCREATION, slot)),
    }
    if onchain:
        with friendly_errors():
            system = open_runtime(LedgerSettings()).system()
            contract = system.schedule.functions
            result["onchain"] = {
                "driving": str(contract.available(int(Pool.DRIVING), slot).call()),
                "cocreation": str(contract.available(int(Pool.COCREATION), slot).call()),
                "address": system.schedule.address,
            }
    if as_json:
        typer.echo(json.dumps(result))
        return
    table = Table(title=f"Schedule after {slot:,} slots (era {result['era']})")
    table.add_column("pool")
    table.add_column("available (stones)", justify="right")
    table.add_row("driving", stones(available(Pool.DRIVING, slot)))
    table.add_row("co-creation", stones(available(Pool.COCREATION, slot)))
    console.print(table)
    if onchain:
        console.print(f"on chain: {result['onchain']}")


@app.command()
def deploy(
    genesis_delay: Annotated[int, typer.Option(min=60, help="Seconds from now to genesis.")] = 3600,
    slot_seconds: Annotated[int, typer.Option(min=1, help="Slot length (600 in production).")] = 600,
    challenge_window: Annotated[int, typer.Option(min=0, help="Seconds a root waits for a veto.")] = 86_400,
    keystore: Annotated[Path | None, typer.Option(help="Admin keystore (JSON-RPC chains).")] = None,
    roles_file: Annotated[Path | None, typer.Option(help="JSON {role: address} (JSON-RPC chains).")] = None,
    force: Annotated[bool, typer.Option(help="Deploy again even if a deployment record exists.")] = False,
) -> None:
    """Deploy the whole system, write the deployment record and commit the first seeds."""
    settings = LedgerSettings()
    with friendly_errors():
        if settings.deployment_file.exists() and not force:
            fail(f"{settings.deployment_file} exists: this data folder is deployed already (use --force)")
        signers = []
        if settings.chain_url is not None:
            if keystore is None or roles_file is None:
                fail("a JSON-RPC chain needs --keystore (the admin key) and --roles-file")
            from ledger.chain.keys import load_operator_key

            signers.append(load_operator_key(keystore))
        runtime = open_runtime(settings, signers)
        if runtime.embedded:
            roles = embedded_roles()
        else:
            assert roles_file is not None
            roles = RoleHolders(**json.loads(roles_file.read_text()))
        params = DeployParams(
            genesis=runtime.client.now() + genesis_delay,
            slot_seconds=slot_seconds,
            challenge_window=challenge_window,
        )
        system = runtime.deploy(params, roles)
        steps = runtime.settler().run() if runtime.embedded else []
    record = system.record()
    table = Table(title=f"Deployed on chain {record['chain_id']} at block {record['block']}")
    table.add_column("contract")
    table.add_column("address")
    for name, address in record["addresses"].items():
        table.add_row(name, address)
    console.print(table)
    console.print(f"deployment record: {settings.deployment_file}; seeds committed: {len(steps) // 2}")


@app.command()
def settle(
    as_json: Annotated[bool, typer.Option("--json", help="Print the steps taken as JSON.")] = False,
) -> None:
    """Run every settlement step that is due; safe to run again at any time."""
    settings = LedgerSettings()
    with friendly_errors():
        signers = []
        if settings.chain_url is not None:
            if settings.keystore is None:
                fail("a JSON-RPC chain needs YUANSHI_KEYSTORE (the oracle key)")
            from ledger.chain.keys import load_operator_key

            signers.append(load_operator_key(settings.keystore))
        runtime = open_runtime(settings, signers)
        with settlement_lock(runtime.engine):
            steps = runtime.settler().run()
    if as_json:
        typer.echo(json.dumps([{"epoch": s.epoch, "state": s.state.value} for s in steps]))
        return
    if not steps:
        console.print("nothing is due")
    for step in steps:
        console.print(f"epoch {step.epoch}: {step.state.value}")


@app.command()
def demo(
    vehicles: Annotated[int, typer.Option(min=1, max=100_000, help="Cars in the synthetic fleet.")] = 200,
    days: Annotated[
        int, typer.Option(min=1, max=365, help="Days to drive; each is an epoch settled on chain.")
    ] = 14,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="A fresh folder for the chain journal and SQLite (default: a temp dir)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic fleet.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
    serve_after: Annotated[
        bool,
        typer.Option("--serve", help="Keep the API and the wallet running on the demo's data afterwards."),
    ] = False,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of the API (0: a free one).")] = 0,
) -> None:
    """Run the whole system over HTTP: deploy, drive VEHICLES cars for DAYS days, settle every epoch on chain,
    claim, redeem, run an equity round and a buy-back; print a summary and check the invariants.

    Exit code 0 when every invariant holds, 1 otherwise."""
    import tempfile

    from yuanshi.demo import DemoOptions, demo_session, print_summary

    temp = None
    if data_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="yuanshi-demo-")
        data_dir = Path(temp.name)
    progress = (lambda _m: None) if as_json else (lambda m: err_console.print(f"[dim]… {m}[/dim]"))
    options = DemoOptions(vehicles=vehicles, days=days, data_dir=data_dir, seed=seed, progress=progress)
    started = time.perf_counter()
    try:
        if not as_json:
            console.print(
                f"[bold]Yuanshi demo[/bold]: {vehicles} cars, {days} days, "
                f"embedded chain and SQLite under {data_dir}"
            )
        with friendly_errors(), demo_session(options, port if serve_after else 0) as (session, server):
            result = session.run()
            result.timings["total"] = time.perf_counter() - started
            if as_json:
                typer.echo(json.dumps(result.to_json()))
            else:
                print_summary(console, result)
            if serve_after:
                out = err_console if as_json else console
                out.print(f"API: {server.url}/docs   wallet: {server.url}/wallet")
                out.print(f"demo account: {result.demo_account}   data: {data_dir}   (Ctrl-C stops)")
                with suppress(KeyboardInterrupt):
                    server.wait()
    finally:
        if temp is not None:
            temp.cleanup()
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (JSON-RPC + PostgreSQL only).")
    ] = 1,
    proxy_headers: Annotated[
        bool, typer.Option(help="Trust X-Forwarded-For from a proxy in front (rate limits per real client).")
    ] = False,
) -> None:
    """Serve the API and the wallet against the configured storage and chain (uvicorn, uvloop + httptools)."""
    import uvicorn

    settings = LedgerSettings()
    if workers > 1:
        if settings.chain_url is None:
            fail(
                "--workers > 1 needs a JSON-RPC chain (YUANSHI_CHAIN_URL): with the embedded chain every "
                "worker would replay and extend its own copy of the chain; run one worker"
            )
        url = settings.resolved_database_url
        if not url.startswith("postgresql"):
            fail("--workers > 1 needs PostgreSQL (YUANSHI_DATABASE_URL): SQLite is for one process")
    console.print(f"serving on http://{host}:{port} (API docs /docs, wallet /wallet), {workers} worker(s)")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=proxy_headers,
        log_level="info",
    )


# ----- audit (issue 5): recompute every settled epoch from public data -----

import typing  # noqa: E402  (kept with the audit commands it serves)

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from ledger.audit import AuditReport, ManifestSource
    from ledger.chain.audit_view import ChainAuditView
    from ledger.trip_audit import Summary as TripSummary

AUDIT_BAD_INPUT = 2  # exit code for input the audit cannot use; 1 means the audit ran and found a failure


def audit_bad_input(message: str) -> NoReturn:
    """A clear error on stderr and exit code 2, never a traceback."""
    from rich.markup import escape

    # Unwrapped, so that paths in the message stay whole for a terminal and for a log.
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(AUDIT_BAD_INPUT)


@app.command()
def audit(
    manifests: Annotated[
        str,
        typer.Option(help="Folder of <epoch>.json manifests (`yuanshi manifests export`), or the API's URL."),
    ],
    chain_url: Annotated[str | None, typer.Option(help="JSON-RPC URL of the chain.")] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Data folder of an embedded chain (its journal and deployment record)."),
    ] = None,
    deployment: Annotated[
        Path | None, typer.Option(help="Deployment record for --chain-url (default: the settings' one).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (a line per event with --watch).")
    ] = False,
    watch: Annotated[
        bool, typer.Option(help="Keep auditing new postings during their challenge window.")
    ] = False,
    guardian_keystore: Annotated[
        Path | None,
        typer.Option(help="Guardian keystore (JSON-RPC, with --watch): veto roots that do not recompute."),
    ] = None,
    veto: Annotated[
        bool, typer.Option(help="With --watch on an embedded chain, veto as its guardian test account.")
    ] = True,
    poll_interval: Annotated[float, typer.Option(min=0, help="Seconds between polls with --watch.")] = 15.0,
    max_polls: Annotated[int | None, typer.Option(min=1, help="Stop --watch after this many polls.")] = None,
    statements: Annotated[
        Path | None, typer.Option(help="Write per-account annual statements to this CSV (needs --year).")
    ] = None,
    year: Annotated[int | None, typer.Option(min=1970, max=9999, help="UTC year of the statements.")] = None,
) -> None:
    """Recompute every settled epoch from the chain and the published manifests: PASS or FAIL per epoch.

    Exit code 0 when everything recomputes, 1 on any failure, 2 on input the audit cannot use.
    """
    from ledger.audit import AuditInputError, open_manifests
    from ledger.chain.keys import KeystoreError
    from ledger.errors import ChainError

    if chain_url is not None and data_dir is not None:
        audit_bad_input("give --chain-url or --data-dir, not both")
    if data_dir is not None and deployment is not None:
        audit_bad_input("--deployment goes with --chain-url; a data folder holds its own deployment record")
    if (statements is None) != (year is None):
        audit_bad_input("--statements and --year go together")
    if not watch and (guardian_keystore is not None or max_polls is not None):
        audit_bad_input("--guardian-keystore and --max-polls go with --watch")
    if watch and statements is not None:
        audit_bad_input("--statements cannot be combined with --watch")
    try:
        source = open_manifests(manifests)
        views = _audit_views(chain_url, data_dir, deployment, guardian_keystore, watch and veto)
        if watch:
            code = _audit_watch(views, source, as_json, poll_interval, max_polls)
        else:
            code = _audit_once(views(), source, as_json, statements, year)
    except (AuditInputError, KeystoreError, ChainError) as exc:
        audit_bad_input(str(exc))
    raise typer.Exit(code)


def _audit_views(
    chain_url: str | None,
    data_dir: Path | None,
    deployment: Path | None,
    guardian_keystore: Path | None,
    embedded_guardian: bool,
) -> Callable[[], ChainAuditView]:
    """How to get the chain view for each poll: the same one over JSON-RPC, a fresh replay of a grown
    journal for an embedded chain (it cannot see another process's new blocks otherwise)."""
    from ledger.chain.audit_view import EmbeddedFollower, open_rpc

    settings = LedgerSettings()
    if chain_url is None and data_dir is None:
        chain_url, data_dir = settings.chain_url, settings.data_dir
    if chain_url is None:
        assert data_dir is not None
        follower = EmbeddedFollower(data_dir, guardian=embedded_guardian)
        follower.view()  # fail now, as bad input, rather than at the first poll
        return follower.view
    guardian = None
    if guardian_keystore is not None:
        from ledger.chain.keys import load_operator_key

        guardian = load_operator_key(guardian_keystore)
    view = open_rpc(chain_url, deployment or settings.deployment_file, guardian)
    return lambda: view


def _audit_once(
    view: ChainAuditView, source: ManifestSource, as_json: bool, statements: Path | None, year: int | None
) -> int:
    from ledger import audit as auditing

    snapshot = view.snapshot()
    report = auditing.audit(snapshot, source)
    if statements is not None and year is not None:
        rows = auditing.statements(snapshot, source, year)
        auditing.write_statements(rows, statements)
        if not as_json:
            console.print(f"statements for {year}: {len(rows)} account(s) written to {statements}")
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        _print_audit(report)
    return 0 if report.ok else 1


def _print_audit(report: AuditReport) -> None:
    from rich.markup import escape

    from ledger.audit import Verdict

    title = f"Audit at block {report.block}: {report.passed} of {len(report.audited)} posted epochs pass"
    table = Table(title=title)
    for column in ("epoch", "verdict", "posted root", "first difference", "expected", "actual"):
        table.add_column(column, overflow="fold")
    colour = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.VETOED: "yellow"}
    for epoch in report.epochs:
        for posting, vetoed in epoch.vetoed:
            table.add_row(
                str(epoch.epoch),
                "[yellow]vetoed[/yellow]",
                "0x" + posting.root.hex(),
                f"by {vetoed.guardian}",
                "",
                "",
            )
        if epoch.posting is None:
            continue
        first = epoch.first
        table.add_row(
            str(epoch.epoch),
            f"[{colour[epoch.verdict]}]{epoch.verdict.value}[/{colour[epoch.verdict]}]",
            "0x" + epoch.posting.root.hex(),
            # Fields name accounts in brackets, which Rich would otherwise take for markup.
            escape(first.field) if first else "",
            escape(first.expected) if first else "",
            escape(first.actual) if first else "",
        )
    for difference in report.chain_wide:
        table.add_row(
            "chain",
            "[red]FAIL[/red]",
            "",
            escape(difference.field),
            escape(difference.expected),
            escape(difference.actual),
        )
    console.print(table)
    if report.unposted_manifests:
        console.print(f"manifests not posted on chain yet: {list(report.unposted_manifests)}")
    console.print("[green]PASS[/green]" if report.ok else "[red]FAIL[/red]")


def _audit_watch(
    views: Callable[[], ChainAuditView],
    source: ManifestSource,
    as_json: bool,
    poll_interval: float,
    max_polls: int | None,
) -> int:
    import time

    from ledger.audit import Auditor, WatchState, watch_once

    state = WatchState(Auditor(source))
    failed = False
    polls = 0
    try:
        while max_polls is None or polls < max_polls:
            if polls:
                time.sleep(poll_interval)
            view = views()
            result = watch_once(view, state, view if view.guardian is not None else None)
            polls += 1
            failed = failed or result.failed
            for event in result.events:
                if as_json:
                    typer.echo(json.dumps({"block": result.block, **event.to_json()}))
                else:
                    reason = f" ({event.difference.field})" if event.difference else ""
                    console.print(
                        f"block {result.block}: epoch {event.epoch} {event.action.value}{reason}",
                        markup=False,
                    )
    except KeyboardInterrupt:
        pass  # stopping a watcher by hand is its normal end
    return 1 if failed else 0


@app.command("audit-trips")
def audit_trips(
    database_url: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL of the ledger's database (default: the configured one)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    show_failures: Annotated[
        int, typer.Option(min=0, help="List at most this many failed trips (0: none).")
    ] = 20,
) -> None:
    """Re-verify every stored trip against the device signature or upload envelope it came with.

    Read-only. Exit code 0 when no trip fails, 1 when one does, 2 on a database that cannot be audited.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from ledger import trip_audit

    if database_url is None:
        try:
            database_url = LedgerSettings().resolved_database_url
        except ValueError as exc:  # settings from the environment that do not parse
            audit_bad_input(f"{type(exc).__name__}: {exc}")
    try:
        with trip_audit.open_readonly(database_url) as session:
            summary = trip_audit.audit_trips(session, keep_failures=show_failures)
    except trip_audit.TripAuditInputError as exc:
        audit_bad_input(str(exc))
    except SQLAlchemyError as exc:  # the server went away, or the schema is not the ledger's
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        audit_bad_input(f"cannot read the database: {reason}")
    if as_json:
        typer.echo(json.dumps(summary.to_json()))
    else:
        _print_trip_audit(summary)
    raise typer.Exit(0 if summary.ok else 1)


def _print_trip_audit(summary: TripSummary) -> None:
    from rich.markup import escape

    from ledger.trip_audit import Outcome

    colour = {
        Outcome.VERIFIED: "green",
        Outcome.HASH_VERIFIED: "yellow",
        Outcome.NOT_CHECKABLE: "yellow",
        Outcome.FAILED: "red",
    }
    table = Table(title=f"Stored trips re-verified: {summary.trips:,}")
    table.add_column("outcome")
    table.add_column("trips", justify="right")
    table.add_column("reasons", overflow="fold")
    for outcome in Outcome:
        reasons = ", ".join(
            f"{reason.value} {count:,}"
            for reason, count in sorted(summary.reasons.items())
            if reason.outcome is outcome
        )
        name = f"[{colour[outcome]}]{outcome.value}[/{colour[outcome]}]"
        table.add_row(name, f"{summary.outcomes[outcome]:,}", reasons)
    console.print(table)
    if summary.failures:
        failures = Table(title=f"Failed trips (first {len(summary.failures)} of {summary.failed:,})")
        for column in ("trip", "car", "seq", "reason", "detail"):
            failures.add_column(column, overflow="fold")
        for check in summary.failures:
            reason = "" if check.reason is None else check.reason.value
            failures.add_row(
                str(check.trip_id), check.vehicle_id, str(check.seq), reason, escape(check.detail)
            )
        console.print(failures)
    console.print("[green]PASS[/green]" if summary.ok else "[red]FAIL[/red]")


manifests_app = typer.Typer(help="Published epoch manifests.", no_args_is_help=True)
app.add_typer(manifests_app, name="manifests")


@manifests_app.command("export")
def manifests_export(
    directory: Annotated[Path, typer.Argument(help="Folder to write <epoch>.json files to.")],
) -> None:
    """Write every epoch manifest stored in the ledger to DIRECTORY, byte for byte as hashed on chain."""
    from ledger.audit import export_manifests

    with friendly_errors():
        runtime = open_runtime(LedgerSettings())
        written = export_manifests(runtime.sessions, directory)
    console.print(f"wrote {len(written)} manifest(s) to {directory}")


# ----- simulate (issue 5): scenarios of the schedule and of fairness, and the cross-check -----


@app.command()
def simulate(
    scenario: Annotated[
        str | None, typer.Argument(help="A bundled scenario (default, slow_adoption, …) or a TOML file.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: ./simulation-SCENARIO).")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the headline figures as one JSON object.")
    ] = False,
    cars: Annotated[int | None, typer.Option(help="Override the scenario's final fleet size.")] = None,
    years: Annotated[float | None, typer.Option(help="Override the scenario's horizon in years.")] = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    cross_check: Annotated[
        bool,
        typer.Option("--cross-check", help="Run a small scenario on the real ledger and in the simulation."),
    ] = False,
) -> None:
    """Simulate a scenario day by day: CSV files and an HTML report; or cross-check against the ledger.

    Exit code 0 on success (PASS), 1 when the cross-check fails, 2 on input that cannot be used.
    """
    from simulations.command import run_cross_check, run_simulate

    if cross_check:
        code = run_cross_check(cars, seed, as_json, console, err_console)
    else:
        code = run_simulate(scenario, out, as_json, cars, years, seed, console, err_console)
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
