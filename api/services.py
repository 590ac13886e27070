"""What every request needs, opened once per process by the app's lifespan: the ledger runtime, the
deployed system (loaded on first use, so the service can start before a deployment), the relay, the clock,
the rate-limit tables and the metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from api.limits import BucketTable
from api.metrics import Metrics
from api.settings import ApiSettings
from ledger import idempotency
from ledger.chain import views
from ledger.chain.deploy import System
from ledger.chain.embedded import test_accounts
from ledger.relay import Relay
from ledger.runtime import Runtime
from ledger.schedule import SLOTS_PER_EPOCH

__all__ = ["Services"]

# The embedded chain's test account 10: roles take accounts 1..8, so it pays for nothing else.
EMBEDDED_RELAYER_INDEX = 9
# Old idempotency keys are swept this often (seconds, per worker), by a request that carries a key.
PURGE_EVERY_S = 600.0


@dataclass
class Services:
    runtime: Runtime
    settings: ApiSettings
    metrics: Metrics
    vin_salt: bytes
    clock: Callable[[], int] | None = None
    client_limits: BucketTable = field(init=False)
    vehicle_limits: BucketTable = field(init=False)
    token_limits: BucketTable = field(init=False)
    _system: System | None = field(default=None, init=False)
    _relay: Relay | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _next_purge: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.client_limits = BucketTable(s.client_burst, s.client_per_minute)
        self.vehicle_limits = BucketTable(s.vehicle_burst, s.vehicle_per_minute)
        self.token_limits = BucketTable(s.token_burst, s.token_per_minute)
        views.serialize(self.runtime.client)

    @property
    def relayer(self) -> str | None:
        if self.settings.relayer_address is not None:
            return self.settings.relayer_address
        if self.runtime.embedded:
            return test_accounts()[EMBEDDED_RELAYER_INDEX].address
        return None

    def system(self) -> System:
        """The deployed system (``NotDeployedError`` until there is one), loaded once."""
        with self._lock:
            if self._system is None:
                self._system = self.runtime.system()
            return self._system

    def relay(self) -> Relay:
        system = self.system()
        with self._lock:
            if self._relay is None:
                self._relay = Relay(system, self.relayer)
            return self._relay

    def purge_idempotency_keys(self, session: Session, now: int) -> None:
        """Deletes stored answers past their retention, at most once per ``PURGE_EVERY_S`` per worker."""
        with self._lock:
            if time.monotonic() < self._next_purge:
                return
            self._next_purge = time.monotonic() + PURGE_EVERY_S
        idempotency.purge(session, now - self.settings.idempotency_retention_s)

    def now(self) -> int:
        """The ledger's clock: chain time, unless the app was given another clock."""
        return self.clock() if self.clock is not None else self.runtime.client.now()

    @property
    def chain_id(self) -> int:
        return self.runtime.client.chain_id

    @property
    def genesis(self) -> int:
        return self.system().params.genesis

    @property
    def slot_seconds(self) -> int:
        return self.system().params.slot_seconds

    def epoch_at(self, now: int) -> int:
        """The epoch running at ``now`` (-1 before genesis)."""
        return (now - self.genesis) // (SLOTS_PER_EPOCH * self.slot_seconds) if now >= self.genesis else -1
