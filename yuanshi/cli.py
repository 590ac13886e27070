"""``yuanshi``: the product's command line (Typer)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ledger.schedule import UNIT, Pool, available, era_of

app = typer.Typer(help="Yuanshi (原石): data-rights stones for car owners.", no_args_is_help=True)
console = Console()


def stones(amount: int) -> str:
    """Base units as stones, exactly (18 decimals, trailing zeros trimmed)."""
    whole, frac = divmod(amount, UNIT)
    return f"{whole:,}" + (f".{frac:018d}".rstrip("0") if frac else "")


@app.command()
def schedule(
    slot: Annotated[int, typer.Option(min=0, help="Slots elapsed since genesis.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The schedule after SLOT slots: era and cumulative available stones per pool (base units)."""
    result = {
        "slot": slot,
        "era": era_of(slot),
        "driving": str(available(Pool.DRIVING, slot)),
        "cocreation": str(available(Pool.COCREATION, slot)),
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
