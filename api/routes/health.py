"""Liveness and metrics, outside /v1: ``/healthz`` checks the database and the chain, ``/metrics`` is
Prometheus text."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from api.deps import ServicesDep
from api.errors import problem
from api.metrics import CONTENT_TYPE_LATEST
from api.schemas.common import problem_responses
from api.schemas.emission import Health
from ledger.errors import YuanshiError

router = APIRouter(tags=["operations"])
log = logging.getLogger("yuanshi.api")


@router.get(
    "/healthz",
    summary="The database and the chain answer",
    responses={200: {"model": Health, "description": "healthy"}, **problem_responses(503)},
)
def healthz(svc: ServicesDep) -> Response:
    try:
        with svc.runtime.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("health: database unavailable: %s", exc)
        return problem(503, "unhealthy", "Service unhealthy", "the database does not answer", "/healthz")
    try:
        chain_time = svc.runtime.client.now()
    except Exception as exc:
        log.warning("health: chain unavailable: %s", exc)
        return problem(503, "unhealthy", "Service unhealthy", "the chain does not answer", "/healthz")
    try:
        svc.system()
        deployed = True
    except YuanshiError:
        deployed = False
    body = Health(status="ok", database="ok", chain="ok", chain_time=chain_time, deployed=deployed)
    return JSONResponse(body.model_dump())


@router.get(
    "/metrics",
    summary="Prometheus metrics of this worker",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(svc: ServicesDep) -> Response:
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)
