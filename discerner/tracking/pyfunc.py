"""The MLflow pyfunc face of a recommender: a DataFrame of users in, their top n out.

The logged model holds the library model's saved folder as the artifact `recommender`;
`load_context` rebuilds it with `discerner.models.load`, so `mlflow.pyfunc.load_model` and
`mlflow models serve -m models:/discerner@champion --env-manager local` answer
`{"dataframe_records": [{"user_id": 1, "n": 5}]}` with that user's recommendations.
"""

from __future__ import annotations

import logging
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

with warnings.catch_warnings():
    # MLflow 3.17 warns about an `Any` hint in its own modules the first time pyfunc is imported.
    warnings.filterwarnings("ignore", ".*Any type hint is inferred", UserWarning)
    import mlflow.pyfunc
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from discerner.models import load
from discerner.schema import PRODUCT_ID, RANK, SCORE, USER_ID

logger = logging.getLogger(__name__)

ARTIFACT_KEY = "recommender"
# The file `log_model` logs as the model's code (see `pyfunc_model`).
MODEL_CODE = str(Path(__file__).with_name("pyfunc_model.py"))
N_COLUMN = "n"
DEFAULT_N = 10
# What the model needs at load time besides Discerner itself, pinned to the running versions
# (inferring requirements costs seconds per model and guesses wrong).
REQUIREMENTS = ("mlflow", "numpy", "pandas", "pyarrow", "scikit-learn", "scipy")


class RecommenderModel(mlflow.pyfunc.PythonModel):
    """A Discerner recommender served through MLflow's pyfunc interface."""

    def load_context(self, context: Any) -> None:
        """Load the library model from the `recommender` artifact."""
        self.model = load(context.artifacts[ARTIFACT_KEY])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict | None = None
    ) -> pd.DataFrame:
        """Recommend for each row's `user_id`, at most that row's `n` (default 10) products.

        Args:
            context: MLflow's model context (unused after loading).
            model_input: A DataFrame with `user_id` and optional `n`.
            params: Unused; present for MLflow's interface.

        Returns:
            `user_id, product_id, score, rank` rows, best first per user.
        """
        return recommend_frame(self.model, pd.DataFrame(model_input))


def recommend_frame(model: Any, requests: pd.DataFrame) -> pd.DataFrame:
    """Answer a request frame (`user_id`, optional `n`) with a fitted library model.

    Users are answered once even when repeated; each keeps at most its own `n` rows (the
    largest `n` asked for it).

    Args:
        model: A fitted `discerner.models` recommender.
        requests: `user_id` and optional `n` columns.

    Returns:
        `user_id` (int64), `product_id` (int64), `score` (float64), `rank` (int64).
    """
    users = requests[USER_ID].to_numpy(dtype="int64")
    if N_COLUMN in requests.columns:
        wanted = requests[N_COLUMN].fillna(DEFAULT_N).to_numpy(dtype="int64")
    else:
        wanted = np.full(len(users), DEFAULT_N, dtype="int64")
    per_user = pd.Series(wanted, index=users).groupby(level=0).max()
    if per_user.empty:
        return _empty_output()
    found = model.recommend(per_user.index.to_numpy(), n=int(per_user.max()))
    keep = found[RANK].to_numpy() <= per_user.reindex(found[USER_ID]).to_numpy()
    return _typed(found[keep].reset_index(drop=True))


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    dtypes = {USER_ID: "int64", PRODUCT_ID: "int64", SCORE: "float64", RANK: "int64"}
    return frame[list(dtypes)].astype(dtypes)


def _empty_output() -> pd.DataFrame:
    return _typed(pd.DataFrame({c: [] for c in (USER_ID, PRODUCT_ID, SCORE, RANK)}))


def signature() -> ModelSignature:
    """The model's signature: `user_id` (long) and optional `n` (long) in, ranked rows out.

    `n` may be left out of the request, but not out of some rows only: MLflow turns such
    gaps into NaN, which a long column rejects (a double column would reject plain integers).
    """
    inputs = Schema([ColSpec("long", USER_ID), ColSpec("long", N_COLUMN, required=False)])
    outputs = Schema(
        [
            ColSpec("long", USER_ID),
            ColSpec("long", PRODUCT_ID),
            ColSpec("double", SCORE),
            ColSpec("long", RANK),
        ]
    )
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(user_ids: np.ndarray) -> pd.DataFrame:
    """A small request frame for the model's documentation: up to two users, n = 10."""
    users = np.asarray(user_ids, dtype="int64")[:2]
    return pd.DataFrame({USER_ID: users, N_COLUMN: np.full(len(users), DEFAULT_N, "int64")})


def pip_requirements() -> list[str]:
    """The model's pip requirements, pinned to the versions installed here."""
    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS]
