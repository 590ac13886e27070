"""keccak256 of many messages at once, split between this process and a worker process when it pays.

Settlement hashes about fourteen million short messages for a million accounts (EIP-55 checksums, car
id keys, double-hashed leaves, inner nodes). safe-pysha3's ``keccak_256`` spends about 1 µs a call on
this machine, under half of it the permutation and the rest per-call overhead, and it holds the GIL for
short messages, so threads do not help. A second *process* does: a batch of at least
:data:`PARALLEL_THRESHOLD` hashes, when more than one CPU is available to this process, is split: one
worker process hashes the later part while this one hashes the first, and the digests are joined.

Invariants:

* The result is byte-identical to the serial path (``b"".join`` of each message's digest, in input
  order), whatever the split; the tests check it for random batches.
* The worker is a separate interpreter (``python -c``, started with :mod:`subprocess`, so never a
  ``fork`` of a process that may have threads, and never a re-import of the caller's ``__main__`` as
  :mod:`multiprocessing`'s ``spawn`` and ``forkserver`` workers do), started lazily, reused, and
  stopped at exit. It runs only this module (safe-pysha3 and numpy), reading length-prefixed
  batches from a pipe and writing their digests back. If it cannot start or dies, the batch is
  hashed here and the worker is not used again in this process.
* One batch at a time uses the worker; a batch from another thread meanwhile is hashed serially.
* ``YUANSHI_HASH_WORKERS=0`` in the environment, or ``parallel=False``, keeps everything serial.
"""

from __future__ import annotations

import atexit
import os
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from sha3 import keccak_256

__all__ = [
    "PARALLEL_THRESHOLD",
    "Blob",
    "Pending",
    "keccak_blob",
    "keccak_blob_later",
    "keccak_each",
    "keccak_each_later",
    "parallel_available",
    "shutdown",
    "worker_cpu_seconds",
    "worker_peak_bytes",
]

# Below this many hashes (messages x rounds) a batch is hashed here: starting the worker costs a few
# tenths of a second once, a round trip about a millisecond, the hashes about 1 µs each.
PARALLEL_THRESHOLD: Final = 100_000
ENV_SWITCH: Final = "YUANSHI_HASH_WORKERS"
DIGEST_SIZE: Final = 32
# The share of a split batch the worker hashes: a little under half, as the worker also reads its part
# from the pipe and writes the digests back.
_WORKER_SHARE: Final = 0.45
# A request: width (0 for a list of messages of any length), rounds, count, payload bytes. A list's
# payload is preceded by ``count`` little-endian uint32 lengths.
_HEADER: Final = struct.Struct("<4Q")
_PACKAGE_ROOT: Final = str(Path(__file__).resolve().parent.parent)
_WORKER_CODE: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); from ledger.hashing import _serve; _serve()"
)
_digest = keccak_256.digest
_copy = keccak_256.copy
_update = keccak_256.update
_PROTOTYPE: Final = keccak_256()  # never updated: only copied
_CHUNK: Final = 1024

# What a batch of fixed-width messages may be passed as (a contiguous buffer, read in place).
Blob = bytes | bytearray | memoryview | npt.NDArray[np.uint8]

_threshold = PARALLEL_THRESHOLD  # tests lower it to exercise the split on small batches


class _State:
    """The worker process of this process, if started, and whether it failed."""

    def __init__(self) -> None:
        self.start_lock = threading.Lock()  # held to start or stop the worker
        self.busy = threading.Lock()  # held by the one batch using the worker
        self.worker: subprocess.Popen[bytes] | None = None
        self.broken = False


_state = _State()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def parallel_available() -> bool:
    """Whether large batches are split with a worker process: more than one CPU for this process, not
    switched off by ``YUANSHI_HASH_WORKERS=0``, and no failure of the worker before."""
    return not _state.broken and os.environ.get(ENV_SWITCH, "").strip() != "0" and _cpus() > 1


# --- hashing, here and in the worker ------------------------------------------------------------------


def _records(blob: bytes | memoryview, width: int, start: int = 0, stop: int | None = None) -> list[bytes]:
    """Records ``start`` to ``stop`` of the ``width``-byte records of ``blob``, as bytes objects
    (numpy's void items keep every byte, trailing zeros included, unlike its ``S`` strings), in about
    0.1 µs each."""
    stop = len(blob) // width if stop is None else stop
    view = np.frombuffer(blob, dtype=f"V{width}", count=stop - start, offset=start * width)
    records: list[bytes] = view.tolist()
    return records


def _split_by_lengths(payload: bytes, lengths: list[int]) -> list[bytes]:
    ends = np.cumsum(lengths, dtype=np.int64).tolist()
    return list(map(payload.__getitem__, map(slice, [0, *ends[:-1]], ends)))


def _digests(messages: Sequence[bytes]) -> list[bytes]:
    """Each message's keccak256 digest. Copying an empty sponge and updating it costs less than the
    constructor's argument parsing (about a fifth of the time a hash takes here), so messages go a
    chunk at a time: copies of the prototype, each absorbs its message, then the digests."""
    digests: list[bytes] = []
    extend = digests.extend
    for start in range(0, len(messages), _CHUNK):
        chunk = messages[start : start + _CHUNK]
        sponges = list(map(_copy, repeat(_PROTOTYPE, len(chunk))))
        deque(map(_update, sponges, chunk), maxlen=0)
        extend(map(_digest, sponges))
    return digests


def _hash_messages(messages: Sequence[bytes], rounds: int) -> bytes:
    for _ in range(rounds - 1):
        messages = _digests(messages)
    return b"".join(_digests(messages))


def _serve() -> None:
    """The worker's loop: a request from stdin, its digests to stdout, until stdin closes."""
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the replies
    while header := requests.read(_HEADER.size):
        width, rounds, count, size = _HEADER.unpack(header)
        if width:
            messages = _records(requests.read(size), width)
        else:
            lengths = np.frombuffer(requests.read(4 * count), dtype="<u4").tolist()
            messages = _split_by_lengths(requests.read(size), lengths)
        replies.write(_hash_messages(messages, rounds))
        replies.flush()


# --- the worker process -------------------------------------------------------------------------------


def _get_worker() -> subprocess.Popen[bytes]:
    with _state.start_lock:
        if _state.worker is None:
            _state.worker = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, _PACKAGE_ROOT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
            )
        return _state.worker


def shutdown() -> None:
    """Stop the worker process, if one is running (registered to run at exit). A later large batch
    starts a new one."""
    with _state.start_lock:
        worker, _state.worker = _state.worker, None
    if worker is None:
        return
    for stream in (worker.stdin, worker.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass
    try:
        worker.wait(timeout=5)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


atexit.register(shutdown)


def worker_peak_bytes() -> int:
    """The running worker process's peak resident set (``VmHWM``) in bytes, 0 without one (Linux's
    ``/proc``; 0 elsewhere)."""
    worker = _state.worker
    if worker is None:
        return 0
    try:
        with open(f"/proc/{worker.pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024  # reported in kB
    except (OSError, ValueError):
        pass
    return 0


def worker_cpu_seconds() -> float:
    """CPU seconds (user and system) the running worker process has used, 0.0 without one: what
    ``time.process_time()`` of this process leaves out (Linux's ``/proc``; 0.0 elsewhere)."""
    worker = _state.worker
    if worker is None:
        return 0.0
    try:
        with open(f"/proc/{worker.pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # utime and stime, the 14th and 15th fields (the 12th and 13th after the command's closing paren).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _give_up() -> None:
    """The worker failed: stop it, and hash everything here from now on."""
    _state.broken = True
    shutdown()


@dataclass(frozen=True)
class _Batch:
    """Messages to hash: ``parts`` is the request the worker reads (header, then payload), ``here()``
    the same messages as bytes objects, to hash in this process when the worker cannot."""

    count: int
    rounds: int
    parts: tuple[bytes | memoryview, ...]
    here: Callable[[], Sequence[bytes]]

    def hash_here(self) -> bytes:
        return _hash_messages(self.here(), self.rounds)


def _list_batch(messages: list[bytes], rounds: int) -> _Batch:
    if len(set(map(len, messages))) == 1 and messages[0]:  # all one length: sent as a blob
        width = len(messages[0])
        return _blob_batch(memoryview(b"".join(messages)), width, rounds, 0, len(messages))
    lengths = np.fromiter(map(len, messages), dtype="<u4", count=len(messages)).tobytes()
    payload = b"".join(messages)
    header = _HEADER.pack(0, rounds, len(messages), len(payload))
    return _Batch(len(messages), rounds, (header, lengths, payload), lambda: messages)


def _blob_batch(view: memoryview, width: int, rounds: int, start: int, stop: int) -> _Batch:
    part = view[start * width : stop * width]
    header = _HEADER.pack(width, rounds, stop - start, len(part))
    return _Batch(stop - start, rounds, (header, part), lambda: _records(view, width, start, stop))


def _send(batch: _Batch) -> subprocess.Popen[bytes] | None:
    """Write ``batch`` to the worker and return the worker, which this caller then owns until
    :func:`_receive`; ``None`` (nothing sent) when the worker is busy with another thread's batch
    or fails. The request is written from this thread before this process hashes anything: the
    hashing loop runs in C without releasing the GIL, so a writer thread would wait for it. The
    worker reads as fast as it is written (only its start, once, makes this wait)."""
    if not _state.busy.acquire(blocking=False):
        return None
    try:
        worker = _get_worker()
        if worker.stdin is None:  # pragma: no cover - a pipe
            raise OSError("the hash worker has no stdin")
        for part in batch.parts:
            worker.stdin.write(part)
        worker.stdin.flush()
    except Exception:
        _state.busy.release()
        _give_up()
        return None
    return worker


def _receive(worker: subprocess.Popen[bytes], batch: _Batch) -> bytes:
    """The digests of a batch :func:`_send` gave ``worker`` (hashed here if the worker died)."""
    size = DIGEST_SIZE * batch.count
    try:
        digests = worker.stdout.read(size) if worker.stdout is not None else b""
    except Exception:
        digests = b""
    finally:
        _state.busy.release()
    if len(digests) != size:
        _give_up()
        return batch.hash_here()
    return digests


class Pending:
    """A batch being hashed by the worker process (or already hashed here): :meth:`result` returns
    its digests. Until then the worker is this batch's alone (other batches are hashed serially),
    so call :meth:`result` soon, and before starting another pending batch."""

    def __init__(self, batch: _Batch, worker: subprocess.Popen[bytes] | None) -> None:
        self._batch = batch
        self._worker = worker
        self._digests: bytes | None = None if worker is not None else batch.hash_here()

    def result(self) -> bytes:
        if self._digests is None:
            worker, self._worker = self._worker, None
            if worker is not None:
                self._digests = _receive(worker, self._batch)
        return self._digests if self._digests is not None else b""


# --- the interface ------------------------------------------------------------------------------------


def _check_rounds(rounds: int) -> None:
    if type(rounds) is not int or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")


def _parallel(count: int, rounds: int, parallel: bool) -> bool:
    return parallel and count * rounds >= _threshold and parallel_available()


def _listed(messages: Iterable[bytes]) -> list[bytes]:
    listed = messages if type(messages) is list else list(messages)
    if set(map(type, listed)) - {bytes}:
        bad = next(m for m in listed if type(m) is not bytes)
        raise TypeError(f"messages must be bytes, got {type(bad).__name__}")
    return listed


def _viewed(blob: Blob, width: int) -> memoryview:
    if type(width) is not int or width < 1:
        raise ValueError(f"width must be a positive int, got {width!r}")
    if isinstance(blob, np.ndarray):  # one flat byte view (a copy only if it is not contiguous)
        blob = np.ascontiguousarray(blob).reshape(-1).view(np.uint8)
    try:
        view = memoryview(blob).cast("B")  # type: ignore[arg-type]  # numpy arrays are buffers
    except TypeError:
        raise TypeError(f"blob must be a contiguous bytes-like object, got {type(blob).__name__}") from None
    if len(view) % width:
        raise ValueError(f"a blob of {len(view)} bytes is not a whole number of {width}-byte records")
    return view


def _split(mine: _Batch, theirs: _Batch) -> bytes:
    """Hash ``theirs`` in the worker while this process hashes ``mine``."""
    worker = _send(theirs)
    if worker is None:
        return mine.hash_here() + theirs.hash_here()
    here = mine.hash_here()
    return here + _receive(worker, theirs)


def keccak_each(messages: Iterable[bytes], *, rounds: int = 1, parallel: bool = True) -> bytes:
    """The concatenated keccak256 digests of ``messages``, in order: 32 bytes each. With ``rounds=2``
    each is ``keccak256(keccak256(m))`` (how OpenZeppelin's trees hash a leaf), and so on.

    A batch of at least :data:`PARALLEL_THRESHOLD` hashes is split with the worker process when
    ``parallel`` is true (the default) and :func:`parallel_available`. Raises ``TypeError`` for a
    message that is not ``bytes``, like ``keccak_256`` itself."""
    _check_rounds(rounds)
    listed = _listed(messages)
    count = len(listed)
    if not _parallel(count, rounds, parallel):
        return _hash_messages(listed, rounds)
    mine = count - int(count * _WORKER_SHARE)
    return _split(_list_batch(listed[:mine], rounds), _list_batch(listed[mine:], rounds))


def keccak_blob(blob: Blob, width: int, *, rounds: int = 1, parallel: bool = True) -> bytes:
    """:func:`keccak_each` of the consecutive ``width``-byte records of ``blob`` (any contiguous
    bytes-like object, such as a numpy array of rows): fixed-width messages, such as 64-byte pairs of
    nodes, passed without a list of a million bytes objects."""
    _check_rounds(rounds)
    view = _viewed(blob, width)
    count = len(view) // width
    if not _parallel(count, rounds, parallel):
        return _hash_messages(_records(view, width), rounds) if count else b""
    mine = count - int(count * _WORKER_SHARE)
    return _split(_blob_batch(view, width, rounds, 0, mine), _blob_batch(view, width, rounds, mine, count))


def keccak_each_later(messages: Iterable[bytes], *, rounds: int = 1, parallel: bool = True) -> Pending:
    """:func:`keccak_each`, the whole batch hashed by the worker process while this one does other
    work (hashed at once, here, when the batch is small or the worker unavailable or busy)."""
    _check_rounds(rounds)
    batch = _list_batch(_listed(messages), rounds)
    parallel = _parallel(batch.count, rounds, parallel)
    return Pending(batch, _send(batch) if parallel else None)


def keccak_blob_later(blob: Blob, width: int, *, rounds: int = 1, parallel: bool = True) -> Pending:
    """:func:`keccak_blob` as :func:`keccak_each_later` does it (the caller must leave ``blob``
    unchanged until the result is in)."""
    _check_rounds(rounds)
    view = _viewed(blob, width)
    count = len(view) // width
    batch = _blob_batch(view, width, rounds, 0, count)
    return Pending(batch, _send(batch) if _parallel(count, rounds, parallel) else None)
