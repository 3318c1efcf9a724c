"""The training pipeline: store snapshot -> validation split -> candidates -> registered champion.

`train` records the data version, carves a seeded per-user validation split out of the store's
interactions, searches the library's grid on the training part by successive halving over
growing samples of users within a time budget (`search_plan` scales the budget and the samples
with the data; small data gets the whole grid on every user), each trial a nested MLflow run
(parameters, metrics such as `ndcg_at_10`, fit and recommend timings, its round and sample),
logs comparison plots, refits the winner on all the data, logs it as a pyfunc model and
registers it. The
`champion` alias moves only when the winner beats the current champion re-scored on the same
validation split: the champion's configuration (class and parameters, from its version tags) is
refitted on the same training part, so neither side has seen the validation rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from discerner import config, feedback, tracking
from discerner.errors import TrainingError
from discerner.evaluation import selection
from discerner.schema import PRODUCT_ID, USER_ID
from discerner.store import open_store
from discerner.tracking import pyfunc, registry
from discerner.training import engines, plots

logger = logging.getLogger(__name__)

DEFAULT_KS = (5, 10, 20)
# A setting chosen from the data's size (`search_plan`).
AUTO = "auto"
# Up to this many activities the search fits the whole grid on every user, without a budget
# (MovieLens 100k, the demo).
SMALL_DATA_ACTIVITIES = 300_000
# On more, a default `discerner train` aims at TRAIN_SECONDS in all: the search's budget is what
# the rest of the run is predicted to leave, but at least MIN_BUDGET_SECONDS. The rest, measured
# on 20M activities on a busy 2-core machine: ~30 s before the search (the frame's hash, the
# split, a first MLflow database), ~15 s after it (plots, the champion), and the refit on all
# the data with its logging, 10-60 s by family.
TRAIN_SECONDS = 300.0
OTHER_SECONDS = 20.0
OTHER_SECONDS_PER_MILLION = 5.0
MIN_BUDGET_SECONDS = 60.0
# The search sample: the users of about SEARCH_ACTIVITIES activities, within these bounds, searched
# in up to SEARCH_ROUNDS rounds of successive halving. The first round has at least
# MIN_FIRST_ROUND_USERS: a smaller population ranks neighbourhood models by how they fit it (on
# 20M activities user kNN's k=200 came last of its grid on 778 users, first on 2,333 and 7,000).
SEARCH_ACTIVITIES = 1_000_000
MIN_SEARCH_USERS = 2_000
DEFAULT_SEARCH_USERS = 20_000
SEARCH_ROUNDS = 3
MIN_FIRST_ROUND_USERS = 2_000
# Users whose top 10s make the popularity-bias plot: 5,000 recommendations a candidate are
# plenty for a box plot (user kNN took 16 s for 2,000 users on 20M activities).
PLOT_USERS = 500
CANDIDATE_PLOT = "plots/metrics_against_k.png"
SNAPSHOT_ATTEMPTS = 5
# MLflow keeps tag values up to 8,000 characters; a long list of names is cut well before.
MAX_TAG_CHARACTERS = 5000
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
        candidates: Explicit candidates replacing the grid (tests, tuning): a list of
            `selection.Candidate`, or unfitted models by name.
        ks: Cut-offs of the ranking metrics.
        max_search_users: Search candidates on at most this many users (a seeded sample;
            None: all; "auto": by the data's size, see `search_plan`); the winner is refitted
            on all of them.
        budget_seconds: Time budget of the candidate search (None: no limit; "auto": by the
            data's size). The refit of the winner comes after it.
        first_round_users: Users of the halving search's first round ("auto": by the data's
            size; None: a single round, every candidate on the whole search sample).
        experiment: MLflow experiment name.
        home: Data folder; default `$DISCERNER_HOME`.
        engine: "library" (this process) or "spark" (`discerner.spark`).
        spark_master: The Spark master URL (engine "spark").
        spark_conf: Extra Spark settings (engine "spark").
        data: A Parquet export to train on instead of exporting the store (engine "spark";
            a folder or URL every Spark executor can read).
        similarity_threshold: DIMSUM threshold of item similarities on Spark (0: exact).
    """

    name: str = registry.MODEL_NAME
    alias: str = registry.CHAMPION
    metric: str = "ndcg_at_10"
    seed: int = 42
    validation_fraction: float = 0.2
    families: tuple[str, ...] | None = None
    candidates: list[selection.Candidate] | dict[str, Any] | None = None
    ks: tuple[int, ...] = DEFAULT_KS
    max_search_users: int | str | None = AUTO
    budget_seconds: float | str | None = AUTO
    first_round_users: int | str | None = AUTO
    experiment: str = tracking.EXPERIMENT
    home: str | os.PathLike[str] | None = None
    engine: str = "library"
    spark_master: str = "local[*]"
    spark_conf: dict[str, str] = field(default_factory=dict)
    data: str | None = None
    similarity_threshold: float = 0.0


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
    with open_store(config.store_url(config.home(home)), readonly=True) as store:
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
        interactions, data_version = load_store(home)
    # Each activity type's weight and meaning (DISCERNER_HOME/feedback.yaml) shape the data.
    return feedback.for_training(interactions, data_version or frame_version(interactions), home)


def validation_split(
    interactions: pd.DataFrame, settings: TrainSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded per-user split of at most `max_search_users` users (a seeded sample)."""
    plan = search_plan(settings, len(interactions), interactions[USER_ID].nunique())
    return selection.validation_split(
        interactions, settings.validation_fraction, settings.seed, plan.max_users
    )


# ---------------------------------------------------------------------------------- search
@dataclass(frozen=True)
class SearchPlan:
    """How the candidates are searched: `TrainSettings`' search settings, "auto" resolved.

    Attributes:
        halving: Successive halving (`selection.halving_search`), else the plain grid.
        budget_seconds: The search's time budget (None: no limit).
        max_users: Users of the search sample (None: every user).
        first_round_users: Users of the first halving round (None: one round).
    """

    halving: bool
    budget_seconds: float | None
    max_users: int | None
    first_round_users: int | None

    def params(self) -> dict[str, Any]:
        """The plan as MLflow parameters of the training run."""
        return {
            "search": "halving" if self.halving else "grid",
            "search_budget_seconds": self.budget_seconds,
            "search_max_users": self.max_users,
            "search_first_round_users": self.first_round_users,
        }


def search_plan(settings: TrainSettings, n_activities: int, n_users: int | None) -> SearchPlan:
    """The search for data of this size, from the settings ("auto" chosen here).

    Small data (at most `SMALL_DATA_ACTIVITIES`): the whole grid on every user, no budget.
    Larger data: a budget of `TRAIN_SECONDS` minus the predicted rest of the run, a sample of
    the users of about `SEARCH_ACTIVITIES` activities (within `MIN_SEARCH_USERS` and
    `DEFAULT_SEARCH_USERS`), and a first round of a ninth of it (three rounds), but at least
    `MIN_FIRST_ROUND_USERS` (20M activities: two rounds, 2,333 and 7,000 users). `n_users` None
    means an engine that cannot sample users per round (Spark): the plain grid on at most
    `DEFAULT_SEARCH_USERS` users, with no budget.
    """
    if n_users is None:
        if settings.budget_seconds not in (AUTO, None):
            logger.warning("the %s engine searches the whole grid: no budget", settings.engine)
        chosen = settings.max_search_users
        return SearchPlan(False, None, DEFAULT_SEARCH_USERS if chosen == AUTO else chosen, None)
    small = n_activities <= SMALL_DATA_ACTIVITIES
    budget, users, first = (
        settings.budget_seconds,
        settings.max_search_users,
        settings.first_round_users,
    )
    if budget == AUTO:
        budget = None if small else default_budget(n_activities)
    if users == AUTO:
        per_user = n_activities / max(n_users, 1)
        share = min(max(SEARCH_ACTIVITIES / per_user, MIN_SEARCH_USERS), DEFAULT_SEARCH_USERS)
        users = None if small or share >= n_users else int(share)
    if first == AUTO:
        searched = min(users or n_users, n_users)
        first = None if small else max(searched // 3 ** (SEARCH_ROUNDS - 1), MIN_FIRST_ROUND_USERS)
    return SearchPlan(True, budget, users, first)


def default_budget(n_activities: int) -> float:
    """The search's default budget on large data: what `TRAIN_SECONDS` leaves after the rest."""
    rest = OTHER_SECONDS + OTHER_SECONDS_PER_MILLION * n_activities / 1e6
    return max(TRAIN_SECONDS - rest, MIN_BUDGET_SECONDS)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_budget(text: str) -> float | str | None:
    """A budget as written on a command line: `90s`, `5m`, `1h`, `300` (seconds), `none` or
    `0` (no limit), or `auto` (by the data's size).

    Raises:
        ValueError: Anything else, with a message that says what is accepted.
    """
    word = text.strip().lower()
    if word in (AUTO, "none"):
        return AUTO if word == AUTO else None
    match = _DURATION.match(word)
    if match is None:
        raise ValueError(
            f"{text!r} is not a budget: write 90s, 5m, 1h, plain seconds, none, or auto"
        )
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    return seconds or None


# ------------------------------------------------------------------------------ candidates
def candidate_models(settings: TrainSettings, grids=None) -> list[selection.Candidate]:
    """The candidates: `settings.candidates`, else `grids`' (default: the library's) families.

    Raises:
        TrainingError: No candidate is left after keeping `settings.families`.
    """
    if settings.candidates is not None:
        return selection.as_candidates(settings.candidates)
    try:
        return selection.library_candidates(settings.families, grids)
    except ValueError as error:
        raise TrainingError(str(error)) from None


def fitting_candidates(
    candidates: list[selection.Candidate], n_users: int, n_products: int
) -> list[selection.Candidate]:
    """The candidates that can be fitted in memory on this many users and products.

    The others (EASE on a large catalogue) are left out with a logged reason and the training
    run's tag `left_out`.

    Raises:
        TrainingError: None can.
    """
    kept, left_out = [], {}
    for candidate in candidates:
        fits, reason = candidate.build().fits_in_memory(n_users, n_products)
        if fits:
            kept.append(candidate)
        else:
            left_out.setdefault(reason, []).append(candidate.name)
    for reason, names in left_out.items():
        logger.warning("left out of the search: %s: %s", ", ".join(names), reason)
    if left_out and mlflow.active_run() is not None:
        text = "; ".join(f"{', '.join(names)}: {why}" for why, names in left_out.items())
        mlflow.set_tag("left_out", text[:MAX_TAG_CHARACTERS])
    if not kept:
        raise TrainingError(f"no candidate can be fitted here: {'; '.join(left_out)}")
    return kept


def fit_candidates(
    candidates: list[selection.Candidate],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    ks: tuple[int, ...],
    scorer: selection.Scorer | None = None,
) -> list[selection.Scored]:
    """`selection.search` with every candidate a nested MLflow run of the active run."""
    return selection.search(candidates, train, validation, ks, run=_tracked, scorer=scorer)


def search_candidates(
    candidates: list[selection.Candidate],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    settings: TrainSettings,
    plan: SearchPlan,
    scorer: selection.Scorer | None = None,
) -> tuple[list[selection.Scored], Any, Any]:
    """The training run's search, every trial a nested MLflow run: halving, or the plain grid.

    Returns:
        (scored, train, validation): every candidate scored at its last round, and the parts
        the winner's round was scored on (the champion is re-scored on the same ones).
    """
    if not plan.halving:
        return fit_candidates(candidates, train, validation, settings.ks, scorer), train, validation
    found = selection.halving_search(
        candidates,
        train,
        validation,
        settings.ks,
        metric=settings.metric,
        budget_seconds=plan.budget_seconds,
        min_users=plan.first_round_users,
        seed=settings.seed,
        run=_tracked,
        scorer=scorer,
    )
    _log_halving(found)
    return found.scored, found.train, found.validation


def _log_halving(found: selection.Halving) -> None:
    mlflow.log_params({"search_rounds": len(found.rounds)})
    mlflow.log_metrics({"search_seconds": found.seconds, "search_skipped": len(found.skipped)})
    for done in found.rounds:
        values = {"users": done.users, "candidates": done.candidates, "scored": done.scored}
        values["seconds"] = done.seconds
        mlflow.log_metrics({f"round_{k}": v for k, v in values.items()}, step=done.number)
    mlflow.set_tag("search_stopped", found.stopped or "no")
    if found.skipped:
        skipped = "".join(f"{name}: {why}\n" for name, why in found.skipped.items())
        mlflow.log_text(skipped, "search_skipped.txt")


def _tracked(candidate: selection.Candidate, evaluate, tags=None) -> dict[str, float]:
    with child_run(candidate.name):
        mlflow.log_params(model_params(candidate.build()))
        if tags:
            mlflow.set_tags(tags)
        metrics = evaluate()
        mlflow.log_metrics(metrics)
        # One small figure from the metrics alone (no recommending again): a few tenths of a
        # second, spent only on the trials that compete in a halving search's last round.
        if not tags or tags["search_round"] == tags["search_rounds"] - 1:
            mlflow.log_figure(plots.candidate_metrics(candidate.name, metrics), CANDIDATE_PLOT)
    return metrics


def child_run(name: str):
    """A nested run in the active run's experiment (MLflow would pick the default one)."""
    parent = mlflow.active_run()
    return mlflow.start_run(run_name=name, nested=True, experiment_id=parent.info.experiment_id)


def model_params(model: Any) -> dict[str, Any]:
    """A model's class name and parameters, as logged on its run."""
    return {"model_class": type(model).__name__, **model.get_params()}


def log_plots(
    table: pd.DataFrame,
    scored: list[selection.Scored],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    metric: str,
) -> None:
    """Log the metric-against-k, comparison and popularity-bias figures of the candidates.

    The bias plot uses each candidate's top 10 for at most `PLOT_USERS` validation users; it
    needs the parts as frames here, so Spark training logs the other two only.
    """
    figures = {
        "plots/metric_against_k.png": plots.metric_against_k(table),
        "plots/comparison.png": plots.comparison(table, metric),
    }
    if isinstance(train, pd.DataFrame):
        users = validation[USER_ID].unique()[:PLOT_USERS]
        tops = {s.name: s.model.recommend(users, n=10)[[PRODUCT_ID]] for s in scored}
        figures["plots/popularity_bias.png"] = plots.popularity_bias(tops, train)
    for path, figure in figures.items():
        mlflow.log_figure(figure, path)


# -------------------------------------------------------------------------------- champion
def score_champion(
    settings: TrainSettings,
    scored: list[selection.Scored],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    scorer: selection.Scorer = selection.score,
) -> tuple[str | None, float | None]:
    """The champion's version and its score on this run's validation split (None: no champion).

    A candidate with the champion's exact configuration already has that score; otherwise the
    configuration is refitted on the training part by `scorer` (the engine's).
    """
    version = registry.champion(settings.name, settings.alias)
    if version is None:
        return None, None
    model = registry.configuration(version)
    if model is None:
        return str(version.version), None
    for s in scored:
        if type(s.model) is type(model) and s.model.get_params() == model.get_params():
            return str(version.version), s.metrics[settings.metric]
    logger.info("re-scoring champion version %s on this validation split", version.version)
    try:
        metrics = scorer(model, train, validation, settings.ks)
    except TrainingError as error:  # a configuration this engine cannot fit
        logger.warning("the champion cannot be re-scored here (%s): treated as absent", error)
        return str(version.version), None
    return str(version.version), metrics[settings.metric]


# ---------------------------------------------------------------------------------- models
def log_model(model: Any, example_users: np.ndarray) -> mlflow.models.model.ModelInfo:
    """Log a fitted library model as the run's pyfunc model `model`."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = model.save(Path(scratch) / pyfunc.ARTIFACT_KEY)
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=pyfunc.MODEL_CODE,  # by code path: no pickled object to trust
            artifacts={pyfunc.ARTIFACT_KEY: str(folder)},
            signature=pyfunc.signature(),
            input_example=pyfunc.input_example(example_users),
            pip_requirements=pyfunc.pip_requirements(),
        )


def _log_data(n_interactions: int, version: dict, settings: TrainSettings) -> None:
    mlflow.set_tag("data_version", json.dumps(version, sort_keys=True, default=str))
    tracking.log_new_params(
        {
            **{f"data_{k}": v for k, v in version.items()},
            "seed": settings.seed,
            "validation_fraction": settings.validation_fraction,
            "metric": settings.metric,
            "ks": ",".join(map(str, settings.ks)),
            "max_search_users": settings.max_search_users,
            "budget_seconds": settings.budget_seconds,
            "n_interactions": n_interactions,
            "engine": settings.engine,
        }
    )
    tracking.log_new_params(feedback.training_config(settings.home).run_params())


# ------------------------------------------------------------------------------- pipeline
def train(
    settings: TrainSettings = TrainSettings(),
    interactions: pd.DataFrame | None = None,
    data_version: dict | None = None,
) -> TrainOutcome:
    """Run the whole pipeline; see the module docstring.

    Args:
        settings: What to do, and on which engine (`settings.engine`).
        interactions: Data to train on instead of the store's (notebooks, tests).
        data_version: The data's version; default `frame_version(interactions)`.

    Returns:
        The outcome: run id, registered version, scores and the champion decision.

    Raises:
        TrainingError: No data, or no candidate.
    """
    tracking.setup(settings.home)
    with engines.open_engine(settings) as engine:
        data, data_version, rows = engine.load(settings, interactions, data_version)
        experiment = tracking.experiment_id(settings.experiment, settings.home)
        with mlflow.start_run(experiment_id=experiment, run_name="train") as run:
            _log_data(rows, data_version, settings)
            table, best, champion = _select(engine, data, rows, settings)
            started = time.perf_counter()
            winner = engine.refit(best.candidate.build(), data)
            mlflow.log_metric("refit_seconds", time.perf_counter() - started)
            info = log_model(winner, engine.example_users(data))
            version, decision = _register(
                info, run.info.run_id, best, champion, data_version, settings
            )
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
        _log_data(len(interactions), data_version, settings)
        train_part, validation = validation_split(interactions, settings)
        scored = fit_candidates(candidate_models(settings), train_part, validation, settings.ks)
        table = selection.results_table(scored, settings.metric)
        log_plots(table, scored, train_part, validation, settings.metric)
        mlflow.log_text(table.to_csv(index=False), "candidates.csv")
    return run.info.run_id, table


def _select(engine: engines.Engine, data, rows: int, settings: TrainSettings):
    """Split, search the candidates, score the champion; the split is freed when this returns."""
    frame = isinstance(data, pd.DataFrame)
    users = data[USER_ID].nunique() if frame else None
    plan = search_plan(settings, rows, users)
    settings = replace(settings, max_search_users=plan.max_users)
    candidates = candidate_models(settings, engine.grids)
    if frame:  # the refit on all the data is the largest fit
        candidates = fitting_candidates(candidates, users, data[PRODUCT_ID].nunique())
    train_part, validation = engine.split(data, settings)
    mlflow.log_params({"validation_users": engine.validation_users(validation), **plan.params()})
    scored, train_part, validation = search_candidates(
        candidates, train_part, validation, settings, plan, engine.score
    )
    table = selection.results_table(scored, settings.metric)
    best = selection.best_of(scored, settings.metric)
    # Only the winner's round was scored on the same sample as the winner.
    final = [s for s in scored if s.round == best.round]
    log_plots(table.head(len(final)), final, train_part, validation, settings.metric)
    mlflow.log_text(table.to_csv(index=False), "candidates.csv")
    champion = score_champion(settings, final, train_part, validation, engine.score)
    mlflow.log_metrics({f"best_{k}": v for k, v in best.metrics.items()})
    if champion[1] is not None:
        mlflow.log_metric(f"champion_{settings.metric}", champion[1])
    return table, best, champion


def _register(
    info, run_id, best: selection.Scored, champion, data_version, settings: TrainSettings
):
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
