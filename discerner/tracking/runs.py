"""MLflow setup: the tracking store and experiments under DISCERNER_HOME, and reading runs back.

By default MLflow keeps runs in a SQLite database (`$DISCERNER_HOME/mlflow.db`) and artifacts in
`$DISCERNER_HOME/mlartifacts/<experiment>`; `MLFLOW_TRACKING_URI` overrides the database. Under
`mlflow run`, MLflow passes the run, experiment and tracking URI it created through the
environment (`MLFLOW_RUN_ID`, `MLFLOW_EXPERIMENT_ID`, `MLFLOW_TRACKING_URI`) and those win, so
the project's runs land where `mlflow run` put them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from discerner import config
from discerner.errors import TrackingStoreMissingError

logger = logging.getLogger(__name__)

EXPERIMENT = config.EXPERIMENT
# MLflow 3's UI opens an experiment by its kind: without this tag it guesses GenAI and shows an
# empty traces overview instead of the training runs.
EXPERIMENT_KIND = "mlflow.experimentKind"
MODEL_DEVELOPMENT = "custom_model_development"


def setup(
    home: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    create: bool = True,
) -> str:
    """Point MLflow at Discerner's tracking store and return its URI.

    Args:
        home: The data folder; default `$DISCERNER_HOME`, else the nearest `discerner-data`.
        tracking_uri: An explicit tracking URI; default `$MLFLOW_TRACKING_URI`, else SQLite in
            the data folder.
        create: Create a missing data folder and SQLite database (writers). Readers pass False
            and get an error instead of a new, empty database.

    Returns:
        The tracking URI now in use.

    Raises:
        TrackingStoreMissingError: `create` is False and there is no tracking database.
    """
    root = config.ensure_home(home) if create else config.home(home)
    uri = tracking_uri or config.tracking_uri(root)
    if not create and config.tracking_database_missing(uri):
        raise TrackingStoreMissingError(
            f"no MLflow tracking database at {uri.removeprefix('sqlite:///')}: nothing was "
            "trained in this data folder. Train first (`make serve` or `discerner train`), or "
            "pass the data folder (`home=...`, DISCERNER_HOME)."
        )
    _create_database(uri, config.artifact_root(root))
    mlflow.set_tracking_uri(uri)
    logger.debug("MLflow tracking URI: %s", uri)
    return uri


def _create_database(uri: str, artifacts: Path) -> None:
    """Create a missing SQLite tracking database with its default artifact root in `artifacts`.

    MLflow would otherwise create it on first use with the `Default` experiment's artifacts
    in `./mlruns` of whatever folder the first command ran in.
    """
    if not config.tracking_database_missing(uri):
        return
    # Only the first command in a new data folder needs MLflow's store module.
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    logger.info("Creating the MLflow tracking database %s", uri)
    SqlAlchemyStore(uri, str(artifacts)).engine.dispose()


def experiment_id(name: str = EXPERIMENT, home: str | os.PathLike[str] | None = None) -> str:
    """Return the id of the experiment to log to, creating it when missing.

    Under `mlflow run` the experiment MLflow chose (`MLFLOW_EXPERIMENT_ID`) wins. A new
    experiment gets an explicit artifact location inside the data folder, because MLflow would
    otherwise store one relative to whatever folder the first run happened to start in.

    Args:
        name: The experiment's name.
        home: The data folder; default `$DISCERNER_HOME`.

    Returns:
        The experiment id.
    """
    if chosen := os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return chosen
    client = MlflowClient()
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.tags.get(EXPERIMENT_KIND) is None:  # created before the tag was set
            client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND, MODEL_DEVELOPMENT)
        return found.experiment_id
    location = config.artifact_root(config.ensure_home(home)) / name
    logger.info("Creating MLflow experiment %r with artifacts in %s", name, location)
    return client.create_experiment(
        name, artifact_location=str(location), tags={EXPERIMENT_KIND: MODEL_DEVELOPMENT}
    )


def local_path(uri: str) -> Path | None:
    """The local folder behind an artifact URI, or None when the artifacts are remote."""
    if uri.startswith("file://"):
        return Path(uri.removeprefix("file://"))
    if "://" not in uri and ":" not in uri.split("/", 1)[0]:
        return Path(uri)
    return None


def runs_frame(
    name: str = EXPERIMENT, *, parent_run_id: str | None = None, max_results: int = 1000
) -> pd.DataFrame:
    """The runs of an experiment as a table: one row per run, params and metrics as columns.

    Args:
        name: The experiment's name.
        parent_run_id: Keep only the children of this run (the candidates of one training).
        max_results: At most this many runs, newest first.

    Returns:
        `mlflow.search_runs`'s frame (`run_id`, `tags.mlflow.runName`, `params.*`,
        `metrics.*`, ...); empty when the experiment does not exist.
    """
    if MlflowClient().get_experiment_by_name(name) is None:
        return pd.DataFrame()
    query = f"tags.mlflow.parentRunId = '{parent_run_id}'" if parent_run_id else ""
    return mlflow.search_runs(
        experiment_names=[name],
        filter_string=query,
        max_results=max_results,
        order_by=["attributes.start_time DESC"],
    )


def log_new_params(params: dict) -> None:
    """Log the params the active run does not have yet.

    `mlflow run` logs an entry point's parameters as given on the command line (`0`, `42`);
    logging the same key again with another spelling (`None`, `42.0`) is an error in MLflow.
    """
    run = mlflow.active_run()
    existing = MlflowClient().get_run(run.info.run_id).data.params if run else {}
    mlflow.log_params({k: v for k, v in params.items() if k not in existing})


def latest_run_id(run_name: str = "train", name: str = EXPERIMENT) -> str | None:
    """The id of the newest top-level run called `run_name` (e.g. `train`), or None."""
    runs = runs_frame(name)
    if runs.empty:
        return None
    top = runs[(runs["tags.mlflow.runName"] == run_name) & _no_parent(runs)]
    return None if top.empty else str(top["run_id"].iloc[0])


def _no_parent(runs: pd.DataFrame) -> pd.Series:
    if "tags.mlflow.parentRunId" not in runs.columns:
        return pd.Series(True, index=runs.index)
    return runs["tags.mlflow.parentRunId"].isna()


def candidates_frame(run_id: str | None = None, name: str = EXPERIMENT) -> pd.DataFrame:
    """The candidates of one training (default: the latest) as a wide metric table.

    Returns:
        One row per child run: `model` (the run name), `model_class`, then every metric
        (`ndcg_at_10`, ...), best `ndcg_at_10` first; empty when there is no such run.
    """
    run_id = run_id or latest_run_id("train", name)
    children = runs_frame(name, parent_run_id=run_id) if run_id else pd.DataFrame()
    if children.empty:
        return pd.DataFrame(columns=["model", "model_class"])
    metrics = children.filter(like="metrics.").rename(columns=lambda c: c.removeprefix("metrics."))
    table = pd.concat(
        [
            children["tags.mlflow.runName"].rename("model"),
            children.get("params.model_class", pd.Series("", index=children.index)).rename(
                "model_class"
            ),
            metrics,
        ],
        axis=1,
    )
    order = "ndcg_at_10" if "ndcg_at_10" in table.columns else "model"
    return table.sort_values(order, ascending=order == "model", ignore_index=True)


def recent_runs(
    tracking_uri: str, name: str = EXPERIMENT, run_name: str = "train", limit: int = 10
) -> list[dict]:
    """The newest top-level runs called `run_name`, for a dashboard; MLflow's global URI stays.

    Args:
        tracking_uri: The tracking store to read (never created here).
        name: The experiment.
        run_name: The runs' name (`train` runs; their candidates are nested runs).
        limit: At most this many, newest first.

    Returns:
        One dict per run: `run_id`, `status` (RUNNING, FINISHED, FAILED, KILLED),
        `started_at` and `finished_at` (ISO 8601 UTC, None while running), `seconds`,
        `registered_version` and `decision` (tags; None before they are set), `engine`,
        `activities` (params) and `metrics` (every metric logged on the run); empty when
        there is no tracking database or experiment.
    """
    if config.tracking_database_missing(tracking_uri):
        return []
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return []
    found = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.run_name = '{run_name}'",
        max_results=limit,
        order_by=["attributes.start_time DESC"],
    )
    return [_run_row(run) for run in found if "mlflow.parentRunId" not in run.data.tags]


def _run_row(run) -> dict:
    info, data = run.info, run.data
    ended = info.end_time if info.status != "RUNNING" else None
    return {
        "run_id": info.run_id,
        "status": info.status,
        "started_at": _iso(info.start_time),
        "finished_at": _iso(ended),
        "seconds": (ended - info.start_time) / 1000 if ended and info.start_time else None,
        "registered_version": data.tags.get("registered_version"),
        "decision": data.tags.get("decision"),
        "engine": data.params.get("engine"),
        "activities": _int(data.params.get("n_interactions")),
        "metrics": dict(sorted(data.metrics.items())),
    }


def _iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    return pd.Timestamp(millis, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
