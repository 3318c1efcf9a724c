"""Planted structure: every personalised model finds users' favourite category, popularity not."""

import numpy as np
import pytest

from discerner.datasets import generate
from discerner.models import EASE, Blend, ImplicitALS, ItemKNN, Popularity, PureSVD, UserKNN


@pytest.fixture(scope="module")
def data():
    return generate(n_users=300, n_products=120, n_activities=6000, n_categories=6, seed=11)


def favourite_share(model, data) -> float:
    """Share of top-10 recommendations that fall in the user's planted favourite category."""
    users = data.users["id"].to_numpy()
    recs = model.fit(data.activities).recommend(users, n=10)
    category = data.products.set_index("id")["category"]
    wanted = data.users.set_index("id")["category"]
    hits = category.loc[recs["product_id"]].to_numpy() == wanted.loc[recs["user_id"]].to_numpy()
    return float(np.mean(hits))


@pytest.mark.parametrize(
    "model",
    [
        PureSVD(n_components=8),
        ItemKNN(k=30),
        ItemKNN(k=30, similarity="rp3beta", alpha=0.8, beta=0.5),
        UserKNN(k=30),
        Blend(n_components=8, k=30),
        EASE(l2=30.0),
        EASE(l2=100.0, weighting="log"),
        ImplicitALS(n_factors=8, regularization=5.0),
    ],
    ids=repr,
)
def test_models_learn_the_planted_preference(model, data):
    baseline = favourite_share(Popularity(), data)
    learned = favourite_share(model, data)
    # Six categories: popularity lands near 1/6; a model that learns should be far above.
    assert baseline < 0.3
    assert learned > 0.6
    assert learned > baseline + 0.35
