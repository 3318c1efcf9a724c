"""The implicit peers of the accuracy benchmark: lists scored like the library's models."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from benchmarks.peers import (
    ImplicitALSPeer,
    ImplicitBPRPeer,
    ImplicitKNNPeer,
    listed,
    tune_peers,
)
from discerner.datasets import generate
from discerner.evaluation import evaluate, random_split
from discerner.models import Popularity

# Users of each product: 10 {1, 2}, 20 {1, 3}, 30 {1, 3}, 40 {1}, 50 {2, 4}.
FRAME = pd.DataFrame(
    {
        "user_id": [1, 1, 1, 1, 2, 2, 3, 3, 4],
        "product_id": [10, 20, 30, 40, 10, 50, 20, 30, 50],
        "score": [5, 4, 3, 2, 5, 1, 3, 4, 2],
    }
)


def test_item_knn_peer_scores_by_cosine_and_leaves_out_seen_products():
    # Binary cosine: sim(10, 40) = 1 / (sqrt 2 * 1), sim(10, 20) = sim(10, 30) = 1 / 2,
    # sim(10, 50) = 1 / 2, 50 shares no user with 20, 30, 40. User 2 has seen 10 and 50:
    # 40 scores 0.7071, 20 and 30 score 0.5. User 1 has seen all but 50: one product, 0.5.
    model = ImplicitKNNPeer("cosine", K=5).fit(FRAME)
    recs = model.recommend([2, 1], n=10)
    two = recs[recs["user_id"] == 2]
    assert two["product_id"].iloc[0] == 40
    assert set(two["product_id"].iloc[1:]) == {20, 30}
    assert two["score"].tolist() == pytest.approx([1 / np.sqrt(2), 0.5, 0.5])
    assert two["rank"].tolist() == [1, 2, 3]
    one = recs[recs["user_id"] == 1]
    assert one["product_id"].tolist() == [50]
    assert one["score"].tolist() == pytest.approx([0.5])


def test_unknown_user_gets_the_popularity_ranking():
    # Distinct users per product: 10, 20, 30, 50 have two, 40 has one.
    recs = ImplicitALSPeer(factors=4, iterations=3).fit(FRAME).recommend([99], n=5)
    assert set(recs["product_id"].iloc[:4]) == {10, 20, 30, 50}
    assert recs["product_id"].iloc[4] == 40


def test_history_is_refused():
    model = ImplicitKNNPeer(K=5).fit(FRAME)
    with pytest.raises(ValueError, match="fitted users only"):
        model.recommend([1], history=FRAME)


def test_listed_drops_implicit_padding_and_seen_products():
    # Row 0 (seen: 0): product 3, then product 0 filtered (-FLT_MAX), then padding 0s.
    # Row 1 (seen: 1): item kNN's padding returns the seen product 1 at score 0.
    floor = np.finfo(np.float32).min
    columns = np.array([[3, 0, 0, 0], [2, 1, 0, 0]])
    scores = np.array([[0.9, floor, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]], dtype=np.float32)
    history = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 0, 0]], dtype=np.float32))
    assert listed(columns, scores, history, exclude_seen=True).tolist() == [
        [True, False, False, False],
        [True, False, True, False],
    ]
    assert listed(columns, scores, history, exclude_seen=False)[1].tolist() == [
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    "model",
    [
        ImplicitALSPeer(factors=8, regularization=1.0),
        ImplicitBPRPeer(factors=16, learning_rate=0.05, iterations=50),
        ImplicitKNNPeer("bm25", K=50),
    ],
    ids=["als", "bpr", "knn"],
)
def test_peers_learn_the_planted_preference(model):
    # Each user prefers one category (generate): a peer that learns beats popularity.
    data = generate(n_users=200, n_products=80, n_activities=4000, n_categories=4, seed=5)
    train, test = random_split(data.activities, 0.2, seed=5)
    table = evaluate({"peer": model, "popularity": Popularity()}, train, test, k=(10,))
    ndcg = table[table["metric"] == "ndcg_at_10"].set_index("model")["value"]
    assert ndcg["peer"] > ndcg["popularity"] + 0.05


def test_tune_peers_searches_on_the_training_part_only():
    data = generate(n_users=60, n_products=40, n_activities=900, n_categories=3, seed=2)
    grids = {"knn": (ImplicitKNNPeer, {"K": [5, 20]}), "als": (ImplicitALSPeer, [{}])}
    tuned = tune_peers(data.activities, seed=2, grids=grids, families=["knn"])
    assert [peer.family for peer in tuned] == ["knn"]
    results = tuned[0].selection.results
    assert sorted(p["K"] for p in results["params"]) == [5, 20]
    best = results.loc[results["ndcg_at_10"].idxmax(), "params"]
    assert tuned[0].build().get_params()["K"] == best["K"]
