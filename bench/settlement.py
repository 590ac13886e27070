"""Time and memory of one epoch's settlement work for N synthetic accounts (issue 3, "Benchmark").

Run ``python -m bench.settlement --accounts 1000000`` (a table), ``--json`` (one JSON object) or
``--markdown`` (the table for ``docs/benchmarks.md``). Every phase calls the ledger's own code, the
functions ``ledger.settlement`` calls, never a copy:

* ``random data``: the synthetic raw values (N random 20-byte accounts in lowercase hex, car ids,
  mileage, ownership start slots, co-creation points, the previous epoch's cumulative entitlements),
  the strings made with numpy and the integers drawn by numpy's generator;
* ``accounts``: every account checksummed (``ledger.merkle.normalize_addresses``, which checks and
  checksums them together, as the store holds them), and the previous cumulative entitlement keyed
  by it; the first large batch also starts ``ledger.hashing``'s worker process, once;
* ``inputs``: N ``CarInput`` (random valid mileage through ``normalize_weight``), N ``OwnershipSpan``
  (a distinct owner per car) and N ``PointsInput`` (every account earned co-creation points), made
  and validated by ``CarInput.batch`` and its kin, what ``EpochInputs.from_json`` calls to rebuild
  them for each settlement step;
* ``inputs_root``, ``epoch_seed``, ``draw_driving`` and ``split_cocreation``, as the settlement's
  "inputs fixed" and "allocated" steps run them;
* ``cumulative``: ``ledger.settlement.cumulative_entries``, previous cumulative plus both pools'
  credits, which ``Settler._build_tree`` calls over its database rows;
* ``tree``: ``MerkleTree.build`` over the N entries;
* ``node blob``: ``tree.nodes``, the concatenated nodes the settlement stores (kept from the build),
  and ``proof walks``: proofs of randomly chosen accounts walked from that blob with
  ``proof_from_nodes``, as claim tickets are made;
* ``all proofs``: ``tree.proofs()`` for every account, which the settlement does *not* use; timed for
  comparison and kept out of the total.

Large keccak batches are split between this process and one worker process (``ledger.hashing``; off
with ``YUANSHI_HASH_WORKERS=0``), as in settlement. Each phase reports wall seconds
(``time.perf_counter``) and CPU seconds: ``time.process_time`` plus the worker's CPU time, so the
hashing the worker does is counted too. On a shared machine the CPU figure is the one to compare
between runs. Peak memory is this process's ``ru_maxrss`` after each phase (the worker holds only
the batch it is hashing). The run also hashes the same messages through safe-pysha3's ``keccak_256``
(what ``ledger.merkle.keccak256`` and ``ledger.hashing`` call) and through eth-hash's automatic
backend (which picks pycryptodome when both are installed), so that the backend choice is measured,
not asserted.
"""

from __future__ import annotations

import json
import os
import random
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import repeat
from typing import Annotated, Any, Final

import numpy as np
import numpy.typing as npt
import typer
from eth_hash.auto import keccak as eth_hash_keccak
from eth_hash.backends.pycryptodome import keccak256 as pycryptodome_keccak256
from eth_hash.backends.pysha3 import keccak256 as pysha3_keccak256

from ledger.drops import (
    CarInput,
    CocreationResult,
    DrivingResult,
    OwnershipSpan,
    PointsInput,
    draw_driving,
    epoch_seed,
    inputs_root,
    normalize_weight,
    split_cocreation,
)
from ledger.hashing import worker_cpu_seconds, worker_peak_bytes
from ledger.merkle import MerkleTree, keccak256, normalize_addresses, proof_from_nodes
from ledger.schedule import epoch_slots
from ledger.settlement import cumulative_entries

EPOCH: Final = 10
DRIVING_CARRY_IN: Final = 37
COCREATION_CARRY_IN: Final = 12_345
PROOF_WALKS: Final = 10_000
KECCAK_HASHES: Final = 2_000_000
TARGET_SECONDS: Final = 20.0
TARGET_BYTES: Final = 4 * 1024**3
# Phases outside the settlement's own path: timed and shown, not summed into the total.
COMPARISON_PHASES: Final = frozenset({"all proofs"})


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    wall: float
    cpu: float
    peak_rss: int  # bytes, ru_maxrss after the phase


@dataclass(slots=True)
class EpochRun:
    """One epoch's settlement work for ``accounts`` accounts, with what each phase produced."""

    accounts: int
    phases: list[Phase] = field(default_factory=list)
    driving: DrivingResult | None = None
    cocreation: CocreationResult | None = None
    previous: dict[str, int] = field(default_factory=dict)
    tree: MerkleTree | None = None
    nodes: bytes = b""
    walked: list[tuple[str, list[bytes]]] = field(default_factory=list)
    all_proofs: dict[str, list[bytes]] | None = None
    worker_peak: int = 0

    @property
    def total_wall(self) -> float:
        return sum(p.wall for p in self.phases if p.name not in COMPARISON_PHASES)

    @property
    def total_cpu(self) -> float:
        return sum(p.cpu for p in self.phases if p.name not in COMPARISON_PHASES)

    @property
    def peak_rss(self) -> int:
        return max((p.peak_rss for p in self.phases), default=peak_rss())

    @property
    def worker_peak_rss(self) -> int:
        """The hash worker process's peak resident set (0 if none ran), read at the end of the run."""
        return self.worker_peak


def peak_rss() -> int:
    """The process's peak resident set so far, in bytes (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    """CPU seconds of this process and of ``ledger.hashing``'s worker process, which hashes part of
    every large batch."""
    return time.process_time() + worker_cpu_seconds()


_HEX_DIGITS: Final = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex_digits(raw: bytes) -> npt.NDArray[np.uint8]:
    """The lowercase hex digits of ``raw``, one row of 40 per 20 bytes."""
    values = np.frombuffer(raw, dtype=np.uint8)
    nibbles = np.stack((values >> 4, values & 0x0F), axis=-1)
    return _HEX_DIGITS[nibbles].reshape(-1, 40)


def _texts(prefix: bytes, rows: npt.NDArray[np.integer[Any]]) -> list[str]:
    """One ASCII string a row of character codes, each after ``prefix``: the million strings made by
    one ``split`` of the joined text rather than a Python call each."""
    count, width = rows.shape
    chars = np.empty((count, len(prefix) + width + 1), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    chars[:, len(prefix) : -1] = rows
    chars[:, -1] = ord(" ")
    return chars.tobytes().decode("ascii").split()


@contextmanager
def _timed(run: EpochRun, name: str) -> Iterator[None]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    yield
    run.phases.append(Phase(name, time.perf_counter() - wall, cpu_seconds() - cpu, peak_rss()))


def run_epoch(
    accounts: int, *, seed: int = 2024, proof_walks: int = PROOF_WALKS, all_proofs: bool = True
) -> EpochRun:
    """Build one epoch's inputs, allocation, tree and proofs for ``accounts`` synthetic accounts."""
    if accounts < 1:
        raise ValueError("need at least one account")
    rng = random.Random(seed)
    run = EpochRun(accounts)
    start = epoch_slots(EPOCH).start

    with _timed(run, "random data"):
        lowercase = _texts(b"0x", _hex_digits(rng.randbytes(20 * accounts)))
        # f"car-{i:07d}": at least seven decimal digits.
        digits = max(7, len(str(accounts - 1)))
        powers = 10 ** np.arange(digits - 1, -1, -1, dtype=np.int64)
        car_ids = _texts(b"car-", (np.arange(accounts, dtype=np.int64)[:, None] // powers % 10 + ord("0")))
        # numpy draws the bounded integers in C (as Python ints after tolist); 2**23 m is above the
        # 5,000 km cap, and cars are owned since at most the epoch's start.
        draws = np.random.default_rng(seed)
        metres = draws.integers(0, 1 << 23, size=accounts).tolist()
        from_slots = draws.integers(0, start + 1, size=accounts).tolist()
        earned = draws.integers(1, 500, size=accounts).tolist()
        previous = list(map((1).__or__, map(rng.getrandbits, repeat(80, accounts))))  # odd, so > 0

    with _timed(run, "accounts"):
        # The store holds accounts checksummed; each is checksummed once, when first met.
        owners = normalize_addresses(lowercase)
        del lowercase
        run.previous = dict(zip(owners, previous, strict=True))
        if len(run.previous) != accounts:
            raise RuntimeError("random accounts collided; pick another seed")

    with _timed(run, "inputs"):
        # As EpochInputs.from_json rebuilds them for each settlement step: every field validated.
        cars = CarInput.batch(car_ids, list(map(normalize_weight, metres)))
        spans = OwnershipSpan.batch(car_ids, owners, from_slots)
        points = PointsInput.batch(owners, earned)
        del car_ids, metres, from_slots, earned, previous

    with _timed(run, "inputs_root"):
        root = inputs_root(cars, spans, points)
    with _timed(run, "epoch_seed"):
        drop_seed = epoch_seed(keccak256(seed.to_bytes(32, "big")), root)
    with _timed(run, "draw_driving"):
        driving = run.driving = draw_driving(EPOCH, drop_seed, cars, spans, DRIVING_CARRY_IN)
    with _timed(run, "split_cocreation"):
        cocreation = run.cocreation = split_cocreation(EPOCH, points, COCREATION_CARRY_IN)

    with _timed(run, "cumulative"):
        # As Settler._build_tree: previous cumulative plus this epoch's allocations, sorted.
        entries = cumulative_entries(run.previous, driving.credits, cocreation.credits)

    with _timed(run, "tree"):
        tree = run.tree = MerkleTree.build(entries)
    with _timed(run, "node blob"):
        nodes = run.nodes = tree.nodes
    with _timed(run, "proof walks"):
        positions = rng.sample(range(len(tree.entries)), min(proof_walks, len(tree.entries)))
        run.walked = [(tree.entries[p][0], proof_from_nodes(nodes, tree.tree_indices[p])) for p in positions]
    if all_proofs:
        with _timed(run, "all proofs"):
            run.all_proofs = tree.proofs()
    run.worker_peak = worker_peak_bytes()
    return run


def keccak_comparison(hashes: int = KECCAK_HASHES, *, seed: int = 7) -> dict[str, float]:
    """CPU seconds to hash ``hashes`` 64-byte messages (an inner node's preimage) per backend.

    The backends take turns, 1,000 hashes each, so that a neighbour's load spreads over all of them."""
    block = random.Random(seed).randbytes(64 * 1000)
    messages = [block[i : i + 64] for i in range(0, len(block), 64)]
    rounds = max(1, hashes // len(messages))
    backends: dict[str, Callable[[bytes], bytes]] = {
        "safe-pysha3 keccak_256 (ledger.merkle.keccak256)": keccak256,
        "eth-hash, pysha3 backend": pysha3_keccak256,
        f"eth-hash auto (picks {_auto_backend()})": eth_hash_keccak,
        "eth-hash, pycryptodome backend": pycryptodome_keccak256,
    }
    expected = [keccak256(m) for m in messages]
    seconds = dict.fromkeys(backends, 0.0)
    for name, function in backends.items():
        if [function(m) for m in messages] != expected:
            raise RuntimeError(f"{name} disagrees with safe-pysha3")
    for _ in range(rounds):
        for name, function in backends.items():
            cpu = time.process_time()
            for message in messages:
                function(message)
            seconds[name] += time.process_time() - cpu
    return seconds


def _auto_backend() -> str:
    eth_hash_keccak(b"")  # the automatic backend is chosen on the first call
    backend = getattr(eth_hash_keccak.hasher, "__self__", None)
    return type(backend).__module__.rsplit(".", 1)[-1]


def _load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:  # pragma: no cover - not on Linux
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} (1, 5, 15 min) on {os.cpu_count()} CPUs"


def report(run: EpochRun, keccak: dict[str, float], hashes: int, load_before: str) -> dict[str, Any]:
    return {
        "accounts": run.accounts,
        "phases": {p.name: {"wall": round(p.wall, 3), "cpu": round(p.cpu, 3)} for p in run.phases},
        "total_wall": round(run.total_wall, 3),
        "total_cpu": round(run.total_cpu, 3),
        "total_excludes": sorted(COMPARISON_PHASES),
        "peak_rss_bytes": run.peak_rss,
        "worker_peak_rss_bytes": run.worker_peak_rss,
        "peak_rss_by_phase": {p.name: p.peak_rss for p in run.phases},
        "keccak_hashes": hashes,
        "keccak_cpu": {name: round(s, 3) for name, s in keccak.items()},
        "proof_walks": len(run.walked),
        "targets_met": run.total_wall < TARGET_SECONDS and run.peak_rss + run.worker_peak_rss < TARGET_BYTES,
        "load_before": load_before,
        "load_after": _load(),
    }


def _mib(size: int) -> str:
    return f"{size / 1024**2:,.0f} MiB"


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"| Phase ({data['accounts']:,} accounts) | Wall s | CPU s | Peak RSS after |",
        "|---|---:|---:|---:|",
    ]
    for name, t in data["phases"].items():
        label = f"{name} (not in total)" if name in data["total_excludes"] else name
        lines.append(
            f"| {label} | {t['wall']:.2f} | {t['cpu']:.2f} | {_mib(data['peak_rss_by_phase'][name])} |"
        )
    lines.append(
        f"| **total** | **{data['total_wall']:.2f}** | **{data['total_cpu']:.2f}** "
        f"| **{_mib(data['peak_rss_bytes'])}** |"
    )
    lines.append("")
    lines.append(f"| Keccak backend ({data['keccak_hashes']:,} hashes of 64 bytes) | CPU s |")
    lines.append("|---|---:|")
    lines.extend(f"| {name} | {s:.2f} |" for name, s in data["keccak_cpu"].items())
    lines.append("")
    lines.append(f"Hash worker process peak RSS: {_mib(data['worker_peak_rss_bytes'])}.")
    lines.append(f"Load average before: {data['load_before']}; after: {data['load_after']}.")
    return "\n".join(lines) + "\n"


def text(data: dict[str, Any]) -> str:
    lines = [f"{'phase':<28}{'wall s':>9}{'cpu s':>9}{'peak RSS':>12}"]
    for name, t in data["phases"].items():
        label = f"{name} (not in total)" if name in data["total_excludes"] else name
        lines.append(
            f"{label:<28}{t['wall']:>9.2f}{t['cpu']:>9.2f}{_mib(data['peak_rss_by_phase'][name]):>12}"
        )
    lines.append(
        f"{'total':<28}{data['total_wall']:>9.2f}{data['total_cpu']:>9.2f}{_mib(data['peak_rss_bytes']):>12}"
    )
    lines.append(f"keccak, {data['keccak_hashes']:,} hashes of 64 bytes (CPU s):")
    lines.extend(f"  {name:<52}{s:>7.2f}" for name, s in data["keccak_cpu"].items())
    met = "met" if data["targets_met"] else "MISSED"
    lines.append(f"target (< {TARGET_SECONDS:.0f} s wall, < 4 GiB peak with the worker's): {met}")
    lines.append(f"hash worker process peak RSS: {_mib(data['worker_peak_rss_bytes'])}")
    lines.append(f"load average before: {data['load_before']}; after: {data['load_after']}")
    return "\n".join(lines) + "\n"


app = typer.Typer(add_completion=False)


@app.command()
def main(
    accounts: Annotated[
        int, typer.Option("--accounts", min=1, help="Number of synthetic accounts.")
    ] = 1_000_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    as_markdown: Annotated[bool, typer.Option("--markdown", help="Print Markdown tables.")] = False,
    hashes: Annotated[
        int, typer.Option("--keccak-hashes", min=1000, help="Hashes per backend in the keccak comparison.")
    ] = KECCAK_HASHES,
    all_proofs: Annotated[
        bool, typer.Option("--all-proofs/--no-all-proofs", help="Also time tree.proofs() for every account.")
    ] = True,
) -> None:
    """Seconds per phase and peak memory of one epoch's allocation, tree and proofs."""
    load_before = _load()
    run = run_epoch(accounts, all_proofs=all_proofs)
    keccak = keccak_comparison(hashes)
    data = report(run, keccak, hashes, load_before)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    elif as_markdown:
        typer.echo(markdown(data), nl=False)
    else:
        typer.echo(text(data), nl=False)


if __name__ == "__main__":
    app()
