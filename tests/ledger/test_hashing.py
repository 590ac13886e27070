"""``ledger.hashing``: batches of keccak256, split with a worker process, byte for byte the serial path.

The split only happens above ``PARALLEL_THRESHOLD`` hashes; ``parallel_split`` lowers the threshold so
that small Hypothesis examples take the worker path (and pretends to two CPUs, so that it does on any
machine).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sha3 import keccak_256

from ledger import hashing
from ledger.hashing import keccak_blob, keccak_blob_later, keccak_each, keccak_each_later

SETTINGS = settings(max_examples=60, deadline=None)


def reference(messages: list[bytes], rounds: int = 1) -> bytes:
    digests = []
    for message in messages:
        digest = message
        for _ in range(rounds):
            digest = keccak_256(digest).digest()
        digests.append(digest)
    return b"".join(digests)


@contextmanager
def parallel_split(threshold: int = 2) -> Iterator[None]:
    """Split batches of at least ``threshold`` hashes with the worker, whatever the machine."""
    saved = hashing._threshold, hashing._cpus, hashing._state.broken, os.environ.get(hashing.ENV_SWITCH)
    hashing._threshold = threshold
    hashing._cpus = lambda: 2
    hashing._state.broken = False
    os.environ.pop(hashing.ENV_SWITCH, None)
    try:
        yield
    finally:
        hashing._threshold, hashing._cpus, hashing._state.broken = saved[:3]
        if saved[3] is not None:
            os.environ[hashing.ENV_SWITCH] = saved[3]


@pytest.fixture(autouse=True)
def no_worker_left() -> Iterator[None]:
    yield
    hashing.shutdown()


messages = st.lists(st.binary(max_size=300), max_size=40)
blobs = st.integers(1, 150).flatmap(
    lambda width: st.tuples(
        st.just(width), st.binary(max_size=40 * width).map(lambda b: b[: len(b) // width * width])
    )
)


def test_serial_matches_keccak_256_one_message_at_a_time() -> None:
    batch = [b"", b"abc", bytes(32), bytes(range(256)) * 20]  # the last one is absorbed in many blocks
    assert keccak_each(batch) == reference(batch)
    assert keccak_each(batch, rounds=2) == reference(batch, 2)
    assert keccak_each(iter(batch), rounds=3) == reference(batch, 3)
    assert keccak_each([]) == b""
    blob = bytes(range(200)) + bytes(40)  # trailing zero bytes are part of the last record
    assert keccak_blob(blob, 60) == reference([blob[i : i + 60] for i in range(0, 240, 60)])
    assert keccak_blob(b"", 64) == b""


@SETTINGS
@given(messages, st.integers(1, 3))
def test_split_with_the_worker_is_byte_identical_to_serial(batch: list[bytes], rounds: int) -> None:
    serial = keccak_each(batch, rounds=rounds, parallel=False)
    assert serial == reference(batch, rounds)
    with parallel_split():
        assert keccak_each(batch, rounds=rounds) == serial
        assert keccak_each_later(batch, rounds=rounds).result() == serial
        if len(batch) * rounds >= 2:
            assert hashing._state.worker is not None  # the split did happen


@SETTINGS
@given(blobs, st.integers(1, 2))
def test_fixed_width_records_split_with_the_worker_are_byte_identical(
    blob: tuple[int, bytes], rounds: int
) -> None:
    width, data = blob
    records = [data[i : i + width] for i in range(0, len(data), width)]
    serial = keccak_blob(data, width, rounds=rounds, parallel=False)
    assert serial == reference(records, rounds)
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, width)
    with parallel_split():
        assert keccak_blob(data, width, rounds=rounds) == serial
        assert keccak_blob(rows, width, rounds=rounds) == serial  # a numpy array, read in place
        assert keccak_blob_later(rows, width, rounds=rounds).result() == serial


def test_a_batch_while_another_is_pending_is_hashed_here() -> None:
    first = [bytes([i % 256]) * (i % 70) for i in range(500)]
    second = [bytes([i % 256]) * 64 for i in range(300)]
    with parallel_split():
        pending = keccak_each_later(first, rounds=2)
        assert keccak_each(second) == reference(second)  # the worker is busy: serially
        assert keccak_blob(b"".join(second), 64) == reference(second)
        assert pending.result() == reference(first, 2)
        assert pending.result() == reference(first, 2)
        assert keccak_each(second) == reference(second)  # and the worker is free again


def test_a_dead_worker_is_replaced_by_hashing_here_and_not_used_again() -> None:
    batch = [os.urandom(64) for _ in range(400)]
    with parallel_split():
        assert keccak_each(batch) == reference(batch)
        worker = hashing._state.worker
        assert worker is not None
        os.kill(worker.pid, signal.SIGKILL)  # the worker this test's batch started
        worker.wait()
        assert keccak_each(batch) == reference(batch)
        assert hashing._state.broken
        assert not hashing.parallel_available()
        assert keccak_blob(b"".join(batch), 64) == reference(batch)
        assert hashing._state.worker is None


def test_shutdown_stops_the_worker_and_a_later_batch_starts_another() -> None:
    batch = [bytes([i]) * 40 for i in range(100)]
    with parallel_split():
        keccak_each(batch)
        first = hashing._state.worker
        assert first is not None
        assert hashing.worker_cpu_seconds() >= 0.0
        assert hashing.worker_peak_bytes() > 0
        hashing.shutdown()
        assert first.poll() is not None  # exited
        assert hashing._state.worker is None
        assert hashing.worker_cpu_seconds() == 0.0
        assert hashing.worker_peak_bytes() == 0
        assert keccak_each(batch) == reference(batch)
        assert hashing._state.worker is not None
        assert hashing._state.worker is not first


def test_the_environment_switch_and_the_argument_keep_hashing_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    batch = [bytes([i]) * 32 for i in range(100)]
    with parallel_split():
        monkeypatch.setenv(hashing.ENV_SWITCH, "0")
        assert not hashing.parallel_available()
        assert keccak_each(batch) == reference(batch)
        assert hashing._state.worker is None
        monkeypatch.delenv(hashing.ENV_SWITCH)
        assert hashing.parallel_available()
        assert keccak_each(batch, parallel=False) == reference(batch)
        assert keccak_blob_later(b"".join(batch), 32, parallel=False).result() == reference(batch)
        assert hashing._state.worker is None


def test_bad_input_is_refused_before_any_hashing() -> None:
    for parallel in (False, True):
        with parallel_split():
            with pytest.raises(TypeError, match="messages must be bytes, got str"):
                keccak_each([b"a", "b"], parallel=parallel)  # type: ignore[list-item]
            with pytest.raises(TypeError, match="messages must be bytes, got bytearray"):
                keccak_each_later([bytearray(b"a")], parallel=parallel)  # type: ignore[list-item]
            with pytest.raises(ValueError, match="not a whole number of 2-byte records"):
                keccak_blob(b"abc", 2, parallel=parallel)
            with pytest.raises(ValueError, match="width must be a positive int, got 0"):
                keccak_blob(b"", 0, parallel=parallel)
            with pytest.raises(ValueError, match="rounds must be a positive int, got 0"):
                keccak_each([b"a"], rounds=0, parallel=parallel)
            with pytest.raises(TypeError, match="contiguous bytes-like object, got str"):
                keccak_blob("abcd", 2, parallel=parallel)  # type: ignore[arg-type]
        assert hashing._state.worker is None
