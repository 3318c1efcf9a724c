"""The ranking metrics against an independent implementation, ranx, on seeded random runs.

Definitions compared (relevance is binary, every truth row relevant):
- NDCG@k, P@k, R@k, MRR@k and HR@k agree exactly with ranx's `ndcg@k` (its Burges gain
  2^rel - 1 is 1 for a relevant item, as ours; its ideal DCG is over min(|relevant|, k)
  items, as ours), `precision@k` (hits / k, also for a list shorter than k), `recall@k`,
  `mrr@k` and `hit_rate@k`.
- MAP@k differs by its denominator: ours divides the sum of P@r at relevant ranks by
  min(|relevant|, k) (the truncated AP of recommender benchmarks), ranx by |relevant|
  (trec_eval's AP). So ours = ranx's * |relevant| / min(|relevant|, k), checked per user.
- A user with no recommendations scores 0 in both (ranx with `make_comparable`); users who
  have recommendations but no truth are left out of both averages.
Scores given to ranx fall strictly with the rank, so there are no ties to break.
"""

import numpy as np
import pandas as pd
import pytest

from discerner.evaluation import ranking_metrics

ranx = pytest.importorskip("ranx", reason="ranx (the dev extra) is not installed")

# Importing ranx (numba, scipy.stats, matplotlib) and its first JIT calls take 20-30 s here;
# numba warns about a cast inside ranx's own compiled code.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaTypeSafetyWarning"),
]

OURS_TO_RANX = {
    "ndcg": "ndcg",
    "precision": "precision",
    "recall": "recall",
    "map": "map",
    "mrr": "mrr",
    "hit_rate": "hit_rate",
}


def random_case(seed: int, n_users: int = 60, n_products: int = 30):
    """Truth of 1-12 relevant products per user and top lists of 0-15 distinct products.

    Users 1..n_users have truth; a fifth of them get no recommendations; users past
    n_users get recommendations and no truth.
    """
    rng = np.random.default_rng(seed)
    truth, recs = [], []
    for user in range(1, n_users + 6):
        if user <= n_users:
            relevant = rng.choice(n_products, size=rng.integers(1, 13), replace=False)
            truth += [(user, int(p)) for p in relevant]
        length = 0 if rng.random() < 0.2 else int(rng.integers(1, 16))
        listed = rng.choice(n_products, size=length, replace=False)
        recs += [(user, int(p), rank) for rank, p in enumerate(listed, start=1)]
    return (
        pd.DataFrame(recs, columns=["user_id", "product_id", "rank"]),
        pd.DataFrame(truth, columns=["user_id", "product_id"]),
    )


def ranx_scores(recs: pd.DataFrame, truth: pd.DataFrame, k: int) -> dict[str, dict[str, float]]:
    """ranx's per-user value of every metric at k: metric -> user id (str) -> value."""
    qrels = ranx.Qrels(
        {str(u): {str(p): 1 for p in g["product_id"]} for u, g in truth.groupby("user_id")}
    )
    run = ranx.Run(
        {
            str(u): {
                str(p): float(100 - r) for p, r in zip(g["product_id"], g["rank"], strict=True)
            }
            for u, g in recs.groupby("user_id")
        }
    )
    names = [f"{name}@{k}" for name in OURS_TO_RANX.values()]
    ranx.evaluate(qrels, run, names, make_comparable=True)
    return {name: dict(run.scores[f"{name}@{k}"]) for name in OURS_TO_RANX.values()}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_metrics_match_ranx_per_user_and_on_average(seed, k):
    recs, truth = random_case(seed)
    theirs = ranx_scores(recs, truth, k)
    n_relevant = truth.groupby("user_id").size()
    per_user = {name: [] for name in OURS_TO_RANX}
    for user, relevant in n_relevant.items():
        ours = ranking_metrics(recs[recs["user_id"] == user], truth[truth["user_id"] == user], k)
        for name, ranx_name in OURS_TO_RANX.items():
            expected = theirs[ranx_name][str(user)]
            if name == "map":  # the denominator: min(|relevant|, k) against |relevant|
                expected *= relevant / min(relevant, k)
            assert ours[f"{name}_at_{k}"] == pytest.approx(expected, abs=1e-9), (user, name)
            per_user[name].append(expected)
    averages = ranking_metrics(recs, truth, k)
    for name, values in per_user.items():
        assert averages[f"{name}_at_{k}"] == pytest.approx(np.mean(values), abs=1e-9), name
    # ranx's own mean (every truth user, those without recommendations at 0) for the rest.
    for name in ("ndcg", "precision", "recall", "mrr", "hit_rate"):
        ranx_mean = np.mean(list(theirs[name].values()))
        assert averages[f"{name}_at_{k}"] == pytest.approx(ranx_mean, abs=1e-9), name


def test_map_denominators_differ_as_documented():
    # Relevant {1, 2, 3}, list [1, 9], k = 2: one hit at rank 1, P@1 = 1.
    # Ours: 1 / min(3, 2) = 0.5. ranx: 1 / 3.
    recs = pd.DataFrame({"user_id": [7, 7], "product_id": [1, 9], "rank": [1, 2]})
    truth = pd.DataFrame({"user_id": [7, 7, 7], "product_id": [1, 2, 3]})
    assert ranking_metrics(recs, truth, 2)["map_at_2"] == pytest.approx(0.5)
    assert ranx_scores(recs, truth, 2)["map"]["7"] == pytest.approx(1 / 3)
