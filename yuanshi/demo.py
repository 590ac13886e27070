"""``yuanshi demo``: the whole system on the embedded defaults, driven over HTTP like the real thing.

Under a fresh data folder (embedded chain journaled there, SQLite there) the demo deploys the contracts with
genesis a little ahead, creates operator tokens, starts the API (uvicorn, one worker, in a background
thread: the embedded chain lives in this process) on 127.0.0.1 and a free port, and then:

* registers the cars and their owners' consent over HTTP;
* day after day, cars send their trips (a few impossibly fast ones must come back held): every other car
  signs each report and they go in batches, the others sign each day's trips once, as an upload envelope;
  the app backend reports task completions;
* moves chain time forward (the ledger's clock is chain time) and settles each epoch on chain;
* waits out the challenge window and claims for every owner through the relayed claim endpoints (one by
  one for a few, then in batches of one ``claimMany`` each);
* lists two upgrades, has owners sign two orders (EIP-712): one is fulfilled, one cancelled;
* runs one equity round (open, balance root, relayed claims) and one buy-back with a signed sell-back;
* checks the invariants against the chain and returns a summary.

Two steps use the ledger or the chain directly, because the API has no endpoint for them: creating the
operator tokens (an operator's job, done with the database) and minting test settlement tokens to the
treasurer (the money a real treasury would hold).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final

import httpx
import uvicorn
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table

from api.app import create_app
from api.services import EMBEDDED_RELAYER_INDEX
from api.settings import ApiSettings
from ledger import buybacks, claims, consent, eip712, redemptions, tokens
from ledger.chain import views
from ledger.chain.deploy import DeployParams, System
from ledger.chain.embedded import EmbeddedChain, test_accounts
from ledger.config import LedgerSettings
from ledger.errors import YuanshiError
from ledger.relay import Relay
from ledger.runtime import Runtime, embedded_roles, open_runtime
from ledger.schedule import UNIT, Pool, available_at_epoch_end
from ledger.settlement import SettlementParams
from ledger.tasks import DEFAULT_CATALOGUE
from ledger.telemetry import TripReport, report_to_json, sign_report
from ledger.tokens import Scope
from yuanshi.fleet import TASK_CHOICES, Fleet, SimCar

__all__ = [
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "DemoServer",
    "demo_session",
    "print_summary",
    "run_demo",
]

BATCH: Final = 500  # trip reports per HTTP batch
API_CLAIMS: Final = 5  # stone claims relayed one by one through the API; the rest go by claimMany
CLAIM_BATCH: Final = 100  # accounts per POST /v1/accounts/claims (one claimMany transaction each)
ROUND_CLAIMS: Final = 10  # equity-round claims relayed through the API
GENESIS_DELAY: Final = 300  # seconds from deployment to genesis
CONSENT_CATEGORIES: Final = ("trip_summaries", "app_activity")
TCNY: Final = 10**6  # the test settlement token has 6 decimals
# The demo is one client sending thousands of requests: lift the per-client and per-token rate limits.
DEMO_LIMITS: Final = {
    "client_burst": 1_000_000,
    "client_per_minute": 60_000_000,
    "token_burst": 1_000_000,
    "token_per_minute": 60_000_000,
    "vehicle_burst": 10_000,
    "vehicle_per_minute": 600_000,
}


class DemoError(YuanshiError):
    """A step of the demo failed (the message says which and why)."""


@dataclass(frozen=True)
class DemoOptions:
    vehicles: int = 200
    days: int = 14
    data_dir: Path = Path("demo-data")
    seed: int = 7
    implausible_rate: float = 0.01
    progress: Callable[[str], None] = lambda _message: None


@dataclass
class DemoResult:
    """Everything the summary shows; :meth:`to_json` is the ``--json`` object."""

    data_dir: Path
    url: str
    chain_id: int
    addresses: dict[str, str]
    epochs: int
    vehicles: int
    owners: int
    minted_driving: int
    minted_cocreation: int
    available_driving: int
    available_cocreation: int
    total_claimed: int
    total_supply: int
    burned: int
    accounts: int
    reports: dict[str, int]
    implausible_sent: int
    uploads_sent: int
    held_reports: int
    task_completions: int
    top_earners: list[dict[str, Any]]
    redemptions: dict[str, Any]
    equity_round: dict[str, Any]
    buyback: dict[str, Any]
    gas: dict[str, int]
    timings: dict[str, float]
    invariants: dict[str, bool]
    demo_account: str
    claims: dict[str, int]
    workarounds: list[str]

    @property
    def ok(self) -> bool:
        return all(self.invariants.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "url": self.url,
            "chain_id": self.chain_id,
            "addresses": self.addresses,
            "epochs": self.epochs,
            "vehicles": self.vehicles,
            "owners": self.owners,
            "minted_driving": str(self.minted_driving),
            "minted_cocreation": str(self.minted_cocreation),
            "available_driving": str(self.available_driving),
            "available_cocreation": str(self.available_cocreation),
            "total_claimed": str(self.total_claimed),
            "total_supply": str(self.total_supply),
            "burned": str(self.burned),
            "accounts": self.accounts,
            "reports": self.reports,
            "implausible_sent": self.implausible_sent,
            "uploads_sent": self.uploads_sent,
            "held_reports": self.held_reports,
            "task_completions": self.task_completions,
            "top_earners": self.top_earners,
            "redemptions": self.redemptions,
            "equity_round": self.equity_round,
            "buyback": self.buyback,
            "gas": self.gas,
            "timings_s": {name: round(seconds, 2) for name, seconds in self.timings.items()},
            "invariants": self.invariants,
            "invariants_ok": self.ok,
            "demo_account": self.demo_account,
            "claims": self.claims,
            "workarounds": self.workarounds,
        }


# --- the API in a background thread -----------------------------------------------------------------


class DemoServer:
    """uvicorn serving ``create_app(runtime)`` on 127.0.0.1 from a background thread (one worker)."""

    def __init__(self, runtime: Runtime, port: int = 0, limits: dict[str, int] | None = None) -> None:
        app = create_app(
            lambda: runtime, ApiSettings.model_validate(DEMO_LIMITS if limits is None else limits)
        )
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", port))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            app, log_level="warning", loop="uvloop", http="httptools", lifespan="on", access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="yuanshi-demo-api", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise DemoError("the API server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()

    def wait(self) -> None:
        """Blocks until the server stops (Ctrl-C in the main thread ends the wait)."""
        while self.thread.is_alive():
            self.thread.join(timeout=0.5)


@contextmanager
def serving(runtime: Runtime, port: int = 0) -> Iterator[DemoServer]:
    server = DemoServer(runtime, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the demo ---------------------------------------------------------------------------------------


class Demo:
    def __init__(self, options: DemoOptions, runtime: Runtime, system: System, http: httpx.Client) -> None:
        self.options = options
        self.runtime = runtime
        self.system = system
        self.http = http
        assert isinstance(runtime.client, EmbeddedChain)
        self.chain: EmbeddedChain = runtime.client
        settler_params = runtime.settler().params
        self.params: SettlementParams = settler_params
        self.fleet = Fleet.create(options.vehicles, max(1, options.vehicles * 3 // 4), seed=options.seed)
        self.keys: dict[str, LocalAccount] = {owner.address: owner for owner in self.fleet.owners}
        self.tokens: dict[Scope, str] = {}
        self.reports: Counter[str] = Counter()
        self.held_reasons: Counter[str] = Counter()
        self.implausible_sent = 0
        self.uploads_sent = 0
        self.completions = 0
        self.redeemed: Counter[str] = Counter()  # stones burned per account (fulfilled orders, sell-backs)
        self.timings: dict[str, float] = {}
        self.redemptions: dict[str, Any] = {}
        self.equity_round: dict[str, Any] = {}
        self.buyback: dict[str, Any] = {}
        self.workarounds: set[str] = set()
        self.relayer = test_accounts()[EMBEDDED_RELAYER_INDEX].address  # the API's relayer on this chain
        self.api_claims = self.batch_claims = 0

    # --- plumbing ---

    def progress(self, message: str) -> None:
        self.options.progress(message)

    def now(self) -> int:
        return self.chain.now()

    def travel_to(self, timestamp: int) -> None:
        with views.chain_lock(self.chain):
            if timestamp > self.chain.now():
                self.chain.travel_to(timestamp)

    def settle(self) -> None:
        self.runtime.settler().run()

    def call(
        self,
        method: str,
        path: str,
        scope: Scope | None = None,
        expect: tuple[int, ...] = (200, 201),
        **kwargs: Any,
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        if scope is not None:
            headers["Authorization"] = f"Bearer {self.tokens[scope]}"
        response = self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code not in expect:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise DemoError(f"{method} {path} answered {response.status_code}: {detail}")
        return response.json()

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - started

    def typed_data(self, path: str, query: dict[str, Any], local: Callable[[Relay], dict[str, Any]]) -> Any:
        """The EIP-712 request from the API; if the API refuses the query (its typed-data endpoints take
        unix times as strict integers, which no query string is), the same request from the ledger."""
        response = self.http.get(path, params=query)
        if response.status_code == 200:
            return response.json()
        self.workarounds.add(f"GET {path} answered {response.status_code}: typed data built by the ledger")
        return {"typed_data": eip712.to_json(local(Relay(self.system, None)))}

    def sign_typed(self, typed: dict[str, Any], account: str) -> str:
        """The owner's wallet signing what the API asked it to sign (``eth_signTypedData_v4``)."""
        return eip712.sign(typed["typed_data"], bytes(self.keys[account].key))

    # --- phases ---

    def make_tokens(self) -> None:
        with self.runtime.sessions.begin() as session:
            for scope in Scope:
                self.tokens[scope] = tokens.create_token(session, f"demo-{scope.value}", [scope], self.now())

    def set_up_catalogue_and_fleet(self) -> None:
        existing = {task["task_id"] for task in self.call("GET", "/v1/tasks", params={"all": "true"})}
        for spec in DEFAULT_CATALOGUE:
            if spec.task_id in existing:
                continue
            body: dict[str, Any] = {
                "task_id": spec.task_id,
                "title": spec.title,
                "category": spec.category.value,
                "points": spec.points,
                "daily_cap": spec.daily_cap,
                "lifetime_cap": spec.lifetime_cap,
                "evidence_kind": spec.evidence_kind,
                "description": spec.description,
            }
            self.call("POST", "/v1/tasks", Scope.TASKS, json=body)
        for car in self.fleet.cars:
            body = {
                "vehicle_id": car.vehicle_id,
                "vin": car.vin,
                "device_public_key": "0x" + car.public_key.hex(),
                "algorithm": car.algorithm.value,
                "owner": car.owner.address,
            }
            self.call("POST", "/v1/cars", Scope.CARS, json=body)
        chain_id = self.chain.chain_id
        for owner in self.fleet.owners:
            issued_at = self.now()
            grant = consent.ConsentGrant(owner.address, "1.0", CONSENT_CATEGORIES, issued_at)
            body = {
                "owner": owner.address,
                "version": "1.0",
                "categories": list(CONSENT_CATEGORIES),
                "issued_at": issued_at,
                "signature": consent.sign(grant, bytes(owner.key), chain_id),
            }
            self.call("POST", "/v1/consents", json=body)

    def send(self, path: str, body: dict[str, object]) -> None:
        answer = self.call("POST", path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        for result in answer["results"]:
            self.reports[result["status"]] += 1
            if result["status"] == "held":
                self.held_reasons[result["reason"]] += 1

    def day_trips(self, epoch: int) -> list[tuple[SimCar, TripReport]]:
        start, end = self.params.epoch_start(epoch), self.params.epoch_end(epoch)
        before = len(self.fleet.implausible)
        trips = self.fleet.drive(start, end, self.options.implausible_rate)
        if epoch == 0 and len(self.fleet.implausible) == before:
            # Make sure at least one impossible trip is sent, whatever the size: it must come back held.
            for car in self.fleet.cars:
                extra = Fleet([car], self.fleet.owners, self.fleet.rng).drive(start, end, 1.0)
                if extra:
                    trips.extend(extra)
                    break
        self.implausible_sent += len(self.fleet.implausible) - before
        return trips

    def drive_day(self, epoch: int) -> None:
        start, end = self.params.epoch_start(epoch), self.params.epoch_end(epoch)
        began = time.perf_counter()
        # Every other car signs each report; the others sign the day's trips once, as an upload envelope.
        enveloping = {car.vehicle_id for car in self.fleet.cars[1::2]}
        trips = self.day_trips(epoch)
        reports = [
            report_to_json(sign_report(trip, car.private_key))
            for car, trip in trips
            if car.vehicle_id not in enveloping
        ]
        envelopes = Fleet.envelopes([(car, trip) for car, trip in trips if car.vehicle_id in enveloping])
        # The cars upload when they are back online, just after the day ends (within the grace period).
        self.travel_to(end + 60)
        for offset in range(0, len(reports), BATCH):
            self.send("/v1/telemetry/trips", {"reports": reports[offset : offset + BATCH]})
        per_request = max(1, BATCH // 3)  # a car drives 0-3 trips a day
        for offset in range(0, len(envelopes), per_request):
            self.send("/v1/telemetry/uploads", {"uploads": envelopes[offset : offset + per_request]})
        self.uploads_sent += len(envelopes)
        uploaded = time.perf_counter()
        for index, owner in enumerate(self.fleet.owners):
            for n in range((index + epoch) % 3):
                task = TASK_CHOICES[(index + n + epoch) % len(TASK_CHOICES)]
                body = {
                    "account": owner.address,
                    "evidence": f"{task}-{owner.address[2:10]}-{epoch}-{n}",
                    "completed_at": start + 600 * (1 + (index * 7 + n * 13) % 140),
                }
                self.call("POST", f"/v1/tasks/{task}/completions", Scope.TASKS, json=body)
                self.completions += 1
        tasks_done = time.perf_counter()
        self.travel_to(end + self.params.grace_seconds + 1)
        self.settle()
        for name, seconds in (
            ("days_sign_and_upload", uploaded - began),
            ("days_tasks", tasks_done - uploaded),
            ("days_settle", time.perf_counter() - tasks_done),
        ):
            self.timings[name] = self.timings.get(name, 0.0) + seconds

    def claim_everyone(self) -> dict[str, int]:
        """Waits out the last root's challenge window, then claims for every owner: the first few through
        the API's relayed claim (as a custodial wallet would), the rest through its batch claim (as the app
        backend would), one ``claimMany`` transaction per batch."""
        self.travel_to(self.now() + self.system.params.challenge_window + 1)
        distributor = self.system.distributor.functions
        found, epoch = self.chain.call(distributor.claimableEpoch())
        if not found or int(epoch) != self.options.days - 1:
            raise DemoError(f"epoch {self.options.days - 1} should be claimable now, the chain says {epoch}")
        with self.runtime.sessions() as session:
            entitled = {t.account: t for t in claims.tickets(session, int(epoch)) if t.cumulative > 0}
        claimed: dict[str, int] = {}
        for account in sorted(entitled)[:API_CLAIMS]:
            result = self.call("POST", f"/v1/accounts/{account}/claim")
            claimed[account] = int(result["cumulative"])
        rest = [a for a in sorted(entitled) if a not in claimed]
        for offset in range(0, len(rest), CLAIM_BATCH):
            answer = self.call(
                "POST",
                "/v1/accounts/claims",
                Scope.ACCOUNTS,
                json={"accounts": rest[offset : offset + CLAIM_BATCH]},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            for entry in answer["claims"]:
                if entry["status"] != "claimed":
                    raise DemoError(f"the batch claim did not pay {entry['account']}: {entry['detail']}")
                claimed[entry["account"]] = int(entry["cumulative"])
        self.api_claims, self.batch_claims = len(entitled) - len(rest), len(rest)
        return claimed

    def balance(self, account: str) -> int:
        return int(self.runtime.client.call(self.system.token.functions.balanceOf(account)))

    def redeem(self, ranked: list[str]) -> None:
        """Lists two upgrades; the top earner's order is fulfilled, the runner-up's is cancelled."""
        buyer, other = ranked[0], ranked[min(1, len(ranked) - 1)]
        price = min(5_000 * UNIT, self.balance(buyer) // 4 // UNIT * UNIT or self.balance(buyer) // 4)
        price_other = min(8_000 * UNIT, max(1, self.balance(other) // 3))
        items = {
            1: (price, "Lidar upgrade (激光雷达升级)", "Roof lidar, installed at a service centre."),
            2: (price_other, "Battery pack upgrade (电池包升级)", "A larger battery pack, swapped in."),
        }
        for item_id, (item_price, title, description) in items.items():
            body = {"price": str(item_price), "stock": 10, "active": True, "title": title}
            self.call(
                "PUT",
                f"/v1/redemptions/catalogue/{item_id}",
                Scope.CATALOGUE,
                json=body | {"description": description},
            )
        done = {}
        for item_id, account, action in ((1, buyer, "fulfil"), (2, other, "cancel")):
            item_price = items[item_id][0]
            deadline = self.now() + 3600
            query = {"buyer": account, "item_id": item_id, "max_price": str(item_price), "deadline": deadline}
            typed = self.typed_data(
                "/v1/redemptions/orders/typed-data",
                query,
                partial(
                    redemptions.order_typed_data,
                    buyer=account,
                    item_id=item_id,
                    max_price=item_price,
                    deadline=deadline,
                ),
            )
            body = query | {"signature": self.sign_typed(typed, account)}
            order = self.call("POST", "/v1/redemptions/orders", json=body)["order"]
            finished = self.call(
                "POST", f"/v1/redemptions/orders/{order['order_id']}/{action}", Scope.FULFILMENT
            )
            if action == "fulfil":
                self.redeemed[account] += item_price
            done[action] = {
                "order_id": order["order_id"],
                "buyer": account,
                "item_id": item_id,
                "price": str(item_price),
                "status": finished["order"]["status"],
            }
        self.redemptions = done

    def fund_treasury(self, amount: int) -> None:
        """Test settlement tokens for the treasurer (no API: the money a real treasury would hold)."""
        treasurer = self.system.roles.treasurer
        with views.chain_lock(self.chain):
            views.send(self.chain, self.system.settlement.functions.mint(treasurer, amount), treasurer)

    def equity(self, holders: list[str]) -> None:
        """One equity-value round: open it, post the record-date balance root, relayed claims for the
        first holders (each is a transaction; the rest could claim until the deadline)."""
        funding = 1_000_000 * TCNY
        self.fund_treasury(funding + 1_000_000 * TCNY)  # and the buy-back's funding
        record_date = self.now()
        self.travel_to(record_date + 60)
        window = self.system.params.challenge_window
        body = {
            "record_date": record_date,
            "funding": str(funding),
            "claim_deadline": record_date + 30 * 86_400,
        }
        round_id = self.call("POST", "/v1/equity/rounds", Scope.TREASURY, json=body)["round"]["round_id"]
        snapshot = self.call("POST", f"/v1/equity/rounds/{round_id}/balance-root", Scope.TREASURY)
        self.travel_to(self.now() + window + 1)
        paid, claims = 0, 0
        for account in holders[:ROUND_CLAIMS]:
            entry = self.call("GET", f"/v1/equity/rounds/{round_id}/accounts/{account}", expect=(200, 404))
            if int(entry.get("payout", 0)) == 0:
                continue
            done = self.call("POST", f"/v1/equity/rounds/{round_id}/claims", json={"account": account})
            paid += int(done["claim"]["payout"])
            claims += 1
        self.equity_round = {
            "round_id": round_id,
            "record_date": record_date,
            "holders": snapshot["holders"],
            "total_eligible": snapshot["total_eligible"],
            "funding": str(funding),
            "claims": claims,
            "paid": str(paid),
        }

    def buy_back(self, seller: str) -> None:
        """One buy-back window; ``seller`` sells a tenth of their stones back with a signed sell-back."""
        price_per_stone = 2 * TCNY  # 2 tCNY per stone
        start = self.now() + 1
        body = {
            "price_per_stone": str(price_per_stone),
            "stone_budget": str(100_000 * UNIT),
            "start": start,
            "end": start + 7 * 86_400,
        }
        buyback_id = self.call("POST", "/v1/equity/buybacks", Scope.TREASURY, json=body)["buyback"][
            "buyback_id"
        ]
        self.travel_to(start + 60)
        stones_sold = max(1, self.balance(seller) // 10)
        payout = stones_sold * price_per_stone // UNIT
        deadline = self.now() + 3600
        query = {
            "seller": seller,
            "stones": str(stones_sold),
            "min_payout": str(payout),
            "deadline": deadline,
        }
        typed = self.typed_data(
            f"/v1/equity/buybacks/{buyback_id}/sell-backs/typed-data",
            query,
            lambda relay: buybacks.sellback_typed_data(
                relay, seller, buyback_id, stones_sold, payout, deadline
            ),
        )
        sold = self.call(
            "POST",
            f"/v1/equity/buybacks/{buyback_id}/sell-backs",
            json=query | {"signature": self.sign_typed(typed, seller)},
        )
        self.redeemed[seller] += int(sold["stones"])
        self.buyback = {
            "buyback_id": buyback_id,
            "seller": seller,
            "stones": sold["stones"],
            "payout": sold["payout"],
            "price_per_stone": str(price_per_stone),
        }

    def gas_by_sender(self) -> dict[str, int]:
        """Gas of every transaction since genesis of the chain, by who paid it (role, relayer, other)."""
        roles = self.system.roles
        names = {getattr(roles, name): name for name in vars(roles)} | {self.relayer: "relayer"}
        w3 = self.chain.w3
        gas: Counter[str] = Counter()
        with views.chain_lock(self.chain):
            for number in range(1, int(w3.eth.block_number) + 1):
                block = w3.eth.get_block(number, full_transactions=True)
                for tx in block["transactions"]:
                    assert not isinstance(tx, bytes)
                    receipt = w3.eth.get_transaction_receipt(tx["hash"])
                    sender = views.checksum(str(tx["from"]))
                    gas[names.get(sender, "other")] += int(receipt["gasUsed"])
        return dict(gas)

    # --- the whole run ---

    def run(self) -> DemoResult:
        opts = self.options
        with self.timed("setup"):
            self.make_tokens()
            self.progress(
                f"registering {len(self.fleet.cars)} cars and {len(self.fleet.owners)} owners' consent"
            )
            self.set_up_catalogue_and_fleet()
            self.travel_to(self.params.genesis)
        with self.timed("days"):
            for epoch in range(opts.days):
                self.drive_day(epoch)
                self.progress(
                    f"day {epoch + 1}/{opts.days}: {sum(self.reports.values())} reports sent, "
                    f"{self.reports['held']} held; epoch {epoch} settled"
                )
        with self.timed("claims"):
            self.progress("waiting out the challenge window and claiming for every owner")
            claimed = self.claim_everyone()
        ranked = sorted(claimed, key=lambda a: (-claimed[a], a))
        if not ranked:
            raise DemoError("nobody earned anything: no claim to make")
        with self.timed("redemptions"):
            self.progress("redeeming one upgrade and cancelling one order")
            self.redeem(ranked)
        with self.timed("equity"):
            self.progress("running an equity round and a buy-back")
            self.equity(ranked)
            self.buy_back(ranked[-1] if len(ranked) > 2 else ranked[0])
        with self.timed("checks"):
            return self.result(claimed, ranked)

    def result(self, claimed: dict[str, int], ranked: list[str]) -> DemoResult:
        distributor, token = self.system.distributor.functions, self.system.token.functions
        client = self.runtime.client
        last = self.options.days - 1
        _root, _posted, driving, cocreation = client.call(distributor.epochRecord(last))
        driving, cocreation = int(driving), int(cocreation)
        total_claimed = int(client.call(distributor.totalClaimed()))
        supply = int(client.call(token.totalSupply()))
        balances = {account: self.balance(account) for account in self.keys}
        onchain_claimed = dict.fromkeys(
            self.keys, 0
        )  # from the Claimed events: one query, not one per account
        for log in views.event_logs(
            self.system.distributor.events.Claimed(), self.system.deployed_at_block, None, None
        ):
            account = views.checksum(str(log.args["account"]))
            onchain_claimed[account] = max(onchain_claimed.get(account, 0), int(log.args["cumulativeAmount"]))
        escrow = self.balance(self.system.desk.address) + self.balance(self.system.vault.address)
        burned = sum(self.redeemed.values())
        available_driving = available_at_epoch_end(Pool.DRIVING, last)
        available_cocreation = available_at_epoch_end(Pool.COCREATION, last)
        invariants = {
            "every_epoch_posted": int(client.call(distributor.nextEpoch())) == self.options.days,
            "driving_within_available": driving <= available_driving,
            "cocreation_within_available": cocreation <= available_cocreation,
            "claims_equal_posted_totals": total_claimed == driving + cocreation == sum(claimed.values()),
            "balances_plus_burned_equal_minted": sum(balances.values()) + escrow + burned == total_claimed,
            "supply_equals_minted_minus_burned": supply == total_claimed - burned,
            "balance_plus_redeemed_equals_entitlement": all(
                balances[a] + self.redeemed[a] == claimed.get(a, 0) == onchain_claimed[a] for a in self.keys
            ),
            "implausible_reports_held": self.implausible_sent == 0 or self.reports["held"] > 0,
            "equity_paid_within_funding": int(self.equity_round["paid"]) <= int(self.equity_round["funding"]),
        }
        top = [
            {
                "account": account,
                "entitlement": str(claimed[account]),
                "balance": str(balances[account]),
                "cars": sum(1 for car in self.fleet.cars if car.owner.address == account),
            }
            for account in ranked[:5]
        ]
        return DemoResult(
            data_dir=self.options.data_dir,
            url=str(self.http.base_url),
            chain_id=self.chain.chain_id,
            addresses=self.system.addresses(),
            epochs=self.options.days,
            vehicles=len(self.fleet.cars),
            owners=len(self.fleet.owners),
            minted_driving=driving,
            minted_cocreation=cocreation,
            available_driving=available_driving,
            available_cocreation=available_cocreation,
            total_claimed=total_claimed,
            total_supply=supply,
            burned=burned,
            accounts=sum(1 for amount in onchain_claimed.values() if amount > 0),
            reports=dict(self.reports) | {f"held_{reason}": n for reason, n in self.held_reasons.items()},
            implausible_sent=self.implausible_sent,
            uploads_sent=self.uploads_sent,
            held_reports=self.reports["held"],
            task_completions=self.completions,
            top_earners=top,
            redemptions=self.redemptions,
            equity_round=self.equity_round,
            buyback=self.buyback,
            gas=self.gas_by_sender(),
            timings=self.timings,
            invariants=invariants,
            demo_account=ranked[0],
            claims={"relayed_via_api": self.api_claims, "claim_many": self.batch_claims},
            workarounds=sorted(self.workarounds),
        )


def demo_settings(data_dir: Path) -> LedgerSettings:
    """The embedded defaults under ``data_dir``, whatever the environment says about other storage."""
    return LedgerSettings(data_dir=data_dir, database_url=None, chain_url=None, keystore=None)


def prepare(options: DemoOptions) -> tuple[Runtime, System]:
    """Opens a fresh runtime under the data folder, deploys with genesis a little ahead, commits seeds."""
    settings = demo_settings(options.data_dir)
    if settings.deployment_file.exists() or settings.chain_journal.exists():
        raise DemoError(f"{options.data_dir} holds a deployment already: the demo needs a fresh folder")
    runtime = open_runtime(settings)
    system = runtime.deploy(DeployParams(genesis=runtime.client.now() + GENESIS_DELAY), embedded_roles())
    runtime.settler().run()  # commits the first seeds before genesis
    return runtime, system


@contextmanager
def demo_session(options: DemoOptions, port: int = 0) -> Iterator[tuple[Demo, DemoServer]]:
    quiet_log_warnings()
    runtime, system = prepare(options)
    try:
        with serving(runtime, port) as server, httpx.Client(base_url=server.url, timeout=120) as http:
            yield Demo(options, runtime, system, http), server
    finally:
        runtime.engine.dispose()


def quiet_log_warnings() -> None:
    """web3 warns about every foreign event log when decoding a receipt's events; they are expected."""
    warnings.filterwarnings("ignore", message="The log with transaction hash", category=UserWarning)


def run_demo(options: DemoOptions) -> DemoResult:
    with demo_session(options) as (demo, _server):
        return demo.run()


# --- the summary ------------------------------------------------------------------------------------


def stones(amount: int) -> str:
    """Base units as stones with two decimals (the summary rounds; the JSON is exact)."""
    return f"{amount / UNIT:,.2f}"


def print_summary(console: Console, result: DemoResult) -> None:
    pools = Table(title=f"Emission after {result.epochs} epochs (stones)")
    for column in ("pool", "minted (claimed)", "available", "share"):
        pools.add_column(column, justify="right" if column != "pool" else "left")
    for name, minted, cap in (
        ("driving", result.minted_driving, result.available_driving),
        ("co-creation", result.minted_cocreation, result.available_cocreation),
    ):
        pools.add_row(name, stones(minted), stones(cap), f"{minted / cap:.4%}" if cap else "-")
    pools.caption = (
        f"total supply {stones(result.total_supply)} = claimed {stones(result.total_claimed)} "
        f"- burned {stones(result.burned)}"
    )
    console.print(pools)

    activity = Table(title="Activity over HTTP")
    activity.add_column("what")
    activity.add_column("count", justify="right")
    activity.add_row("cars / owners", f"{result.vehicles} / {result.owners}")
    for status in ("accepted", "held", "rejected", "duplicate"):
        activity.add_row(f"trip reports {status}", f"{result.reports.get(status, 0):,}")
    activity.add_row("implausible reports sent", f"{result.implausible_sent:,}")
    activity.add_row("upload envelopes sent (one signature each)", f"{result.uploads_sent:,}")
    activity.add_row("task completions", f"{result.task_completions:,}")
    activity.add_row("accounts paid", f"{result.accounts:,}")
    console.print(activity)

    top = Table(title="Top earners")
    for column in ("account", "cars", "entitlement", "balance now"):
        top.add_column(column, justify="left" if column == "account" else "right")
    for row in result.top_earners:
        top.add_row(
            row["account"], str(row["cars"]), stones(int(row["entitlement"])), stones(int(row["balance"]))
        )
    console.print(top)

    redeemed = Table(title="Redemption, equity value, buy-back")
    redeemed.add_column("step")
    redeemed.add_column("result")
    for action, order in result.redemptions.items():
        redeemed.add_row(
            f"order {order['order_id']} ({action})",
            f"{order['status']}: {stones(int(order['price']))} stones, buyer {order['buyer']}",
        )
    r = result.equity_round
    redeemed.add_row(
        f"equity round {r['round_id']}",
        f"{r['claims']} of {r['holders']} holders claimed {int(r['paid']) / TCNY:,.2f} of "
        f"{int(r['funding']) / TCNY:,.2f} tCNY",
    )
    b = result.buyback
    redeemed.add_row(
        f"buy-back {b['buyback_id']}",
        f"{stones(int(b['stones']))} stones sold for {int(b['payout']) / TCNY:,.2f} tCNY by {b['seller']}",
    )
    console.print(redeemed)

    gas = Table(title="Gas spent, by payer")
    gas.add_column("payer")
    gas.add_column("gas", justify="right")
    for payer, used in sorted(result.gas.items(), key=lambda item: -item[1]):
        gas.add_row(payer, f"{used:,}")
    gas.add_row("[bold]total[/bold]", f"[bold]{sum(result.gas.values()):,}[/bold]")
    console.print(gas)

    checks = Table(title="Invariants")
    checks.add_column("invariant")
    checks.add_column("holds")
    for name, holds in result.invariants.items():
        checks.add_row(name.replace("_", " "), "[green]yes[/green]" if holds else "[red]NO[/red]")
    console.print(checks)
    timings = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    console.print(f"timings: {timings}")
    console.print("[green]all invariants hold[/green]" if result.ok else "[red]INVARIANT FAILED[/red]")
