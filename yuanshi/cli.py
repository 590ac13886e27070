"""``yuanshi``: the product's command line (Typer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object.")] = False,
) -> None:
    """Deploy the whole system on the embedded chain, post a first epoch and claim it for every owner."""
    from yuanshi.first_epoch import run_first_epoch

    if not as_json:
        console.print("[bold]Deploying Yuanshi on the embedded chain (eth-tester / py-evm)…[/bold]")
    report = run_first_epoch()
    if as_json:
        typer.echo(json.dumps(report.to_json()))
    else:
        addresses = Table(title=f"Contracts (chain id {report.chain_id})")
        addresses.add_column("contract")
        addresses.add_column("address")
        for name, address in report.addresses.items():
            addresses.add_row(name, address)
        console.print(addresses)

        pools = Table(
            title=f"Epoch {report.epoch} settled on chain (era {report.era}), root {report.root[:18]}…"
        )
        pools.add_column("pool")
        pools.add_column("posted total", justify="right")
        pools.add_column("available at epoch end", justify="right")
        pools.add_row("driving", stones(report.driving_total), stones(report.available_driving))
        pools.add_row("co-creation", stones(report.cocreation_total), stones(report.available_cocreation))
        console.print(pools)

        claims = Table(title="Claimed by a relayer for every owner (claimMany)")
        claims.add_column("owner")
        claims.add_column("balance (stones)", justify="right")
        for owner, balance in report.balances.items():
            claims.add_row(owner, stones(balance))
        claims.add_row("[bold]total supply[/bold]", f"[bold]{stones(report.total_supply)}[/bold]")
        console.print(claims)

        gas = Table(title="Gas")
        gas.add_column("step")
        gas.add_column("gas", justify="right")
        for step, used in report.gas.items():
            gas.add_row(step, f"{used:,}")
        console.print(gas)
        verdict = (
            "[green]all invariants hold[/green]" if report.invariants_ok else "[red]INVARIANT FAILED[/red]"
        )
        console.print(verdict)
    if not report.invariants_ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
