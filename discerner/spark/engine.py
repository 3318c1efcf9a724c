"""`SparkEngine`: the training pipeline's engine when `discerner train --engine spark` runs.

It implements `discerner.training.engines.Engine` with Spark DataFrames: the pipeline asks it
for the data, the validation split, each candidate's validation metrics and the winner's refit,
and does the rest (MLflow runs, registry, champion guard) exactly as for single-machine training.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from discerner import config, feedback
from discerner.evaluation.selection import expand_grid
from discerner.models import ImplicitALS, ItemKNN, Popularity, PureSVD, Recommender
from discerner.schema import USER_ID
from discerner.spark import data, evaluate, fit, session

logger = logging.getLogger(__name__)

# The candidate families of Spark training and their grids (`--candidates` keeps some).
SPARK_CANDIDATES = {
    "popularity": (Popularity, [{}]),
    "pure_svd": (PureSVD, expand_grid({"n_components": [16, 32, 64]})),
    "item_knn": (ItemKNN, expand_grid({"k": [100, 400], "alpha": [0.5, 0.7], "beta": [0.2]})),
    "als": (
        ImplicitALS,
        expand_grid({"n_factors": [64], "alpha": [3.0, 10.0], "regularization": [0.5, 1.0]}),
    ),
}


class SparkEngine:
    """Data, split, fits and metrics on Spark; see `discerner.spark` for what runs where.

    Args:
        master: Spark master URL (`local[*]`, `spark://host:7077`, `yarn`, ...).
        conf: Extra Spark settings.
        data: A Parquet export to read (a folder path or URL every executor can reach);
            default: export the store of the data folder into a scratch folder first.
        similarity_threshold: DIMSUM sampling threshold of item similarities (0: exact).
    """

    name = "spark"
    grids = SPARK_CANDIDATES

    def __init__(
        self,
        master: str = session.DEFAULT_MASTER,
        conf: Mapping[str, str] | None = None,
        data: str | None = None,
        similarity_threshold: float = 0.0,
    ):
        self.master = master
        self.data_location = data
        self.similarity_threshold = similarity_threshold
        self.spark, self._owned = session.start(master, conf)
        self._scratch: str | None = None
        self._prepared: dict[tuple[int, str], data.Prepared] = {}
        self._users: dict[tuple[int, int, str], DataFrame] = {}

    # --------------------------------------------------------------------------------- data
    def load(
        self, settings: Any, interactions: pd.DataFrame | None, data_version: dict | None
    ) -> tuple[DataFrame, dict, int]:
        """The activities: a given frame, the Parquet export at `data`, or the store's export.

        Returns:
            (activities DataFrame, data version, number of activities).
        """
        if interactions is not None:
            from discerner.training.pipeline import frame_version

            version = data_version or frame_version(interactions)
            interactions, version = feedback.for_training(interactions, version, settings.home)
            frame = data.from_pandas(self.spark, interactions)
        else:
            location = self.data_location or self._export(settings.home)
            frame, version = data.read_export(self.spark, location)
            types = feedback.training_config(settings.home)
            frame = data.apply_feedback(frame, types)
            version = {**version, "feedback": types.version}
        frame = frame.cache()
        rows = frame.count()
        if rows == 0:
            from discerner.errors import TrainingError

            raise TrainingError("the data holds no activities: import some first")
        return frame, {**version, "engine": "spark"}, rows

    def _export(self, home: Any) -> str:
        from discerner.store import open_store

        self._scratch = tempfile.mkdtemp(prefix="discerner-export-")
        with open_store(config.store_url(config.home(home)), readonly=True) as store:
            store.export(self._scratch)
        logger.info("exported the store to %s for Spark", self._scratch)
        return self._scratch

    def split(self, activities: DataFrame, settings: Any) -> tuple[DataFrame, DataFrame]:
        """The seeded per-user validation split (`data.validation_split`)."""
        return data.validation_split(
            activities, settings.validation_fraction, settings.seed, settings.max_search_users
        )

    def validation_users(self, validation: DataFrame) -> int:
        """How many users the validation part has."""
        return validation.select(USER_ID).distinct().count()

    def example_users(self, activities: DataFrame) -> np.ndarray:
        """Two user ids for the logged model's input example."""
        rows = activities.select(USER_ID).limit(2).collect()
        return np.asarray([row[0] for row in rows], dtype=np.int64)

    # ------------------------------------------------------------------------------ models
    def score(
        self, model: Recommender, train: DataFrame, validation: DataFrame, ks: Iterable[int]
    ) -> dict[str, float]:
        """Fit `model` on `train` on Spark and score it on `validation`, on the executors.

        Returns:
            `fit_seconds` and the metrics of `discerner.evaluation.evaluate_model`.
        """
        fit.check_supported(model)
        started = time.perf_counter()
        prepared = self._prepare(train, model.duplicates)
        fit.fit(self.spark, model, prepared, similarity_threshold=self.similarity_threshold)
        seconds = time.perf_counter() - started
        users = self._validation_users(prepared, train, validation, model.duplicates)
        return {"fit_seconds": seconds} | evaluate.evaluate(self.spark, model, users, ks)

    def refit(self, model: Recommender, activities: DataFrame) -> Recommender:
        """Fit `model` on all the activities, with the fit-time history the artifact keeps."""
        prepared = data.prepare(self.spark, activities, model.duplicates)
        try:
            return fit.fit(
                self.spark,
                model,
                prepared,
                with_history=True,
                similarity_threshold=self.similarity_threshold,
            )
        finally:
            prepared.unpersist()

    def _prepare(self, train: DataFrame, duplicates: str) -> data.Prepared:
        key = (id(train), duplicates)
        if key not in self._prepared:
            self._prepared[key] = data.prepare(self.spark, train, duplicates)
        return self._prepared[key]

    def _validation_users(self, prepared, train, validation, duplicates) -> DataFrame:
        key = (id(train), id(validation), duplicates)
        if key not in self._users:
            frame = evaluate.validation_frame(prepared.merged, validation)
            self._users[key] = frame.cache()
        return self._users[key]

    # --------------------------------------------------------------------------- lifecycle
    def close(self) -> None:
        """Free cached data, stop a session this engine started, remove its export."""
        for prepared in self._prepared.values():
            prepared.unpersist()
        for frame in self._users.values():
            frame.unpersist()
        self._prepared.clear()
        self._users.clear()
        if self._owned:
            self.spark.stop()
        else:
            self.spark.catalog.clearCache()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
