"""The settlement benchmark's structure at a small size: one run, what it builds is a correct epoch.

The timing target (1,000,000 accounts in under 20 s and 4 GiB) is the benchmark's business
(``python -m bench.settlement``, recorded in ``docs/benchmarks.md``); nothing here looks at a clock.
"""

from __future__ import annotations

import json
import random

import pytest

from bench.settlement import (
    COMPARISON_PHASES,
    EpochRun,
    keccak_comparison,
    markdown,
    report,
    run_epoch,
    text,
)
from ledger.merkle import MerkleTree, proof_from_nodes
from ledger.settlement import cumulative_entries

ACCOUNTS = 2_000
WALKS = 300
PHASES = (
    "random data",
    "accounts",
    "inputs",
    "inputs_root",
    "epoch_seed",
    "draw_driving",
    "split_cocreation",
    "cumulative",
    "tree",
    "node blob",
    "proof walks",
    "all proofs",
)


@pytest.fixture(scope="module")
def run() -> EpochRun:
    return run_epoch(ACCOUNTS, proof_walks=WALKS)


def built(run: EpochRun) -> MerkleTree:
    assert run.tree is not None
    return run.tree


def test_every_phase_is_timed_once(run: EpochRun) -> None:
    assert [phase.name for phase in run.phases] == list(PHASES)
    for phase in run.phases:
        assert phase.wall >= 0
        assert phase.cpu >= 0
        assert phase.peak_rss > 0
    assert run.total_cpu == pytest.approx(sum(p.cpu for p in run.phases if p.name not in COMPARISON_PHASES))


def test_allocations_sum_to_budget_minus_carry_per_pool(run: EpochRun) -> None:
    driving, cocreation = run.driving, run.cocreation
    assert driving is not None
    assert cocreation is not None
    assert driving.budget > 0
    assert cocreation.budget > 0
    assert sum(driving.credits.values()) == driving.carry_in + driving.budget - driving.carry_out
    assert sum(driving.credits.values()) == driving.allocated
    for draw in driving.slots:
        assert draw.share * driving.shares_per_drop + draw.carry == draw.budget
    assert sum(cocreation.credits.values()) == cocreation.budget - cocreation.carry_out
    assert sum(cocreation.credits.values()) == cocreation.allocated
    assert 0 <= cocreation.carry_out < ACCOUNTS  # floor dust: under one base unit per account


def test_tree_holds_previous_plus_this_epochs_credits_for_every_account(run: EpochRun) -> None:
    driving, cocreation, tree = run.driving, run.cocreation, built(run)
    assert driving is not None
    assert cocreation is not None
    assert len(run.previous) == ACCOUNTS == len(tree)
    for account, amount in tree.entries:
        earned = driving.credits.get(account, 0) + cocreation.credits.get(account, 0)
        assert amount == run.previous[account] + earned
    assert sorted(account for account, _ in tree.entries) == sorted(run.previous)


def test_root_verifies_sampled_proofs(run: EpochRun) -> None:
    tree = built(run)
    for account, amount in random.Random(1).sample(tree.entries, 20):
        proof = tree.proof(account)
        assert MerkleTree.verify(tree.root, account, amount, proof)
        assert not MerkleTree.verify(tree.root, account, amount + 1, proof)


def test_proofs_walked_from_the_node_blob_equal_the_trees(run: EpochRun) -> None:
    tree = built(run)
    assert run.nodes == b"".join(tree.tree)
    assert len(run.nodes) == 32 * (2 * ACCOUNTS - 1)
    assert len(run.walked) == WALKS == len({account for account, _ in run.walked})
    for account, proof in run.walked:
        assert proof == tree.proof(account)
    positions = dict(zip((account for account, _ in tree.entries), tree.tree_indices, strict=True))
    for account, _ in tree.entries[:50]:
        assert proof_from_nodes(run.nodes, positions[account]) == tree.proof(account)


def test_all_proofs_equal_single_proofs(run: EpochRun) -> None:
    tree = built(run)
    assert run.all_proofs is not None
    assert list(run.all_proofs) == [account for account, _ in tree.entries]
    for account, _ in tree.entries[::97]:
        assert run.all_proofs[account] == tree.proof(account)


def test_report_is_json_and_renders(run: EpochRun) -> None:
    keccak = keccak_comparison(2_000)
    assert len(keccak) == 4
    assert all(seconds >= 0 for seconds in keccak.values())
    data = json.loads(json.dumps(report(run, keccak, 2_000, "n/a")))
    assert data["accounts"] == ACCOUNTS
    assert list(data["phases"]) == list(PHASES)
    assert data["total_excludes"] == sorted(COMPARISON_PHASES)
    assert data["peak_rss_bytes"] == max(data["peak_rss_by_phase"].values())
    for rendered in (markdown(data), text(data)):
        for name in PHASES:
            assert name in rendered


def test_cumulative_entries_sum_every_source_and_keep_positive_totals() -> None:
    rng = random.Random(5)
    accounts = [f"0x{i:040x}" for i in range(60)]
    previous = {a: rng.randrange(0, 10**21) for a in accounts[:40]}
    driving = {a: rng.randrange(1, 10**18) for a in rng.sample(accounts, 5)}
    cocreation = [(a, rng.randrange(1, 10**20)) for a in accounts[30:]]
    repeated = [(accounts[0], 3), (accounts[0], 4), (accounts[59], 0)]  # an account twice in one source
    expected: dict[str, int] = {}
    for source in (previous.items(), driving.items(), cocreation, repeated):
        for account, amount in source:
            expected[account] = expected.get(account, 0) + amount
    entries = cumulative_entries(previous, driving, iter(cocreation), repeated)
    assert len(entries) == len({a for a, _ in entries})
    assert dict(entries) == {a: v for a, v in expected.items() if v > 0}
    assert cumulative_entries() == []
    assert cumulative_entries({accounts[0]: 0}) == []
