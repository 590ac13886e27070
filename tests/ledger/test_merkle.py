"""``ledger.merkle``'s batch paths: ``normalize_addresses`` against ``normalize_address`` one at a time,
and trees whose hashing is split with ``ledger.hashing``'s worker against trees hashed serially.

(Byte-for-byte agreement with OpenZeppelin's JavaScript library is ``test_merkle_golden.py``'s.)
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import hashing, merkle
from ledger.merkle import MerkleError, MerkleTree, normalize_address, normalize_addresses, proof_from_nodes
from tests.ledger.test_hashing import parallel_split

SETTINGS = settings(max_examples=60, deadline=None)


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    merkle._CHECKSUMMED.clear()  # every example meets its addresses for the first time
    yield
    hashing.shutdown()


def one_by_one(accounts: list[object]) -> list[str] | tuple[type[Exception], str]:
    """What a loop of normalize_address returns, or the type and message of what it raises first."""
    try:
        return [normalize_address(account) for account in accounts]
    except Exception as exc:
        return type(exc), str(exc)


def batch(accounts: list[object]) -> list[str] | tuple[type[Exception], str]:
    try:
        return normalize_addresses(accounts)
    except Exception as exc:
        return type(exc), str(exc)


raw_addresses = st.binary(min_size=20, max_size=20)


@st.composite
def address_lists(draw: st.DrawFn, bad: bool) -> list[object]:
    accounts: list[object] = []
    for raw in draw(st.lists(raw_addresses, max_size=12)):
        checksummed = merkle._checksum(raw)
        form = draw(st.sampled_from(["lower", "checksummed", "upper"] + (["bad"] if bad else [])))
        if form == "lower":
            accounts.append("0x" + raw.hex())
        elif form == "checksummed":
            accounts.append(checksummed)
        elif form == "upper":  # a bad checksum unless the address has no letter a-f
            accounts.append("0x" + raw.hex().upper())
        else:
            accounts.append(
                draw(
                    st.sampled_from(
                        [
                            checksummed[:-1],
                            checksummed + "0",
                            "0X" + checksummed[2:],
                            " " + checksummed[1:],
                            7,
                            None,
                        ]
                    )
                )
            )
    twice: bool = draw(st.booleans())
    if accounts and twice:
        accounts.append(draw(st.sampled_from(accounts)))  # the same account twice
    return accounts


@SETTINGS
@given(address_lists(bad=False), st.booleans())
def test_normalize_addresses_equals_normalize_address_one_by_one(accounts: list[object], split: bool) -> None:
    expected = one_by_one(accounts)
    merkle._CHECKSUMMED.clear()
    with parallel_split(2 if split else 10**9):
        assert batch(accounts) == expected
        assert batch(accounts) == expected  # again, from the cache
        mixed = [*accounts[::2], "0x" + "ab" * 20]  # some met before, one not
        assert batch(mixed) == one_by_one(mixed)


@SETTINGS
@given(address_lists(bad=True))
def test_normalize_addresses_raises_what_the_first_bad_account_raises(accounts: list[object]) -> None:
    expected = one_by_one(accounts)
    merkle._CHECKSUMMED.clear()
    with parallel_split():
        assert batch(accounts) == expected


def test_normalize_addresses_reports_a_bad_checksum_like_normalize_address() -> None:
    good = normalize_address("0x" + "ab" * 20)
    bad = good[:2] + good[2:].swapcase()
    with pytest.raises(MerkleError, match=f"address {bad} has a bad EIP-55 checksum"):
        normalize_addresses([good, bad])
    with pytest.raises(MerkleError, match="malformed address 5"):
        normalize_addresses([good, 5])


@st.composite
def entry_lists(draw: st.DrawFn) -> list[tuple[str, int]]:
    raws = draw(st.lists(raw_addresses, min_size=1, max_size=40, unique=True))
    amounts = st.one_of(st.integers(0, 2**64), st.integers(0, 2**256 - 1))
    return [
        ("0x" + raw.hex() if draw(st.booleans()) else merkle._checksum(raw), draw(amounts)) for raw in raws
    ]


@SETTINGS
@given(entry_lists())
def test_trees_hashed_with_the_worker_equal_trees_hashed_serially(entries: list[tuple[str, int]]) -> None:
    with parallel_split(10**9):
        serial = MerkleTree.build(entries)
    with parallel_split():
        split = MerkleTree.build(entries)
    assert split == serial
    assert split.tree == serial.tree
    assert split.nodes == b"".join(serial.tree) == serial.nodes
    for (account, amount), index in zip(split.entries, split.tree_indices, strict=True):
        proof = proof_from_nodes(split.nodes, index)
        assert proof == serial.proof(account)
        assert MerkleTree.verify(split.root, account, amount, proof)


def test_a_tree_lists_a_duplicate_account_first_met_whatever_the_letter_case() -> None:
    accounts = [merkle._checksum(bytes([i]) * 20) for i in range(1, 30)]
    entries = [(account, i) for i, account in enumerate(accounts)]
    entries.insert(20, (accounts[7].lower(), 5))
    entries.insert(25, (accounts[3], 5))
    random.Random(3).shuffle(entries[:10])
    with pytest.raises(MerkleError, match=f"duplicate account {accounts[7]}"):
        MerkleTree.build(entries)
    with pytest.raises(MerkleError, match="duplicate account"):
        MerkleTree.build([(accounts[0], 1), (accounts[0], 1)])


def test_a_tree_made_from_its_fields_keeps_its_node_blob_and_lookups() -> None:
    built = MerkleTree.build([(merkle._checksum(bytes([i]) * 20), i) for i in range(1, 6)])
    again = MerkleTree(built.entries, built.tree, built.tree_indices)
    assert again == built
    assert again.nodes == built.nodes
    for account, amount in built.entries:
        assert account in again
        assert again.amount(account) == amount
        assert again.proof(account) == built.proof(account)
