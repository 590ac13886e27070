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
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, TypedDict

from sha3 import keccak_256

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
    "process_proof",
]

LEAF_ENCODING: Final = ("address", "uint256")
_FORMAT: Final = "standard-v1"
_UINT256_LIMIT: Final = 1 << 256
_ADDRESS_RE: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL_RE: Final = re.compile(r"0|[1-9][0-9]*")
_NODE_HEX_RE: Final = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS_PAD: Final = bytes(12)


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


def normalize_address(account: object) -> str:
    """Return the EIP-55 checksummed form of a lowercase or correctly checksummed address."""
    if not isinstance(account, str) or not _ADDRESS_RE.fullmatch(account):
        raise MerkleError(f"malformed address {account!r}: expected 0x and 40 hex digits")
    lower = account[2:].lower()
    nibbles = keccak256(lower.encode("ascii")).hex()
    # EIP-55: a letter is upper case where the hash nibble is >= 8 ("8" < "9" < "a" in ASCII).
    checksummed = "0x" + "".join(
        [u if n > "7" else c for c, u, n in zip(lower, lower.upper(), nibbles, strict=False)]
    )
    if account[2:] != lower and account != checksummed:
        raise MerkleError(f"address {account} has a bad EIP-55 checksum (expected {checksummed})")
    return checksummed


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
        sibling = _sibling(i)
        proof.append(nodes[sibling * 32 : sibling * 32 + 32])
        i = (i - 1) // 2
    return proof


def _parse_node(text: object) -> bytes:
    if not isinstance(text, str) or not _NODE_HEX_RE.fullmatch(text):
        raise MerkleError(f"tree node must be 0x and 64 hex digits, got {text!r}")
    return bytes.fromhex(text[2:])


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
    _positions: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        positions = {account: pos for pos, (account, _) in enumerate(self.entries)}
        object.__setattr__(self, "_positions", positions)

    @classmethod
    def build(cls, entries: Iterable[tuple[str, int]]) -> MerkleTree:
        """Build the tree; raises :class:`MerkleError` on empty input, a malformed address or
        amount, or an account listed twice (in any letter case)."""
        normalized: list[tuple[str, int]] = []
        leaves: list[bytes] = []
        seen: set[str] = set()
        for account, amount in entries:
            checksummed = normalize_address(account)
            if checksummed in seen:
                raise MerkleError(f"duplicate account {checksummed}")
            seen.add(checksummed)
            normalized.append((checksummed, _check_amount(amount)))
            leaves.append(_leaf(bytes.fromhex(checksummed[2:]), amount))
        n = len(leaves)
        if n == 0:
            raise MerkleError("a Merkle tree needs at least one entry")

        size = 2 * n - 1
        tree = [b""] * size
        tree_indices = [0] * n
        for rank, pos in enumerate(sorted(range(n), key=leaves.__getitem__)):
            tree[size - 1 - rank] = leaves[pos]
            tree_indices[pos] = size - 1 - rank
        for i in range(n - 2, -1, -1):
            left, right = tree[2 * i + 1], tree[2 * i + 2]
            tree[i] = keccak256(left + right if left <= right else right + left)
        return cls(tuple(normalized), tuple(tree), tuple(tree_indices))

    @property
    def root(self) -> bytes:
        return self.tree[0]

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
        run in C, ~1.5x faster than walking every leaf up in Python.
        """
        tree = self.tree
        first_leaf = len(tree) // 2
        paths: list[list[bytes]] = [[]]
        for i in range(1, first_leaf):
            paths.append([tree[_sibling(i)], *paths[(i - 1) // 2]])
        return {
            account: [tree[_sibling(i)], *paths[(i - 1) // 2]] if i else []
            for (account, _), i in zip(self.entries, self.tree_indices, strict=True)
        }

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
