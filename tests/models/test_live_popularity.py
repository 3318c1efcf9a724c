"""Live popularity: the server's ranking for users without a personal signal."""

import numpy as np

from discerner.models.popularity import LivePopularity

# Activity counts: product 20 and 30 tie at 5 (the lower id first), then 10, then 40.
RANKING = LivePopularity(np.array([10, 20, 30, 40]), np.array([3, 5, 5, 1]))
EMPTY = np.empty(0, dtype=np.int64)


def test_ranks_by_count_with_ties_to_the_lower_id_scored_by_share_of_activities():
    ids, shares = RANKING.recommend_history(EMPTY, EMPTY, n=10)
    assert ids.tolist() == [20, 30, 10, 40]
    assert shares.tolist() == [5 / 14, 5 / 14, 3 / 14, 1 / 14]


def test_never_returns_history_or_excluded_products():
    ids, _ = RANKING.recommend_history(np.array([20]), np.array([1.0]), n=2, exclude=np.array([10]))
    assert ids.tolist() == [30, 40]


def test_allowed_restricts_the_candidates():
    ids, _ = RANKING.recommend_history(EMPTY, EMPTY, n=10, allowed=np.array([40, 10]))
    assert ids.tolist() == [10, 40]
