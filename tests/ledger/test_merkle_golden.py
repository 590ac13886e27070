"""Golden test: ``ledger.merkle`` against OpenZeppelin's ``StandardMerkleTree`` (JS, pinned in
package.json), plus the tree's security properties and input validation.

Node runs twice per session (once for the seeded trees, once for the Hypothesis batch)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak as reference_keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.merkle import (
    MerkleError,
    MerkleTree,
    hash_pair,
    keccak256,
    leaf_hash,
    process_proof,
)

pytestmark = pytest.mark.node

REPO = Path(__file__).resolve().parents[2]
ORACLE = Path(__file__).with_name("oz_merkle.mjs")
OZ_PACKAGE = "@openzeppelin/merkle-tree"
SIZES = (1, 2, 3, 4, 5, 7, 8, 9, 100, 1000, 10_000)
MAX_UINT = 2**256 - 1

Entries = list[tuple[str, int]]
OzResult = dict[str, Any]
Golden = dict[int, tuple[Entries, MerkleTree, OzResult]]


def run_oz(trees: Sequence[Entries]) -> list[OzResult]:
    """Root, per-value proofs and dump() from OZ for each tree, in a single node process."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js not found on PATH; the Merkle golden test needs it (CI installs it)")
    installed = REPO / "node_modules" / OZ_PACKAGE / "package.json"
    if not installed.is_file():
        pytest.fail(f"{OZ_PACKAGE} missing from {REPO / 'node_modules'}; run `npm ci` in {REPO}")
    pinned = json.loads((REPO / "package.json").read_text())["devDependencies"][OZ_PACKAGE]
    version = json.loads(installed.read_text())["version"]
    if version != pinned:
        pytest.fail(f"{OZ_PACKAGE} {version} is installed but package.json pins {pinned}; npm ci")

    payload = json.dumps([[[account, str(amount)] for account, amount in t] for t in trees])
    done = subprocess.run(
        [node, str(ORACLE)], input=payload, capture_output=True, text=True, cwd=REPO, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{ORACLE.name} failed ({done.returncode}):\n{done.stderr}")
    results: list[OzResult] = json.loads(done.stdout)
    return results


def hexes(nodes: Sequence[bytes]) -> list[str]:
    return ["0x" + node.hex() for node in nodes]


def random_entries(rng: random.Random, size: int) -> Entries:
    entries: Entries = [
        (to_checksum_address(rng.randbytes(20)), rng.getrandbits(rng.choice((8, 64, 128, 256))))
        for _ in range(size)
    ]
    if size >= 3:  # the uint256 extremes, somewhere in the tree
        entries[0] = (entries[0][0], 0)
        entries[-1] = (entries[-1][0], MAX_UINT)
    return entries


def assert_matches_oz(entries: Entries, tree: MerkleTree, oz: OzResult) -> None:
    assert "0x" + tree.root.hex() == oz["root"]
    proofs = tree.proofs()
    assert list(proofs) == [account for account, _ in entries]
    assert [hexes(proof) for proof in proofs.values()] == oz["proofs"]
    assert tree.to_dict() == oz["dump"]


@pytest.fixture(scope="module")
def golden() -> Golden:
    rng = random.Random(20240611)
    cases = {size: random_entries(rng, size) for size in SIZES}
    # Ours sees half the addresses in lower case (OZ sees checksums): normalisation is tested too.
    trees = {
        size: MerkleTree.build([(a.lower() if i % 2 else a, v) for i, (a, v) in enumerate(es)])
        for size, es in cases.items()
    }
    oz = run_oz(list(cases.values()))
    return {size: (cases[size], trees[size], result) for size, result in zip(SIZES, oz, strict=True)}


# (a) roots and every proof, byte for byte


@pytest.mark.parametrize("size", SIZES)
def test_root_and_every_proof_match_oz(golden: Golden, size: int) -> None:
    entries, tree, oz = golden[size]
    assert_matches_oz(entries, tree, oz)
    for (account, amount), oz_proof in list(zip(entries, oz["proofs"], strict=True))[:50]:
        assert hexes(tree.proof(account.lower())) == oz_proof
        assert MerkleTree.verify(tree.root, account, amount, tree.proof(account))


def test_hypothesis_trees_match_oz() -> None:
    collected: list[tuple[Entries, MerkleTree]] = []
    entry = st.tuples(st.binary(min_size=20, max_size=20), st.integers(0, MAX_UINT))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(entry, min_size=1, max_size=40, unique_by=lambda e: e[0]))
    def collect(raw: list[tuple[bytes, int]]) -> None:
        entries: Entries = [(to_checksum_address(address), amount) for address, amount in raw]
        tree = MerkleTree.build(entries)
        # The root depends on the set of entries only.
        assert MerkleTree.build(reversed(entries)).root == tree.root
        collected.append((entries, tree))

    collect()
    # Checked smallest first so a failure reports the simplest mismatching tree.
    collected.sort(key=lambda case: len(case[0]))
    for (entries, tree), oz in zip(collected, run_oz([c[0] for c in collected]), strict=True):
        assert_matches_oz(entries, tree, oz)


def test_leaf_hash_is_double_keccak_of_abi_encode() -> None:
    assert keccak256(b"").hex() == ("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
    rng = random.Random(7)
    for _ in range(200):
        account, amount = random_entries(rng, 1)[0]
        encoded = encode(["address", "uint256"], [account, amount])
        assert leaf_hash(account, amount) == reference_keccak(reference_keccak(encoded))
        assert leaf_hash(account.lower(), amount) == leaf_hash(account, amount)


# (b) dump equality and round trip


@pytest.mark.parametrize("size", SIZES)
def test_dump_round_trips(golden: Golden, size: int) -> None:
    _, tree, oz = golden[size]
    assert tree.to_dict() == oz["dump"]
    assert MerkleTree.from_dict(oz["dump"]) == tree
    assert MerkleTree.from_dict(json.loads(json.dumps(tree.to_dict()))) == tree


def test_from_dict_rejects_inconsistent_dumps() -> None:
    dump = MerkleTree.build(random_entries(random.Random(3), 5)).to_dict()
    node, first, second = dump["tree"][1], dump["values"][0], dump["values"][1]
    corruptions: list[tuple[str, tuple[str | int, ...], object]] = [
        ("tree does not match", ("tree", 1), node[:-1] + ("1" if node[-1] == "0" else "0")),
        ("tree does not match", ("tree",), [*dump["tree"], dump["tree"][0]]),
        ("tree does not match", ("values", 0, "value", 1), str(int(first["value"][1]) + 1)),
        ("treeIndex", ("values", 0, "treeIndex"), second["treeIndex"]),
        ("treeIndex", ("values", 0, "treeIndex"), "1"),
        ("decimal string", ("values", 0, "value", 1), "0x10"),
        ("duplicate account", ("values", 1, "value", 0), first["value"][0].lower()),
        ("malformed address", ("values", 0, "value", 0), "0x1234"),
        ("format", ("format",), "simple-v1"),
        ("leaf encoding", ("leafEncoding",), ["address", "uint96"]),
    ]
    for message, path, value in corruptions:
        corrupted = json.loads(json.dumps(dump))
        target = corrupted
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        with pytest.raises(MerkleError, match=message):
            MerkleTree.from_dict(corrupted)


# (c) an inner node cannot be passed off as a leaf


def _node_proof(tree: MerkleTree, i: int) -> list[bytes]:
    proof = []
    while i > 0:
        proof.append(tree.tree[i + 1 if i % 2 else i - 1])
        i = (i - 1) // 2
    return proof


def test_inner_node_cannot_be_proved_as_leaf() -> None:
    tree = MerkleTree.build(random_entries(random.Random(11), 100))
    for i in range(len(tree) - 1):  # every inner node, root included
        node = tree.tree[i]
        left, right = tree.tree[2 * i + 1], tree.tree[2 * i + 2]
        shortened = _node_proof(tree, i)
        # A verifier fed raw 32-byte leaves would accept the inner node with the shortened proof,
        # and a single-hashed leaf whose 64-byte preimage is the children would equal the node.
        assert process_proof(node, shortened) == tree.root
        preimage = min(left, right) + max(left, right)
        assert keccak256(preimage) == node == hash_pair(left, right)

        # Our leaves: read those 64 bytes as (address word, uint256). The address word's upper
        # 12 bytes are not zero, so abi.encode of the decoded pair is not the preimage ...
        word, amount = preimage[:32], int.from_bytes(preimage[32:], "big")
        account = to_checksum_address(word[12:])
        assert word[:12] != bytes(12)
        assert encode(["address", "uint256"], [account, amount]) != preimage
        # ... and even the exact preimage double-hashes to keccak256(node), not to node.
        assert keccak256(keccak256(preimage)) != node
        assert process_proof(keccak256(node), shortened) != tree.root
        for proof in (shortened, _node_proof(tree, 2 * i + 1), []):
            assert not MerkleTree.verify(tree.root, account, amount, proof)


# (d) tampering


def test_tampered_proofs_amounts_and_accounts_fail() -> None:
    entries = random_entries(random.Random(5), 100)
    tree = MerkleTree.build(entries)
    proofs = tree.proofs()
    for k, (account, amount) in enumerate(entries):
        proof = proofs[account]
        assert MerkleTree.verify(tree.root, account, amount, proof)
        for j in range(len(proof)):
            for flipped in (
                bytes([proof[j][0] ^ 1]) + proof[j][1:],
                proof[j][:-1] + bytes([proof[j][-1] ^ 0x80]),
            ):
                assert not MerkleTree.verify(
                    tree.root, account, amount, [*proof[:j], flipped, *proof[j + 1 :]]
                )
        for wrong in (amount + 1, amount - 1, amount ^ (1 << 255)):
            if 0 <= wrong <= MAX_UINT:
                assert not MerkleTree.verify(tree.root, account, wrong, proof)
        other = entries[(k + 1) % len(entries)][0]
        assert not MerkleTree.verify(tree.root, other, amount, proof)
        assert not MerkleTree.verify(tree.root, account, amount, proof[:-1])
        assert not MerkleTree.verify(tree.root, account, amount, [*proof, tree.root])
        assert not MerkleTree.verify(keccak256(tree.root), account, amount, proof)


# (e) input validation


ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "at least one entry"),
        ([(ADDRESS, 1), (ADDRESS, 2)], "duplicate account"),
        ([(ADDRESS, 1), (ADDRESS.lower(), 1)], "duplicate account"),
        ([(ADDRESS, -1)], "uint256 range"),
        ([(ADDRESS, 2**256)], "uint256 range"),
        ([(ADDRESS, True)], "must be an int"),
        ([(ADDRESS, "1")], "must be an int"),
        ([(ADDRESS[:-1], 1)], "malformed address"),
        ([(ADDRESS[2:], 1)], "malformed address"),
        ([(ADDRESS[:-1] + "g", 1)], "malformed address"),
        ([(ADDRESS + "00", 1)], "malformed address"),
        ([(ADDRESS.replace("E", "e", 1), 1)], "checksum"),
    ],
)
def test_build_rejects_bad_input(entries: Entries, message: str) -> None:
    with pytest.raises(MerkleError, match=message):
        MerkleTree.build(entries)


def test_lookups_and_verify_reject_bad_input() -> None:
    tree = MerkleTree.build([(ADDRESS, 1)])
    assert tree.proof(ADDRESS.lower()) == []
    assert ADDRESS.lower() in tree
    assert "0x" + "11" * 20 not in tree
    assert "not an address" not in tree
    assert tree.amount(ADDRESS) == 1
    assert MerkleTree.verify(tree.root, ADDRESS, 1, [])
    with pytest.raises(MerkleError, match="not in the tree"):
        tree.proof("0x" + "11" * 20)
    with pytest.raises(MerkleError, match="32 bytes"):
        MerkleTree.verify(tree.root, ADDRESS, 1, [b"\x00" * 31])
    with pytest.raises(MerkleError, match="uint256 range"):
        MerkleTree.verify(tree.root, ADDRESS, 2**256, [])
