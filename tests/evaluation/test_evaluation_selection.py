"""Evaluation tables, grid search and model selection on small generated data."""

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from discerner.datasets import generate
from discerner.evaluation import (
    evaluate,
    evaluate_model,
    grid_search,
    random_split,
    ranking_metrics,
    select_model,
    user_split,
)
from discerner.evaluation.selection import (
    DEFAULT_CANDIDATES,
    Candidate,
    best_of,
    expand_grid,
    halving_search,
    results_table,
    round_sizes,
    score,
)
from discerner.models import EASE, Popularity, PureSVD


@pytest.fixture(scope="module")
def split():
    data = generate(n_users=200, n_products=80, n_activities=4000, seed=5)
    return random_split(data.activities, 0.2, seed=1)


def test_evaluate_returns_a_tidy_table_with_mlflow_safe_names(split):
    train, test = split
    table = evaluate({"pop": Popularity(), "svd": PureSVD(n_components=8)}, train, test, k=(5, 10))
    assert list(table.columns) == ["model", "metric", "value"]
    metrics = set(table["metric"])
    assert {"ndcg_at_10", "precision_at_5", "recall_at_10", "coverage_at_10"} <= metrics
    assert not any("@" in name for name in metrics)
    wide = table.pivot(index="model", columns="metric", values="value")
    assert wide.loc["svd", "ndcg_at_10"] > wide.loc["pop", "ndcg_at_10"]


def test_evaluate_leaves_out_a_model_too_large_for_memory_and_says_why(split, caplog):
    train, test = split
    models = {"pop": Popularity(), "ease": EASE(max_products=10)}  # the catalogue has 80
    table = evaluate(models, train, test, k=(10,))
    assert set(table["model"]) == {"pop"}
    assert "ease left out" in caplog.text and "exceed max_products=10" in caplog.text


def test_grid_search_ranks_every_point(split):
    train, test = split
    results, best = grid_search(PureSVD, {"n_components": [1, 8]}, train, test)
    assert len(results) == 2
    assert results["ndcg_at_10"].is_monotonic_decreasing
    assert best == results.loc[0, "params"]


def test_expand_grid():
    assert expand_grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert expand_grid([{"a": 1}]) == [{"a": 1}]


def test_select_model_never_sees_the_test_part(split):
    train, _ = split
    candidates = {"popularity": (Popularity, [{}]), "svd": (PureSVD, {"n_components": [8]})}
    selection = select_model(train, seed=3, candidates=candidates)
    assert selection.family == "svd"
    assert selection.params == {"n_components": 8}
    model = selection.build()
    assert isinstance(model, PureSVD) and not hasattr(model, "product_ids_")
    assert set(selection.results["family"]) == {"popularity", "svd"}


def test_default_candidates_build():
    for factory, grid in DEFAULT_CANDIDATES.values():
        for params in expand_grid(grid):
            assert factory(**params).get_params().items() >= params.items()


def test_split_inputs_are_untouched(split):
    train, _ = split
    before = train.copy()
    select_model(train, candidates={"popularity": (Popularity, [{}])})
    pd.testing.assert_frame_equal(train, before)


def test_cold_start_users_are_scored_through_their_history():
    data = generate(n_users=300, n_products=120, n_activities=6000, n_categories=6, seed=6)
    train, held = user_split(data.activities, test_fraction=0.2, seed=1)
    history, targets = random_split(held, 0.5, seed=2)
    model = PureSVD(n_components=8).fit(train)
    folded = evaluate_model(model, train, targets, k=(10,), history=history)
    recs = model.recommend(targets["user_id"].unique(), n=10, history=history)
    assert folded["ndcg_at_10"] == ranking_metrics(recs, targets, 10)["ndcg_at_10"]
    # The fold-in finds the planted favourite category of users the model never saw; without
    # their history they get popularity, which lands near 1/6 of the time.
    category = data.products.set_index("id")["category"]
    wanted = data.users.set_index("id")["category"]
    users = targets["user_id"].unique()
    shares = []
    for rows in (history, None):
        recs = model.recommend(users, n=10, history=rows)
        hits = category[recs["product_id"]].to_numpy() == wanted[recs["user_id"]].to_numpy()
        shares.append(hits.mean())
    assert shares[0] > 0.6 > 0.3 > shares[1]


# ------------------------------------------------------------------------ successive halving
@pytest.fixture(scope="module")
def planted():
    """900 users with a planted category preference, split per user (seed 1)."""
    data = generate(n_users=900, n_products=120, n_activities=18_000, seed=11)
    return random_split(data.activities, 0.2, seed=1)


def test_round_sizes_triple_up_to_every_user():
    # 900 users from about 100: 900 / 9, 900 / 3, 900.
    assert round_sizes(900, 100) == [100, 300, 900]
    assert round_sizes(900, 900) == round_sizes(900, None) == [900]


def test_halving_finds_the_planted_best_family_and_keeps_each_family_early(planted):
    train, validation = planted
    candidates = [Candidate("popularity", {}, Popularity)] + [
        Candidate("pure_svd", {"n_components": n}, PureSVD) for n in (2, 4, 8, 16, 32, 64)
    ]
    found = halving_search(candidates, train, validation, min_users=100, seed=2)
    # Rounds of 100, 300, 900 users; 7 candidates, then a third (3) plus popularity, the best
    # of its family (kept while the next round is not the last), then a third of 4 (2).
    assert [(r.users, r.candidates, r.scored) for r in found.rounds] == [
        (100, 7, 7),
        (300, 4, 4),
        (900, 2, 2),
    ]
    assert found.stopped is None and found.skipped == {}
    rounds = {s.name: s.round for s in found.scored}
    assert rounds["popularity"] == 1
    best = best_of(found.scored, "ndcg_at_10")
    assert best.candidate.family == "pure_svd" and best.round == 2 and best.users == 900
    # The last round is the whole sample: the same score as a plain fit on both parts.
    plain = score(best.candidate.build(), train, validation, (10,))
    assert best.metrics["ndcg_at_10"] == pytest.approx(plain["ndcg_at_10"])
    table = results_table(found.scored, "ndcg_at_10")
    assert len(table) == 7 and table.loc[0, "model"] == best.name
    assert table["round"].tolist() == sorted(table["round"], reverse=True)
    assert table.loc[0, "users"] == 900


class Recording(Popularity):
    """Popularity that remembers the index of every row it was fitted on."""

    fitted: ClassVar[list] = []

    def fit(self, interactions):
        Recording.fitted.append(interactions.index)
        return super().fit(interactions)


def test_halving_never_fits_on_validation_rows(planted):
    train, validation = planted
    Recording.fitted.clear()
    candidates = [Candidate(f"f{i}", {}, Recording) for i in range(4)]
    found = halving_search(candidates, train, validation, min_users=100, seed=3)
    assert len(Recording.fitted) == sum(r.scored for r in found.rounds) > 4
    for index in Recording.fitted:
        assert index.isin(train.index).all()
        assert not index.isin(validation.index).any()


class Clock:
    """A fake clock: `Slow` models advance it while they fit."""

    now = 0.0

    def __call__(self) -> float:
        return self.now


CLOCK = Clock()


class Slow(Popularity):
    """Popularity whose fit takes `cost` seconds of `CLOCK` per training row."""

    def __init__(self, cost: float = 1.0, duplicates: str = "last"):
        super().__init__(duplicates)
        self.cost = cost

    def fit(self, interactions):
        CLOCK.now += self.cost * len(interactions)
        return super().fit(interactions)


def _grid_users(n_users: int, rows: int) -> pd.DataFrame:
    """`rows` activities of each user 1..n_users, on products 1..rows."""
    return pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(1, n_users + 1), rows),
            "product_id": np.tile(np.arange(1, rows + 1), n_users),
            "score": 1.0,
        }
    )


def test_halving_honours_its_budget_with_the_best_so_far():
    # 27 users with 3 training rows and 1 validation row each: rounds of 3, 9, 27 users fit
    # 9, 27, 81 rows. Budget 100 s; a, b cost 1 s a row, c 0.1 s.
    train, validation = _grid_users(27, 3), _grid_users(27, 1)
    candidates = [
        Candidate("a", {"cost": 1.0}, Slow),
        Candidate("b", {"cost": 1.0}, Slow),
        Candidate("c", {"cost": 0.1}, Slow),
    ]
    CLOCK.now = 0.0
    found = halving_search(
        candidates, train, validation, min_users=3, budget_seconds=100, clock=CLOCK
    )
    # Round 0 (share 100/3): a 9 s, b 9 s, c 0.9 s: 18.9 s; every family goes on.
    # Round 1 (share (100 - 18.9)/2, until 59.45 s): a is predicted 9 * 27/9 = 27 s, runs
    # (45.9 s); b is predicted 27 s, over the share: skipped; c 2.7 s runs (48.6 s).
    # Round 2 keeps a third of {a, c}: a, predicted 81 s with 51.4 s left: skipped, and the
    # search ends with round 1's best (a, the first of equal scores).
    assert [(r.users, r.candidates, r.scored) for r in found.rounds] == [
        (3, 3, 3),
        (9, 3, 2),
        (27, 1, 0),
    ]
    assert found.seconds == pytest.approx(48.6) and found.seconds <= 100
    assert "round 2" in found.stopped
    assert {s.name: s.round for s in found.scored} == {
        "a(cost=1.0)": 1,
        "b(cost=1.0)": 0,
        "c(cost=0.1)": 1,
    }
    best = best_of(found.scored, "ndcg_at_10")
    assert best.name == "a(cost=1.0)" and best.users == 9
    assert len(found.validation) == 9  # the parts of the winner's round


def test_halving_skips_what_the_budget_cannot_start():
    # One round of 27 users (81 rows); budget 50 s. a takes 81 s (the first trial always
    # runs), then the budget is spent: b and c are never scored.
    train, validation = _grid_users(27, 3), _grid_users(27, 1)
    candidates = [Candidate(name, {"cost": 1.0}, Slow) for name in "abc"]
    CLOCK.now = 0.0
    found = halving_search(
        candidates, train, validation, min_users=None, budget_seconds=50, clock=CLOCK
    )
    assert [s.candidate.family for s in found.scored] == ["a"]
    assert set(found.skipped) == {"b(cost=1.0)", "c(cost=1.0)"}
    assert "round 0" in found.stopped


def test_a_binding_budget_tries_the_quickest_families_first():
    # One round of 9 users, 27 training rows: a slow trial takes 27 s, a quick one 5.4 s.
    # Budget 60 s: one of each family first (32.4 s), then the quick ones (37.8, 43.2 s);
    # the second slow one, predicted 27 s, no longer fits. Taken in turns instead, it would
    # have run third (59.4 s) and left no room for the two quick ones.
    train, validation = _grid_users(9, 3), _grid_users(9, 1)
    candidates = [Candidate("slow", {"cost": 1.0, "duplicates": d}, Slow) for d in ("last", "sum")]
    candidates += [
        Candidate("quick", {"cost": 0.2, "duplicates": d}, Slow) for d in ("last", "sum", "max")
    ]
    CLOCK.now = 0.0
    found = halving_search(
        candidates, train, validation, min_users=None, budget_seconds=60, clock=CLOCK
    )
    assert sorted(s.candidate.family for s in found.scored) == ["quick"] * 3 + ["slow"]
    assert found.seconds == pytest.approx(43.2)
    assert list(found.skipped.values()) == ["predicted 27.0 s, 16.8 s left in its round"]
