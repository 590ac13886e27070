"""The gas benchmark's structure: one run, every figure an integer, ``postEpoch`` blind to the tree's size.

The speed targets themselves (ratios against the baselines) are the benchmark's business
(``python -m bench.gas --check``); this test pins what must hold whatever the contracts cost.
"""

from __future__ import annotations

import json

import pytest

from bench.gas import POST_SIZES, Measurement, PathTree, evaluate, measure, oneshot_leaf, table
from ledger.merkle import keccak256, leaf_hash, process_proof

REQUIRED_KEYS = (
    "post_epoch",
    "claim_depth20_first",
    "claim_depth20_repeat",
    "oneshot_claim_depth20",
    "naive_mint_per_trip",
    "deploy_total",
    "commit_seed",
    "claim_depth10_first",
    "claim_depth10_repeat",
    "claim_many_per_account",
    "oneshot_claim_depth20_word_touched",
    "naive_mint_first_trip",
    "order",
    "order_by_sig",
    "fulfil",
    "cancel",
    "round_claim",
    "buyback",
    "checkpoint_mint_overhead",
    *(f"post_epoch_{size}" for size in POST_SIZES),
)


@pytest.fixture(scope="module")
def measured() -> Measurement:
    return measure()


def test_json_has_every_required_key_as_an_integer(measured: Measurement) -> None:
    decoded = json.loads(json.dumps(measured.gas))
    missing = [key for key in REQUIRED_KEYS if key not in decoded]
    assert not missing
    for key, gas in decoded.items():
        assert type(gas) is int, key
        assert gas > 0, key


def test_post_epoch_gas_does_not_depend_on_the_number_of_accounts(measured: Measurement) -> None:
    gas, roots = measured.gas, measured.post_roots
    assert set(roots) == set(POST_SIZES)
    # Execution (everything but the intrinsic 21,000 and the calldata) is the same to the unit ...
    assert len({measured.execution[f"post_epoch_{size}"] for size in POST_SIZES}) == 1
    # ... and paid gas differs only by the calldata price of the root's bytes (4 gas a zero byte, 16 other):
    # roots with as many zero bytes cost exactly the same, whatever the size of their tree.
    base = gas["post_epoch_10_accounts"] + 12 * roots["10_accounts"].count(0)
    for size in POST_SIZES:
        assert gas[f"post_epoch_{size}"] + 12 * roots[size].count(0) == base
    assert gas["post_epoch"] == max(gas[f"post_epoch_{size}"] for size in POST_SIZES)


def test_repeat_claim_cost_does_not_grow_with_the_epochs_it_covers(measured: Measurement) -> None:
    # Four new epochs or one: the claim reads one root and writes one cumulative amount.
    x = measured.execution
    assert abs(x["claim_depth20_repeat"] - x["claim_depth20_repeat_one_epoch"]) < 100


def test_derived_figures_are_consistent(measured: Measurement) -> None:
    gas = measured.gas
    assert gas["claim_many_per_account"] == gas["claim_many_batch20"] // 20
    assert gas["checkpoint_mint_overhead"] == gas["checkpoint_mint_repeat"] - gas["plain_mint_repeat"]
    assert gas["deploy_total"] == sum(
        gas[f"deploy_{name}"]
        for name in (
            "emission_schedule",
            "stone_token",
            "reward_distributor",
            "redemption_desk",
            "equity_vault",
        )
    )
    assert measured.compiler
    assert measured.sources_hash


def test_every_target_is_evaluated_and_the_table_renders(measured: Measurement) -> None:
    results = evaluate(measured)
    assert len(results) == 4
    assert all(result.name and result.detail for result in results)
    assert table(measured, results).row_count > len(REQUIRED_KEYS)


def test_path_tree_proofs_have_the_requested_depth_and_verify() -> None:
    leaves = [leaf_hash("0x" + f"{i:040x}", i + 1) for i in range(5)]
    deep = PathTree.at_depth(leaves, 19)
    shallow = PathTree.at_depth([oneshot_leaf(7, "0x" + "ab" * 20, 3)], 9, b"other")
    tree = deep.join(shallow)
    for leaf, proof in tree.proofs.items():
        assert len(proof) == (20 if leaf in leaves else 10)
        assert process_proof(leaf, proof) == tree.root
    with pytest.raises(ValueError, match="do not fit"):
        PathTree.at_depth([keccak256(bytes([i])) for i in range(5)], 2)
