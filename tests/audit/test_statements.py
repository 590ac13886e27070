"""Annual statements: per account and year, stones earned by source, claimed, redeemed, sold back, and
equity value received, as CSV in integer base units."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from ledger.audit import (
    STATEMENT_COLUMNS,
    AuditInputError,
    MemoryManifests,
    load_document,
    statements,
    write_statements,
)
from tests.audit.conftest import Honest

YEAR = 2033  # the world's clock starts at 2_000_000_000 s: 18 May 2033, UTC


def _earned(honest: Honest) -> dict[str, Counter[str]]:
    earned: dict[str, Counter[str]] = {}
    source = honest.source()
    for epoch in source.published():
        document = load_document(source, epoch)
        assert document is not None
        for pool in ("driving", "cocreation"):
            for account, amount in document[pool]["credits"].items():
                earned.setdefault(account, Counter())[pool] += int(amount)
    return earned


def test_statements_csv_columns_and_sums(honest: Honest, tmp_path: Path) -> None:
    path = tmp_path / "statements.csv"
    write_statements(statements(honest.snapshot, honest.source(), YEAR), path)
    with path.open(newline="") as source:
        reader = csv.reader(source)
        header = next(reader)
        rows = [dict(zip(header, line, strict=True)) for line in reader]

    assert tuple(header) == STATEMENT_COLUMNS
    activity, earned = honest.activity, _earned(honest)
    assert [r["account"] for r in rows] == sorted(activity.entitlements)
    for row in rows:
        account = row["account"]
        figures = {column: int(row[column]) for column in STATEMENT_COLUMNS if column != "account"}
        assert figures["year"] == YEAR
        assert figures["earned_driving"] == earned[account]["driving"]
        assert figures["earned_cocreation"] == earned[account]["cocreation"]
        assert figures["earned_total"] == figures["earned_driving"] + figures["earned_cocreation"]
        # Every owner claimed everything earned over the three epochs, all of them in this year.
        assert figures["claimed"] == activity.entitlements[account] == figures["earned_total"]
        assert figures["redeemed"] == (activity.redeemed if account == activity.redeemer else 0)
        assert figures["bought_back"] == (activity.sold if account == activity.seller else 0)
        assert figures["buyback_proceeds"] == (activity.sale_payout if account == activity.seller else 0)
        expected_equity = activity.round_payout if account == activity.round_claimer else 0
        assert figures["equity_value_received"] == expected_equity

    burned = sum(b.amount for b in honest.snapshot.burns)
    assert sum(int(r["redeemed"]) + int(r["bought_back"]) for r in rows) == burned
    supply = honest.snapshot.total_supply
    assert sum(int(r["claimed"]) for r in rows) - burned == supply


def test_another_year_has_no_rows(honest: Honest) -> None:
    assert statements(honest.snapshot, honest.source(), YEAR - 1) == []
    assert statements(honest.snapshot, MemoryManifests({}), YEAR + 1) == []


def test_statements_refuse_a_year_with_a_missing_manifest(honest: Honest) -> None:
    with pytest.raises(AuditInputError, match="no manifest for epoch 0"):
        statements(honest.snapshot, MemoryManifests({}), YEAR)
