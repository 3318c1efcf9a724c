"""Pydantic models of the admin page's JSON API (`/admin/api/*`): its input and its answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from discerner.evaluation.selection import DEFAULT_CANDIDATES
from serving.api.schemas import _Strict

# The candidate families `discerner train --candidates` knows.
Family = Literal[tuple(DEFAULT_CANDIDATES)]  # type: ignore[valid-type]
FAMILIES = list(DEFAULT_CANDIDATES)


class DaysQuery(_Strict):
    """`GET /admin/api/overview` options."""

    days: int = Field(default=14, ge=1, le=366, description="Days of growth, today included.")


class DayCount(BaseModel):
    """Activities whose timestamp falls on one UTC day."""

    day: str = Field(description="YYYY-MM-DD (UTC).")
    activities: int


class Overview(BaseModel):
    """What the store holds now, and its activities per day."""

    users: int
    products: int
    activities: int
    activities_per_day: list[DayCount] = Field(description="Oldest day first, ending today.")


class ServedModel(BaseModel):
    """What this server process answers with (as `/ready` reports it)."""

    model_config = ConfigDict(extra="allow")

    version: str = Field(description="`name/version`, or `popularity` without a champion.")
    state: str


class ModelVersion(BaseModel):
    """A registered version, its validation scores and its marks."""

    version: int
    champion: bool = Field(description="It holds the champion alias.")
    serving: bool = Field(description="This server process answers with it.")
    created_at: str
    model_class: str
    metric: str
    validation_score: float | None
    champion_score: float | None = Field(description="The champion of the day, same split.")
    decision: str
    reason: str
    run_id: str


class Models(BaseModel):
    """The registered model's versions, newest first, and which one serves."""

    name: str
    alias: str
    champion: int | None
    serving: ServedModel
    versions: list[ModelVersion]


class RunsQuery(_Strict):
    """`GET /admin/api/runs` options."""

    limit: int = Field(default=10, ge=1, le=100)


class TrainingRun(BaseModel):
    """A `train` run in MLflow (candidates are its nested runs)."""

    run_id: str
    status: str = Field(description="RUNNING, FINISHED, FAILED or KILLED.")
    started_at: str | None
    finished_at: str | None
    seconds: float | None
    registered_version: str | None
    decision: str | None
    engine: str | None
    activities: int | None = Field(description="Activities it trained on.")
    metrics: dict[str, float] = Field(description="`best_ndcg_at_10`, ... of the winner.")


class TrafficQuery(_Strict):
    """`GET /admin/api/traffic` options."""

    minutes: int = Field(default=5, ge=1, le=15)


class RouteTraffic(BaseModel):
    """Requests to one route (method and endpoint name) in the window."""

    method: str
    endpoint: str
    requests: int
    per_second: float
    client_errors: int = Field(description="4xx answers.")
    server_errors: int = Field(description="5xx answers.")
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Traffic(BaseModel):
    """Recent requests answered by the worker process that answers this (`process`)."""

    process: int = Field(description="Its pid: each worker counts only its own requests.")
    window_seconds: float
    covered_seconds: float
    routes: list[RouteTraffic]


class TrainRequest(_Strict):
    """`POST /admin/api/train`: which candidate families to fit (default: all)."""

    candidates: list[Family] | None = Field(default=None, min_length=1)


class TrainingState(BaseModel):
    """The newest training run started from the admin page, and the families one can pick."""

    model_config = ConfigDict(extra="allow")

    state: Literal["idle", "running", "succeeded", "failed", "interrupted"]
    families: list[str]


class PromoteRequest(_Strict):
    """`POST /admin/api/promote`: the version to make champion."""

    version: str = Field(pattern=r"^[1-9][0-9]{0,17}$", description="A version number, `7`.")


class Promoted(BaseModel):
    """The version that now holds the champion alias."""

    name: str
    alias: str
    version: int
    reason: str


class VariantResult(BaseModel):
    """One arm of an experiment and how its users fared (rates with 95% Wilson intervals;
    null before any impression)."""

    name: str
    target: str = Field(description="A version number or an alias.")
    share: int = Field(description="Percent of users.")
    version: str = Field(description="The version the target named at the start.")
    impressions: int
    users: int
    ctr: float | None = None
    ctr_low: float | None = None
    ctr_high: float | None = None
    conversion: float | None = None
    conversion_low: float | None = None
    conversion_high: float | None = None


class Comparison(BaseModel):
    """A variant's conversion against the control's (the first variant)."""

    variant: str
    control: str
    difference: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    p_value: float | None = None
    significant: bool


class Experiment(BaseModel):
    """A running A/B test with its variants' results (`discerner.experiments.analysis`)."""

    name: str
    state: str
    started_at: str = Field(description="UTC, ISO 8601.")
    window_seconds: float
    outcome_types: list[str] = Field(description="Empty: every activity type counts.")
    sample_rate: float
    variants: list[VariantResult]
    comparisons: list[Comparison]


class VariantRequest(_Strict):
    """One arm of a new experiment."""

    target: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="A version or alias.")
    share: int = Field(ge=1, le=100, description="Percent of users; shares sum to 100.")
    name: str | None = Field(default=None, description="Default: the target.")


class ExperimentRequest(_Strict):
    """`POST /admin/api/experiments`: the experiment to start."""

    name: str = Field(min_length=1, max_length=64)
    variants: list[VariantRequest] = Field(min_length=2, max_length=10)
    window_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    outcome_types: list[str] = Field(default_factory=list, max_length=20)
    sample_rate: float = Field(default=1.0, gt=0, le=1)


class StopRequest(_Strict):
    """`POST /admin/api/experiments/<name>/stop`: optionally a variant to promote."""

    promote: str | None = Field(default=None, description="Its version becomes the champion.")
