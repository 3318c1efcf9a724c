"""Training engines: where the pipeline's data lives and where candidates are fitted and scored.

`train` runs one pipeline (split, search, champion guard, refit, register) over an engine:
`LocalEngine` (`--engine library`, the default) works on pandas frames in this process;
`discerner.spark.SparkEngine` (`--engine spark`) on Spark DataFrames, on a local or remote
cluster. Either way the fitted models are the library's own classes, so what is registered
and served is the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import pandas as pd

from discerner.errors import TrainingError
from discerner.evaluation import selection
from discerner.models import Recommender
from discerner.schema import USER_ID

ENGINES = ("library", "spark")


class Engine(Protocol):
    """What the pipeline asks of an engine; `data`, `train` and `validation` are its own type."""

    name: str
    # The candidate families searched when none are given (None: the library's grid).
    grids: Mapping[str, tuple[selection.Factory, selection.Grid]] | None

    def load(
        self, settings: Any, interactions: pd.DataFrame | None, data_version: dict | None
    ) -> tuple[Any, dict, int]:
        """(data, its version, number of activities): `interactions` if given, else the store's."""
        ...

    def split(self, data: Any, settings: Any) -> tuple[Any, Any]:
        """The seeded per-user validation split: (train, validation)."""
        ...

    def validation_users(self, validation: Any) -> int:
        """How many users the validation part has."""
        ...

    def score(
        self, model: Recommender, train: Any, validation: Any, ks: Iterable[int]
    ) -> dict[str, float]:
        """Fit `model` on `train` and return `fit_seconds` and its metrics on `validation`."""
        ...

    def refit(self, model: Recommender, data: Any) -> Recommender:
        """`model` fitted on all the data: the model to register."""
        ...

    def example_users(self, data: Any) -> np.ndarray:
        """A few user ids for the logged model's input example."""
        ...

    def close(self) -> None:
        """Free what the engine holds."""
        ...


class LocalEngine:
    """The single-machine engine: pandas frames and the library's `fit` in this process."""

    name = "library"
    grids = None

    def load(self, settings, interactions, data_version) -> tuple[pd.DataFrame, dict, int]:
        """The store's snapshot (or the given frame) and its version."""
        from discerner.training.pipeline import data_and_version  # the pipeline imports us

        frame, version = data_and_version(settings.home, interactions, data_version)
        return frame, version, len(frame)

    def split(self, data: pd.DataFrame, settings) -> tuple[pd.DataFrame, pd.DataFrame]:
        """`selection.validation_split` with the settings' fraction, seed and user cap."""
        return selection.validation_split(
            data, settings.validation_fraction, settings.seed, settings.max_search_users
        )

    def validation_users(self, validation: pd.DataFrame) -> int:
        """How many users the validation part has."""
        return int(validation[USER_ID].nunique())

    def score(self, model, train, validation, ks) -> dict[str, float]:
        """`selection.score`: fit in this process, metrics of `evaluate_model`."""
        return selection.score(model, train, validation, ks)

    def refit(self, model: Recommender, data: pd.DataFrame) -> Recommender:
        """`model.fit(data)`."""
        return model.fit(data)

    def example_users(self, data: pd.DataFrame) -> np.ndarray:
        """The data's first users."""
        return data[USER_ID].unique()[:2]

    def close(self) -> None:
        """Nothing to free."""


@contextmanager
def open_engine(settings: Any) -> Iterator[Engine]:
    """The engine `settings.engine` names, closed when the block ends.

    Raises:
        TrainingError: An unknown engine, or Spark's parts (pyspark, Java) are missing.
    """
    if settings.engine == "library":
        yield LocalEngine()
        return
    if settings.engine != "spark":
        raise TrainingError(f"unknown engine {settings.engine!r}: one of {', '.join(ENGINES)}")
    from discerner import spark

    spark.require()
    engine = spark.SparkEngine(
        settings.spark_master,
        settings.spark_conf,
        data=settings.data,
        similarity_threshold=settings.similarity_threshold,
    )
    try:
        yield engine
    finally:
        engine.close()
