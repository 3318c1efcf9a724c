"""The pyfunc model: request frames in, recommendations out, the same in a fresh process."""

import json
import os
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest

from discerner.models import Popularity
from discerner.tracking import pyfunc

# Popularity (distinct users): product 10 -> 3, 20 -> 2, 30 -> 1.
TINY = pd.DataFrame(
    {
        "user_id": [1, 2, 3, 1, 2, 3],
        "product_id": [10, 10, 10, 20, 20, 30],
        "score": [1.0] * 6,
    }
)


@pytest.fixture(scope="module")
def popularity():
    return Popularity().fit(TINY)


def test_each_user_gets_at_most_their_own_n_without_seen_products(popularity):
    requests = pd.DataFrame({"user_id": [99, 99, 3, 1], "n": [2, 1, 5, 5]})
    found = pyfunc.recommend_frame(popularity, requests).sort_values(["user_id", "rank"])
    expected = pd.DataFrame(
        {
            "user_id": [1, 3, 99, 99],  # 99 is unknown: the popularity ranking, largest n = 2
            "product_id": [30, 20, 10, 20],  # user 1 saw 10 and 20; user 3 saw 10 and 30
            "score": np.float32([1 / 3, 2 / 3, 1.0, 2 / 3]).astype(float),  # shares of 3 users
            "rank": [1, 1, 1, 2],
        }
    )
    pd.testing.assert_frame_equal(found.reset_index(drop=True), expected)


def test_n_defaults_to_ten(popularity):
    found = pyfunc.recommend_frame(popularity, pd.DataFrame({"user_id": [99]}))
    assert found["product_id"].tolist() == [10, 20, 30]  # all three: fewer than ten exist


def test_a_missing_n_in_one_row_means_ten(popularity):
    requests = pd.DataFrame({"user_id": [99, 1], "n": [np.nan, 1.0]})
    found = pyfunc.recommend_frame(popularity, requests)
    assert found.groupby("user_id").size().to_dict() == {1: 1, 99: 3}


def test_an_empty_request_gives_an_empty_typed_frame(popularity):
    found = pyfunc.recommend_frame(
        popularity, pd.DataFrame({"user_id": pd.Series([], dtype="int64")})
    )
    assert found.empty
    assert found.dtypes.astype(str).tolist() == ["int64", "int64", "float64", "int64"]


def test_signature_and_requirements():
    signature = pyfunc.signature()
    assert signature.inputs.input_names() == ["user_id", "n"]
    assert [c.required for c in signature.inputs.inputs] == [True, False]
    assert signature.outputs.input_names() == ["user_id", "product_id", "score", "rank"]
    requirements = pyfunc.pip_requirements()
    assert any(r.startswith("mlflow==") for r in requirements)
    assert all("==" in r for r in requirements)


_PREDICT = """
import json, sys
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
found = model.predict(pd.DataFrame({"user_id": [1, 2, 10_000], "n": [5, 5, 3]}))
print(json.dumps(found.to_dict(orient="list")))
"""


def test_the_logged_model_answers_the_same_in_a_fresh_process(trained):
    first, _ = trained
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri()}
    done = subprocess.run(
        [sys.executable, "-c", _PREDICT, "models:/discerner@champion"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    found = pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1]))
    requests = pd.DataFrame({"user_id": [1, 2, 10_000], "n": [5, 5, 3]})
    expected = pyfunc.recommend_frame(first.model, requests)
    pd.testing.assert_frame_equal(found, expected)
    assert len(found) == 13 and np.all(found.groupby("user_id").size().to_numpy() <= 5)
