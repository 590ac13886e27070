"""In-process token buckets for rate limits (per worker: see ``api.settings``).

A bucket holds up to ``burst`` tokens and refills at ``per_minute / 60`` tokens a second. Tables are
bounded: the least recently used bucket is dropped past ``max_keys`` (a dropped bucket comes back full,
which errs towards letting a request through), so a flood of made-up keys cannot exhaust memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from ledger.errors import YuanshiError

__all__ = ["BucketTable", "RateLimitedError"]

DEFAULT_MAX_KEYS: Final = 100_000


class RateLimitedError(YuanshiError):
    """Too many requests from one client, car or token; ``retry_after`` says when one more may come."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BucketTable:
    """Token buckets by key, safe to share between threads."""

    def __init__(
        self,
        burst: int,
        per_minute: int,
        max_keys: int = DEFAULT_MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.rate)

    def take(self, key: str, n: int = 1) -> int:
        """Takes ``n`` tokens: 0 if they were there, else the whole seconds to wait (and nothing is taken)."""
        if not self.enabled:
            return 0
        with self._lock:
            now = self._clock()
            level = self._level(key, now)
            if level < n:
                self._store(key, level, now)
                return max(1, math.ceil((n - level) / self.rate))
            self._store(key, level - n, now)
            return 0

    def give_back(self, key: str, n: int = 1) -> None:
        """Returns ``n`` tokens taken for work that turned out not to count (never above the burst)."""
        if not self.enabled:
            return
        with self._lock:
            now = self._clock()
            self._store(key, min(float(self.burst), self._level(key, now) + n), now)

    def _store(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
