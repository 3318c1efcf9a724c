"""Operational endpoints: `/health` (liveness), `/ready` (readiness) and `/metrics`."""

from __future__ import annotations

from flask import Blueprint

from serving.api.errors import ApiError
from serving.api.schemas import Health, Readiness
from serving.api.spec import endpoint
from serving.runtime.state import services

bp = Blueprint("health", __name__)


@bp.get("/health")
@endpoint(
    "Liveness: the process answers",
    tag="operations",
    auth=False,
    responses={200: ("Alive", Health)},
)
def health():
    return {"status": "ok"}


@bp.get("/ready")
@endpoint(
    "Readiness: the store is open and the champion, if one is registered, is loaded",
    tag="operations",
    auth=False,
    responses={200: ("Ready", Readiness), 503: ("Not ready", None)},
)
def ready():
    current = services()
    if not current.store_open():
        raise ApiError.unavailable("the store is not open")
    if not current.models.ready():
        raise ApiError.unavailable("loading the champion model")
    model = current.models.status()
    status = "degraded" if model["state"] == "failed" else "ready"
    return {"status": status, "store": "open", "model": model}


@bp.get("/metrics")
@endpoint(
    "Prometheus metrics (text exposition format)",
    tag="operations",
    auth=False,
    produces="text/plain",
    responses={200: ("Metrics", None)},
)
def metrics():
    return services().metrics.response()
