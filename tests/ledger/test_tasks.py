"""Co-creation tasks (``ledger.tasks``) on SQLite and PostgreSQL: catalogue rules, completion rules with
their reasons, caps at their boundaries, races, the settlement sums and a Hypothesis property of the caps.

One migrated database per backend serves the whole module (a PostgreSQL database costs about a second to
create and migrate); each test gets its own session and the tables are emptied after it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.orm import Session

import ledger.tasks
from ledger.drops import PointsInput
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.merkle import keccak256, normalize_address
from ledger.store.db import session_factory
from ledger.store.models import Completion, Epoch, EpochState, Task, TaskCategory
from ledger.tasks import (
    DEFAULT_CATALOGUE,
    MAX_CLOCK_SKEW_SECONDS,
    MAX_REPORT_AGE_SECONDS,
    CompletionRecord,
    TaskSpec,
    completions_for_account,
    create_task,
    deactivate_task,
    evidence_hash,
    list_tasks,
    points_for_epoch,
    record_completion,
    seed_default_catalogue,
    update_task,
)
from tests.db import BACKENDS, fresh_database

GENESIS = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400  # one epoch: 144 slots of 600 s
NOW = GENESIS + 10 * DAY + 3_600
DAY_START = GENESIS + 10 * DAY  # the epoch day NOW falls in
ALICE = normalize_address("0x" + "a1" * 20)
BOB = normalize_address("0x" + "b2" * 20)
CAROL = normalize_address("0x" + "c3" * 20)


@pytest.fixture(scope="module", params=BACKENDS)
def db_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    tmp_path: Path = tmp_path_factory.mktemp("tasks")
    with fresh_database(str(request.param), tmp_path) as engine:
        yield engine


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        for model in (Completion, Epoch, Task):
            connection.execute(delete(model))


@pytest.fixture
def db(db_engine: Engine) -> Iterator[Session]:
    with session_factory(db_engine)() as session:
        yield session
        session.rollback()
    _empty(db_engine)


def make_task(session: Session, task_id: str = "post", **terms: Any) -> Task:
    values: dict[str, Any] = {
        "title": "Post",
        "category": TaskCategory.COMMUNITY,
        "points": 10,
        "daily_cap": 2,
        "lifetime_cap": 3,
        "active_from": GENESIS,
        "active_until": None,
        "now": GENESIS,
    }
    values.update(terms)
    return create_task(session, task_id, **values)


def record(
    session: Session,
    evidence: str,
    *,
    task_id: str = "post",
    account: str = ALICE,
    completed_at: int = NOW,
    now: int = NOW,
    genesis: int = GENESIS,
) -> Completion:
    return record_completion(
        session, task_id, account, evidence, completed_at=completed_at, now=now, genesis=genesis
    )


def count_completions(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Completion)) or 0


# --- catalogue ------------------------------------------------------------------------------------


def test_create_task_round_trips_every_field(db: Session) -> None:
    make_task(
        db,
        "survey",
        title="  Survey  ",
        category="cocreation",
        points=30,
        active_until=GENESIS + 100 * DAY,
        evidence_kind="survey_response_id",
        description="Answer it.",
    )
    db.commit()
    db.expunge_all()
    task = db.get(Task, "survey")
    assert task is not None
    assert (task.title, task.category, task.points, task.daily_cap, task.lifetime_cap) == (
        "Survey",
        TaskCategory.COCREATION,
        30,
        2,
        3,
    )
    assert (task.active_from, task.active_until, task.deactivated_at) == (GENESIS, GENESIS + 100 * DAY, None)
    assert (task.evidence_kind, task.description, task.created_at, task.updated_at) == (
        "survey_response_id",
        "Answer it.",
        GENESIS,
        GENESIS,
    )


@pytest.mark.parametrize(
    ("task_id", "terms", "message"),
    [
        ("Post", {}, r"malformed task id 'Post': expected \[a-z0-9_-\]\{1,64\}"),
        ("", {}, "malformed task id ''"),
        ("x" * 65, {}, "malformed task id"),
        ("a.b", {}, "malformed task id 'a.b'"),
        ("post", {"points": 0}, "points must be between 1 and 10,000, got 0"),
        ("post", {"points": 10_001}, "points must be between 1 and 10,000, got 10,001"),
        ("post", {"points": True}, "points must be an integer, got bool"),
        ("post", {"daily_cap": 0}, "daily_cap must be between 1 and 1,000,000, got 0"),
        ("post", {"lifetime_cap": 0}, "lifetime_cap must be between 1 and 1,000,000, got 0"),
        ("post", {"daily_cap": 4, "lifetime_cap": 3}, r"daily_cap must not exceed lifetime_cap \(4 > 3\)"),
        ("post", {"title": "   "}, "title must not be empty"),
        ("post", {"title": "x" * 201}, "title is longer than 200 characters"),
        ("post", {"category": "farming"}, "unknown category 'farming': expected one of app_interaction"),
        ("post", {"evidence_kind": "Post ID"}, "malformed evidence_kind 'Post ID'"),
        ("post", {"description": "x" * 2_001}, "description is longer than 2000 characters"),
        ("post", {"active_from": -1}, "active_from must be at least 0, got -1"),
        ("post", {"active_until": GENESIS}, r"active_until must be after active_from \(\d+ <= \d+\)"),
        ("post", {"active_until": NOW, "now": NOW}, f"active_until {NOW} is already past"),
    ],
)
def test_catalogue_rules_refuse_bad_terms(
    db: Session, task_id: str, terms: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        make_task(db, task_id, **terms)
    assert list_tasks(db, None) == []


def test_a_taken_task_id_is_a_conflict(db: Session) -> None:
    make_task(db)
    with pytest.raises(ConflictError, match="task 'post' already exists"):
        make_task(db, points=99)
    assert db.get(Task, "post").points == 10  # type: ignore[union-attr]


def test_update_changes_only_the_given_fields_and_revalidates(db: Session) -> None:
    make_task(db, active_until=GENESIS + 100 * DAY)
    task = update_task(db, "post", now=NOW, points=15, title="Original post", active_until=None)
    assert (task.points, task.title, task.active_until, task.daily_cap, task.updated_at) == (
        15,
        "Original post",
        None,
        2,
        NOW,
    )
    with pytest.raises(ValidationError, match=r"daily_cap must not exceed lifetime_cap \(5 > 3\)"):
        update_task(db, "post", now=NOW, daily_cap=5)
    with pytest.raises(ValidationError, match="already past"):
        update_task(db, "post", now=NOW, active_until=NOW - 1)
    with pytest.raises(NotFoundError, match="unknown task 'nope'"):
        update_task(db, "nope", now=NOW, points=1)
    assert db.get(Task, "post").daily_cap == 2  # type: ignore[union-attr]


def test_editing_a_task_never_changes_recorded_points(db: Session) -> None:
    make_task(db)
    record(db, "p1")
    update_task(db, "post", now=NOW, points=50)
    record(db, "p2")
    assert points_for_epoch(db, DAY_START, DAY_START + DAY) == [PointsInput(ALICE, 60)]


def test_deactivation_stops_new_completions_keeps_earlier_ones_and_is_idempotent(db: Session) -> None:
    make_task(db)
    task = deactivate_task(db, "post", NOW)
    assert (task.deactivated_at, task.active_until) == (NOW, None)
    assert deactivate_task(db, "post", NOW + 50).deactivated_at == NOW
    record(db, "done-before", completed_at=NOW - 1, now=NOW + 50)
    with pytest.raises(
        ValidationError, match=f"task 'post' was deactivated at {NOW} \\(completed at {NOW}\\)"
    ):
        record(db, "done-after", completed_at=NOW, now=NOW + 50)
    with pytest.raises(NotFoundError):
        deactivate_task(db, "nope", NOW)


def test_list_tasks_honours_each_window_edge(db: Session) -> None:
    make_task(db, "a", active_from=GENESIS + 10)
    make_task(db, "b", active_until=GENESIS + 20)
    make_task(db, "c")
    deactivate_task(db, "c", GENESIS + 30)

    def active(at: int) -> list[str]:
        return [task.id for task in list_tasks(db, at)]

    assert active(GENESIS + 9) == ["b", "c"]
    assert active(GENESIS + 10) == ["a", "b", "c"]
    assert active(GENESIS + 20) == ["a", "c"]
    assert active(GENESIS + 30) == ["a"]
    assert [task.id for task in list_tasks(db, None)] == ["a", "b", "c"]


def test_default_catalogue_is_valid_and_covers_every_category() -> None:
    assert len(DEFAULT_CATALOGUE) >= 10
    assert len({spec.task_id for spec in DEFAULT_CATALOGUE}) == len(DEFAULT_CATALOGUE)
    assert {spec.category for spec in DEFAULT_CATALOGUE} == set(TaskCategory)
    assert all(isinstance(spec, TaskSpec) for spec in DEFAULT_CATALOGUE)


def test_seeding_the_default_catalogue_twice_changes_nothing(db: Session) -> None:
    created = seed_default_catalogue(db, GENESIS)
    assert created == [spec.task_id for spec in DEFAULT_CATALOGUE]
    update_task(db, "daily_checkin", now=GENESIS + 5, points=7)  # an operator's edit survives re-seeding
    db.commit()
    before = [(t.id, t.title, t.points, t.active_from, t.updated_at) for t in list_tasks(db, None)]
    assert seed_default_catalogue(db, GENESIS + DAY) == []
    db.commit()
    after = [(t.id, t.title, t.points, t.active_from, t.updated_at) for t in list_tasks(db, None)]
    assert after == before
    assert ("daily_checkin", "Daily check-in (每日签到)", 7, GENESIS, GENESIS + 5) in after


# --- completions ----------------------------------------------------------------------------------


def test_a_completion_keeps_the_evidence_hash_only_and_a_checksummed_account(db: Session) -> None:
    make_task(db)
    completion = record(db, "post-42", account=ALICE.lower(), now=NOW + 60)
    db.commit()
    assert (completion.account, completion.points, completion.seq, completion.recorded_at) == (
        ALICE,
        10,
        1,
        NOW + 60,
    )
    expected = keccak256(b"yuanshi/task-evidence/v1\x00post\x00post-42")
    assert completion.evidence_hash == evidence_hash("post", "post-42") == "0x" + expected.hex()
    # Domain-separated by task: one reference under two tasks gives unrelated hashes.
    assert evidence_hash("comment", "post-42") != completion.evidence_hash


@pytest.mark.parametrize(
    ("account", "evidence", "completed_at", "now", "message"),
    [
        ("0x1234", "e", NOW, NOW, "malformed address '0x1234'"),
        ("0x" + "A1" * 20, "e", NOW, NOW, "bad EIP-55 checksum"),
        (ALICE, "", NOW, NOW, "evidence must be a non-empty string"),
        (ALICE, "x" * 513, NOW, NOW, "evidence is longer than 512 bytes"),
        (ALICE, "\ud800", NOW, NOW, "evidence is not valid UTF-8 text"),
        (
            ALICE,
            "e",
            NOW + MAX_CLOCK_SKEW_SECONDS + 1,
            NOW,
            r"is in the future \(now \d+, 300 s of clock skew",
        ),
        (ALICE, "e", NOW - MAX_REPORT_AGE_SECONDS - 1, NOW, r"is more than 7 days before now"),
        (ALICE, "e", GENESIS - 1, GENESIS, f"completed_at {GENESIS - 1} is before genesis {GENESIS}"),
    ],
)
def test_completion_rules_refuse_bad_reports(
    db: Session, account: str, evidence: str, completed_at: int, now: int, message: str
) -> None:
    make_task(db, active_from=GENESIS - DAY)
    with pytest.raises(ValidationError, match=message):
        record(db, evidence, account=account, completed_at=completed_at, now=now)
    assert count_completions(db) == 0


def test_report_times_at_the_edges_of_skew_and_age_are_accepted(db: Session) -> None:
    make_task(db, daily_cap=5, lifetime_cap=5)
    record(db, "e1", completed_at=NOW + MAX_CLOCK_SKEW_SECONDS)
    record(db, "e2", completed_at=NOW - MAX_REPORT_AGE_SECONDS)
    record(db, "e3", completed_at=GENESIS, now=GENESIS)
    assert count_completions(db) == 3


def test_an_unknown_task_is_not_found(db: Session) -> None:
    with pytest.raises(NotFoundError, match="unknown task 'ghost'"):
        record(db, "e", task_id="ghost")


def test_inactive_tasks_refuse_completions_with_the_reason(db: Session) -> None:
    make_task(db, "future", active_from=NOW + 1)
    make_task(db, "ended", active_until=NOW)
    with pytest.raises(ValidationError, match=f"task 'future' is not active yet at {NOW} "):
        record(db, "e", task_id="future")
    with pytest.raises(ValidationError, match=f"task 'ended' expired at {NOW} "):
        record(db, "e", task_id="ended")
    record(db, "e", task_id="ended", completed_at=NOW - 1)  # done in time, reported late: counts


def test_evidence_is_unique_per_task_whoever_reports_it(db: Session) -> None:
    make_task(db)
    make_task(db, "comment")
    record(db, "post-42")
    with pytest.raises(ConflictError, match="duplicate evidence for task 'post'"):
        record(db, "post-42", account=BOB)
    record(db, "post-42", task_id="comment")
    assert count_completions(db) == 2


def test_daily_cap_boundary_and_reset_on_the_next_epoch_day(db: Session) -> None:
    make_task(db, daily_cap=2, lifetime_cap=10)
    now = DAY_START + DAY + 10
    record(db, "a", completed_at=DAY_START, now=now)
    record(db, "b", completed_at=DAY_START + DAY - 1, now=now)
    with pytest.raises(
        ConflictError, match="daily cap reached: task 'post' counts 2 completions per account"
    ):
        record(db, "c", completed_at=DAY_START + 5, now=now)
    record(db, "c", completed_at=DAY_START + DAY, now=now)
    record(db, "d", account=BOB, completed_at=DAY_START + 5, now=now)
    assert count_completions(db) == 4


def test_the_daily_cap_counts_epoch_days_from_genesis_not_utc_days(db: Session) -> None:
    genesis = GENESIS - 8 * 3_600  # midnight in Beijing
    make_task(db, daily_cap=1, lifetime_cap=10, active_from=genesis)
    boundary = genesis + 11 * DAY  # 16:00 UTC: one UTC day, two epoch days either side
    now = boundary + 3_600
    record(db, "a", completed_at=boundary - 1, now=now, genesis=genesis)
    record(db, "b", completed_at=boundary, now=now, genesis=genesis)
    with pytest.raises(ConflictError, match="daily cap reached"):
        record(db, "c", completed_at=boundary + 1, now=now, genesis=genesis)


def test_lifetime_cap_boundary_per_account(db: Session) -> None:
    make_task(db, daily_cap=2, lifetime_cap=3)
    now = DAY_START + DAY + 10
    record(db, "a", completed_at=DAY_START, now=now)
    record(db, "b", completed_at=DAY_START + 1, now=now)
    third = record(db, "c", completed_at=DAY_START + DAY, now=now)
    assert third.seq == 3
    with pytest.raises(
        ConflictError, match="lifetime cap reached: task 'post' counts 3 completions per account"
    ):
        record(db, "d", completed_at=DAY_START + DAY + 1, now=now)
    record(db, "d", account=BOB, completed_at=DAY_START + DAY + 1, now=now)


def test_a_closed_epoch_refuses_reports(db: Session) -> None:
    make_task(db)
    epoch = (DAY_START - GENESIS) // DAY
    for number, state in ((epoch - 1, EpochState.CLOSED), (epoch, EpochState.COMMITTED)):
        db.add(
            Epoch(number=number, state=state, secret=b"\x01" * 32, commitment="0x" + "00" * 32, updated_at=0)
        )
    db.flush()
    with pytest.raises(ConflictError, match=f"epoch {epoch - 1} is closed for reports"):
        record(db, "late", completed_at=DAY_START - 1)
    record(db, "on-time", completed_at=DAY_START)


def _plant_rival(monkeypatch: pytest.MonkeyPatch, evidence: str, seq: int) -> None:
    """Stores a rival row right after the checks pass, as a racer that committed in between would."""
    original = ledger.tasks._next_seq

    def checked_then_raced(session: Session, task: Task, account: str, start: int, end: int) -> int:
        result = original(session, task, account, start, end)
        rival = {"task_id": task.id, "account": account, "evidence_hash": evidence_hash(task.id, evidence)}
        session.execute(
            insert(Completion).values(**rival, completed_at=NOW, points=1, seq=seq, recorded_at=NOW)
        )
        return result

    monkeypatch.setattr(ledger.tasks, "_next_seq", checked_then_raced)


def test_a_lost_race_on_the_evidence_is_a_conflict_and_the_session_stays_usable(
    db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_task(db, daily_cap=3)
    _plant_rival(monkeypatch, "same", seq=7)
    with pytest.raises(ConflictError, match="duplicate evidence for task 'post'"):
        record(db, "same")
    monkeypatch.undo()
    record(db, "other")
    db.commit()
    assert count_completions(db) == 2


def test_a_lost_race_on_the_sequence_asks_for_a_retry(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    make_task(db, daily_cap=3)
    _plant_rival(monkeypatch, "rival", seq=1)
    with pytest.raises(ConflictError, match=f"another completion of task 'post' by {ALICE} .* retry"):
        record(db, "mine")
    monkeypatch.undo()
    assert record(db, "mine").seq == 2  # the retry sees the rival and takes the next number


def test_identical_completions_racing_in_two_transactions_store_one(
    db_engine: Engine, db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_task(db)
    db.commit()
    if db_engine.dialect.name == "postgresql":
        # Hold both racers after their checks so both inserts really overlap; SQLite serialises writers
        # from the first check on (BEGIN IMMEDIATE), so there a barrier would only deadlock.
        barrier = threading.Barrier(2, timeout=10)
        original = ledger.tasks._next_seq

        def wait_for_rival(session: Session, task: Task, account: str, start: int, end: int) -> int:
            result = original(session, task, account, start, end)
            barrier.wait()
            return result

        monkeypatch.setattr(ledger.tasks, "_next_seq", wait_for_rival)
    collisions: list[str] = []
    original_collision = ledger.tasks._collision

    def collision(session: Session, task_id: str, account: str, digest: str) -> ConflictError:
        collisions.append(task_id)
        return original_collision(session, task_id, account, digest)

    monkeypatch.setattr(ledger.tasks, "_collision", collision)
    outcomes: list[str] = []

    def racer() -> None:
        with session_factory(db_engine)() as session:
            try:
                record(session, "post-1")
                session.commit()
                outcomes.append("stored")
            except ConflictError as exc:
                outcomes.append(str(exc))

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["duplicate evidence for task 'post'", "stored"]
    assert count_completions(db) == 1
    # On PostgreSQL the unique constraint caught the loser; SQLite's write lock made it see the winner.
    assert collisions == (["post"] if db_engine.dialect.name == "postgresql" else [])


def test_nothing_is_kept_unless_the_caller_commits(db_engine: Engine, db: Session) -> None:
    make_task(db)
    db.commit()
    record(db, "e1")
    db.rollback()
    make_task(db, "other")
    record(db, "e2")
    db.rollback()
    with session_factory(db_engine)() as fresh:
        assert count_completions(fresh) == 0
        assert [task.id for task in list_tasks(fresh, None)] == ["post"]


# --- settlement and the wallet --------------------------------------------------------------------


def test_points_for_epoch_sums_per_account_within_half_open_bounds(db: Session) -> None:
    make_task(db, points=10, daily_cap=5, lifetime_cap=10)
    make_task(db, "survey", points=30, daily_cap=5, lifetime_cap=10)
    start, end = DAY_START, DAY_START + DAY
    now = end + 10
    record(db, "before", account=CAROL, completed_at=start - 1, now=now)
    record(db, "first", account=BOB, completed_at=start, now=now)
    record(db, "p", account=ALICE, completed_at=start + 100, now=now)
    record(db, "s", task_id="survey", account=ALICE, completed_at=end - 1, now=now)
    record(db, "at-end", account=BOB, completed_at=end, now=now)
    assert points_for_epoch(db, start, end) == [PointsInput(ALICE, 40), PointsInput(BOB, 10)]
    assert points_for_epoch(db, end, end + DAY) == [PointsInput(BOB, 10)]  # exactly at end: next epoch
    assert points_for_epoch(db, start - DAY, start) == [PointsInput(CAROL, 10)]
    assert points_for_epoch(db, start, start) == []
    with pytest.raises(ValidationError, match=f"end {start - 1} is before start {start}"):
        points_for_epoch(db, start, start - 1)


def test_points_for_epoch_are_sorted_as_the_split_walks_them(db: Session) -> None:
    make_task(db, daily_cap=1, lifetime_cap=1)
    accounts = [normalize_address("0x" + f"{i:02x}" * 20) for i in (0xF0, 0x0A, 0x7C, 0xAB)]
    for number, account in enumerate(accounts):
        record(db, f"e{number}", account=account)
    listed = [entry.account for entry in points_for_epoch(db, DAY_START, DAY_START + DAY)]
    assert listed == sorted(accounts)


def test_completions_for_account_explain_the_points(db: Session) -> None:
    make_task(db, title="Community post", daily_cap=5, lifetime_cap=10)
    make_task(db, "survey", title="Survey", category=TaskCategory.COCREATION, points=30)
    record(db, "s", task_id="survey", completed_at=NOW - 5)
    record(db, "p", completed_at=NOW - 10)
    record(db, "b", account=BOB, completed_at=NOW - 7)
    record(db, "old", completed_at=DAY_START - 1)
    assert completions_for_account(db, ALICE.lower(), DAY_START, DAY_START + DAY) == [
        CompletionRecord("post", "Community post", TaskCategory.COMMUNITY, 10, NOW - 10),
        CompletionRecord("survey", "Survey", TaskCategory.COCREATION, 30, NOW - 5),
    ]
    with pytest.raises(ValidationError, match="malformed address"):
        completions_for_account(db, "alice", DAY_START, DAY_START + DAY)


# --- the caps hold for any sequence of reports ----------------------------------------------------

PROPERTY_TASKS = {"a": (3, 2, 3), "b": (7, 1, 2)}  # id: (points, daily_cap, lifetime_cap)
PROPERTY_ACCOUNTS = (ALICE, BOB, CAROL)
REPORTS = st.lists(
    st.tuples(
        st.sampled_from(PROPERTY_ACCOUNTS),
        st.sampled_from(sorted(PROPERTY_TASKS)),
        st.integers(0, 2),  # epoch day
        st.sampled_from((0, 1, DAY // 2, DAY - 1)),  # second of the day, edges included
        st.integers(0, 12),  # evidence: small, so duplicates happen
    ),
    max_size=20,
)


def _expected_outcome(
    seen: set[tuple[str, int]], counts: Counter[tuple[Any, ...]], report: tuple[Any, ...]
) -> str:
    """The reference model: which rule, if any, refuses ``report`` after the reports before it."""
    account, task_id, day, _, evidence = report
    _, daily_cap, lifetime_cap = PROPERTY_TASKS[task_id]
    if (task_id, evidence) in seen:
        return "duplicate evidence"
    if counts[account, task_id] >= lifetime_cap:
        return "lifetime cap reached"
    if counts[account, task_id, day] >= daily_cap:
        return "daily cap reached"
    return "stored"


@settings(max_examples=25, deadline=None)
@given(reports=REPORTS)
def test_stored_points_never_exceed_the_caps(db_engine: Engine, reports: list[tuple[Any, ...]]) -> None:
    now = GENESIS + 3 * DAY
    seen: set[tuple[str, int]] = set()
    counts: Counter[tuple[Any, ...]] = Counter()
    with session_factory(db_engine)() as session:
        for task_id, (points, daily_cap, lifetime_cap) in PROPERTY_TASKS.items():
            make_task(session, task_id, points=points, daily_cap=daily_cap, lifetime_cap=lifetime_cap)
        try:
            for report in reports:
                account, task_id, day, second, evidence = report
                expected = _expected_outcome(seen, counts, report)
                try:
                    completed_at = GENESIS + day * DAY + second
                    record(
                        session,
                        str(evidence),
                        task_id=task_id,
                        account=account,
                        completed_at=completed_at,
                        now=now,
                    )
                    outcome = "stored"
                except ConflictError as exc:
                    outcome = str(exc)
                assert outcome.startswith(expected), (report, outcome)
                if expected == "stored":
                    seen.add((task_id, evidence))
                    counts.update([(account, task_id), (account, task_id, day)])
            _check_caps_in_database(session, counts)
        finally:
            session.rollback()
    _empty(db_engine)


def _check_caps_in_database(session: Session, counts: Counter[tuple[Any, ...]]) -> None:
    day_budget = sum(points * daily_cap for points, daily_cap, _ in PROPERTY_TASKS.values())
    for day in range(3):
        start = GENESIS + day * DAY
        stored = points_for_epoch(session, start, start + DAY)
        expected = {
            account: sum(PROPERTY_TASKS[t][0] * counts[account, t, day] for t in PROPERTY_TASKS)
            for account in PROPERTY_ACCOUNTS
        }
        assert stored == [PointsInput(a, p) for a, p in sorted(expected.items()) if p > 0]
        assert all(entry.points <= day_budget for entry in stored)
    lifetime = session.execute(
        select(Completion.account, Completion.task_id, func.count()).group_by(
            Completion.account, Completion.task_id
        )
    )
    for account, task_id, number in lifetime:
        assert number <= PROPERTY_TASKS[task_id][2]
        assert number == counts[account, task_id]
