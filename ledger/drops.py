"""The pure allocation code of DESIGN §3: weights, the epoch seed, the inputs root, the driving
draw and the co-creation split.

Nothing here touches a database, a chain or the clock: every function is a deterministic function
of its arguments, so settlement, the simulations and the auditor all call this one implementation.

Invariants:

* Every amount is an integer number of base units; nothing is created or lost. For the driving
  pool ``allocated + carry_out == carry_in + budget`` (``budget`` being the emission of the
  epoch's 144 slots) and, per slot, ``share * shares_per_drop + carry == emission + carry``
  carried into it. For co-creation ``allocated + carry_out == budget`` (``budget`` including the
  carry) and the floor dust carried is less than the number of accounts with points.
* The result depends on the *set* of inputs, never on their order: cars are drawn in ascending
  order of their id's UTF-8 bytes, ownership is looked up by slot, and the inputs root sorts its
  leaves (OpenZeppelin ``StandardMerkleTree`` layout). (Only the iteration order of co-creation
  credits follows the order of the points given; no amount does.)
* A car of zero weight never wins; a car of positive weight must have an owner from the epoch's
  first slot on, so every share it wins has exactly one beneficiary (the owner at that slot).
* Accounts are held in EIP-55 checksummed form (validated on construction of the inputs), so
  credits merge across letter case and match ``ledger.merkle.MerkleTree`` entries.
* ``r = keccak256(abi.encode(seed, slot, j)) % W`` has a modulo bias below ``W / 2**256``,
  negligible for any real fleet's total weight.

The ABI encodings of the static tuples hashed here are spelt out as 32-byte words because
``eth_abi.encode`` costs tens of microseconds a call, more than the two keccaks of a leaf; the
tests cross-check every layout against ``eth_abi``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate, compress, filterfalse, islice, pairwise, repeat
from operator import attrgetter, eq, floordiv
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt
from sha3 import keccak_256

from ledger.errors import ValidationError
from ledger.hashing import Pending, keccak_blob, keccak_blob_later, keccak_each, keccak_each_later

# The private names are merkle's verified-address cache and tree helpers, shared by design.
from ledger.merkle import (
    _CHECKSUMMED,
    MerkleError,
    _address_bytes,
    _gc_paused,
    _root_over,
    _sorted_descending,
    _tree_over,
    _uint256_words,
    keccak256,
    normalize_address,
    normalize_addresses,
)
from ledger.schedule import Pool, available, epoch_slots, slot_budget

__all__ = [
    "EMPTY_ROOT",
    "LEAF_CAR_WEIGHT",
    "LEAF_OWNERSHIP",
    "LEAF_POINTS",
    "SHARES_PER_DROP",
    "WEIGHT_CAP_METRES",
    "CarInput",
    "CocreationResult",
    "DrivingResult",
    "OwnershipSpan",
    "PointsInput",
    "SlotDraw",
    "car_weight_leaf",
    "commitment",
    "draw_driving",
    "drop_random",
    "epoch_seed",
    "inputs_root",
    "normalize_weight",
    "ownership_leaf",
    "points_leaf",
    "root_of_leaves",
    "split_cocreation",
    "tree_of_leaves",
]

WEIGHT_CAP_METRES: Final = 5_000_000
SHARES_PER_DROP: Final = 100
# Root of an epoch with no inputs at all. The contract rejects a zero *reward* root only; a zero
# inputsRoot is accepted, and the seed is still keccak256(secret ‖ 0x00…00), so unpredictable.
EMPTY_ROOT: Final = bytes(32)
# Leaf type tags (the leading uint8 of each leaf's encoding): they keep the three kinds of leaf
# from ever colliding with one another, whatever their other fields.
LEAF_CAR_WEIGHT: Final = 0
LEAF_OWNERSHIP: Final = 1
LEAF_POINTS: Final = 2

_UINT256_LIMIT: Final = 1 << 256
_ADDRESS_PAD: Final = bytes(12)
_Input = TypeVar("_Input", "CarInput", "OwnershipSpan", "PointsInput")


# --- validation ---------------------------------------------------------------------------------


def _check_uint(name: str, value: object, *, minimum: int = 0) -> int:
    if type(value) is int and minimum <= value < _UINT256_LIMIT:
        return value  # the common case, in a few bytecodes: inputs come by the million
    # bool is an int subclass; True as an amount is a bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{name} must be an int, got {type(value).__name__}")
    if not minimum <= value < _UINT256_LIMIT:
        raise ValidationError(f"{name} must be in [{minimum}, 2**256), got {value}")
    return value


def _check_bytes32(name: str, value: object) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValidationError(f"{name} must be 32 bytes, got {value!r}")
    return value


def _check_car_id(car_id: object) -> str:
    if type(car_id) is str and car_id and car_id.isascii():
        return car_id  # ASCII has no surrogates
    if not isinstance(car_id, str) or not car_id:
        raise ValidationError(f"car_id must be a non-empty str, got {car_id!r}")
    try:
        car_id.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates have no UTF-8 bytes to hash or sort by
        raise ValidationError(f"car_id {car_id!r} is not valid Unicode") from exc
    return car_id


def _check_account(account: object) -> str:
    if type(account) is str and account in _CHECKSUMMED:
        return account
    try:
        return normalize_address(account)
    except MerkleError as exc:
        raise ValidationError(str(exc)) from exc


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


# Batch construction: inputs come by the million (``EpochInputs.from_json`` rebuilds them for every
# settlement step), and a dataclass's __init__ and __post_init__ cost about a microsecond an object.
# When every field of the batch is well-typed and valid, checked in whole-list passes, the objects are
# made without them; otherwise the batch is made one object at a time, which raises exactly what the
# first bad object raises.


def _usual_car_ids(car_ids: Sequence[object]) -> bool:
    # Non-empty ASCII str: what the constructors' own fast path accepts.
    return not set(map(type, car_ids)) - {str} and all(car_ids) and all(map(str.isascii, car_ids))  # type: ignore[arg-type]


def _usual_uints(values: Sequence[object]) -> bool:
    if set(map(type, values)) - {int}:
        return False
    ints: Sequence[int] = values  # type: ignore[assignment]
    return not ints or (min(ints) >= 0 and max(ints) < _UINT256_LIMIT)


def _usual_accounts(accounts: Sequence[object]) -> list[str] | None:
    """The checksummed accounts, or ``None`` if any is not a well-formed address."""
    if set(map(type, accounts)) - {str}:
        return None
    try:
        return normalize_addresses(accounts)
    except MerkleError:
        return None


def _same_length(*columns: Sequence[object]) -> int:
    count = len(columns[0])
    if any(len(column) != count for column in columns):
        raise ValueError(f"columns of different lengths: {[len(column) for column in columns]}")
    return count


def _assemble(cls: type[_Input], count: int, **columns: Sequence[Any]) -> list[_Input]:
    """``count`` instances of the slots dataclass ``cls`` with the given, already valid, fields, set
    through the slots' descriptors (as the frozen dataclass's own ``object.__setattr__`` does)."""
    with _gc_paused():  # a collection would walk the million new objects again: none is garbage
        made: list[_Input] = list(map(object.__new__, repeat(cls, count)))
        for name, values in columns.items():
            deque(map(vars(cls)[name].__set__, made, values), maxlen=0)
    return made


# --- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarInput:
    """An eligible car and its integer weight for the epoch (already normalised)."""

    car_id: str
    weight: int

    def __post_init__(self) -> None:
        # The checks' fast paths inlined (here and below): inputs are built by the million.
        car_id, weight = self.car_id, self.weight
        if not (type(car_id) is str and car_id and car_id.isascii()):
            _check_car_id(car_id)
        if not (type(weight) is int and 0 <= weight < _UINT256_LIMIT):
            _check_uint("weight", weight)

    @classmethod
    def batch(cls, car_ids: Sequence[str], weights: Sequence[int]) -> list[CarInput]:
        """``[CarInput(c, w) for c, w in zip(car_ids, weights)]``, with the same checks and errors,
        made in whole-list passes (``ValueError`` if the columns differ in length)."""
        count = _same_length(car_ids, weights)
        if _usual_car_ids(car_ids) and _usual_uints(weights):
            return _assemble(cls, count, car_id=car_ids, weight=weights)
        return [cls(car_id, weight) for car_id, weight in zip(car_ids, weights, strict=True)]


@dataclass(frozen=True, slots=True)
class OwnershipSpan:
    """``account`` owns ``car_id`` from absolute slot ``from_slot`` until the car's next span.

    The account is stored EIP-55 checksummed. That costs a keccak per span, so callers drawing
    many epochs build the (epoch-independent) ownership history once and reuse it."""

    car_id: str
    account: str
    from_slot: int

    def __post_init__(self) -> None:
        car_id, account, from_slot = self.car_id, self.account, self.from_slot
        if not (type(car_id) is str and car_id and car_id.isascii()):
            _check_car_id(car_id)
        checksummed = account if type(account) is str and account in _CHECKSUMMED else _check_account(account)
        if checksummed is not account:
            object.__setattr__(self, "account", checksummed)
        if not (type(from_slot) is int and 0 <= from_slot < _UINT256_LIMIT):
            _check_uint("from_slot", from_slot)

    @classmethod
    def batch(
        cls, car_ids: Sequence[str], accounts: Sequence[str], from_slots: Sequence[int]
    ) -> list[OwnershipSpan]:
        """``[OwnershipSpan(c, a, s) for c, a, s in zip(...)]``, with the same checks, errors and
        checksummed accounts, made in whole-list passes (``ValueError`` if the columns differ in
        length)."""
        count = _same_length(car_ids, accounts, from_slots)
        if _usual_car_ids(car_ids) and _usual_uints(from_slots):
            checksummed = _usual_accounts(accounts)
            if checksummed is not None:
                return _assemble(cls, count, car_id=car_ids, account=checksummed, from_slot=from_slots)
        return [cls(c, a, s) for c, a, s in zip(car_ids, accounts, from_slots, strict=True)]


@dataclass(frozen=True, slots=True)
class PointsInput:
    """Co-creation points ``account`` earned in the epoch (after task caps)."""

    account: str
    points: int

    def __post_init__(self) -> None:
        account, points = self.account, self.points
        checksummed = account if type(account) is str and account in _CHECKSUMMED else _check_account(account)
        if checksummed is not account:
            object.__setattr__(self, "account", checksummed)
        if not (type(points) is int and 0 <= points < _UINT256_LIMIT):
            _check_uint("points", points)

    @classmethod
    def batch(cls, accounts: Sequence[str], points: Sequence[int]) -> list[PointsInput]:
        """``[PointsInput(a, p) for a, p in zip(accounts, points)]``, with the same checks, errors and
        checksummed accounts, made in whole-list passes (``ValueError`` if the columns differ in
        length)."""
        count = _same_length(accounts, points)
        if _usual_uints(points):
            checksummed = _usual_accounts(accounts)
            if checksummed is not None:
                return _assemble(cls, count, account=checksummed, points=points)
        return [cls(account, p) for account, p in zip(accounts, points, strict=True)]


def normalize_weight(valid_metres: int, cap_metres: int = WEIGHT_CAP_METRES) -> int:
    """A car's draw weight from its valid trailing-720-hour mileage: linear up to the cap, flat
    beyond it, so that stones do not reward wasteful driving. The cap goes into the manifest."""
    if (
        type(valid_metres) is int
        and type(cap_metres) is int
        and 0 <= valid_metres < _UINT256_LIMIT
        and 1 <= cap_metres < _UINT256_LIMIT
    ):
        return min(valid_metres, cap_metres)  # the checks' fast paths inlined: called once a car
    _check_uint("valid_metres", valid_metres)
    _check_uint("cap_metres", cap_metres, minimum=1)
    return min(valid_metres, cap_metres)


# --- seed ---------------------------------------------------------------------------------------


def commitment(secret: bytes) -> bytes:
    """What the operator commits before the epoch: ``keccak256(abi.encode(bytes32 secret))``."""
    return keccak256(_check_bytes32("secret", secret))


def epoch_seed(secret: bytes, inputs_root: bytes) -> bytes:
    """``keccak256(abi.encode(bytes32 secret, bytes32 inputsRoot))``: neither the operator (who
    committed the secret before the inputs existed) nor the inputs alone decide it."""
    return keccak256(_check_bytes32("secret", secret) + _check_bytes32("inputs_root", inputs_root))


# --- inputs root --------------------------------------------------------------------------------


def _car_key(car_id: str) -> bytes:
    digest: bytes = keccak_256(car_id.encode("utf-8")).digest()
    return digest


def _double_hash(encoded: bytes) -> bytes:
    # Double hashing as StandardMerkleTree does: a leaf is a hash of 32 bytes, an inner node of
    # 64, so no inner node can be passed off as a leaf.
    digest: bytes = keccak_256(keccak_256(encoded).digest()).digest()
    return digest


def _car_weight_leaf(key: bytes, weight: int) -> bytes:
    return _double_hash(_word(LEAF_CAR_WEIGHT) + key + _word(weight))


def _ownership_leaf(key: bytes, span: OwnershipSpan) -> bytes:
    address = _ADDRESS_PAD + bytes.fromhex(span.account[2:])
    return _double_hash(_word(LEAF_OWNERSHIP) + key + address + _word(span.from_slot))


def car_weight_leaf(car: CarInput) -> bytes:
    """``keccak256(keccak256(abi.encode(uint8 0, bytes32 keccak256(car_id), uint256 weight)))``."""
    return _car_weight_leaf(_car_key(car.car_id), car.weight)


def ownership_leaf(span: OwnershipSpan) -> bytes:
    """``keccak256(keccak256(abi.encode(uint8 1, bytes32 keccak256(car_id), address account,
    uint256 from_slot)))``."""
    return _ownership_leaf(_car_key(span.car_id), span)


def points_leaf(entry: PointsInput) -> bytes:
    """``keccak256(keccak256(abi.encode(uint8 2, address account, uint256 points)))``."""
    address = _ADDRESS_PAD + bytes.fromhex(entry.account[2:])
    return _double_hash(_word(LEAF_POINTS) + address + _word(entry.points))


def tree_of_leaves(leaf_hashes: Iterable[bytes]) -> list[bytes]:
    """OpenZeppelin ``StandardMerkleTree``'s node array over ready-made leaf hashes: leaves sorted
    ascending, stored from the end backwards, root at 0, children of ``i`` at ``2i+1``, ``2i+2``.
    Empty input gives an empty array."""
    leaves = list(leaf_hashes)
    # Checked with C-level passes: this runs over millions of leaves.
    if set(map(type, leaves)) - {bytes} or set(map(len, leaves)) - {32}:
        raise ValidationError("leaf hashes must be 32-byte bytes values")
    return _tree_over(_sorted_descending(b"".join(leaves))) if leaves else []


def root_of_leaves(leaf_hashes: Iterable[bytes]) -> bytes:
    """The root of :func:`tree_of_leaves`, or :data:`EMPTY_ROOT` for no leaves."""
    tree = tree_of_leaves(leaf_hashes)
    return tree[0] if tree else EMPTY_ROOT


def _require_unique(kind: str, keys: Iterable[object]) -> None:
    listed = list(keys)
    if len(set(listed)) == len(listed):
        return
    seen: set[object] = set()
    for key in listed:
        if key in seen:
            raise ValidationError(f"duplicate {kind} {key!r}")
        seen.add(key)


def _leaf_rows(count: int, width: int, tag: int) -> npt.NDArray[np.uint8]:
    """``count`` zeroed leaf preimages of ``width`` bytes, each starting with the word ``uint8 tag``."""
    rows = np.zeros((count, width), dtype=np.uint8)
    rows[:, 31] = tag
    return rows


def inputs_root(
    cars: Sequence[CarInput], ownership: Sequence[OwnershipSpan], points: Sequence[PointsInput]
) -> bytes:
    """``inputsRoot_e``: the root over every car weight, ownership span and points leaf of the epoch.

    Raises :class:`ValidationError` on a duplicate car id, two spans of one car from the same
    slot, or an account listed twice in ``points``: each would make the inputs ambiguous."""
    car_ids = list(map(attrgetter("car_id"), cars))
    # A car's id hash is shared by its weight leaf and its ownership leaves: hashed once, by the
    # worker process while this one checks the inputs and lays out the other words of the leaves.
    car_keys = keccak_each_later(list(map(str.encode, car_ids)))
    try:
        return _inputs_root(cars, ownership, points, car_ids, car_keys)
    finally:
        car_keys.result()  # collected even when the inputs are refused


def _inputs_root(
    cars: Sequence[CarInput],
    ownership: Sequence[OwnershipSpan],
    points: Sequence[PointsInput],
    car_ids: list[str],
    car_keys: Pending,
) -> bytes:
    # No garbage collection while the million-element lists and tuples are made: none is garbage.
    with _gc_paused():
        _require_unique("car id", car_ids)
        span_ids = list(map(attrgetter("car_id"), ownership))
        # Spans listed like the cars (one a car, in the same order: the usual epoch, and no pass over
        # the strings when they are the same objects) are distinct since the cars are.
        aligned = span_ids == car_ids
        if not aligned and len(set(span_ids)) < len(span_ids):
            _require_unique("ownership span", map(attrgetter("car_id", "from_slot"), ownership))
        accounts = list(map(attrgetter("account"), points))
        _require_unique("points account", accounts)
        # The same leaves as car_weight_leaf, ownership_leaf and points_leaf, for all inputs at once:
        # preimages laid out as numpy rows of 32-byte words and hashed as batches (ledger.hashing),
        # with the worker process hashing one batch while this process lays out (or hashes) another.
        try:
            points_rows = _leaf_rows(len(points), 96, LEAF_POINTS)
            points_rows[:, 44:64] = _address_bytes(accounts)
            points_rows[:, 64:] = _uint256_words(list(map(attrgetter("points"), points)))
            span_rows = _leaf_rows(len(ownership), 128, LEAF_OWNERSHIP)
            span_rows[:, 76:96] = _address_bytes(list(map(attrgetter("account"), ownership)))
            span_rows[:, 96:] = _uint256_words(list(map(attrgetter("from_slot"), ownership)))
            car_rows = _leaf_rows(len(cars), 96, LEAF_CAR_WEIGHT)
            car_rows[:, 64:] = _uint256_words(list(map(attrgetter("weight"), cars)))
            if not aligned:  # each span's car in ``car_ids``, or after them for cars not in ``cars``
                row_of = dict(zip(car_ids, range(len(car_ids)), strict=True))
                others = sorted(set(span_ids).difference(row_of))
                row_of.update(zip(others, range(len(car_ids), len(car_ids) + len(others)), strict=True))
                span_rows_of = np.fromiter(
                    map(row_of.__getitem__, span_ids), dtype=np.intp, count=len(span_ids)
                )
                del row_of
        finally:
            keys = np.frombuffer(car_keys.result(), dtype=np.uint8).reshape(-1, 32)
        car_rows[:, 32:64] = keys
        car_leaves = keccak_blob_later(car_rows, 96, rounds=2)
        try:
            if aligned:
                span_rows[:, 32:64] = keys
            else:
                more = keccak_each(list(map(str.encode, others)))
                keys = np.concatenate((keys, np.frombuffer(more, dtype=np.uint8).reshape(-1, 32)))
                span_rows[:, 32:64] = keys[span_rows_of]
            del car_ids, span_ids, keys
            span_leaves = keccak_blob(span_rows, 128, rounds=2)  # here, while the worker has the cars
            del span_rows
        finally:
            car_weight_leaves = car_leaves.result()
        del car_rows
        points_leaves = keccak_blob(points_rows, 96, rounds=2)
        del points_rows

        leaves = car_weight_leaves + span_leaves + points_leaves
        del car_weight_leaves, span_leaves, points_leaves
        return _root_over(_sorted_descending(leaves)) if leaves else EMPTY_ROOT


# --- the driving draw ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlotDraw:
    """One slot of the draw: ``budget = emission + carry in``; ``share`` per share drawn;
    ``carry`` what the slot passes on (``budget - share * shares_per_drop``).

    ``share`` is 0 when no car has weight, and also when the budget is below ``shares_per_drop``
    base units (only once the pool is all but exhausted); such a slot draws nothing and records
    no wins, which changes no amount of DESIGN §3's loop (it would credit zeros)."""

    slot: int
    emission: int
    budget: int
    share: int
    carry: int

    @property
    def allocated(self) -> int:
        return self.budget - self.carry


@dataclass(frozen=True, slots=True)
class DrivingResult:
    """The driving pool's allocation for one epoch.

    ``budget`` is the emission of the epoch's slots *without* the carry (so that
    ``allocated + carry_out == carry_in + budget``); ``credits`` holds only positive amounts, keyed
    by checksummed account; ``wins[(car_id, slot)]`` is the number of shares the car won in that
    slot, each worth ``slots[slot - first slot].share``.
    """

    epoch: int
    seed: bytes
    shares_per_drop: int
    total_weight: int
    carry_in: int
    budget: int
    allocated: int
    carry_out: int
    slots: tuple[SlotDraw, ...]
    credits: Mapping[str, int]
    wins: Mapping[tuple[str, int], int]

    @property
    def emission(self) -> int:
        """Same as ``budget``; named like :attr:`CocreationResult.emission` for symmetry."""
        return self.budget

    def win_amount(self, car_id: str, slot: int) -> int:
        """Base units the car earned its owner in ``slot`` (0 if it won nothing there)."""
        shares = self.wins.get((car_id, slot), 0)
        return shares * self.slots[slot - self.slots[0].slot].share if shares else 0


def drop_random(seed: bytes, slot: int, j: int) -> int:
    """``uint256(keccak256(abi.encode(bytes32 seed, uint256 slot, uint256 j)))``, the reference
    form of one share's random number (the draw computes the same value incrementally)."""
    _check_bytes32("seed", seed)
    return int.from_bytes(keccak256(seed + _word(_check_uint("slot", slot)) + _word(_check_uint("j", j))))


@lru_cache(maxsize=8)
def _share_words(shares_per_drop: int) -> tuple[bytes, ...]:
    return tuple(_word(j) for j in range(shares_per_drop))


def _slot_winners(seed: bytes, slot: int, cumulative: Sequence[int], shares_per_drop: int) -> Counter[int]:
    total = cumulative[-1]
    # Absorb seed ‖ slot once and fork the sponge per share: only the last word varies with j.
    prefix = keccak_256(seed + _word(slot))
    winners: Counter[int] = Counter()
    for word in _share_words(shares_per_drop):
        sponge = prefix.copy()
        sponge.update(word)
        # First car i with C[i] > r: bisect_right skips zero-weight cars, whose C equals the previous.
        winners[bisect_right(cumulative, int.from_bytes(sponge.digest()) % total)] += 1
    return winners


@dataclass(frozen=True, slots=True)
class _CarTable:
    """The cars in draw order: ``ids[i]`` covers ``[cumulative[i-1], cumulative[i])``."""

    ids: list[str]
    cumulative: list[int]
    positive_ids: list[str]

    @property
    def total_weight(self) -> int:
        return self.cumulative[-1] if self.cumulative else 0

    @classmethod
    def build(cls, cars: Sequence[CarInput]) -> _CarTable:
        # map/attrgetter/accumulate/compress keep the per-car work in C: a million cars is the
        # expected fleet, and a Python-level loop per car would dominate the 14,400-hash draw.
        # Code-point order of str equals byte order of UTF-8 (a design property of UTF-8;
        # surrogates, its one exception, are rejected by CarInput), so no encodes to sort.
        ordered = sorted(cars, key=attrgetter("car_id"))
        ids = list(map(attrgetter("car_id"), ordered))
        if any(map(eq, ids, islice(ids, 1, None))):
            _require_unique("car id", ids)
        weights = list(map(attrgetter("weight"), ordered))
        return cls(ids, list(accumulate(weights)), list(compress(ids, weights)))


class _Owners:
    """Ownership history by car, answering "who owned this car at slot s".

    Built for a million spans in a few C-level passes: almost every car has a single span, so
    only resold cars get a sorted history list.
    """

    def __init__(self, spans: Sequence[OwnershipSpan], ids: list[str]) -> None:
        """``ids``: the cars in draw order. Spans listed exactly like them (one a car, the usual
        epoch) are looked up by the car's position, without a dict of a million spans."""
        span_ids = list(map(attrgetter("car_id"), spans))
        self._aligned: Sequence[OwnershipSpan] | None = spans if span_ids == ids else None
        self._span_ids = span_ids
        self._first: dict[str, OwnershipSpan] = {}
        self._resold: dict[str, list[OwnershipSpan]] = {}
        if self._aligned is not None:
            return
        # Reversed, so that for a resold car the dict keeps the span listed first; the earliest
        # one is fixed up from its history below.
        backwards = spans[::-1]
        self._first = dict(zip(span_ids[::-1], backwards, strict=True))
        if len(self._first) < len(spans):
            self._index_resold(spans)

    def _index_resold(self, spans: Sequence[OwnershipSpan]) -> None:
        counts = Counter(span.car_id for span in spans)
        for span in spans:
            if counts[span.car_id] > 1:
                self._resold.setdefault(span.car_id, []).append(span)
        for car_id, history in self._resold.items():
            history.sort(key=attrgetter("from_slot"))
            for earlier, later in pairwise(history):
                if earlier.from_slot == later.from_slot:
                    raise ValidationError(f"two owners of car {car_id!r} from slot {later.from_slot}")
            self._first[car_id] = history[0]

    def require_owned(self, car_ids: list[str], slot: int) -> None:
        """Fail unless every car in ``car_ids`` has an owner at ``slot`` (hence at every later
        slot: a span lasts until the car's next one)."""
        if self._aligned is not None:  # every car has its one span
            missing: list[str] = []
            car_of_span = self._span_ids
            from_slots = map(attrgetter("from_slot"), self._aligned)
        else:
            first = self._first
            missing = list(filterfalse(first.__contains__, car_ids))
            spans = list(first.values())
            car_of_span = list(map(attrgetter("car_id"), spans))
            from_slots = map(attrgetter("from_slot"), spans)
        # Cars first owned after ``slot`` are few (new registrations), so find them from the spans
        # and intersect, rather than look up every car's first span.
        late = set(compress(car_of_span, map(slot.__lt__, from_slots)))
        if late:
            missing += sorted(late.intersection(car_ids))
        if missing:
            raise ValidationError(
                f"{len(missing)} car(s) with weight have no owner at slot {slot}: {missing[:5]}"
            )

    def owner_at(self, car_id: str, slot: int, index: int) -> str:
        """The owner of ``car_id``, the car at ``index`` in draw order, at ``slot``."""
        history = [self._aligned[index]] if self._aligned is not None else None
        for span in reversed(history or self._resold.get(car_id) or [self._first[car_id]]):
            if span.from_slot <= slot:
                return span.account
        raise ValidationError(f"car {car_id!r} has no owner at slot {slot}")


def _validate_draw_args(epoch: int, seed: bytes, carry_in: int, shares_per_drop: int) -> None:
    _check_uint("epoch", epoch)
    _check_bytes32("seed", seed)
    _check_uint("carry_in", carry_in)
    _check_uint("shares_per_drop", shares_per_drop, minimum=1)


def draw_driving(
    epoch: int,
    seed: bytes,
    cars: Sequence[CarInput],
    ownership: Sequence[OwnershipSpan],
    carry_in: int,
    shares_per_drop: int = SHARES_PER_DROP,
) -> DrivingResult:
    """The driving pool's draw for ``epoch``, exactly DESIGN §3.

    ``ownership`` may hold spans of cars not in ``cars`` (ignored). Raises
    :class:`ValidationError` on a duplicate car id, two spans of one car from the same slot, or a
    car of positive weight with no owner at the epoch's first slot."""
    _validate_draw_args(epoch, seed, carry_in, shares_per_drop)
    with _gc_paused():  # tables of a million cars and spans: none of it is garbage
        table = _CarTable.build(cars)
        slot_range = epoch_slots(epoch)
        owners = _Owners(ownership, table.ids)
        owners.require_owned(table.positive_ids, slot_range.start)

    carry = carry_in
    slots: list[SlotDraw] = []
    credits: dict[str, int] = {}
    wins: dict[tuple[str, int], int] = {}
    for slot in slot_range:
        draw = _slot_draw(slot, carry, table.total_weight, shares_per_drop)
        slots.append(draw)
        carry = draw.carry
        if draw.share:
            _credit_slot(
                draw,
                _slot_winners(seed, slot, table.cumulative, shares_per_drop),
                table,
                owners,
                credits,
                wins,
            )

    emitted = sum(draw.emission for draw in slots)
    return DrivingResult(
        epoch=epoch,
        seed=seed,
        shares_per_drop=shares_per_drop,
        total_weight=table.total_weight,
        carry_in=carry_in,
        budget=emitted,
        allocated=carry_in + emitted - carry,
        carry_out=carry,
        slots=tuple(slots),
        credits={account: credits[account] for account in sorted(credits)},
        wins=wins,
    )


def _slot_draw(slot: int, carry_in: int, total_weight: int, shares_per_drop: int) -> SlotDraw:
    emission = slot_budget(Pool.DRIVING, slot)
    budget = emission + carry_in
    if total_weight == 0:
        return SlotDraw(slot, emission, budget, 0, budget)
    share, carry = divmod(budget, shares_per_drop)
    return SlotDraw(slot, emission, budget, share, carry)


def _credit_slot(
    draw: SlotDraw,
    winners: Counter[int],
    table: _CarTable,
    owners: _Owners,
    credits: dict[str, int],
    wins: dict[tuple[str, int], int],
) -> None:
    for index, count in sorted(winners.items()):
        car_id = table.ids[index]
        owner = owners.owner_at(car_id, draw.slot, index)
        wins[(car_id, draw.slot)] = count
        credits[owner] = credits.get(owner, 0) + count * draw.share


# --- co-creation --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CocreationResult:
    """The co-creation pool's split for one epoch.

    ``budget`` *includes* the carry (DESIGN §3's wording), so ``allocated + carry_out == budget``;
    ``credits`` holds only positive amounts, keyed by checksummed account."""

    epoch: int
    carry_in: int
    budget: int
    total_points: int
    allocated: int
    carry_out: int
    credits: Mapping[str, int]

    @property
    def emission(self) -> int:
        """The epoch's own emission, without the carry."""
        return self.budget - self.carry_in


def split_cocreation(epoch: int, points: Sequence[PointsInput], carry_in: int) -> CocreationResult:
    """Pro-rata split of the epoch's co-creation budget by points; floor dust (fewer base units
    than accounts with points) and the whole budget of a pointless epoch carry forward.

    ``credits`` lists the accounts in the order of ``points`` (settlement's are sorted by account, as
    ``EpochInputs`` stores them); what each account gets does not depend on that order.

    Raises :class:`ValidationError` when an account is listed twice."""
    _check_uint("epoch", epoch)
    _check_uint("carry_in", carry_in)
    with _gc_paused():
        accounts = list(map(attrgetter("account"), points))
        if len(set(accounts)) < len(accounts):
            _require_unique("points account", accounts)
        shares = list(map(attrgetter("points"), points))
    slot_range = epoch_slots(epoch)
    emission = available(Pool.COCREATION, slot_range.stop) - available(Pool.COCREATION, slot_range.start)
    budget = emission + carry_in
    total_points = sum(shares)
    credits: dict[str, int] = {}
    if total_points:
        # budget * points // total_points for each account, in C-level passes; zeros are left out.
        amounts = list(map(floordiv, map(budget.__mul__, shares), repeat(total_points)))
        with _gc_paused():
            credits = dict(compress(zip(accounts, amounts, strict=True), amounts))
    allocated = sum(credits.values())
    return CocreationResult(
        epoch=epoch,
        carry_in=carry_in,
        budget=budget,
        total_points=total_points,
        allocated=allocated,
        carry_out=budget - allocated,
        credits=credits,
    )
