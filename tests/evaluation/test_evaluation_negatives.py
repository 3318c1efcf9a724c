"""Dislikes in the held-out part are never relevant, computed by hand."""

import math

import pandas as pd
import pytest

from discerner.evaluation.metrics import ndcg_at_k, precision_at_k, ranking_metrics

# User 1 is recommended p1, p2, p3 (ranks 1-3); user 2 is recommended p1.
RECS = pd.DataFrame({"user_id": [1, 1, 1, 2], "product_id": [1, 2, 3, 1], "rank": [1, 2, 3, 1]})
# Held out: user 1 disliked p1 (-1) and liked p2; user 2 only disliked p1.
TRUTH = pd.DataFrame({"user_id": [1, 1, 2], "product_id": [1, 2, 1], "score": [-1.0, 1.0, -2.0]})


def test_a_dislike_is_not_a_relevant_product():
    # User 1's one relevant product is p2, at rank 2: NDCG@3 = (1 / log2(3)) / 1, P@3 = 1/3.
    # User 2 has no relevant product: not averaged (a hit on p1 would otherwise count).
    assert ndcg_at_k(RECS, TRUTH, 3) == pytest.approx(1 / math.log2(3))
    assert precision_at_k(RECS, TRUTH, 3) == pytest.approx(1 / 3)
    assert ranking_metrics(RECS, TRUTH, 3)["hit_rate_at_3"] == 1.0


def test_without_scores_every_held_out_row_is_relevant():
    # p1 and p2 relevant for user 1: DCG = 1 + 1/log2(3) = IDCG; user 2's p1 at rank 1: 1.
    assert ndcg_at_k(RECS, TRUTH.drop(columns="score"), 3) == pytest.approx(1.0)
