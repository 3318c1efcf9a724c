"""The training pipeline: store snapshot -> validation split -> candidates -> registered champion.

`train` records the data version, carves a seeded per-user validation split out of the store's
interactions, fits every candidate of the library's grid on the training part as a nested MLflow
run (parameters, metrics such as `ndcg_at_10`, fit and recommend timings), logs comparison
plots, refits the winner on all the data, logs it as a pyfunc model and registers it. The
`champion` alias moves only when the winner beats the current champion re-scored on the same
validation split: the champion's configuration (class and parameters, from its version tags) is
refitted on the same training part, so neither side has seen the validation rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from discerner import config, plots, pyfunc, registry, tracking
from discerner.errors import TrainingError
from discerner.schema import PRODUCT_ID, USER_ID

logger = logging.getLogger(__name__)

DEFAULT_KS = (5, 10, 20)
# Enough users for stable metrics; MovieLens 100k (943 users) is searched whole.
DEFAULT_SEARCH_USERS = 20_000
PLOT_USERS = 2000
SNAPSHOT_ATTEMPTS = 5
SUMMARY_COLUMNS = (
    "model",
    "ndcg_at_10",
    "precision_at_10",
    "recall_at_10",
    "coverage_at_10",
    "fit_seconds",
)


@dataclass(frozen=True)
class TrainSettings:
    """What one `train` call does; the defaults are those of `discerner train`.

    Attributes:
        name: Registered model name.
        alias: The alias that marks the serving version.
        metric: Selection metric (a `discerner.evaluation` name such as `ndcg_at_10`).
        seed: Seed of the validation split and of the seeded models.
        validation_fraction: Share of each user's rows held out for validation.
        families: Candidate families to keep from the library's grid (None: all).
        candidates: Explicit unfitted candidates by name, replacing the grid (tests, tuning).
        ks: Cut-offs of the ranking metrics.
        max_search_users: Search candidates on at most this many users (a seeded sample;
            None: all); the winner is refitted on all of them.
        experiment: MLflow experiment name.
        home: Data folder; default `$DISCERNER_HOME`.
    """

    name: str = registry.MODEL_NAME
    alias: str = registry.CHAMPION
    metric: str = "ndcg_at_10"
    seed: int = 42
    validation_fraction: float = 0.2
    families: tuple[str, ...] | None = None
    candidates: dict[str, Any] | None = None
    ks: tuple[int, ...] = DEFAULT_KS
    max_search_users: int | None = DEFAULT_SEARCH_USERS
    experiment: str = tracking.EXPERIMENT
    home: str | os.PathLike[str] | None = None


@dataclass
class Scored:
    """One candidate's validation result."""

    name: str
    model: Any
    metrics: dict[str, float]
    top_products: np.ndarray = field(repr=False)
    run_id: str | None = None


@dataclass(frozen=True)
class TrainOutcome:
    """What a training run produced and decided; `model` is the winner refitted on all data."""

    run_id: str
    version: str
    winner: str
    validation_score: float
    champion_version: str | None
    champion_score: float | None
    decision: registry.Decision
    results: pd.DataFrame
    model: Any = field(repr=False, default=None)

    def summary(self) -> str:
        """A few lines for a person: the winner, the version, and the champion decision."""
        verdict = "promoted to champion" if self.decision.promote else "champion unchanged"
        return "\n".join(
            [
                brief(self.results),
                f"Winner: {self.winner} (validation {self.validation_score:.4f})",
                f"Registered version {self.version}: {verdict} ({self.decision.reason})",
                f"MLflow run: {self.run_id}",
            ]
        )


# ------------------------------------------------------------------------------------ data
def load_store(home: str | os.PathLike[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """Snapshot the store read-only: its interactions and their data version.

    Raises:
        TrainingError: The store holds no activities.
    """
    from discerner.store import Store

    with Store.open(config.store_dir(config.home(home)), readonly=True) as store:
        # The version read before and after the copy must agree, or a write slipped between.
        for _ in range(SNAPSHOT_ATTEMPTS):
            interactions = None  # free the stale copy before taking the next
            version = store.data_version()
            interactions = store.interactions()
            if store.data_version() == version:
                break
        else:
            logger.warning("the store kept changing; training on data version %s", version)
    if interactions.empty:
        raise TrainingError("the store holds no activities: import some first")
    return interactions, version


def frame_version(interactions: pd.DataFrame) -> dict[str, Any]:
    """A data version for a frame that did not come from the store: row counts and a hash."""
    hashed = pd.util.hash_pandas_object(interactions, index=False).to_numpy()
    return {
        "source": "frame",
        "activities": len(interactions),
        "users": int(interactions[USER_ID].nunique()),
        "products": int(interactions[PRODUCT_ID].nunique()),
        "hash": hashlib.sha256(hashed.tobytes()).hexdigest()[:16],
    }


def data_and_version(
    home: str | os.PathLike[str] | None,
    interactions: pd.DataFrame | None = None,
    data_version: dict | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The data to work on and its version: the store's snapshot unless a frame is given.

    Args:
        home: Data folder whose store is read when `interactions` is None.
        interactions: A frame to use instead of the store's data.
        data_version: The frame's version; default `frame_version(interactions)`.
    """
    if interactions is None:
        return load_store(home)
    return interactions, data_version or frame_version(interactions)


def validation_split(
    interactions: pd.DataFrame, settings: TrainSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded per-user split of at most `max_search_users` users (a seeded sample).

    Searching on a sample of users keeps a large store's search affordable; the winner is
    still refitted on every user.
    """
    from discerner.evaluation import random_split

    limit = settings.max_search_users
    users = interactions[USER_ID].unique()
    if limit is not None and len(users) > limit:
        chosen = np.random.default_rng(settings.seed).choice(users, size=limit, replace=False)
        interactions = interactions[interactions[USER_ID].isin(chosen)]
    return random_split(interactions, settings.validation_fraction, settings.seed)


# ------------------------------------------------------------------------------ candidates
def candidate_models(settings: TrainSettings) -> dict[str, Any]:
    """The unfitted candidates: `settings.candidates`, else the library's default grid.

    Raises:
        TrainingError: No candidate is left after keeping `settings.families`.
    """
    if settings.candidates is not None:
        return dict(settings.candidates)
    from discerner.evaluation import DEFAULT_CANDIDATES

    found = {}
    for family, (factory, grid) in DEFAULT_CANDIDATES.items():
        if settings.families is None or family in settings.families:
            found |= grid_candidates(family, factory, grid)
    if not found:
        known = ", ".join(DEFAULT_CANDIDATES)
        raise TrainingError(f"no candidate family among {settings.families}; known: {known}")
    return found


def grid_candidates(family: str, factory: Any, grid: Any) -> dict[str, Any]:
    """Named unfitted candidates, one per point of `grid` (a dict of lists or list of dicts)."""
    from discerner.evaluation.selection import expand_grid

    return {candidate_name(family, params): factory(**params) for params in expand_grid(grid)}


def candidate_name(family: str, params: dict[str, Any]) -> str:
    """A readable run name: `pure_svd(n_components=32, weighting=binary)`."""
    inside = ", ".join(f"{k}={v}" for k, v in params.items())
    return f"{family}({inside})" if inside else family


def clone(model: Any) -> Any:
    """An unfitted copy of a model with the same parameters."""
    return type(model)(**model.get_params())


def score(
    model: Any, train: pd.DataFrame, validation: pd.DataFrame, ks: tuple[int, ...]
) -> dict[str, float]:
    """Fit `model` on `train` (in place) and score it on `validation`.

    Returns:
        `discerner.evaluation.evaluate_model`'s metrics at every k plus `fit_seconds`.
    """
    from discerner.evaluation import evaluate_model

    started = time.perf_counter()
    model.fit(train)
    metrics = {"fit_seconds": time.perf_counter() - started}
    return metrics | evaluate_model(model, train, validation, ks)


def fit_candidates(
    candidates: dict[str, Any], train: pd.DataFrame, validation: pd.DataFrame, ks
) -> list[Scored]:
    """Score every candidate as a nested MLflow run of the active run.

    Each keeps its top 10 for at most `PLOT_USERS` validation users, for the bias plot.
    """
    users = validation[USER_ID].unique()
    plot_users = users[:PLOT_USERS]
    scored = []
    for name, model in tqdm(candidates.items(), desc="candidates", unit="model"):
        with child_run(name) as child:
            mlflow.log_params(model_params(model))
            metrics = score(model, train, validation, ks)
            mlflow.log_metrics(metrics)
        logger.info("%s: %s", name, _brief(metrics))
        top = model.recommend(plot_users, n=10)[PRODUCT_ID].to_numpy()
        scored.append(Scored(name, model, metrics, top, child.info.run_id))
    return scored


def child_run(name: str):
    """A nested run in the active run's experiment (MLflow would pick the default one)."""
    parent = mlflow.active_run()
    return mlflow.start_run(run_name=name, nested=True, experiment_id=parent.info.experiment_id)


def model_params(model: Any) -> dict[str, Any]:
    return {"model_class": type(model).__name__, **model.get_params()}


def _brief(metrics: dict[str, float]) -> str:
    keys = ("ndcg_at_10", "precision_at_10", "recall_at_10", "fit_seconds")
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys if k in metrics)


def results_table(scored: list[Scored], metric: str) -> pd.DataFrame:
    """One row per candidate (`model`, `model_class`, metrics), best `metric` first."""
    rows = [{"model": s.name, "model_class": type(s.model).__name__, **s.metrics} for s in scored]
    table = pd.DataFrame(rows)
    return table.sort_values(metric, ascending=False, kind="stable", ignore_index=True)


def log_plots(table: pd.DataFrame, scored: list[Scored], train: pd.DataFrame, metric: str):
    """Log the metric-against-k, comparison and popularity-bias figures of the candidates."""
    figures = {
        "plots/metric_against_k.png": plots.metric_against_k(table),
        "plots/comparison.png": plots.comparison(table, metric),
        "plots/popularity_bias.png": plots.popularity_bias(
            {s.name: pd.DataFrame({PRODUCT_ID: s.top_products}) for s in scored}, train
        ),
    }
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)


# -------------------------------------------------------------------------------- champion
def champion_configuration(settings: TrainSettings):
    """The current champion version and an unfitted copy of its model, or (None, None)."""
    version = registry.champion(settings.name, settings.alias)
    if version is None:
        return None, None
    tags = version.tags or {}
    try:
        from discerner import models

        model_class = getattr(models, tags["model_class"])
        return version, model_class(**json.loads(tags["model_params"]))
    except (KeyError, AttributeError, TypeError, ValueError):
        logger.warning("champion version %s has no usable configuration tags", version.version)
        return version, None


def score_champion(
    settings: TrainSettings,
    scored: list[Scored],
    train: pd.DataFrame,
    validation: pd.DataFrame,
) -> tuple[str | None, float | None]:
    """The champion's version and its score on this run's validation split (None: no champion).

    A candidate with the champion's exact configuration already has that score; otherwise the
    configuration is refitted on the training part.
    """
    version, model = champion_configuration(settings)
    if version is None or model is None:
        return (str(version.version) if version else None), None
    for s in scored:
        if type(s.model) is type(model) and s.model.get_params() == model.get_params():
            return str(version.version), s.metrics[settings.metric]
    logger.info("re-scoring champion version %s on this validation split", version.version)
    return str(version.version), score(model, train, validation, settings.ks)[settings.metric]


# ---------------------------------------------------------------------------------- models
def log_model(model: Any, example_users: np.ndarray) -> mlflow.models.model.ModelInfo:
    """Log a fitted library model as the run's pyfunc model `model`."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = model.save(Path(scratch) / pyfunc.ARTIFACT_KEY)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc.RecommenderModel(),
            artifacts={pyfunc.ARTIFACT_KEY: str(folder)},
            signature=pyfunc.signature(),
            input_example=pyfunc.input_example(example_users),
            pip_requirements=pyfunc.pip_requirements(),
        )


def _log_data(interactions: pd.DataFrame, version: dict, settings: TrainSettings) -> None:
    mlflow.set_tag("data_version", json.dumps(version, sort_keys=True, default=str))
    tracking.log_new_params(
        {
            **{f"data_{k}": v for k, v in version.items()},
            "seed": settings.seed,
            "validation_fraction": settings.validation_fraction,
            "metric": settings.metric,
            "ks": ",".join(map(str, settings.ks)),
            "max_search_users": settings.max_search_users,
            "n_interactions": len(interactions),
        }
    )


# ------------------------------------------------------------------------------- pipeline
def train(
    settings: TrainSettings = TrainSettings(),
    interactions: pd.DataFrame | None = None,
    data_version: dict | None = None,
) -> TrainOutcome:
    """Run the whole pipeline; see the module docstring.

    Args:
        settings: What to do.
        interactions: Data to train on instead of the store's (notebooks, tests).
        data_version: The data's version; default `frame_version(interactions)`.

    Returns:
        The outcome: run id, registered version, scores and the champion decision.

    Raises:
        TrainingError: No data, or no candidate.
    """
    tracking.setup(settings.home)
    interactions, data_version = data_and_version(settings.home, interactions, data_version)
    experiment = tracking.experiment_id(settings.experiment, settings.home)
    with mlflow.start_run(experiment_id=experiment, run_name="train") as run:
        _log_data(interactions, data_version, settings)
        table, best, champion = _select(interactions, settings)
        winner = clone(best.model).fit(interactions)
        info = log_model(winner, interactions[USER_ID].unique())
        version, decision = _register(info, run.info.run_id, best, champion, data_version, settings)
        mlflow.set_tags({"registered_version": version, "decision": decision.reason})
    logger.info("version %s: %s", version, decision.reason)
    return TrainOutcome(
        run_id=run.info.run_id,
        version=version,
        winner=best.name,
        validation_score=best.metrics[settings.metric],
        champion_version=champion[0],
        champion_score=champion[1],
        decision=decision,
        results=table,
        model=winner,
    )


def tune(
    settings: TrainSettings,
    interactions: pd.DataFrame | None = None,
    data_version: dict | None = None,
) -> tuple[str, pd.DataFrame]:
    """Score candidates as nested runs of one `tune` run, with the plots; register nothing.

    Args:
        settings: The candidates (or families), split, metric and experiment to use.
        interactions: Data to search on instead of the store's.
        data_version: The data's version; default `frame_version(interactions)`.

    Returns:
        The `tune` run's id and the results table, best first.
    """
    tracking.setup(settings.home)
    interactions, data_version = data_and_version(settings.home, interactions, data_version)
    experiment = tracking.experiment_id(settings.experiment, settings.home)
    with mlflow.start_run(experiment_id=experiment, run_name="tune") as run:
        _log_data(interactions, data_version, settings)
        train_part, validation = validation_split(interactions, settings)
        scored = fit_candidates(candidate_models(settings), train_part, validation, settings.ks)
        table = results_table(scored, settings.metric)
        log_plots(table, scored, train_part, settings.metric)
        mlflow.log_text(table.to_csv(index=False), "candidates.csv")
    return run.info.run_id, table


def _select(interactions: pd.DataFrame, settings: TrainSettings):
    """Split, score candidates and the champion; the split is freed when this returns."""
    train_part, validation = validation_split(interactions, settings)
    mlflow.log_params({"validation_users": validation[USER_ID].nunique()})
    scored = fit_candidates(candidate_models(settings), train_part, validation, settings.ks)
    table = results_table(scored, settings.metric)
    best = next(s for s in scored if s.name == table["model"].iloc[0])
    log_plots(table, scored, train_part, settings.metric)
    mlflow.log_text(table.to_csv(index=False), "candidates.csv")
    champion = score_champion(settings, scored, train_part, validation)
    mlflow.log_metrics({f"best_{k}": v for k, v in best.metrics.items()})
    if champion[1] is not None:
        mlflow.log_metric(f"champion_{settings.metric}", champion[1])
    return table, best, champion


def _register(info, run_id, best: Scored, champion, data_version, settings: TrainSettings):
    decision = registry.decide(best.metrics[settings.metric], champion[1], settings.metric)
    tags = {
        "run_id": run_id,
        "model_class": type(best.model).__name__,
        "model_params": best.model.get_params(),
        "metric": settings.metric,
        "validation_score": best.metrics[settings.metric],
        "data_version": data_version,
        "decision": "promoted" if decision.promote else "kept champion",
        "reason": decision.reason,
    }
    if champion[1] is not None:
        tags |= {"champion_score": champion[1], "champion_version": champion[0]}
    version = registry.register(info.model_uri, tags, name=settings.name).version
    if decision.promote:
        registry.promote(version, name=settings.name, alias=settings.alias, reason=decision.reason)
    return str(version), decision


# --------------------------------------------------------------------------------- tables
def brief(table: pd.DataFrame) -> str:
    """A results or evaluation table as text, with only the headline columns."""
    keep = ["version", "model_class", *SUMMARY_COLUMNS]
    shown = table[[c for c in keep if c in table.columns]]
    return shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
