"""Emission: the schedule now, settled epochs, and their manifests byte for byte."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from api.deps import NowDep, ServicesDep, SessionDep
from api.schemas.common import problem_responses
from api.schemas.emission import EmissionOut, EpochOut, EpochPage, PoolName, PoolOut
from ledger import emission, epochs
from ledger.epochs import MAX_PAGE, EpochSummary

router = APIRouter(tags=["emission"], responses=problem_responses(404, 422, 429, 502))
EpochPath = Annotated[int, Path(ge=0, lt=2**31, examples=[0])]


def _epoch(summary: EpochSummary) -> EpochOut:
    fields = vars(summary).copy()
    fields["epoch"] = fields.pop("number")
    fields["state"] = summary.state.value
    return EpochOut(**fields)


@router.get(
    "/emission", summary="The schedule now: era, drop size, emitted and available per pool, next halving"
)
def emission_now(svc: ServicesDep, now: NowDep) -> EmissionOut:
    chain = svc.relay()
    posted = chain.posted_epochs()
    totals = (0, 0)
    if posted:
        record = chain.epoch_record(posted - 1)
        totals = (record.driving_total, record.cocreation_total)
    state = emission.emission_state(now, svc.genesis, svc.slot_seconds, posted, totals)
    return EmissionOut(
        now=state.now,
        genesis=state.genesis,
        slot_seconds=state.slot_seconds,
        started=state.started,
        slot=state.slot,
        epoch=state.epoch,
        era=state.era,
        drop_size=state.drop_size,
        cocreation_per_slot=state.cocreation_per_slot,
        next_halving_slot=state.next_halving_slot,
        next_halving_at=state.next_halving_at,
        posted_epochs=state.posted_epochs,
        total_supply=chain.total_supply(),
        pools=[
            PoolOut(
                pool=cast(PoolName, pool.pool.name.lower()),
                size=pool.size,
                available=pool.available,
                emitted=pool.emitted,
                remaining=pool.remaining,
            )
            for pool in state.pools
        ],
    )


@router.get("/epochs", summary="Epochs known to the ledger, newest first")
def list_epochs(
    svc: ServicesDep,
    session: SessionDep,
    before: Annotated[int | None, Query(ge=0, description="only epochs numbered below this")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> EpochPage:
    found = epochs.list_epochs(session, svc.genesis, svc.slot_seconds, before, limit)
    more = len(found) == limit and found[-1].number > 0
    return EpochPage(epochs=[_epoch(e) for e in found], next_before=found[-1].number if more else None)


@router.get("/epochs/{epoch}", summary="One epoch")
def get_epoch(epoch: EpochPath, svc: ServicesDep, session: SessionDep) -> EpochOut:
    return _epoch(epochs.get_epoch(session, epoch, svc.genesis, svc.slot_seconds))


@router.get(
    "/epochs/{epoch}/manifest",
    summary="The epoch's manifest: the canonical JSON whose keccak256 was posted on chain, byte for byte",
    response_class=Response,
    responses={
        200: {
            "description": "canonical JSON; the `X-Manifest-Hash` header is its keccak256",
            "content": {"application/json": {}},
        }
    },
)
def manifest(epoch: EpochPath, session: SessionDep) -> Response:
    body, digest = epochs.manifest(session, epoch)
    return Response(
        body,
        media_type="application/json",
        headers={
            "X-Manifest-Hash": digest,
            "ETag": f'"{digest}"',
            "Content-Disposition": f'attachment; filename="epoch-{epoch}-manifest.json"',
        },
    )
