"""Experiment definitions kept as tags of the registered model, where every process sees them.

Tag `experiment.<name>` holds the definition's JSON. Starting checks every target against the
registry (an alias must exist, a version must be registered) and refuses a second running
experiment; stopping keeps the tag (state `stopped`) so its results stay readable, and may
move the champion alias to a variant's version.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from mlflow.exceptions import MlflowException

from discerner import config
from discerner.experiments.definition import (
    Experiment,
    ExperimentConflict,
    ExperimentError,
    UnknownExperiment,
    Variant,
)
from discerner.tracking import registry

logger = logging.getLogger(__name__)

PREFIX = "experiment."


def _tags(name: str, mlflow_client) -> dict[str, str]:
    try:
        return dict(mlflow_client.get_registered_model(name).tags or {})
    except MlflowException:
        return {}


def all_experiments(*, name: str = config.MODEL_NAME, mlflow_client=None) -> list[Experiment]:
    """Every experiment of the model, newest first (unreadable tags are logged and skipped)."""
    mlflow_client = mlflow_client or registry.client()
    found = []
    for key, value in _tags(name, mlflow_client).items():
        if key.startswith(PREFIX):
            try:
                found.append(Experiment.from_json(value))
            except ExperimentError:
                logger.warning("registry tag %s is not an experiment definition", key)
    return sorted(found, key=lambda e: e.started_at, reverse=True)


def running(*, name: str = config.MODEL_NAME, mlflow_client=None) -> Experiment | None:
    """The running experiment, or None."""
    found = all_experiments(name=name, mlflow_client=mlflow_client)
    return next((e for e in found if e.running), None)


def get(experiment: str, *, name: str = config.MODEL_NAME, mlflow_client=None) -> Experiment:
    """The experiment called `experiment` (raises ExperimentError when there is none)."""
    mlflow_client = mlflow_client or registry.client()
    text = _tags(name, mlflow_client).get(PREFIX + experiment)
    if text is None:
        raise UnknownExperiment(f"no experiment called {experiment!r}")
    return Experiment.from_json(text)


def resolve(target: str, *, name: str = config.MODEL_NAME, mlflow_client=None) -> str:
    """The version number a target (a version or an alias) names now.

    Raises:
        ExperimentError: No such version or alias.
    """
    mlflow_client = mlflow_client or registry.client()
    try:
        if target.isdigit():
            return str(mlflow_client.get_model_version(name, target).version)
        return str(mlflow_client.get_model_version_by_alias(name, target).version)
    except MlflowException:
        kind = "version" if target.isdigit() else "alias"
        raise ExperimentError(f"model {name!r} has no {kind} {target!r}") from None


def start(
    experiment: str,
    variants: list[Variant],
    *,
    name: str = config.MODEL_NAME,
    mlflow_client=None,
    **settings,
) -> Experiment:
    """Define and start an experiment (settings: `window_seconds`, `outcome_types`,
    `sample_rate`).

    Raises:
        ExperimentError: A bad definition, an unknown target, a name already used, or another
            experiment running.
    """
    mlflow_client = mlflow_client or registry.client()
    defined = Experiment(experiment, tuple(variants), time.time(), **settings)
    versions = {v.name: resolve(v.target, name=name, mlflow_client=mlflow_client) for v in variants}
    tags = _tags(name, mlflow_client)
    if PREFIX + experiment in tags:
        raise ExperimentConflict(f"an experiment called {experiment!r} exists already")
    other = running(name=name, mlflow_client=mlflow_client)
    if other is not None:
        raise ExperimentConflict(f"experiment {other.name!r} is running: stop it first")
    defined = replace(defined, versions=versions)
    mlflow_client.set_registered_model_tag(name, PREFIX + experiment, defined.to_json())
    logger.info("experiment %s started: %s", experiment, versions)
    return defined


def stop(
    experiment: str,
    promote: str | None = None,
    *,
    name: str = config.MODEL_NAME,
    alias: str = config.CHAMPION_ALIAS,
    mlflow_client=None,
) -> Experiment:
    """Stop a running experiment; with `promote`, move `alias` to that variant's version now.

    Raises:
        ExperimentError: No such running experiment or variant.
    """
    mlflow_client = mlflow_client or registry.client()
    current = get(experiment, name=name, mlflow_client=mlflow_client)
    if not current.running:
        raise ExperimentConflict(f"experiment {experiment!r} is not running")
    if promote is not None:
        variant = current.variant(promote)
        version = resolve(variant.target, name=name, mlflow_client=mlflow_client)
        reason = f"won experiment {experiment} as variant {promote}"
        registry.promote(
            version, name=name, alias=alias, reason=reason, mlflow_client=mlflow_client
        )
    stopped = current.stopped(time.time(), promote)
    mlflow_client.set_registered_model_tag(name, PREFIX + experiment, stopped.to_json())
    logger.info("experiment %s stopped%s", experiment, f", {promote} promoted" if promote else "")
    return stopped
