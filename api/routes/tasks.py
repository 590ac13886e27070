"""Co-creation tasks: the catalogue (read by anyone, changed with scope ``tasks``) and completions the
app backend reports (scope ``tasks``) with evidence."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status

from api.deps import NowDep, ServicesDep, SessionDep, operator
from api.schemas.common import problem_responses
from api.schemas.tasks import CompletionIn, CompletionOut, TaskIn, TaskOut, TaskPatch
from ledger import tasks
from ledger.errors import ValidationError
from ledger.store.models import Task
from ledger.tokens import Scope, TokenIdentity

router = APIRouter(prefix="/tasks", tags=["tasks"], responses=problem_responses(401, 403, 404, 409, 422, 429))
Operator = Annotated[TokenIdentity, Depends(operator(Scope.TASKS))]
TaskPath = Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,64}$", examples=["community_post"])]


def _out(task: Task, now: int) -> TaskOut:
    return TaskOut(
        task_id=task.id,
        title=task.title,
        category=task.category.value,
        points=task.points,
        daily_cap=task.daily_cap,
        lifetime_cap=task.lifetime_cap,
        active_from=task.active_from,
        active_until=task.active_until,
        evidence_kind=task.evidence_kind,
        description=task.description,
        created_at=task.created_at,
        updated_at=task.updated_at,
        deactivated_at=task.deactivated_at,
        active_now=task.active_from <= now
        and (task.active_until is None or now < task.active_until)
        and (task.deactivated_at is None or now < task.deactivated_at),
    )


@router.get("", summary="The catalogue (only tasks active now, unless all=true)")
def list_tasks(
    session: SessionDep,
    now: NowDep,
    all: Annotated[bool, Query(description="include inactive tasks")] = False,
) -> list[TaskOut]:
    return [_out(task, now) for task in tasks.list_tasks(session, None if all else now)]


@router.get("/{task_id}", summary="One task")
def get_task(task_id: TaskPath, session: SessionDep, now: NowDep) -> TaskOut:
    return _out(tasks.get_task(session, task_id), now)


@router.post("", status_code=status.HTTP_201_CREATED, summary="Add a task to the catalogue")
def create_task(body: TaskIn, session: SessionDep, now: NowDep, _: Operator) -> TaskOut:
    task = tasks.create_task(
        session,
        body.task_id,
        title=body.title,
        category=body.category,
        points=body.points,
        daily_cap=body.daily_cap,
        lifetime_cap=body.lifetime_cap,
        active_from=now if body.active_from is None else body.active_from,
        active_until=body.active_until,
        now=now,
        evidence_kind=body.evidence_kind,
        description=body.description,
    )
    return _out(task, now)


@router.patch("/{task_id}", summary="Change a task's terms; recorded completions keep their points")
def update_task(task_id: TaskPath, body: TaskPatch, session: SessionDep, now: NowDep, _: Operator) -> TaskOut:
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    nulls = [name for name, value in changes.items() if value is None and name != "active_until"]
    if nulls:
        raise ValidationError(f"{', '.join(sorted(nulls))}: only active_until may be null")
    return _out(tasks.update_task(session, task_id, now=now, **changes), now)


@router.delete("/{task_id}", summary="Deactivate a task from now on (it stays in the record)")
def deactivate_task(task_id: TaskPath, session: SessionDep, now: NowDep, _: Operator) -> TaskOut:
    return _out(tasks.deactivate_task(session, task_id, now), now)


@router.post(
    "/{task_id}/completions",
    status_code=status.HTTP_201_CREATED,
    summary="Record that an account completed a task, with the app's evidence",
)
def record_completion(
    task_id: TaskPath, body: CompletionIn, svc: ServicesDep, session: SessionDep, now: NowDep, _: Operator
) -> CompletionOut:
    completion = tasks.record_completion(
        session,
        task_id,
        body.account,
        body.evidence,
        completed_at=body.completed_at,
        now=now,
        genesis=svc.genesis,
    )
    return CompletionOut(
        task_id=completion.task_id,
        account=completion.account,
        points=completion.points,
        seq=completion.seq,
        completed_at=completion.completed_at,
        recorded_at=completion.recorded_at,
        evidence_hash=completion.evidence_hash,
    )
