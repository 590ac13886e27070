"""OpenZeppelin ``StandardMerkleTree``-compatible Merkle tree over ``(address, uint256)`` entries.

Reproduces ``StandardMerkleTree.of(values, ["address", "uint256"])`` of
``@openzeppelin/merkle-tree`` 1.0.8 (default ``sortLeaves: true``) byte for byte: the same leaf
hash, the same commutative node hash, the same array layout, the same proofs and the same
``dump()`` JSON. Roots posted on chain therefore verify with OpenZeppelin's ``MerkleProof.verify``
and published dumps load with ``StandardMerkleTree.load``.

Invariants:

* The root is a function of the *set* of entries. Leaves are sorted by hash before layout, so the
  input order shows only in the order of ``values`` in the dump.
* A proof verifies against the root iff its ``(account, amount)`` entry is in the tree (barring a
  keccak256 collision). Each account appears at most once.
* Leaves are double-hashed, ``keccak256(keccak256(abi.encode(account, amount)))``, so a leaf is
  the hash of 32 bytes while an inner node is the hash of 64 bytes: an inner node can never be
  passed off as a leaf (no second-preimage forgery from a 64-byte pair of children).

Speed (``bench/settlement.py`` builds a 1,000,000-account tree): keccak256 is safe-pysha3's
``keccak_256``, and batches go through :mod:`ledger.hashing` (split with a worker process when large);
EIP-55 checksums of many addresses are computed together with numpy (:func:`normalize_addresses`),
and addresses already verified are remembered (a bounded set, cleared when full), since settlement
meets each account several times; leaf preimages are numpy rows of words, leaves are sorted by numpy,
and each run of inner nodes is laid out by numpy and hashed as one batch; the node blob is kept, and
the account index made on first use; the garbage collector is paused while the million containers are
made (none of them is garbage).
"""

from __future__ import annotations

import gc
import re
from binascii import hexlify
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_, itemgetter, not_
from typing import Final, TypedDict, cast

import numpy as np
import numpy.typing as npt
from sha3 import keccak_256

from ledger.hashing import keccak_blob

__all__ = [
    "LEAF_ENCODING",
    "MerkleError",
    "MerkleTree",
    "StandardTreeDump",
    "StandardTreeValue",
    "hash_pair",
    "keccak256",
    "leaf_hash",
    "normalize_address",
    "normalize_addresses",
    "process_proof",
]

LEAF_ENCODING: Final = ("address", "uint256")
_FORMAT: Final = "standard-v1"
_UINT256_LIMIT: Final = 1 << 256
_DECIMAL_RE: Final = re.compile(r"0|[1-9][0-9]*")
_NODE_HEX_RE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS_PAD: Final = bytes(12)
_ADDRESS_PAD_HEX: Final = "00" * 12
# EIP-55 in two byte translations: the hex digest's nibbles 8-f mark their position with 0x80, which is
# ORed into the lowercase hex of the address, and _UPPER_MARKED upper-cases each marked letter (marked
# digits just lose the mark).
_NIBBLE_MARK: Final = bytes(0x80 if chr(c) in "89abcdef" else 0 for c in range(256))
_UPPER_MARKED: Final = bytes(range(128)) + bytes(ord(chr(c).upper()) for c in range(128))
# Addresses already checksummed (in their checksummed form): settlement meets each account several times
# (inputs, allocations, tree), and a keccak per meeting is most of the cost. A str equal to one of them
# is its own checksummed form. A set, as ``issuperset`` checks a million accounts several times faster
# than a dict's lookups. Cleared when full.
_CHECKSUMMED: set[str] = set()
_CHECKSUMMED_LIMIT: Final = 1 << 21
# The value of each ASCII hex digit, 255 for any other byte (normalize_addresses checks with it).
_HEX_VALUE: Final = np.full(256, 255, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_HEX_VALUE[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)


class MerkleError(ValueError):
    """Invalid tree input, dump, proof element or lookup."""


class StandardTreeValue(TypedDict):
    value: list[str]
    treeIndex: int


class StandardTreeDump(TypedDict):
    """JSON shape of OpenZeppelin's ``StandardMerkleTree.dump()``."""

    format: str
    leafEncoding: list[str]
    tree: list[str]
    values: list[StandardTreeValue]


def keccak256(data: bytes) -> bytes:
    # pysha3 directly: eth_hash.auto picks pycryptodome when both are installed, ~8x slower a call.
    digest: bytes = keccak_256(data).digest()
    return digest


def _malformed(account: object) -> MerkleError:
    return MerkleError(f"malformed address {account!r}: expected 0x and 40 hex digits")


def _checksum(raw: bytes) -> str:
    """The EIP-55 form of a 20-byte address: a letter is upper case where the keccak256 nibble of
    the lowercase hex at its position is >= 8."""
    lower = hexlify(raw)
    marks = hexlify(keccak_256(lower).digest()[:20]).translate(_NIBBLE_MARK)
    marked = int.from_bytes(lower, "big") | int.from_bytes(marks, "big")
    return "0x" + marked.to_bytes(40, "big").translate(_UPPER_MARKED).decode("ascii")


def normalize_address(account: object) -> str:
    """Return the EIP-55 checksummed form of a lowercase or correctly checksummed address."""
    if type(account) is str and account in _CHECKSUMMED:
        return account
    if not isinstance(account, str) or len(account) != 42 or account[:2] != "0x":
        raise _malformed(account)
    try:
        raw = bytes.fromhex(account[2:])
    except ValueError:
        raise _malformed(account) from None
    if len(raw) != 20:  # 40 characters with ASCII whitespace, which fromhex skips
        raise _malformed(account)
    checksummed = _checksum(raw)
    # "0x" makes islower() mean "no letter A-F": all lowercase is accepted as it is.
    if account != checksummed and not account.islower():
        raise MerkleError(f"address {account} has a bad EIP-55 checksum (expected {checksummed})")
    if len(_CHECKSUMMED) >= _CHECKSUMMED_LIMIT:
        _CHECKSUMMED.clear()
    _CHECKSUMMED.add(checksummed)
    return checksummed


def normalize_addresses(accounts: Iterable[object]) -> list[str]:
    """:func:`normalize_address` of each account, in order, with the same result and the same error
    (the first bad account's), for many accounts at once: those not met before are checked and
    checksummed together (numpy over the hex digits, the keccaks through :mod:`ledger.hashing`)."""
    listed = accounts if type(accounts) is list else list(accounts)
    if set(map(type, listed)) - {str}:
        return list(map(normalize_address, listed))  # raises for the first account that is not a str
    strings = cast("list[str]", listed)
    if _CHECKSUMMED.issuperset(strings):
        return list(strings)
    known = list(map(_CHECKSUMMED.__contains__, strings))
    positions = None if not any(known) else list(compress(range(len(known)), map(not_, known)))
    todo = strings if positions is None else list(map(strings.__getitem__, positions))
    computed = _checksum_many(todo)
    if computed is None:  # something malformed or a bad checksum: the one-by-one check reports it
        return list(map(normalize_address, listed))
    if len(_CHECKSUMMED) + len(computed) > _CHECKSUMMED_LIMIT:
        _CHECKSUMMED.clear()
    _CHECKSUMMED.update(computed[:_CHECKSUMMED_LIMIT])
    if positions is None:
        return computed
    normalized = list(strings)
    for position, checksummed in zip(positions, computed, strict=True):
        normalized[position] = checksummed
    return normalized


def _checksum_many(accounts: list[str]) -> list[str] | None:
    """The EIP-55 forms of ``accounts``, or ``None`` unless every one is ``0x`` and 40 hex digits,
    all lower case or correctly checksummed."""
    count = len(accounts)
    if set(map(len, accounts)) != {42}:
        return None
    joined = "".join(accounts)
    if not joined.isascii():
        return None
    chars = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(count, 42)
    digits = chars[:, 2:]
    if (chars[:, 0] != ord("0")).any() or (chars[:, 1] != ord("x")).any() or (_HEX_VALUE[digits] > 15).any():
        return None
    lower = digits | 0x20  # digits have the 0x20 bit already; letters A-F become a-f
    hashed = np.frombuffer(keccak_blob(np.ascontiguousarray(lower), 40), dtype=np.uint8).reshape(count, 32)[
        :, :20
    ]
    nibbles = np.empty((count, 40), dtype=np.uint8)
    nibbles[:, 0::2] = hashed >> 4
    nibbles[:, 1::2] = hashed & 0x0F
    # A letter is upper case where the digest's nibble at its position is >= 8.
    checksummed = lower - (((nibbles >= 8) & (lower >= ord("a"))).astype(np.uint8) << 5)
    has_upper = (digits < ord("a")) & (digits >= ord("A"))
    if (has_upper.any(axis=1) & (digits != checksummed).any(axis=1)).any():
        return None
    out = np.empty((count, 43), dtype=np.uint8)
    out[:, :2] = chars[:, :2]
    out[:, 2:42] = checksummed
    out[:, 42] = ord(" ")  # one split() of the whole text makes the million strings
    return out.tobytes().decode("ascii").split()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No garbage collection while a million containers are built: each full collection would walk
    them all again, and none of them is garbage. Restores the collector's previous state."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_amount(amount: object) -> int:
    # bool is an int subclass; True as an amount is a bug, not 1.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise MerkleError(f"amount must be an int, got {type(amount).__name__}")
    if not 0 <= amount < _UINT256_LIMIT:
        raise MerkleError(f"amount {amount} is outside uint256 range [0, 2**256)")
    return amount


def _leaf(address: bytes, amount: int) -> bytes:
    # abi.encode(address, uint256) of two static types is two left-padded words; spelt out
    # because eth_abi.encode costs ~40 us a call, 10x the rest of the leaf (tests cross-check it).
    return keccak256(keccak256(_ADDRESS_PAD + address + amount.to_bytes(32, "big")))


def leaf_hash(account: str, amount: int) -> bytes:
    """The leaf of ``(account, amount)``: ``keccak256(bytes.concat(keccak256(abi.encode(account,
    amount))))``, exactly OpenZeppelin's ``standardLeafHash(["address", "uint256"], ...)``.

    Solidity counterpart: ``RewardLeaf.hash`` in ``contracts/libraries/RewardLeaf.sol``.
    """
    return _leaf(bytes.fromhex(normalize_address(account)[2:]), _check_amount(amount))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative node hash: keccak256 of the two nodes in ascending order (``MerkleProof``)."""
    return keccak256(a + b if a <= b else b + a)


def _check_node(node: object) -> bytes:
    if not isinstance(node, bytes) or len(node) != 32:
        raise MerkleError(f"Merkle nodes must be 32 bytes, got {node!r}")
    return node


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by ``leaf`` and ``proof``, as ``MerkleProof.processProof``."""
    computed = _check_node(leaf)
    for sibling in proof:
        computed = hash_pair(computed, _check_node(sibling))
    return computed


def _sibling(i: int) -> int:
    return i + 1 if i % 2 else i - 1


def proof_from_nodes(nodes: bytes, tree_index: int) -> list[bytes]:
    """The proof of the leaf at ``tree_index`` from a tree stored as its concatenated 32-byte nodes."""
    if len(nodes) % 32 or not 0 <= tree_index < len(nodes) // 32:
        raise MerkleError(f"tree index {tree_index} is outside a tree of {len(nodes) // 32} nodes")
    proof: list[bytes] = []
    i = tree_index
    while i > 0:
        # The sibling of odd i is i + 1, of even i is i - 1; its bytes start 32 times that.
        start = (i + 1 if i & 1 else i - 1) << 5
        proof.append(nodes[start : start + 32])
        i = (i - 1) >> 1
    return proof


def _fill_inner_nodes(nodes: npt.NDArray[np.uint8], leaves: int) -> None:
    """Hash rows ``0 .. leaves - 2`` of ``nodes`` (one 32-byte node a row) in place from the ``leaves``
    leaves stored after them, children of ``i`` at ``2i + 1`` and ``2i + 2`` (OpenZeppelin's layout),
    each node ``hash_pair`` of its children.

    A run of nodes ``[start, stop)`` with ``start = stop // 2`` has its children in the rows
    ``[2 start + 1, 2 stop + 1)``, each node's two side by side and all hashed before the run: the run's
    sorted-pair preimages are made by numpy (the children compared as 32-byte strings, which numpy
    orders as ``bytes`` are ordered, and swapped where the left one is greater) and hashed as one
    batch through :mod:`ledger.hashing`."""
    stop = leaves - 1
    while stop > 0:
        start = stop // 2
        pairs = nodes[2 * start + 1 : 2 * stop + 1].reshape(stop - start, 64)
        left, right = pairs[:, :32], pairs[:, 32:]
        swapped = np.flatnonzero(left.view("S32") > right.view("S32"))  # pairs out of order
        preimages = pairs.copy()
        preimages[swapped, :32] = right[swapped]
        preimages[swapped, 32:] = left[swapped]
        digests = keccak_blob(preimages, 64)
        nodes[start:stop] = np.frombuffer(digests, dtype=np.uint8).reshape(stop - start, 32)
        stop = start


def _sorted_order(leaves: bytes) -> npt.NDArray[np.intp]:
    """The stable ascending order of the 32-byte records of ``leaves``, what
    ``sorted(range(n), key=...)`` gives for the list of them.

    Leaves are hashes, so their first eight bytes almost never tie: the order is that of those bytes
    as big-endian integers (an unstable sort is stable when no keys are equal), checked for ties. On a
    tie, numpy sorts the whole 32-byte strings, which it compares as unsigned bytes, like ``bytes``."""
    prefixes = np.frombuffer(leaves, dtype=">u8")[::4].astype(np.uint64)
    order = np.argsort(prefixes, kind="quicksort")
    ordered = prefixes[order]
    if (ordered[1:] == ordered[:-1]).any():
        return np.argsort(np.frombuffer(leaves, dtype="S32"), kind="stable")
    return order


def _sorted_descending(leaves: bytes) -> bytes:
    """The 32-byte records of ``leaves`` in descending order (ties are equal bytes)."""
    rows = np.frombuffer(leaves, dtype=np.uint8).reshape(-1, 32)
    return rows[_sorted_order(leaves)[::-1]].tobytes()


def _node_array(descending: bytes) -> npt.NDArray[np.uint8]:
    """OpenZeppelin's node array over leaves already sorted and reversed (concatenated, non-empty), one
    node a row: ``n - 1`` inner nodes, then the leaves."""
    n = len(descending) // 32
    nodes = np.empty((2 * n - 1, 32), dtype=np.uint8)
    nodes[n - 1 :] = np.frombuffer(descending, dtype=np.uint8).reshape(n, 32)
    _fill_inner_nodes(nodes, n)
    return nodes


def _node_list(blob: bytes) -> list[bytes]:
    """The 32-byte nodes of a concatenated node array, as bytes objects."""
    nodes: list[bytes] = np.frombuffer(blob, dtype="V32").tolist()  # void items keep trailing zeros
    return nodes


def _tree_over(descending: bytes) -> list[bytes]:
    """:func:`_node_array` as a list of 32-byte nodes."""
    return _node_list(_node_array(descending).tobytes())


def _root_over(descending: bytes) -> bytes:
    """The root (node 0) of :func:`_node_array`."""
    root: bytes = _node_array(descending)[:1].tobytes()
    return root


def _address_bytes(accounts: list[str]) -> npt.NDArray[np.uint8]:
    """The 20 bytes of each well-formed ``0x`` address, one a row (one ``fromhex`` for all: ``x`` is
    not a hex digit, so only the prefixes are removed)."""
    raw = bytes.fromhex("".join(accounts).replace("0x", ""))
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(accounts), 20)


def _uint256_words(values: list[int], largest: int | None = None) -> npt.NDArray[np.uint8]:
    """``abi.encode(uint256)`` of each value in ``[0, 2**256)``, one 32-byte big-endian word a row
    (``largest``: the greatest value, when the caller knows it)."""
    if values and (max(values) if largest is None else largest) < 1 << 64:
        words = np.zeros((len(values), 32), dtype=np.uint8)
        words[:, 24:] = np.array(values, dtype=np.uint64).astype(">u8").view(np.uint8).reshape(-1, 8)
        return words
    joined = b"".join(map(int.to_bytes, values, repeat(32)))  # big-endian by default
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(values), 32)


def _parse_node(text: object) -> bytes:
    if not isinstance(text, str) or not _NODE_HEX_RE.fullmatch(text):
        raise MerkleError(f"tree node must be 0x and 64 hex digits, got {text!r}")
    return bytes.fromhex(text[2:])


def _raise_duplicate(accounts: Iterable[str]) -> None:
    """Raise the duplicate-account error for the first account listed twice, if any."""
    seen: set[str] = set()
    for account in accounts:
        if account in seen:
            raise MerkleError(f"duplicate account {account}")
        seen.add(account)


def _normalize_entries(
    entries: Iterable[tuple[str, int]],
) -> tuple[list[tuple[str, int]], list[str], list[int]]:
    """The entries with checksummed accounts, checked in order as a one-pass check would: each
    entry's address, then whether its account came before, then its amount; and their accounts and
    amounts as two lists."""
    listed = entries if type(entries) is list else list(entries)
    usual = _normalize_usual_entries(listed)
    if usual is not None:
        return usual
    normalized = _normalize_entries_one_by_one(listed)
    return normalized, list(map(itemgetter(0), normalized)), list(map(itemgetter(1), normalized))


def _normalize_usual_entries(
    entries: list[tuple[str, int]],
) -> tuple[list[tuple[str, int]], list[str], list[int]] | None:
    """The usual input, ``(str, int)`` pairs of well-formed accounts and amounts, checked in C-level
    passes over the whole list; ``None`` for anything else, which the one-by-one check then reports
    exactly (duplicates are left to ``build``)."""
    if not entries or set(map(type, entries)) != {tuple} or set(map(len, entries)) != {2}:
        return None
    accounts = list(map(itemgetter(0), entries))
    amounts = list(map(itemgetter(1), entries))
    if set(map(type, amounts)) != {int} or min(amounts) < 0 or max(amounts) >= _UINT256_LIMIT:
        return None
    if set(map(type, accounts)) == {str} and _CHECKSUMMED.issuperset(accounts):
        return entries, accounts, amounts  # already normal (the usual case): no new tuples
    try:
        checksummed = normalize_addresses(accounts)
    except MerkleError:
        return None
    if all(map(is_, checksummed, accounts)):
        return entries, accounts, amounts
    return list(zip(checksummed, amounts, strict=True)), checksummed, amounts


def _may_repeat(addresses: npt.NDArray[np.uint8]) -> bool:
    """Whether two of the 20-byte ``addresses`` (rows) may be equal: their first eight bytes are
    (random addresses almost never share them; a set of the accounts then decides)."""
    prefixes = np.sort(np.ascontiguousarray(addresses[:, :8]).view(">u8").ravel().astype(np.uint64))
    return bool((prefixes[1:] == prefixes[:-1]).any())


def _normalize_entries_one_by_one(entries: list[tuple[str, int]]) -> list[tuple[str, int]]:
    known = _CHECKSUMMED.__contains__
    normalized: list[tuple[str, int]] = []
    append = normalized.append
    checksummed: str | None = None
    try:
        for entry in entries:
            checksummed = None
            account, amount = entry
            checksummed = account if type(account) is str and known(account) else normalize_address(account)
            if type(amount) is not int or not 0 <= amount < _UINT256_LIMIT:
                _check_amount(amount)  # raises, or passes an int subclass other than bool
            # Reuse the caller's pair when it is already normal: a million fewer tuples.
            if type(entry) is tuple and checksummed is account:
                append(entry)
            else:
                append((checksummed, amount))
    except Exception:
        # Duplicates are found once all entries are in (see build); a bad entry found first still
        # loses to an account listed twice before it, or to its own account listed before.
        _raise_duplicate([*map(itemgetter(0), normalized), *([checksummed] if checksummed else [])])
        raise
    return normalized


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """A built tree; construct with :meth:`build` or :meth:`from_dict`.

    ``tree`` has OpenZeppelin's array layout: ``2n - 1`` nodes, root at 0, the children of ``i``
    at ``2i + 1`` and ``2i + 2``, leaves sorted by hash stored from the end backwards.
    ``entries`` (checksummed, input order) and ``tree_indices`` are parallel, like OZ's ``values``.
    """

    entries: tuple[tuple[str, int], ...]
    tree: tuple[bytes, ...]
    tree_indices: tuple[int, ...]
    _index: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False, hash=False)
    _nodes: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    @property
    def _positions(self) -> dict[str, int]:
        """Each account's position in ``entries``, made on first use (settlement never needs it)."""
        if self._index is None:
            positions = dict(zip(map(itemgetter(0), self.entries), range(len(self.entries)), strict=True))
            object.__setattr__(self, "_index", positions)
        return cast("dict[str, int]", self._index)

    @classmethod
    def build(cls, entries: Iterable[tuple[str, int]]) -> MerkleTree:
        """Build the tree; raises :class:`MerkleError` on empty input, a malformed address or
        amount, or an account listed twice (in any letter case)."""
        with _gc_paused():
            normalized, accounts, amounts = _normalize_entries(entries)
            n = len(normalized)
            if n == 0:
                raise MerkleError("a Merkle tree needs at least one entry")
            # The leaf preimage abi.encode(address, uint256) is two words: the address left-padded
            # with 12 zero bytes, then the amount; built for all leaves at once, and double-hashed.
            addresses = _address_bytes(accounts)
            if _may_repeat(addresses) and len(set(accounts)) < n:
                _raise_duplicate(accounts)
            preimages = np.zeros((n, 64), dtype=np.uint8)
            preimages[:, 12:32] = addresses
            preimages[:, 32:] = _uint256_words(amounts)
            del addresses, accounts, amounts
            leaves = keccak_blob(preimages, 64, rounds=2)
            del preimages

            # Sorted leaves, stored from the end backwards: the leaf of rank r (ascending, ties in
            # input order) goes to tree index 2n - 2 - r.
            order = _sorted_order(leaves)
            descending = np.frombuffer(leaves, dtype=np.uint8).reshape(n, 32)[order[::-1]].tobytes()
            del leaves
            nodes = _node_array(descending).tobytes()
            del descending
            indices = np.empty(n, dtype=np.intp)
            indices[order] = np.arange(2 * n - 2, n - 2, -1, dtype=np.intp)
            built = cls(tuple(normalized), tuple(_node_list(nodes)), tuple(indices.tolist()))
            object.__setattr__(built, "_nodes", nodes)
        return built

    @property
    def root(self) -> bytes:
        return self.tree[0]

    @property
    def nodes(self) -> bytes:
        """The nodes concatenated, 32 bytes each in array order (``b"".join(tree)``): what settlement
        stores and :func:`proof_from_nodes` walks. Kept from :meth:`build`, made once otherwise."""
        if self._nodes is None:
            object.__setattr__(self, "_nodes", b"".join(self.tree))
        return cast("bytes", self._nodes)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, account: object) -> bool:
        try:
            return normalize_address(account) in self._positions
        except MerkleError:
            return False

    def amount(self, account: str) -> int:
        return self.entries[self._position(account)][1]

    def _position(self, account: str) -> int:
        checksummed = normalize_address(account)
        try:
            return self._positions[checksummed]
        except KeyError:
            raise MerkleError(f"account {checksummed} is not in the tree") from None

    def proof(self, account: str) -> list[bytes]:
        """Sibling hashes from the account's leaf up to (excluding) the root."""
        i = self.tree_indices[self._position(account)]
        proof: list[bytes] = []
        while i > 0:
            proof.append(self.tree[_sibling(i)])
            i = (i - 1) // 2
        return proof

    def proofs(self) -> dict[str, list[bytes]]:
        """Every account's proof, in entry order, in O(n log n).

        Top-down, each node's proof is its sibling prepended to its parent's proof: the copies
        run in C, ~1.5x faster than walking every leaf up in Python. The inner nodes' paths are
        tuples, and the collector is paused while the million lists are made.
        """
        tree = self.tree
        first_leaf = len(tree) // 2
        with _gc_paused():
            paths: list[tuple[bytes, ...]] = [()]
            append = paths.append
            for i in range(1, first_leaf):
                append((tree[i + 1 if i & 1 else i - 1], *paths[(i - 1) >> 1]))
            proofs = {
                account: [tree[i + 1 if i & 1 else i - 1], *paths[(i - 1) >> 1]] if i else []
                for (account, _), i in zip(self.entries, self.tree_indices, strict=True)
            }
        return proofs

    @staticmethod
    def verify(root: bytes, account: str, amount: int, proof: Sequence[bytes]) -> bool:
        """Whether ``proof`` shows ``(account, amount)`` is a leaf of the tree with ``root``,
        mirroring ``MerkleProof.verify(proof, root, RewardLeaf.hash(account, amount))``.

        Raises :class:`MerkleError` on malformed input (which no tree can contain)."""
        return process_proof(leaf_hash(account, amount), proof) == _check_node(root)

    def to_dict(self) -> StandardTreeDump:
        """The JSON-ready dump, equal to OpenZeppelin's ``tree.dump()`` for the same input."""
        return {
            "format": _FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": ["0x" + node.hex() for node in self.tree],
            "values": [
                {"value": [account, str(amount)], "treeIndex": i}
                for (account, amount), i in zip(self.entries, self.tree_indices, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> MerkleTree:
        """Load a dump after rebuilding the tree from its values and checking every node and
        ``treeIndex``. Only the default (sorted-leaf) layout is accepted."""
        if data.get("format") != _FORMAT:
            raise MerkleError(f"unknown dump format {data.get('format')!r}")
        if data.get("leafEncoding") != list(LEAF_ENCODING):
            raise MerkleError(f"leaf encoding must be {list(LEAF_ENCODING)}")
        values, nodes = data.get("values"), data.get("tree")
        if not isinstance(values, list) or not isinstance(nodes, list):
            raise MerkleError("dump needs a 'tree' list and a 'values' list")

        entries: list[tuple[str, int]] = []
        indices: list[int] = []
        for item in values:
            pair = item.get("value") if isinstance(item, dict) else None
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
                raise MerkleError(f"malformed dump value {item!r}")
            if not _DECIMAL_RE.fullmatch(pair[1]):
                raise MerkleError(f"amount must be a decimal string, got {pair[1]!r}")
            tree_index = item.get("treeIndex")
            if not isinstance(tree_index, int) or isinstance(tree_index, bool):
                raise MerkleError(f"malformed treeIndex in dump value {item!r}")
            entries.append((pair[0], int(pair[1])))
            indices.append(tree_index)

        built = cls.build(entries)
        if [_parse_node(node) for node in nodes] != list(built.tree):
            raise MerkleError("dump tree does not match the tree rebuilt from its values")
        if indices != list(built.tree_indices):
            raise MerkleError("dump treeIndex values do not match the rebuilt tree")
        return built
