"""Model selection: the one engine behind training, tuning, benchmarks and notebooks.

A candidate is a named, unfitted configuration (`Candidate`: family, parameters, factory);
`library_candidates()` builds the library's default grid. `search` fits every candidate on a
training part and scores it on a validation part (`discerner train` wraps each fit in an
MLflow child run through its `run` hook); `select_model` carves the validation split out of
the data it is given and returns the best. The selection never sees validation rows while
fitting.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from discerner.evaluation.metrics import catalog_coverage, popularity_bias, ranking_metrics
from discerner.evaluation.splits import random_split
from discerner.models import Blend, ItemKNN, Popularity, PureSVD, UserKNN
from discerner.models.base import Recommender
from discerner.schema import PRODUCT_ID, USER_ID

logger = logging.getLogger(__name__)

Factory = Callable[..., Recommender]
Grid = Mapping[str, Iterable[Any]] | Iterable[Mapping[str, Any]]
# `run(candidate, evaluate)` calls `evaluate()` and returns its metrics; training wraps it in
# an MLflow child run.
RunHook = Callable[["Candidate", Callable[[], dict[str, float]]], dict[str, float]]
# `scorer(model, train, validation, ks)` fits the model on `train` and returns its metrics on
# `validation` (`score` in this process; an engine such as Spark passes its own).
Scorer = Callable[[Recommender, Any, Any, Iterable[int]], dict[str, float]]


def expand_grid(grid: Grid) -> list[dict]:
    """A parameter grid as a list of dicts: a dict of lists is expanded to its product."""
    if isinstance(grid, Mapping):
        names = list(grid)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
    return [dict(params) for params in grid]


# The candidate families and their grids: the single source of the default model search.
DEFAULT_CANDIDATES: dict[str, tuple[Factory, list[dict[str, Any]]]] = {
    "popularity": (Popularity, [{}]),
    "pure_svd": (PureSVD, expand_grid({"n_components": [8, 12, 16, 24, 32, 48]})),
    "item_knn": (ItemKNN, expand_grid({"k": [100, 400], "alpha": [0.5, 0.7], "beta": [0.2]})),
    "rp3beta": (
        ItemKNN,
        expand_grid(
            {"similarity": ["rp3beta"], "k": [100, 200], "alpha": [0.8, 1.0], "beta": [0.4, 0.6]}
        ),
    ),
    "user_knn": (UserKNN, expand_grid({"k": [50, 100, 200]})),
    "blend": (
        Blend,
        expand_grid({"n_components": [16, 20, 24, 32], "svd_weight": [0.3, 0.4, 0.5, 0.6, 0.7]}),
    ),
}


@dataclass(frozen=True)
class Candidate:
    """One configuration to try: a family name, its parameters and the class that builds it.

    `label` names it in runs and tables; by default the family and the parameters do.
    """

    family: str
    params: dict[str, Any]
    factory: Factory
    label: str | None = None

    @property
    def name(self) -> str:
        """The label, else a readable name: `pure_svd(n_components=32, weighting=binary)`."""
        if self.label is not None:
            return self.label
        inside = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.family}({inside})" if inside else self.family

    def build(self) -> Recommender:
        """A new, unfitted model of this configuration."""
        return self.factory(**self.params)

    @classmethod
    def of(cls, name: str, model: Recommender) -> Candidate:
        """The configuration of an unfitted (or fitted) model, named `name` (also its family)."""
        return cls(name, model.get_params(), type(model), label=name)


def grid_candidates(family: str, factory: Factory, grid: Grid) -> list[Candidate]:
    """One candidate per point of `grid` (a dict of lists or a list of dicts)."""
    return [Candidate(family, params, factory) for params in expand_grid(grid)]


def library_candidates(
    families: Iterable[str] | None = None,
    grids: Mapping[str, tuple[Factory, Grid]] | None = None,
) -> list[Candidate]:
    """The candidates of `grids` (default `DEFAULT_CANDIDATES`), keeping only `families`.

    Raises:
        ValueError: No candidate is left.
    """
    grids = DEFAULT_CANDIDATES if grids is None else grids
    wanted = None if families is None else set(families)
    found = [
        candidate
        for family, (factory, grid) in grids.items()
        if wanted is None or family in wanted
        for candidate in grid_candidates(family, factory, grid)
    ]
    if not found:
        raise ValueError(f"no candidate family among {families}; known: {', '.join(grids)}")
    return found


def as_candidates(given: Iterable[Candidate] | Mapping[str, Recommender]) -> list[Candidate]:
    """Candidates as they are, or named unfitted models (the name becomes the family)."""
    if isinstance(given, Mapping):
        return [Candidate.of(name, model) for name, model in given.items()]
    return list(given)


def evaluate_model(
    model: Recommender,
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: Iterable[int] = (5, 10, 20),
    history: pd.DataFrame | None = None,
) -> dict[str, float]:
    """Metrics of a fitted model on a test frame, keyed by MLflow-safe names.

    Every test user is scored; candidates are the training products the user has not rated.

    Args:
        model: A model fitted on `train`.
        train: The training interactions (for popularity bias).
        test: Held-out interactions; every row is a relevant product.
        k: Cut-offs.
        history: Folded-in rows of users unseen at fit (see `user_split`), passed to
            `recommend`; their products are excluded like seen ones.

    Returns:
        Ranking metrics, `coverage_at_k` and `popularity_bias_at_k` for each k, and
        `recommend_seconds`.
    """
    ks = sorted(set(k))
    started = time.perf_counter()
    recs = model.recommend(np.unique(test[USER_ID].to_numpy()), n=ks[-1], history=history)
    values = {"recommend_seconds": time.perf_counter() - started}
    n_products = train[PRODUCT_ID].nunique()
    for cut in ks:
        values.update(ranking_metrics(recs, test, cut))
        values[f"coverage_at_{cut}"] = catalog_coverage(recs, n_products, cut)
        values[f"popularity_bias_at_{cut}"] = popularity_bias(recs, train, cut)
    return values


def score(
    model: Recommender, train: pd.DataFrame, validation: pd.DataFrame, ks: Iterable[int]
) -> dict[str, float]:
    """Fit `model` on `train` (in place) and score it on `validation`.

    Returns:
        `evaluate_model`'s metrics at every k plus `fit_seconds`.
    """
    started = time.perf_counter()
    model.fit(train)
    metrics = {"fit_seconds": time.perf_counter() - started}
    return metrics | evaluate_model(model, train, validation, ks)


def evaluate(
    models: Mapping[str, Recommender],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: Iterable[int] = (5, 10, 20),
    fit: bool = True,
) -> pd.DataFrame:
    """Fit (unless `fit` is False) and evaluate several models on one split.

    Args:
        models: Name -> model.
        train: Training interactions.
        test: Held-out interactions; every row is relevant.
        k: Cut-offs.
        fit: Fit each model on `train` first (and report `fit_seconds`).

    Returns:
        Tidy frame with columns `model`, `metric`, `value`; metric names such as `ndcg_at_10`.
    """
    rows = []
    for name, model in tqdm(models.items(), desc="evaluate", disable=len(models) < 2):
        values = score(model, train, test, k) if fit else evaluate_model(model, train, test, k)
        rows += [{"model": name, "metric": m, "value": v} for m, v in values.items()]
    return pd.DataFrame(rows, columns=["model", "metric", "value"])


@dataclass
class Scored:
    """One candidate fitted on the training part, with its validation metrics."""

    candidate: Candidate
    model: Recommender = field(repr=False)
    metrics: dict[str, float]

    @property
    def name(self) -> str:
        """The candidate's name."""
        return self.candidate.name


def search(
    given: Iterable[Candidate] | Mapping[str, Recommender],
    train: pd.DataFrame,
    validation: pd.DataFrame,
    ks: Iterable[int] = (10,),
    *,
    run: RunHook | None = None,
    scorer: Scorer | None = None,
) -> list[Scored]:
    """Fit every candidate on `train` and score it on `validation`, in the order given.

    Args:
        given: The candidates (or named unfitted models).
        train: Training interactions.
        validation: Held-out interactions to score on.
        ks: Cut-offs of the metrics.
        run: Wraps each candidate's fit and scoring (training logs it as an MLflow run).
        scorer: Fits and scores one model; default `score` (pandas frames, this process).

    Returns:
        One `Scored` per candidate, its model fitted on `train`.
    """
    found = []
    scorer = scorer or score
    for candidate in tqdm(as_candidates(given), desc="candidates", unit="model"):
        model = candidate.build()

        def evaluate_one(model=model) -> dict[str, float]:
            return scorer(model, train, validation, ks)

        metrics = run(candidate, evaluate_one) if run is not None else evaluate_one()
        logger.info("%s: %s", candidate.name, _brief(metrics))
        found.append(Scored(candidate, model, metrics))
    return found


def _brief(metrics: Mapping[str, float]) -> str:
    keys = ("ndcg_at_10", "precision_at_10", "recall_at_10", "fit_seconds")
    return ", ".join(f"{k}={metrics[k]:.4f}" for k in keys if k in metrics)


def results_table(scored: list[Scored], metric: str) -> pd.DataFrame:
    """One row per candidate (`model`, `family`, `params`, `model_class`, metrics), best first.

    Ties keep the order of the search: the earlier candidate wins.
    """
    rows = [
        {
            "model": s.name,
            "family": s.candidate.family,
            "params": s.candidate.params,
            "model_class": type(s.model).__name__,
            **s.metrics,
        }
        for s in scored
    ]
    table = pd.DataFrame(rows)
    return table.sort_values(metric, ascending=False, kind="stable", ignore_index=True)


def best_of(scored: list[Scored], metric: str) -> Scored:
    """The candidate with the highest `metric` (the earliest among equals)."""
    return max(scored, key=lambda s: s.metrics[metric])  # `max` keeps the first of equals


def validation_split(
    interactions: pd.DataFrame,
    fraction: float,
    seed: int,
    max_users: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The seeded per-user validation split, of at most `max_users` users (a seeded sample).

    Searching on a sample of users keeps a large store's search affordable; the winner is
    still refitted on every user.
    """
    users = interactions[USER_ID].unique()
    if max_users is not None and len(users) > max_users:
        chosen = np.random.default_rng(seed).choice(users, size=max_users, replace=False)
        interactions = interactions[interactions[USER_ID].isin(chosen)]
    return random_split(interactions, fraction, seed)


def grid_search(
    factory: Factory,
    grid: Grid,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    metric: str = "ndcg_at_10",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """`search` over one class's grid: fit each point on `train`, score it on `validation`.

    Returns:
        (results, best_params): one row per grid point with its `params`, `metric`'s value
        and `fit_seconds`, best first; and the best point's params (ties: the earlier point).
    """
    family = getattr(factory, "__name__", "grid")
    cut = int(metric.rsplit("_", 1)[-1])
    scored = search(grid_candidates(family, factory, grid), train, validation, ks=(cut,))
    table = results_table(scored, metric)[["params", metric, "fit_seconds"]]
    return table, dict(table.loc[0, "params"])


@dataclass
class Selection:
    """The outcome of `select_model`: the winner and the whole search table, best first."""

    best: Scored = field(repr=False)
    metric: str
    results: pd.DataFrame = field(repr=False)

    @property
    def family(self) -> str:
        """The winner's family."""
        return self.best.candidate.family

    @property
    def params(self) -> dict[str, Any]:
        """The winner's parameters (the grid point, not every default)."""
        return self.best.candidate.params

    @property
    def score(self) -> float:
        """The winner's validation score."""
        return float(self.best.metrics[self.metric])

    def build(self) -> Recommender:
        """A new, unfitted model with the selected configuration."""
        return self.best.candidate.build()


def select_model(
    interactions: pd.DataFrame,
    seed: int = 42,
    validation_fraction: float = 0.1,
    metric: str = "ndcg_at_10",
    candidates: Mapping[str, tuple[Factory, Grid]] | None = None,
    *,
    ks: Iterable[int] | None = None,
    max_users: int | None = None,
) -> Selection:
    """The library's model selection: search every candidate family on a validation split.

    The validation split is carved out of `interactions` (per user, at random, with `seed`);
    pass only training data, never the test part. It is small (10%) so that the models it
    scores train on nearly as much data as the final refit: the best rank and blend weight
    grow with the data. On MovieLens 100k over four test seeds this picked configurations
    0.003 NDCG@10 better on average than a 20% validation split, and never below 0.434.

    Args:
        interactions: The data to select on (for example the training part of a split).
        seed: Seed of the validation split (and nothing else).
        validation_fraction: Share of each user's rows held out for validation.
        metric: The metric to maximise.
        candidates: Family name -> (factory, grid); default `DEFAULT_CANDIDATES`.
        ks: Cut-offs scored (default: the metric's own).
        max_users: Search on a seeded sample of at most this many users.

    Returns:
        The Selection; its `results` has one row per (family, params) with the metric.
    """
    train, validation = validation_split(interactions, validation_fraction, seed, max_users)
    cut = int(metric.rsplit("_", 1)[-1])
    scored = search(library_candidates(grids=candidates), train, validation, ks or (cut,))
    best = best_of(scored, metric)
    logger.info("selected %s (%s = %.4f)", best.name, metric, best.metrics[metric])
    return Selection(best=best, metric=metric, results=results_table(scored, metric))
