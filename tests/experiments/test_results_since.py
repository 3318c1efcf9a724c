"""`results` reads only the activities that can be outcomes, and reports what the whole
training frame gives (`analyze` on `interactions()`), on both store backends."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discerner import datasets
from discerner.experiments import Experiment, Variant
from discerner.experiments.analysis import analyze, results
from discerner.store import Store
from discerner.store.postgres import PostgresStore

T0 = pd.Timestamp("2026-11-30 12:00", tz="UTC")  # the experiment's start


def _at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


@pytest.fixture(params=["embedded", "postgresql"])
def store(request, tmp_path):
    """An empty writer of each backend."""
    if request.param == "postgresql":
        opened = PostgresStore.open(request.getfixturevalue("postgres_store_url")(), pool_size=4)
    else:
        opened = Store.open(tmp_path / "store", compact_interval=0)
    yield opened
    opened.close()


def _experiment(outcome_types: tuple[str, ...], window: float = 60.0) -> Experiment:
    variants = (Variant("A", "1", 50), Variant("B", "2", 50))
    return Experiment(
        "since",
        variants,
        started_at=T0.timestamp(),
        window_seconds=window,
        outcome_types=outcome_types,
    )


def _impression(request_id: str, variant: str, user: int, products: list[int], time) -> dict:
    version = {"A": "1", "B": "2"}[variant]
    return {
        "request_id": request_id,
        "experiment": "since",
        "variant": variant,
        "version": version,
        "user_id": user,
        "product_ids": products,
        "time": time.to_pydatetime(),
    }


def _same_reports(experiment: Experiment, store) -> pd.DataFrame:
    """The new report, checked equal to the old whole-frame one; its variants by name."""
    old = analyze(experiment, store.impressions(experiment.name), store.interactions())
    new = results(experiment, store)
    pd.testing.assert_frame_equal(new.variants, old.variants)
    pd.testing.assert_frame_equal(new.comparisons, old.comparisons)
    assert new.to_dict() == old.to_dict()
    return new.variants.set_index("variant")


def _tiny(store) -> None:
    for _ in range(4):
        store.create_user()
    for _ in range(3):
        store.create_product()
    rows = [  # (user, product, seconds after the start, type)
        (1, 1, -30, "purchase"),  # before the start and before r1: never an outcome
        (1, 2, 20, "purchase"),  # r1's outcome (20 s after it)
        (2, 1, 15, "view"),  # 5 s after r2, but a view
        (3, 3, 60, "purchase"),  # r3's outcome at exactly the window's end
        (4, 3, 50, "purchase"),  # before r4 (at 100 s): no outcome, yet read
        (4, 3, 170, "purchase"),  # 70 s after r4: outside the window
        (2, 1, -5, "purchase"),  # before the start
    ]
    store.add_activities(
        [{"user_id": u, "product_id": p, "timestamp": _at(s), "type": k} for u, p, s, k in rows]
    )
    store.add_impressions(
        [
            _impression("r1", "A", 1, [1, 2], _at(0)),
            _impression("r2", "A", 2, [1], _at(10)),
            _impression("r3", "B", 3, [2, 3], _at(0)),
            _impression("r4", "B", 4, [3], _at(100)),
        ]
    )


def test_results_on_purchases_equal_the_whole_frame_report(store):
    _tiny(store)
    # Purchases from the first impression (the start) on: 20 s, 60 s, 50 s, 170 s, 4 of 7.
    assert len(store.activities_since(T0, ["purchase"])) == 4
    rows = _same_reports(_experiment(("purchase",)), store)
    # A: r1 clicked (user 1), r2 not (user 2 only viewed). B: r3 clicked (user 3), r4 not.
    counts = ["impressions", "clicked", "users", "converted"]
    assert rows.loc["A", counts].tolist() == [2, 1, 2, 1]
    assert rows.loc["B", counts].tolist() == [2, 1, 2, 1]


def test_results_on_every_type_equal_the_whole_frame_report(store):
    _tiny(store)
    rows = _same_reports(_experiment(()), store)
    # Every type counts: user 2's view 5 s after r2 makes r2 clicked too.
    counts = ["impressions", "clicked", "users", "converted"]
    assert rows.loc["A", counts].tolist() == [2, 2, 2, 2]
    assert rows.loc["B", counts].tolist() == [2, 1, 2, 1]


def test_results_without_impressions(store):
    _tiny(store)
    experiment = Experiment("other", (Variant("A", "1", 50), Variant("B", "2", 50)), 0.0)
    report = results(experiment, store)
    assert report.variants["impressions"].tolist() == [0, 0]
    assert report.variants["ctr"].isna().all()


def test_results_on_generated_data_equal_the_whole_frame_report(store):
    data = datasets.generate(n_users=60, n_products=30, n_activities=900, seed=3)
    acts = data.activities.assign(type=np.where(data.activities["score"] >= 4, "purchase", "view"))
    store.import_interactions(acts, progress=False)
    start = acts["timestamp"].quantile(0.5)
    rng = np.random.default_rng(5)
    later = acts[acts["timestamp"] > start].sample(200, random_state=5)
    impressions = []
    for i, (user, product, moment) in enumerate(
        later[["user_id", "product_id", "timestamp"]].itertuples(index=False)
    ):
        # Shown up to two hours before the activity (the window), with one random product.
        shown = moment - pd.Timedelta(seconds=int(rng.integers(0, 3 * 3600)))
        products = [int(product), int(rng.integers(1, 31))]
        impressions.append(_impression(f"r{i}", "AB"[i % 2], int(user), products, shown))
    # One impression an hour before a purchase before the start (served before a restart):
    # that purchase is its outcome, so the read starts at the first impression, not the start.
    before = acts[(acts["timestamp"] < start) & (acts["type"] == "purchase")]
    early = before.iloc[-1]
    moment = early["timestamp"] - pd.Timedelta(hours=1)
    impressions.append(_impression("early", "A", int(early.user_id), [early.product_id], moment))
    store.add_impressions(impressions)
    experiment = Experiment(
        "since",
        (Variant("A", "1", 50), Variant("B", "2", 50)),
        started_at=start.timestamp(),
        window_seconds=2 * 3600,
        outcome_types=("purchase",),
    )
    rows = _same_reports(experiment, store)
    assert rows["impressions"].sum() == 201
    assert 0 < rows["clicked"].sum() < 201  # some purchases, some views or too late
