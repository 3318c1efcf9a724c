"""The accuracy target of issue 5 on MovieLens 100k (skips when the data is absent)."""

import pytest

from discerner.datasets import read_interactions
from discerner.evaluation import accuracy_protocol
from discerner.models import Popularity


@pytest.mark.slow
@pytest.mark.movielens
def test_selected_model_reaches_the_ndcg_target(movielens_dir):
    ratings = read_interactions(movielens_dir / "u.data", format="movielens")
    result = accuracy_protocol(ratings, seed=42, baselines={"popularity": Popularity()})
    wide = result.table.pivot(index="model", columns="metric", values="value")
    assert wide.loc["popularity", "ndcg_at_10"] == pytest.approx(0.22, abs=0.01)
    assert wide.loc["selected", "ndcg_at_10"] >= 0.43
    assert result.selection.family != "popularity"
