"""The model registry: register versions, guard and move the `champion` alias, list, and load.

A version carries tags saying what it is and how it fared: `model_class`, `model_params`
(JSON), `metric` (the selection metric's name), `validation_score` (its score on the training
run's validation split), `champion_score` (the champion of the day re-scored on that same
split; absent when there was none), `decision` and `reason`. `load_champion` is the server's
fast path: it reads the alias, then loads the library model straight from the version's
artifact folder with `discerner.models.load`, skipping the pyfunc machinery.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from discerner import config, models
from discerner.tracking.pyfunc import ARTIFACT_KEY
from discerner.tracking.runs import local_path

logger = logging.getLogger(__name__)

MODEL_NAME = config.MODEL_NAME
CHAMPION = config.CHAMPION_ALIAS
VERSION_COLUMNS = ["version", "champion", "created", "model_class", "metric"]
VERSION_COLUMNS += ["validation_score", "champion_score", "decision", "reason", "run_id"]


@dataclass(frozen=True)
class Decision:
    """Whether a new version takes the champion alias, and why, in words a person can read."""

    promote: bool
    reason: str


def decide(candidate: float, champion: float | None, metric: str = "ndcg_at_10") -> Decision:
    """The champion guard: promote only a strictly better score on the same validation data.

    Args:
        candidate: The new version's validation score.
        champion: The current champion's score on the same split; None when there is none (or
            it could not be scored).
        metric: The metric's name, for the reason.

    Returns:
        The decision. A tie keeps the champion: a retrain on the same data must not churn it.
    """
    if champion is None or math.isnan(champion):
        return Decision(True, f"no champion to beat; {metric} = {candidate:.4f}")
    if candidate > champion:
        return Decision(True, f"{metric} {candidate:.4f} beats the champion's {champion:.4f}")
    return Decision(False, f"{metric} {candidate:.4f} does not beat the champion's {champion:.4f}")


def client(tracking_uri: str | None = None) -> MlflowClient:
    """An MLflow client on `tracking_uri`, else the one set by `tracking.setup`."""
    if tracking_uri is None:
        return MlflowClient()
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def register(
    model_uri: str, tags: dict[str, Any], *, name: str = MODEL_NAME, mlflow_client=None
) -> ModelVersion:
    """Register `model_uri` as a new version of `name`, tagged with `tags`.

    Args:
        model_uri: The logged model (`models:/m-…` or `runs:/…`).
        tags: Version tags; values become strings (dicts and lists as JSON).
        name: The registered model, created when missing.
        mlflow_client: The client to use; default `client()`.

    Returns:
        The new version.
    """
    mlflow_client = mlflow_client or client()
    try:
        mlflow_client.get_registered_model(name)
    except MlflowException:
        mlflow_client.create_registered_model(name, description="Discerner recommenders.")
    run_id = tags.get("run_id")
    version = mlflow_client.create_model_version(name, model_uri, run_id=run_id)
    for key, value in tags.items():
        mlflow_client.set_model_version_tag(name, version.version, key, _text(value))
    logger.info("Registered %s version %s", name, version.version)
    return version


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)


def champion(
    name: str = MODEL_NAME, alias: str = CHAMPION, *, mlflow_client=None
) -> ModelVersion | None:
    """The version the alias points at, or None when the model or the alias does not exist."""
    mlflow_client = mlflow_client or client()
    try:
        return mlflow_client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def promote(
    version: str | int,
    *,
    name: str = MODEL_NAME,
    alias: str = CHAMPION,
    reason: str = "promoted by hand",
    mlflow_client=None,
) -> ModelVersion:
    """Point the alias at `version` and record why on the version.

    Args:
        version: The version number.
        name: The registered model.
        alias: The alias to move.
        reason: Why, stored in the version's `reason` tag.
        mlflow_client: The client to use; default `client()`.

    Returns:
        The version now holding the alias.

    Raises:
        MlflowException: The version does not exist.
    """
    mlflow_client = mlflow_client or client()
    target = mlflow_client.get_model_version(name, str(version))
    mlflow_client.set_registered_model_alias(name, alias, target.version)
    mlflow_client.set_model_version_tag(name, target.version, "decision", "promoted")
    mlflow_client.set_model_version_tag(name, target.version, "reason", reason)
    logger.info("%s@%s is now version %s: %s", name, alias, target.version, reason)
    return mlflow_client.get_model_version(name, target.version)


def versions_frame(name: str = MODEL_NAME, alias: str = CHAMPION, *, mlflow_client=None):
    """Every version of `name`, newest first, with its scores and whether it holds the alias.

    Returns:
        Columns `version`, `champion` (bool), `created` (UTC), `model_class`, `metric`,
        `validation_score`, `champion_score`, `decision`, `reason`, `run_id`; empty when the
        model is not registered.
    """
    mlflow_client = mlflow_client or client()
    found = mlflow_client.search_model_versions(f"name = '{name}'")
    # Search results carry no aliases on every store: ask for the alias once instead.
    holder = champion(name, alias, mlflow_client=mlflow_client) if found else None
    rows = [_version_row(v, holder.version if holder else None) for v in found]
    frame = pd.DataFrame(rows, columns=VERSION_COLUMNS)
    return frame.sort_values("version", ascending=False, ignore_index=True)


def _version_row(version: ModelVersion, champion_version: str | None) -> dict[str, Any]:
    tags = version.tags or {}
    return {
        "version": int(version.version),
        "champion": str(version.version) == str(champion_version),
        "created": pd.Timestamp(version.creation_timestamp, unit="ms", tz="UTC").floor("s"),
        "model_class": tags.get("model_class", ""),
        "metric": tags.get("metric", ""),
        "validation_score": _number(tags.get("validation_score")),
        "champion_score": _number(tags.get("champion_score")),
        "decision": tags.get("decision", ""),
        "reason": tags.get("reason", ""),
        "run_id": version.run_id or "",
    }


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else math.nan
    except ValueError:
        return math.nan


def configuration(version: ModelVersion) -> models.Recommender | None:
    """An unfitted model of a version's configuration (its `model_class` and `model_params` tags).

    Returns:
        The model, or None (logged) when the tags are missing or name no library model.
    """
    tags = version.tags or {}
    try:
        model_class = getattr(models, tags["model_class"])
        return model_class(**json.loads(tags["model_params"]))
    except (KeyError, AttributeError, TypeError, ValueError):
        logger.warning("version %s has no usable configuration tags", version.version)
        return None


def model_folder(version: ModelVersion, *, mlflow_client=None) -> Path:
    """The local folder of the library model saved in a version (downloaded when remote).

    Raises:
        MlflowException: The version's artifacts cannot be found.
        OSError: The version's `MLmodel` file is missing or unreadable.
    """
    mlflow_client = mlflow_client or client()
    uri = mlflow_client.get_model_version_download_uri(version.name, version.version)
    folder = local_path(uri)
    if folder is None:
        from mlflow.artifacts import download_artifacts  # only for remote artifact stores

        # A remote artifact store: fetch a local copy once per load.
        tracking_uri = mlflow_client.tracking_uri
        folder = Path(download_artifacts(artifact_uri=uri, tracking_uri=tracking_uri))
    artifacts = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["python_function"]
    return folder / artifacts["artifacts"][ARTIFACT_KEY]["path"]


def load_version(version: ModelVersion, *, mlflow_client=None) -> tuple[Any, dict[str, Any]]:
    """Load a registered version's library model and describe it.

    Returns:
        The fitted model and a dict: `name`, `version`, `run_id`, `model_uri`, `source`,
        `aliases`, `model_class`, `validation_score`, `loaded_in_seconds`.
    """
    started = time.perf_counter()
    model = models.load(model_folder(version, mlflow_client=mlflow_client))
    tags = version.tags or {}
    info = {
        "name": version.name,
        "version": str(version.version),
        "run_id": version.run_id,
        "model_uri": f"models:/{version.name}/{version.version}",
        "source": version.source,
        "aliases": list(version.aliases or []),
        "model_class": tags.get("model_class", type(model).__name__),
        "validation_score": _number(tags.get("validation_score")),
        "loaded_in_seconds": time.perf_counter() - started,
    }
    return model, info


def load_champion(
    name: str = MODEL_NAME, alias: str = CHAMPION, tracking_uri: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """Load the library model that `name@alias` points at, for serving.

    Args:
        name: The registered model.
        alias: The alias to follow.
        tracking_uri: The tracking store; default `$MLFLOW_TRACKING_URI`, else SQLite in
            `$DISCERNER_HOME`. The global MLflow tracking URI is left unchanged.

    Returns:
        The fitted model and its version info (see `load_version`).

    Raises:
        LookupError: No tracking database, registered model or alias.
        MlflowException, OSError, ValueError: The version's artifacts are missing, unreadable
            or not a model this version of Discerner can load.
    """
    uri = tracking_uri or config.tracking_uri(config.home())
    if config.tracking_database_missing(uri):
        raise LookupError(f"no registered model {name!r}: there is no tracking database {uri}")
    version = champion_at(uri, name, alias)
    if version is None:
        raise LookupError(f"no registered model {name!r} with alias {alias!r} in {uri}")
    return load_version(version, mlflow_client=client(uri))


def champion_at(uri: str, name: str = MODEL_NAME, alias: str = CHAMPION) -> ModelVersion | None:
    """The version `name@alias` in the tracking store at `uri`, or None.

    None when there is no tracking database (never creating one), model or alias: what the
    server polls before it loads a new champion with `load_version`.
    """
    if config.tracking_database_missing(uri):
        return None
    return champion(name, alias, mlflow_client=client(uri))


def versions_at(uri: str, name: str = MODEL_NAME, alias: str = CHAMPION) -> pd.DataFrame:
    """`versions_frame` of the tracking store at `uri`; empty (never creating one) without it."""
    if config.tracking_database_missing(uri):
        return pd.DataFrame(columns=VERSION_COLUMNS)
    return versions_frame(name, alias, mlflow_client=client(uri))
