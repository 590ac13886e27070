"""The audit on an honest world passes every epoch; one altered manifest field fails exactly that epoch,
naming the field; chain-wide checks catch supply and claims that do not add up."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from ledger.audit import (
    AuditInputError,
    Claim,
    MemoryManifests,
    Verdict,
    audit,
    load_document,
)
from ledger.manifest import canonical_json
from ledger.merkle import keccak256
from tests.audit.conftest import EPOCHS, Honest

Edit = Callable[[dict[str, Any]], None]


def _manifests(honest: Honest) -> dict[int, dict[str, Any]]:
    source = honest.source()
    documents = {}
    for epoch in source.published():
        document = load_document(source, epoch)
        assert document is not None
        documents[epoch] = document
    return documents


def _bump(value: str, by: int = 1) -> str:
    return str(int(value) + by)


def _first_key(mapping: dict[str, Any]) -> str:
    return sorted(mapping)[0]


def test_an_honest_run_passes_every_epoch(honest: Honest) -> None:
    report = audit(honest.snapshot, honest.source())
    assert report.ok, report.failures
    assert [e.verdict for e in report.epochs] == [Verdict.PASS] * EPOCHS
    assert report.to_json()["epochs"] == report.to_json()["passed"] == EPOCHS
    assert report.to_json()["failed"] == []
    assert report.claims_checked
    # The world really exercised what the chain-wide checks look at.
    snapshot = honest.snapshot
    assert len(snapshot.claims) == len(honest.activity.entitlements) == 5
    assert len(snapshot.burns) == 2  # a desk fulfilment and a buy-back
    assert snapshot.total_supply == sum(c.amount for c in snapshot.claims) - sum(
        b.amount for b in snapshot.burns
    )


def _set(path: tuple[str | int, ...], change: Callable[[Any], Any]) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = change(target[path[-1]])

    return edit


def _credit(pool: str) -> Edit:
    def edit(document: dict[str, Any]) -> None:
        credits = document[pool]["credits"]
        account = _first_key(credits)
        credits[account] = _bump(credits[account])

    return edit


def _other_hash(_value: object) -> str:
    return "0x" + keccak256(b"not the published value").hex()


TAMPERS: list[tuple[str, Edit, str]] = [
    ("an input weight", _set(("inputs", "cars", 0, 1), _bump), "inputs"),
    ("an account's points", _set(("inputs", "points", 0, 1), _bump), "inputs"),
    ("an ownership span", _set(("inputs", "ownership", 0, 2), lambda s: s + 1), "inputs"),
    ("the secret", _set(("secret",), _other_hash), "secret"),
    ("the commitment", _set(("commitment",), _other_hash), "commitment"),
    ("the inputs root", _set(("inputs_root",), _other_hash), "inputs_root"),
    ("the seed", _set(("seed",), _other_hash), "seed"),
    ("a driving allocation", _credit("driving"), "driving.credits["),
    ("a co-creation allocation", _credit("cocreation"), "cocreation.credits["),
    ("the driving carry in", _set(("driving", "carry_in"), _bump), "driving.carry_in"),
    ("the driving carry out", _set(("driving", "carry_out"), _bump), "driving.carry_out"),
    ("the co-creation carry in", _set(("cocreation", "carry_in"), _bump), "cocreation.carry_in"),
    ("the co-creation carry out", _set(("cocreation", "carry_out"), _bump), "cocreation.carry_out"),
    ("the driving emission", _set(("driving", "emission"), _bump), "driving.emission"),
    ("the driving allocated", _set(("driving", "allocated"), _bump), "driving.allocated"),
    ("the driving total", _set(("totals", "driving"), _bump), "totals.driving"),
    ("the co-creation total", _set(("totals", "cocreation"), _bump), "totals.cocreation"),
    ("a win", _set(("driving", "wins", 0, 2), lambda shares: shares + 1), "driving.wins["),
    ("the root", _set(("root",), _other_hash), "root"),
    ("the previous manifest hash", _set(("previous_manifest_hash",), _other_hash), "previous_manifest_hash"),
    ("a field nothing else reads", _set(("code_version",), lambda v: v + "-patched"), "manifest_hash"),
    (
        "a parameter nothing else reads",
        _set(("parameters", "grace_seconds"), lambda v: v + 1),
        "manifest_hash",
    ),
]


@pytest.mark.parametrize("epoch", [0, 1, 2])
@pytest.mark.parametrize(("what", "edit", "field"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_one_altered_field_fails_that_epoch_only_and_names_it(
    honest: Honest, epoch: int, what: str, edit: Edit, field: str
) -> None:
    documents = _manifests(honest)
    if what == "the previous manifest hash" and epoch == 0:
        documents[0]["previous_manifest_hash"] = _other_hash(None)  # null at genesis: any hash is wrong
    else:
        edit(documents[epoch])
    source = MemoryManifests({e: canonical_json(d) for e, d in documents.items()})

    report = audit(honest.snapshot, source)

    failed = [(e, d.field) for e, d in report.failures]
    assert len(failed) == 1, f"{what}: {report.failures}"
    ((failed_epoch, named),) = failed
    assert failed_epoch == epoch
    assert named.startswith(field), f"{what}: named {named}, all: {report.epochs[epoch].differences}"
    assert report.to_json()["passed"] == EPOCHS - 1


def test_a_difference_shows_the_recomputed_and_the_published_value(honest: Honest) -> None:
    documents = _manifests(honest)
    published = documents[1]["totals"]["driving"]
    documents[1]["totals"]["driving"] = _bump(published, 10)
    report = audit(honest.snapshot, MemoryManifests({e: canonical_json(d) for e, d in documents.items()}))
    (entry,) = report.to_json()["failed"]
    assert entry == {
        "epoch": 1,
        "field": "totals.driving",
        "expected": published,
        "actual": _bump(published, 10),
    }


def test_a_reformatted_manifest_still_passes(honest: Honest) -> None:
    """The hash is over the canonical bytes, not the file's: pretty-printing a manifest changes nothing."""
    documents = _manifests(honest)
    source = MemoryManifests({e: json.dumps(d, indent=2).encode() for e, d in documents.items()})
    assert audit(honest.snapshot, source).ok


def test_a_missing_manifest_fails_its_epoch_and_leaves_later_ones_unverifiable(honest: Honest) -> None:
    documents = _manifests(honest)
    del documents[1]
    report = audit(honest.snapshot, MemoryManifests({e: canonical_json(d) for e, d in documents.items()}))
    assert [(e.verdict, e.first.field if e.first else None) for e in report.epochs] == [
        (Verdict.PASS, None),
        (Verdict.FAIL, "manifest"),
        (Verdict.FAIL, "previous_epoch"),
    ]


def test_a_manifest_that_is_not_json_is_bad_input(honest: Honest) -> None:
    documents = {e: canonical_json(d) for e, d in _manifests(honest).items()}
    documents[2] = documents[2][:-10]
    with pytest.raises(AuditInputError, match="not valid JSON"):
        audit(honest.snapshot, MemoryManifests(documents))


def test_a_manifest_missing_a_field_fails_its_epoch_naming_the_field(honest: Honest) -> None:
    documents = _manifests(honest)
    del documents[2]["cocreation"]["carry_out"]
    report = audit(honest.snapshot, MemoryManifests({e: canonical_json(d) for e, d in documents.items()}))
    assert [(e, d.field) for e, d in report.failures] == [(2, "cocreation.carry_out")]


def test_supply_must_equal_claims_minus_burns(honest: Honest) -> None:
    snapshot = replace(honest.snapshot, total_supply=honest.snapshot.total_supply + 1)
    report = audit(snapshot, honest.source())
    assert [(e, d.field) for e, d in report.failures] == [(None, "supply")]
    assert report.to_json()["passed"] == EPOCHS  # every epoch still recomputes


def test_a_burn_nobody_accounts_for_breaks_the_supply_check(honest: Honest) -> None:
    snapshot = replace(honest.snapshot, burns=honest.snapshot.burns[:1])
    assert [d.field for _, d in audit(snapshot, honest.source()).failures] == ["supply"]


def test_a_claim_above_the_entitlement_fails_the_epoch_it_was_claimed_under(honest: Honest) -> None:
    claims = list(honest.snapshot.claims)
    first = claims[0]
    claims[0] = Claim(first.account, first.amount + 1, first.cumulative + 1, first.at)
    snapshot = replace(
        honest.snapshot,
        claims=tuple(claims),
        total_supply=honest.snapshot.total_supply + 1,
        total_claimed=honest.snapshot.total_claimed + 1,
        mints=tuple(
            replace(m, amount=m.amount + 1) if m.account == first.account else m
            for m in honest.snapshot.mints
        ),
    )
    report = audit(snapshot, honest.source())
    assert [(e, d.field) for e, d in report.failures] == [(EPOCHS - 1, f"claims[{first.account}]")]
    assert report.failures[0][1].expected == f"at most {first.cumulative}"


def test_a_claim_whose_cumulative_is_not_the_sum_of_its_amounts_fails(honest: Honest) -> None:
    claims = list(honest.snapshot.claims)
    claims[1] = replace(claims[1], cumulative=claims[1].cumulative - 1)
    report = audit(replace(honest.snapshot, claims=tuple(claims)), honest.source())
    ((epoch, difference),) = report.failures
    assert epoch == EPOCHS - 1
    assert difference.field == f"claims[{claims[1].account}]"
    assert "sum of its Claimed amounts" in difference.expected


def test_manifests_of_epochs_not_posted_yet_are_listed_not_audited(honest: Honest) -> None:
    documents = {e: canonical_json(d) for e, d in _manifests(honest).items()}
    documents[EPOCHS] = documents[EPOCHS - 1]
    report = audit(honest.snapshot, MemoryManifests(documents))
    assert report.ok
    assert report.unposted_manifests == (EPOCHS,)
