"""The admin page, `/admin`, and the JSON API it reads (`/admin/api/*`), for any API account.

The page is static HTML, JS and CSS from `static/` (no CDN: it works offline) that logs in at
`/token` and draws what these endpoints answer: the store's counts and growth, the registered
versions and the one serving, recent training runs, this process's recent traffic, experiments,
and the actions (train now, promote a version).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from flask import Blueprint, send_from_directory, url_for

from discerner import config
from serving.api.admin_schemas import (
    FAMILIES,
    DaysQuery,
    Experiment,
    ExperimentRequest,
    Models,
    Overview,
    Promoted,
    PromoteRequest,
    RunsQuery,
    StopRequest,
    Traffic,
    TrafficQuery,
    TrainingRun,
    TrainingState,
    TrainRequest,
)
from serving.api.errors import ApiError
from serving.api.spec import endpoint
from serving.runtime.state import services
from serving.runtime.tokens import current_username
from serving.runtime.training import TrainingRunning

bp = Blueprint("admin", __name__, static_folder="static", static_url_path="/admin/static")
# The page loads only its own files, and no other site may frame it.
POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"


@bp.get("/admin")
@endpoint("The admin page (it reads /admin/api/*)", tag="admin", auth=False, produces="text/html")
def page():
    response = send_from_directory(bp.static_folder, "admin.html")
    response.headers["Content-Security-Policy"] = POLICY
    return response


@bp.get("/admin/api/overview")
@endpoint(
    "Counts of users, products and activities, and activities per day",
    tag="admin",
    query=DaysQuery,
    responses={200: ("Counts and growth", Overview)},
)
def overview(query: DaysQuery):
    store = services().store
    first = datetime.now(UTC).date() - timedelta(days=query.days - 1)
    counted = store.activities_per_day(first.isoformat())
    days = [(first + timedelta(days=i)).isoformat() for i in range(query.days)]
    return {
        "users": store.count_users(),
        "products": store.count_products(),
        "activities": store.count_activities(),
        "activities_per_day": [{"day": day, "activities": counted.get(day, 0)} for day in days],
    }


@bp.get("/admin/api/models")
@endpoint(
    "Registered versions with their validation scores; the champion and the one serving",
    tag="admin",
    responses={200: ("The versions, newest first", Models)},
)
def models():
    from discerner.tracking import registry  # MLflow loads on first use

    holder = services().models
    source = holder.source
    serving = holder.status()
    table = registry.versions_at(source.uri, source.name, source.alias)
    versions = [_version(row, source.name, serving["version"]) for row in table.to_dict("records")]
    champion = next((v["version"] for v in versions if v["champion"]), None)
    return {
        "name": source.name,
        "alias": source.alias,
        "champion": champion,
        "serving": serving,
        "versions": versions,
    }


def _version(row: dict, name: str, serving: str) -> dict:
    scores = {key: _number(row[key]) for key in ("validation_score", "champion_score")}
    created = row.pop("created").strftime("%Y-%m-%dT%H:%M:%SZ")
    mark = f"{name}/{row['version']}" == serving
    return {**row, **scores, "created_at": created, "serving": mark}


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


@bp.get("/admin/api/runs")
@endpoint(
    "Recent training runs with the winner's metrics",
    tag="admin",
    query=RunsQuery,
    responses={200: ("Newest first", list[TrainingRun])},
)
def runs(query: RunsQuery):
    from discerner.tracking import runs as tracking_runs

    return tracking_runs.recent_runs(services().models.source.uri, limit=query.limit)


@bp.get("/admin/api/traffic")
@endpoint(
    "Request rates and latency percentiles per route over the last minutes (this process)",
    tag="admin",
    query=TrafficQuery,
    responses={200: ("Busiest route first", Traffic)},
)
def traffic(query: TrafficQuery):
    recent = services().metrics.recent.summary(query.minutes * 60)
    return {"process": os.getpid(), **recent}


@bp.get("/admin/api/experiments")
@endpoint(
    "Running experiments (A/B tests) with each variant's rates and intervals",
    tag="admin",
    responses={200: ("The running experiment, or none", list[Experiment])},
)
def experiments():
    from discerner.experiments import book
    from discerner.experiments.analysis import results

    source = services().models.source
    if config.tracking_database_missing(source.uri):
        return []
    found = book.running(name=source.name, mlflow_client=_registry(source))
    return [] if found is None else [results(found, services().store).to_dict()]


@bp.post("/admin/api/experiments")
@endpoint(
    "Start an experiment; every server follows it within its poll interval",
    tag="admin",
    body=ExperimentRequest,
    responses={
        201: ("Started", Experiment),
        400: ("A bad definition: shares, names, unknown versions or aliases", None),
        409: ("Another experiment is running, or the name is taken", None),
    },
)
def start_experiment(body: ExperimentRequest):
    from discerner.experiments import Variant, book
    from discerner.experiments.analysis import results

    source = services().models.source
    variants = [Variant(v.name or v.target, v.target, v.share) for v in body.variants]
    with _experiment_errors():
        started = book.start(
            body.name,
            variants,
            name=source.name,
            mlflow_client=_registry(source),
            window_seconds=body.window_hours * 3600,
            outcome_types=tuple(body.outcome_types),
            sample_rate=body.sample_rate,
        )
    services().experiments.request_check()
    return results(started, services().store).to_dict(), 201


@bp.post("/admin/api/experiments/<name>/stop")
@endpoint(
    "Stop an experiment, optionally promoting a variant's version to champion",
    tag="admin",
    body=StopRequest,
    body_required=False,
    responses={
        200: ("Stopped, with its final results", Experiment),
        404: ("No such experiment", None),
        409: ("The experiment is not running", None),
    },
)
def stop_experiment(name: str, body: StopRequest):
    from discerner.experiments import book
    from discerner.experiments.analysis import results

    source = services().models.source
    with _experiment_errors():
        stopped = book.stop(
            name,
            body.promote,
            name=source.name,
            alias=source.alias,
            mlflow_client=_registry(source),
        )
    services().experiments.request_check()
    if body.promote:
        services().models.request_check()
    return results(stopped, services().store).to_dict()


def _registry(source):
    from discerner.tracking import registry

    return registry.client(source.uri)


@contextmanager
def _experiment_errors() -> Iterator[None]:
    """Experiment errors as API errors: unknown 404, conflicts 409, the rest 400."""
    from discerner.experiments import ExperimentConflict, ExperimentError, UnknownExperiment

    try:
        yield
    except UnknownExperiment as error:
        raise ApiError.not_found(str(error)) from None
    except ExperimentConflict as error:
        raise ApiError.conflict(str(error)) from None
    except ExperimentError as error:
        raise ApiError.bad_request(str(error)) from None


@bp.get("/admin/api/train")
@endpoint(
    "The newest training run started here: state and output",
    tag="admin",
    responses={200: ("Its state", TrainingState)},
)
def training():
    return {**services().training.status(), "families": FAMILIES}


@bp.post("/admin/api/train")
@endpoint(
    "Start a training run (`discerner train`) in the background",
    tag="admin",
    body=TrainRequest,
    body_required=False,
    responses={
        202: ("Started; GET /admin/api/train follows it", TrainingState),
        409: ("A training run is already running", None),
    },
)
def train(body: TrainRequest):
    try:
        state = services().training.start(body.candidates, current_username())
    except TrainingRunning as error:
        raise ApiError.conflict(str(error)) from None
    return {**state, "families": FAMILIES}, 202, {"Location": url_for(".training")}


@bp.post("/admin/api/promote")
@endpoint(
    "Make a registered version the champion; the server swaps to it",
    tag="admin",
    body=PromoteRequest,
    responses={200: ("Promoted", Promoted), 404: ("No such version", None)},
)
def promote(body: PromoteRequest):
    from mlflow.exceptions import MlflowException

    from discerner import config
    from discerner.tracking import registry

    holder = services().models
    source = holder.source
    unknown = ApiError.not_found(f"{source.name} has no version {body.version}")
    if config.tracking_database_missing(source.uri):
        raise unknown
    reason = f"promoted from the admin page by {current_username()}"
    try:
        registry.promote(
            body.version,
            name=source.name,
            alias=source.alias,
            reason=reason,
            mlflow_client=registry.client(source.uri),
        )
    except MlflowException as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise unknown from None
        raise
    holder.request_check()  # the watcher loads it now rather than at its next poll
    return {
        "name": source.name,
        "alias": source.alias,
        "version": int(body.version),
        "reason": reason,
    }
