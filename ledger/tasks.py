"""Co-creation tasks (养成式开采): the catalogue operators keep, and the completions the app reports.

Every service takes a :class:`~sqlalchemy.orm.Session` and an explicit ``now`` (unix seconds); it flushes,
the caller commits. Points, caps and times are integers.

Catalogue rules
    * A task id matches ``[a-z0-9_-]{1,64}``; a title is 1-200 characters (surrounding blanks dropped).
    * ``points`` per completion is 1..10,000; ``daily_cap`` and ``lifetime_cap`` (completions per account)
      are 1..1,000,000 with ``daily_cap <= lifetime_cap``.
    * The active window is half-open, ``[active_from, active_until)``, ``active_until`` None for no end;
      it must be non-empty, and an end set by a create or an update must not already be past.
    * Deactivation closes the window at that moment (``deactivated_at``), keeps the configured window for
      the record, and is idempotent. Completions done while the task was active still count when they
      are reported later.
    * Editing a task never changes recorded completions: each keeps the points it was recorded with.

Completion rules, checked in this order
    1. The account is an address, stored EIP-55 checksummed; the evidence is a non-empty string of at
       most 512 UTF-8 bytes (``ValidationError``).
    2. ``completed_at`` is not before genesis, at most 300 s in the future (clock skew) and at most
       7 days old (``ValidationError``).
    3. The task exists (``NotFoundError``) and is active at ``completed_at`` (``ValidationError``).
    4. The epoch of ``completed_at`` is not closed by settlement (``ConflictError``): points reported
       after the inputs were fixed would otherwise be lost silently. So a report later than settlement's
       grace period after its epoch is refused even within the 7 days.
    5. The evidence was not used for this task before, by anyone (``ConflictError`` "duplicate evidence").
    6. The account has fewer than ``lifetime_cap`` completions of the task, and fewer than ``daily_cap``
       in the epoch day of ``completed_at`` (``ConflictError`` naming the cap). The daily cap counts
       settlement epochs (144 slots of 600 s from genesis), not calendar days in some time zone, so a
       day's cap and a day's points always fall in the same epoch.

Evidence is stored only as ``keccak256("yuanshi/task-evidence/v1" 0x00 task_id 0x00 evidence)``, unsalted.
The hash must be deterministic for uniqueness to be enforced by the database forever and across workers;
a secret salt would add a key that can never rotate while protecting nothing, because the hash never
leaves the ledger's database (settlement publishes points per account, not evidence). So the app must
send an opaque reference (a post id, a survey response id), never personal data such as a phone number,
which an unsalted hash would not hide. The task id in the hash keeps one reference used under two tasks
from yielding linkable hashes.

Concurrency: two racing completions must not both be stored. Each completion carries ``seq``, its number
among the account's completions of the task, unique per (task, account): two racers compute the same
``seq`` (or the same evidence hash), so the database rejects the second insert whatever the isolation
level. The insert runs in a SAVEPOINT so that the rejection becomes a ``ConflictError`` and the caller's
transaction stays usable. On PostgreSQL the epoch row is read ``FOR SHARE`` so settlement cannot close an
epoch under a completion in flight; on SQLite the checks and the insert run under ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from ledger.drops import PointsInput
from ledger.errors import ConflictError, NotFoundError, ValidationError
from ledger.merkle import MerkleError, keccak256, normalize_address
from ledger.schedule import SLOT_SECONDS, SLOTS_PER_EPOCH
from ledger.store.models import Completion, Epoch, EpochState, Task, TaskCategory

__all__ = [
    "DEFAULT_CATALOGUE",
    "KEEP",
    "MAX_CAP",
    "MAX_CLOCK_SKEW_SECONDS",
    "MAX_EVIDENCE_BYTES",
    "MAX_POINTS",
    "MAX_REPORT_AGE_SECONDS",
    "CompletionRecord",
    "TaskSpec",
    "completions_for_account",
    "create_task",
    "deactivate_task",
    "evidence_hash",
    "get_task",
    "list_tasks",
    "points_for_epoch",
    "record_completion",
    "seed_default_catalogue",
    "update_task",
]

MAX_POINTS: Final = 10_000
MAX_CAP: Final = 1_000_000
MAX_TITLE_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 2_000
MAX_EVIDENCE_BYTES: Final = 512
MAX_CLOCK_SKEW_SECONDS: Final = 300
MAX_REPORT_AGE_SECONDS: Final = 7 * 86_400
EPOCH_SECONDS: Final = SLOTS_PER_EPOCH * SLOT_SECONDS
EVIDENCE_DOMAIN: Final = b"yuanshi/task-evidence/v1"

_TASK_ID_RE: Final = re.compile(r"[a-z0-9_-]{1,64}")
_EVIDENCE_KIND_RE: Final = re.compile(r"[a-z0-9_]{1,32}")
_EPOCH_STEPS: Final = list(EpochState)  # declared in the order settlement walks them

_T = TypeVar("_T")


class _Keep(enum.Enum):
    KEEP = "keep"


KEEP: Final = _Keep.KEEP
"""Default of every :func:`update_task` field: leave it as it is (None is a value of ``active_until``)."""


# --- validation -----------------------------------------------------------------------------------


def _pick(new: _T | _Keep, old: _T) -> _T:
    return old if isinstance(new, _Keep) else new


def _check_int(name: str, value: object, low: int, high: int | None) -> int:
    # bool is an int subclass; True as a cap is a bug, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise ValidationError(f"{name} must be {bounds}, got {value:,}")
    return value


def _check_task_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not _TASK_ID_RE.fullmatch(task_id):
        raise ValidationError(f"malformed task id {task_id!r}: expected [a-z0-9_-]{{1,64}}")
    return task_id


def _check_text(name: str, value: object, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string, got {type(value).__name__}")
    text = value.strip()
    if required and not text:
        raise ValidationError(f"{name} must not be empty")
    if len(text) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters")
    return text


def _check_category(category: object) -> TaskCategory:
    if isinstance(category, str) and category in set(TaskCategory):
        return TaskCategory(category)
    known = ", ".join(member.value for member in TaskCategory)
    raise ValidationError(f"unknown category {category!r}: expected one of {known}")


def _check_window(active_from: int, active_until: int | None) -> tuple[int, int | None]:
    _check_int("active_from", active_from, 0, None)
    if active_until is not None:
        _check_int("active_until", active_until, 0, None)
        if active_until <= active_from:
            raise ValidationError(f"active_until must be after active_from ({active_until} <= {active_from})")
    return active_from, active_until


def _check_not_over(active_until: int | None, now: int) -> None:
    if active_until is not None and active_until <= now:
        raise ValidationError(f"active_until {active_until} is already past (now {now})")


def _check_span(start: int, end: int) -> None:
    _check_int("start", start, 0, None)
    _check_int("end", end, 0, None)
    if end < start:
        raise ValidationError(f"end {end} is before start {start}")


def _check_account(account: object) -> str:
    try:
        return normalize_address(account)
    except MerkleError as exc:
        raise ValidationError(str(exc)) from exc


def _check_evidence(evidence: object) -> bytes:
    if not isinstance(evidence, str) or not evidence:
        raise ValidationError("evidence must be a non-empty string")
    try:
        raw = evidence.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("evidence is not valid UTF-8 text") from None
    if len(raw) > MAX_EVIDENCE_BYTES:
        raise ValidationError(f"evidence is longer than {MAX_EVIDENCE_BYTES} bytes")
    return raw


# --- catalogue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """A task's terms apart from its active window; validated on construction."""

    task_id: str
    title: str
    category: TaskCategory
    points: int
    daily_cap: int
    lifetime_cap: int
    evidence_kind: str = "reference"
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_id", _check_task_id(self.task_id))
        object.__setattr__(self, "title", _check_text("title", self.title, MAX_TITLE_CHARS, required=True))
        object.__setattr__(self, "category", _check_category(self.category))
        _check_int("points", self.points, 1, MAX_POINTS)
        _check_int("daily_cap", self.daily_cap, 1, MAX_CAP)
        _check_int("lifetime_cap", self.lifetime_cap, 1, MAX_CAP)
        if self.daily_cap > self.lifetime_cap:
            raise ValidationError(
                f"daily_cap must not exceed lifetime_cap ({self.daily_cap} > {self.lifetime_cap})"
            )
        if not isinstance(self.evidence_kind, str) or not _EVIDENCE_KIND_RE.fullmatch(self.evidence_kind):
            raise ValidationError(
                f"malformed evidence_kind {self.evidence_kind!r}: expected [a-z0-9_]{{1,32}}"
            )
        object.__setattr__(
            self, "description", _check_text("description", self.description, MAX_DESCRIPTION_CHARS)
        )


_APP = TaskCategory.APP_INTERACTION
_COMMUNITY = TaskCategory.COMMUNITY
_COCREATION = TaskCategory.COCREATION
_SERVICE = TaskCategory.SERVICE_EFFICIENCY
_SPECIAL = TaskCategory.SPECIAL_CONTRIBUTION

# Points rank effort and value to the brand: a tap earns little, an adopted proposal a lot. Lifetime caps
# bound what any one account can farm from a task over the four-year era.
# fmt: off
DEFAULT_CATALOGUE: Final[tuple[TaskSpec, ...]] = (
    TaskSpec("daily_checkin", "Daily check-in (每日签到)", _APP, points=5, daily_cap=1, lifetime_cap=1_461,
             evidence_kind="checkin_id", description="Open the app and check in once a day."),
    TaskSpec("community_post", "Community post (社区发帖)", _COMMUNITY, points=20, daily_cap=3,
             lifetime_cap=2_000, evidence_kind="post_id",
             description="Publish an original post in the owners' community."),
    TaskSpec("community_comment", "Comment (评论)", _COMMUNITY, points=2, daily_cap=10, lifetime_cap=10_000,
             evidence_kind="comment_id", description="Comment on a community post."),
    TaskSpec("event_attendance", "Event attendance (活动参与)", _COMMUNITY, points=100, daily_cap=2,
             lifetime_cap=500, evidence_kind="event_ticket_id",
             description="Attend a brand or owners' club event, checked in on site."),
    TaskSpec("survey", "Product survey (问卷调研)", _COCREATION, points=30, daily_cap=3, lifetime_cap=1_000,
             evidence_kind="survey_response_id", description="Complete a product or service survey."),
    TaskSpec("codefinition_session", "Product co-definition session (产品共创会)", _COCREATION, points=300,
             daily_cap=1, lifetime_cap=200, evidence_kind="session_attendance_id",
             description="Take part in a product co-definition session with the product team."),
    TaskSpec("adopted_feedback", "Adopted feedback (建议被采纳)", _COCREATION, points=500, daily_cap=5,
             lifetime_cap=500, evidence_kind="feedback_id", description="Feedback the product team adopted."),
    TaskSpec("public_charging", "Public charging session (公共充电)", _SERVICE, points=10, daily_cap=5,
             lifetime_cap=20_000, evidence_kind="charging_session_id",
             description="Charge at a public station booked through the app."),
    TaskSpec("maintenance_on_time", "On-time maintenance (按时保养)", _SERVICE, points=200, daily_cap=1,
             lifetime_cap=100, evidence_kind="work_order_id",
             description="Have the car serviced within its maintenance window."),
    TaskSpec("referral", "Referral (推荐购车)", _SPECIAL, points=1_000, daily_cap=3, lifetime_cap=50,
             evidence_kind="referral_id", description="A buyer you referred took delivery of a car."),
    TaskSpec("adopted_major_proposal", "Adopted major proposal (重大提案被采纳)", _SPECIAL, points=5_000,
             daily_cap=1, lifetime_cap=20, evidence_kind="proposal_id",
             description="A major proposal of yours was adopted by the company."),
)
# fmt: on


def get_task(session: Session, task_id: str) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFoundError(f"unknown task {task_id!r}")
    return task


def create_task(
    session: Session,
    task_id: str,
    *,
    title: str,
    category: TaskCategory | str,
    points: int,
    daily_cap: int,
    lifetime_cap: int,
    active_from: int,
    active_until: int | None = None,
    now: int,
    evidence_kind: str = "reference",
    description: str = "",
) -> Task:
    """Adds a task to the catalogue; ``ConflictError`` if the id is taken."""
    spec = TaskSpec(
        task_id, title, _check_category(category), points, daily_cap, lifetime_cap, evidence_kind, description
    )
    return _add_task(session, spec, active_from, active_until, now)


def update_task(
    session: Session,
    task_id: str,
    *,
    now: int,
    title: str | _Keep = KEEP,
    category: TaskCategory | str | _Keep = KEEP,
    points: int | _Keep = KEEP,
    daily_cap: int | _Keep = KEEP,
    lifetime_cap: int | _Keep = KEEP,
    active_from: int | _Keep = KEEP,
    active_until: int | _Keep | None = KEEP,
    evidence_kind: str | _Keep = KEEP,
    description: str | _Keep = KEEP,
) -> Task:
    """Changes the given fields (the rest stay); the result must satisfy every catalogue rule."""
    task = get_task(session, task_id)
    spec = TaskSpec(
        task.id,
        _pick(title, task.title),
        _check_category(_pick(category, task.category)),
        _pick(points, task.points),
        _pick(daily_cap, task.daily_cap),
        _pick(lifetime_cap, task.lifetime_cap),
        _pick(evidence_kind, task.evidence_kind),
        _pick(description, task.description),
    )
    window = _check_window(_pick(active_from, task.active_from), _pick(active_until, task.active_until))
    if not isinstance(active_until, _Keep):
        _check_not_over(active_until, now)
    _apply(task, spec, window, now)
    session.flush()
    return task


def deactivate_task(session: Session, task_id: str, now: int) -> Task:
    """Stops the task from ``now`` on; a second call keeps the first deactivation time."""
    task = get_task(session, task_id)
    if task.deactivated_at is None:
        task.deactivated_at = now
        task.updated_at = now
        session.flush()
    return task


def list_tasks(session: Session, at: int | None) -> list[Task]:
    """Tasks active at ``at`` (every task, expired and deactivated included, when ``at`` is None), by id."""
    query = select(Task).order_by(Task.id)
    if at is not None:
        query = query.where(_active_at(at))
    return list(session.scalars(query))


def seed_default_catalogue(session: Session, now: int) -> list[str]:
    """Adds the :data:`DEFAULT_CATALOGUE` tasks that are missing, active from ``now``; returns their ids.

    Existing tasks are left alone, operators' edits included, so running it again changes nothing."""
    created = []
    for spec in DEFAULT_CATALOGUE:
        if session.get(Task, spec.task_id) is not None:
            continue
        try:
            _add_task(session, spec, now, None, now)
        except ConflictError:
            continue  # a concurrent seeder added it first
        created.append(spec.task_id)
    return created


def _add_task(session: Session, spec: TaskSpec, active_from: int, active_until: int | None, now: int) -> Task:
    window = _check_window(active_from, active_until)
    _check_not_over(active_until, now)
    if session.get(Task, spec.task_id) is not None:
        raise ConflictError(f"task {spec.task_id!r} already exists")
    task = Task(id=spec.task_id, created_at=now)
    _apply(task, spec, window, now)
    _insert(session, task, lambda: ConflictError(f"task {spec.task_id!r} already exists"))
    return task


def _apply(task: Task, spec: TaskSpec, window: tuple[int, int | None], now: int) -> None:
    task.title = spec.title
    task.category = spec.category
    task.points = spec.points
    task.daily_cap = spec.daily_cap
    task.lifetime_cap = spec.lifetime_cap
    task.evidence_kind = spec.evidence_kind
    task.description = spec.description
    task.active_from, task.active_until = window
    task.updated_at = now


def _active_at(at: int) -> ColumnElement[bool]:
    return and_(
        Task.active_from <= at,
        or_(Task.active_until.is_(None), Task.active_until > at),
        or_(Task.deactivated_at.is_(None), Task.deactivated_at > at),
    )


def _inactive_reason(task: Task, at: int) -> str | None:
    if at < task.active_from:
        return f"task {task.id!r} is not active yet at {at} (active from {task.active_from})"
    if task.active_until is not None and at >= task.active_until:
        return f"task {task.id!r} expired at {task.active_until} (completed at {at})"
    if task.deactivated_at is not None and at >= task.deactivated_at:
        return f"task {task.id!r} was deactivated at {task.deactivated_at} (completed at {at})"
    return None


# --- completions ----------------------------------------------------------------------------------


def evidence_hash(task_id: str, evidence: str) -> str:
    """The only trace of ``evidence`` the ledger keeps (see the module docstring), as 0x-prefixed hex."""
    raw = _check_evidence(evidence)
    task = _check_task_id(task_id).encode("ascii")
    return "0x" + keccak256(EVIDENCE_DOMAIN + b"\x00" + task + b"\x00" + raw).hex()


def record_completion(
    session: Session,
    task_id: str,
    account: str,
    evidence: str,
    *,
    completed_at: int,
    now: int,
    genesis: int,
) -> Completion:
    """Records that ``account`` did ``task_id`` at ``completed_at``, proven by the app's ``evidence``.

    ``genesis`` is the deployment's first slot time: epoch days (the daily cap) count from it."""
    account = _check_account(account)
    _check_evidence(evidence)
    _check_report_time(completed_at, now, genesis)
    _begin_write(session)
    task = get_task(session, task_id)
    reason = _inactive_reason(task, completed_at)
    if reason is not None:
        raise ValidationError(reason)
    epoch = (completed_at - genesis) // EPOCH_SECONDS
    _check_epoch_open(session, epoch)
    digest = evidence_hash(task.id, evidence)
    if _evidence_used(session, task.id, digest):
        raise ConflictError(f"duplicate evidence for task {task.id!r}")
    day_start = genesis + epoch * EPOCH_SECONDS
    seq = _next_seq(session, task, account, day_start, day_start + EPOCH_SECONDS)
    completion = Completion(
        task_id=task.id,
        account=account,
        evidence_hash=digest,
        completed_at=completed_at,
        points=task.points,
        seq=seq,
        recorded_at=now,
    )
    _insert(session, completion, lambda: _collision(session, task.id, account, digest))
    return completion


def _check_report_time(completed_at: int, now: int, genesis: int) -> None:
    _check_int("completed_at", completed_at, 0, None)
    if completed_at < genesis:
        raise ValidationError(f"completed_at {completed_at} is before genesis {genesis}")
    if completed_at > now + MAX_CLOCK_SKEW_SECONDS:
        raise ValidationError(
            f"completed_at {completed_at} is in the future (now {now}, "
            f"{MAX_CLOCK_SKEW_SECONDS} s of clock skew allowed)"
        )
    if completed_at < now - MAX_REPORT_AGE_SECONDS:
        raise ValidationError(f"completed_at {completed_at} is more than 7 days before now ({now})")


def _check_epoch_open(session: Session, epoch: int) -> None:
    # FOR SHARE (PostgreSQL; SQLite has no row locks and serialises writers anyway) holds off the
    # settlement step that closes the epoch until this transaction ends.
    state = session.scalar(select(Epoch.state).where(Epoch.number == epoch).with_for_update(read=True))
    if state is not None and _EPOCH_STEPS.index(state) >= _EPOCH_STEPS.index(EpochState.CLOSED):
        raise ConflictError(f"epoch {epoch} is closed for reports (settlement state {state.value})")


def _evidence_used(session: Session, task_id: str, digest: str) -> bool:
    query = select(Completion.id).where(Completion.task_id == task_id, Completion.evidence_hash == digest)
    return session.scalar(query) is not None


def _next_seq(session: Session, task: Task, account: str, day_start: int, day_end: int) -> int:
    """The ``seq`` of the account's next completion of ``task``, if neither cap is reached."""
    in_day = and_(Completion.completed_at >= day_start, Completion.completed_at < day_end)
    lifetime, today, last_seq = session.execute(
        select(func.count(), func.count().filter(in_day), func.coalesce(func.max(Completion.seq), 0)).where(
            Completion.task_id == task.id, Completion.account == account
        )
    ).one()
    if lifetime >= task.lifetime_cap:
        raise ConflictError(
            f"lifetime cap reached: task {task.id!r} counts {task.lifetime_cap} completions per account"
        )
    if today >= task.daily_cap:
        raise ConflictError(
            f"daily cap reached: task {task.id!r} counts {task.daily_cap} completions per account per "
            "epoch day"
        )
    return int(last_seq) + 1


def _collision(session: Session, task_id: str, account: str, digest: str) -> ConflictError:
    # The racer that won has committed by now (the loser's insert waited for it), so it is visible.
    if _evidence_used(session, task_id, digest):
        return ConflictError(f"duplicate evidence for task {task_id!r}")
    return ConflictError(
        f"another completion of task {task_id!r} by {account} was recorded at the same time; retry"
    )


# --- settlement and the wallet --------------------------------------------------------------------


@dataclass(frozen=True)
class CompletionRecord:
    """One line of a wallet's "why": what was done, when, for how many points."""

    task_id: str
    title: str
    category: TaskCategory
    points: int
    completed_at: int


def points_for_epoch(session: Session, epoch_start: int, epoch_end: int) -> list[PointsInput]:
    """Points per account from completions with ``completed_at`` in ``[epoch_start, epoch_end)``: accounts
    with positive points only, in the order :func:`ledger.drops.split_cocreation` walks them."""
    _check_span(epoch_start, epoch_end)
    total = func.sum(Completion.points)
    rows = session.execute(
        select(Completion.account, total)
        .where(Completion.completed_at >= epoch_start, Completion.completed_at < epoch_end)
        .group_by(Completion.account)
        .having(total > 0)
    )
    return sorted((PointsInput(account, int(points)) for account, points in rows), key=lambda p: p.account)


def completions_for_account(session: Session, account: str, start: int, end: int) -> list[CompletionRecord]:
    """The account's completions with ``completed_at`` in ``[start, end)``, oldest first."""
    account = _check_account(account)
    _check_span(start, end)
    rows = session.execute(
        select(Completion.task_id, Task.title, Task.category, Completion.points, Completion.completed_at)
        .join(Task, Task.id == Completion.task_id)
        .where(Completion.account == account, Completion.completed_at >= start, Completion.completed_at < end)
        .order_by(Completion.completed_at, Completion.id)
    )
    return [CompletionRecord(*row) for row in rows]


# --- shared helpers -------------------------------------------------------------------------------


def _begin_write(session: Session) -> None:
    """Makes sure a SQLite connection is inside a real transaction before reads that decide a write.

    pysqlite opens a transaction only at the first INSERT/UPDATE/DELETE, so until then each SELECT stands
    alone and a SAVEPOINT would itself open the transaction that its RELEASE then commits, behind the
    caller's back. BEGIN IMMEDIATE also takes the write lock, so checks and insert are atomic."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not getattr(connection.connection.dbapi_connection, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _insert(session: Session, row: Task | Completion, conflict: Callable[[], ConflictError]) -> None:
    """Adds and flushes ``row`` in a SAVEPOINT; a unique-constraint race becomes ``conflict()``."""
    _begin_write(session)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:
        raise conflict() from exc
