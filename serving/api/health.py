"""Operational endpoints: `/health` (liveness), `/ready` (readiness), `/metrics`, and the
feedback configuration the server uses (`/feedback-types`)."""

from __future__ import annotations

from flask import Blueprint, current_app

from discerner import feedback
from serving.api.errors import ApiError
from serving.api.schemas import FeedbackTypesBody, Health, Readiness
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
    return {"status": status, "store": "open", "model": model, "feedback": _feedback_status()}


@bp.get("/feedback-types")
@endpoint(
    "How each activity type counts: weight and meaning per type (DISCERNER_HOME/feedback.yaml,"
    " set with `discerner feedback`)",
    tag="operations",
    responses={200: ("The configuration in use", FeedbackTypesBody)},
)
def feedback_types():
    home = current_app.config["DISCERNER_HOME"]
    return feedback.current(home).to_dict() | _feedback_status()


def _feedback_status() -> dict:
    home = current_app.config["DISCERNER_HOME"]
    return {"version": feedback.current(home).version, "problem": feedback.problem(home)}


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
