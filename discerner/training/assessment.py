"""Evaluating registered versions on a chosen split: each configuration refitted, then scored.

`evaluate_versions` backs `discerner evaluate` and the MLproject `evaluate` step. A version's
model was fitted on all the data of its day, so scoring it as it is on a split of today's data
would reward it for rows it has seen; instead its configuration (class and parameters, from
its version tags) is refitted on the split's training part and scored on the held-out part.
"""

from __future__ import annotations

import json
import os
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from tqdm.auto import tqdm

from discerner import tracking
from discerner.errors import TrainingError
from discerner.evaluation import random_split, selection, temporal_split
from discerner.tracking import registry
from discerner.training import pipeline


def split_frame(
    interactions: pd.DataFrame, split: str, *, seed: int = 42, test_fraction: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split for evaluation: `random` holds out `test_fraction` of each user's rows (seeded),
    `temporal` each user's latest row.

    Raises:
        ValueError: Unknown split.
    """
    if split == "random":
        return random_split(interactions, test_fraction, seed)
    if split == "temporal":
        return temporal_split(interactions, n_last=1)
    raise ValueError(f"unknown split {split!r}; use random or temporal")


def evaluate_versions(
    *,
    name: str = registry.MODEL_NAME,
    versions: list[str] | str | None = None,
    split: str = "random",
    seed: int = 42,
    test_fraction: float = 0.2,
    ks: tuple[int, ...] = pipeline.DEFAULT_KS,
    experiment: str = tracking.EXPERIMENT,
    home: str | os.PathLike[str] | None = None,
    interactions: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Refit registered versions' configurations on a split of the data and score them.

    Each version is one nested run of an `evaluate` run; its metrics also become version tags
    `eval_<split>_<metric>`.

    Args:
        name: Registered model.
        versions: Version numbers, `"all"`, or None for the champion.
        split: `random` or `temporal` (see `split_frame`).
        seed: Seed of the split.
        test_fraction: Held-out share (random split).
        ks: Cut-offs.
        experiment: MLflow experiment.
        home: Data folder; default `$DISCERNER_HOME`.
        interactions: Data to use instead of the store's.

    Returns:
        One row per version: `version`, `model_class`, and the metrics.

    Raises:
        TrainingError: Nothing to evaluate.
    """
    tracking.setup(home)
    chosen = _versions(name, versions)
    interactions, data_version = pipeline.data_and_version(home, interactions)
    train_part, test = split_frame(interactions, split, seed=seed, test_fraction=test_fraction)
    rows = []
    with mlflow.start_run(
        experiment_id=tracking.experiment_id(experiment, home), run_name="evaluate"
    ):
        mlflow.set_tag("data_version", json.dumps(data_version, sort_keys=True, default=str))
        tracking.log_new_params({"split": split, "seed": seed, "test_fraction": test_fraction})
        for version in tqdm(chosen, desc="versions", unit="version"):
            rows.append(_evaluate_one(name, version, train_part, test, split, ks))
    return pd.DataFrame(rows)


def _versions(name: str, versions: list[str] | str | None) -> list:
    client = registry.client()
    if versions == "all":
        found = client.search_model_versions(f"name = '{name}'")
    elif versions is None:
        found = [v for v in [registry.champion(name)] if v is not None]
    else:
        try:
            found = [client.get_model_version(name, str(v)) for v in versions]
        except MlflowException as error:
            raise TrainingError(error.message) from None
    if not found:
        raise TrainingError(f"no version of {name!r} to evaluate")
    return sorted(found, key=lambda v: int(v.version))


def _evaluate_one(name, version, train_part, test, split, ks) -> dict[str, Any]:
    model = registry.configuration(version)
    if model is None:
        raise TrainingError(f"version {version.version} of {name!r} names no model to refit")
    with pipeline.child_run(f"{name} v{version.version}"):
        mlflow.log_params({"version": version.version, **pipeline.model_params(model)})
        metrics = selection.score(model, train_part, test, ks)
        mlflow.log_metrics(metrics)
    client = registry.client()
    for key in (f"ndcg_at_{k}" for k in ks):
        client.set_model_version_tag(name, version.version, f"eval_{split}_{key}", metrics[key])
    return {"version": int(version.version), "model_class": type(model).__name__, **metrics}
