"""Spark training in local mode: the same models as the library's, and a whole `train`."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from spark_marks import SPARK_TESTS

from discerner.models import ImplicitALS, ItemKNN, PureSVD

pytest.importorskip("pyspark")
pytestmark = SPARK_TESTS
MASTER = "local[2]"


@pytest.fixture(scope="module")
def spark():
    from discerner.spark import session

    started, _ = session.start(MASTER, {"spark.sql.shuffle.partitions": "2"})
    yield started
    started.stop()


def spark_fit(spark, model, frame, similarity_threshold=0.0):
    from discerner.spark import data, fit

    prepared = data.prepare(spark, data.from_pandas(spark, frame), model.duplicates)
    try:
        return fit.fit(
            spark, model, prepared, with_history=True, similarity_threshold=similarity_threshold
        )
    finally:
        prepared.unpersist()


def tops(model, users):
    recs = model.recommend(users, n=10)
    return recs.groupby("user_id")["product_id"].apply(tuple)


def test_a_local_master_gets_half_the_machines_memory_unless_told(spark, monkeypatch):
    from types import SimpleNamespace

    from discerner.spark import session

    monkeypatch.delenv("SPARK_DRIVER_MEMORY", raising=False)
    for total_gb, expected in ((24, "12g"), (1, "1g"), (256, "32g")):
        memory = SimpleNamespace(total=total_gb * 2**30)
        monkeypatch.setattr(session.psutil, "virtual_memory", lambda memory=memory: memory)
        assert session.local_defaults("local[2]") == {"spark.driver.memory": expected}
    assert session.local_defaults("spark://127.0.0.1:7077") == {}
    monkeypatch.setenv("SPARK_DRIVER_MEMORY", "3g")
    assert session.local_defaults("local[*]") == {}
    # The module's session was started with it.
    monkeypatch.undo()
    wanted = session.local_defaults(MASTER)["spark.driver.memory"]
    assert spark.sparkContext.getConf().get("spark.driver.memory") == wanted


@pytest.mark.parametrize("every", [0.02, 60.0])  # polled while it runs, or only at the end
def test_progress_counts_the_tasks_spark_runs_inside_it(spark, every):
    import time

    from discerner.spark import session

    def slowly(value):
        time.sleep(0.05)
        return value

    sums = spark.sparkContext.parallelize(range(12), 6).map(lambda x: (x % 2, x))
    sums = sums.reduceByKey(lambda a, b: a + b, 3).cache()
    assert sums.count() == 2  # before the bar: not counted
    with session.progress(spark, "test", every=every) as bar:
        assert spark.sparkContext.parallelize(range(12), 6).map(slowly).sum() == 66
        # A second action skips the cached shuffle's 6 map tasks: they never run, nor count.
        assert dict(sums.collect()) == {0: 30, 1: 36}
    assert (bar.n, bar.total) == (9, 9)  # 6 of the first job, 3 reduce tasks of the second


def test_spark_feedback_types_match_the_librarys_by_hand(spark, tmp_path):
    from discerner.feedback import FeedbackTypes
    from discerner.spark import data
    from discerner.store import Store

    feedback = FeedbackTypes().with_type("view", 0.5, "positive").with_type("no", 2, "negative")
    feedback = feedback.with_type("seen", 1, "ignore")
    with Store.open(tmp_path / "store", compact_interval=0) as store:
        for _ in range(2):
            store.create_user()
            store.create_product()
        for kind, score in (("view", 4.0), ("no", 1.5), ("seen", 3.0), ("score", 2.0)):
            store.add_activity(1, 2, score, type=kind)
        store.export(tmp_path / "export")
    frame, _ = data.read_export(spark, str(tmp_path / "export"))
    rows = data.apply_feedback(frame, feedback).orderBy("row_id").collect()
    # view 4 x 0.5 = 2; no: -|1.5 x 2| = -3; seen: dropped; score 2 x 1 = 2.
    assert [(r["type"], r["score"]) for r in rows] == [("view", 2.0), ("no", -3.0), ("score", 2.0)]


def test_spark_svd_gives_the_library_top_10_for_95_percent_of_users(spark, generated):
    frame = generated.activities
    local = PureSVD(n_components=8).fit(frame)
    distributed = spark_fit(spark, PureSVD(n_components=8), frame)
    users = local.known_users()
    assert np.array_equal(distributed.known_users(), users)
    same = (tops(local, users) == tops(distributed, users)).mean()
    assert same >= 0.95


def random_scores(seed=3, n=3000, disliked=0.0):
    """Random scores, a share of them negative (dislikes)."""
    rng = np.random.default_rng(seed)
    sign = np.where(rng.random(n) < disliked, -1.0, 1.0)
    return pd.DataFrame(
        {
            "user_id": rng.integers(1, 151, n),
            "product_id": rng.zipf(1.4, n) % 80 + 1,
            "score": rng.uniform(0.5, 5.0, n) * sign,
        }
    )


@pytest.mark.parametrize("weighting", ["none", "log"])
def test_spark_exact_item_knn_finds_the_cosine_neighbours_of_item_knn(spark, weighting):
    # A fifth of the scores are dislikes: both fits read their magnitudes.
    frame = random_scores(disliked=0.2)
    params = {"k": 10, "weighting": weighting, "beta": 0.2}
    assert_same_neighbours(ItemKNN(**params).fit(frame), spark_fit(spark, ItemKNN(**params), frame))


def assert_same_neighbours(local, distributed):
    assert np.array_equal(local.known_products(), distributed.known_products())
    for item in range(local.similarity_.shape[0]):
        here, there = local.similarity_[item], distributed.similarity_[item]
        assert set(here.indices) == set(there.indices), item
    np.testing.assert_allclose(
        local.similarity_.toarray(), distributed.similarity_.toarray(), rtol=1e-4, atol=1e-6
    )


def test_spark_item_knn_in_many_uneven_blocks_is_still_exact(spark, monkeypatch):
    from discerner.spark import similarity

    # 80 products in 7 blocks of 11 or 12 (product c in block c mod 7): 49 block pairs.
    monkeypatch.setattr(similarity, "BLOCK_ENTRIES", 300)
    frame = random_scores(disliked=0.1)
    assert similarity.block_count(len(frame), 80, 2) >= 7
    params = {"k": 6, "alpha": 0.7, "shrink": 2.0, "beta": 0.3, "weighting": "log"}
    assert_same_neighbours(ItemKNN(**params).fit(frame), spark_fit(spark, ItemKNN(**params), frame))


def test_spark_dimsum_at_a_vanishing_threshold_samples_every_pair(spark):
    # DIMSUM keeps a pair with probability min(1, ...(1/threshold)): at 1e-9, every pair.
    frame = random_scores(disliked=0.0)
    params = {"k": 10, "beta": 0.2, "weighting": "log"}  # real-valued: no ties at the k-th
    distributed = spark_fit(spark, ItemKNN(**params), frame, similarity_threshold=1e-9)
    assert_same_neighbours(ItemKNN(**params).fit(frame), distributed)


def test_merge_top_k_keeps_the_k_best_of_each_row_across_blocks():
    from discerner.spark.similarity import merge_top_k

    parts = [
        (np.array([0, 0, 5]), np.array([2, 4, 1]), np.array([0.5, 0.9, 0.1], np.float32)),
        (np.array([0, 5, 5]), np.array([3, 7, 9]), np.array([0.7, 0.4, 0.4], np.float32)),
    ]
    rows, columns, values = merge_top_k(parts, k=2)
    # Row 0: 0.9 (col 4), 0.7 (col 3) beat 0.5; row 5: the tie 0.4/0.4 beats 0.1.
    assert list(zip(rows, columns, values.round(2), strict=True)) == [
        (0, 4, 0.9),
        (0, 3, 0.7),
        (5, 7, 0.4),
        (5, 9, 0.4),
    ]


def test_als_fold_in_of_a_fitted_user_gives_back_their_trained_vector(spark, generated):
    model = spark_fit(spark, ImplicitALS(n_factors=8, iterations=15), generated.activities)
    rows = model.user_items_
    close = []
    for row in range(rows.shape[0]):
        columns = rows.indices[rows.indptr[row] : rows.indptr[row + 1]]
        values = rows.data[rows.indptr[row] : rows.indptr[row + 1]]
        folded = model.fold_in(columns, model._weigh_one(columns, values))
        trained = model.user_factors_[row]
        cosine = folded @ trained / (np.linalg.norm(folded) * np.linalg.norm(trained))
        close.append(
            cosine > 0.99 and np.linalg.norm(folded - trained) < 0.1 * np.linalg.norm(trained)
        )
    assert np.mean(close) >= 0.95


def test_large_user_ids_are_reindexed_for_als_and_mapped_back(spark):
    frame = random_scores(n=800)
    frame["user_id"] += 2**40
    model = spark_fit(spark, ImplicitALS(n_factors=4, iterations=3), frame)
    assert model.known_users().min() > 2**40
    assert np.abs(model.user_factors_).sum(axis=1).min() > 0
    recs = model.recommend(model.known_users()[:3], n=5)
    assert set(recs["user_id"]) == set(model.known_users()[:3])


def test_discerner_train_engine_spark_registers_a_model_the_server_loads(spark, store_home):
    from discerner.cli import main
    from discerner.tracking import registry

    result = CliRunner().invoke(
        main,
        ["train", "--engine", "spark", "--spark-master", MASTER, "--candidates", "pure_svd"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "Registered version 1: promoted to champion" in result.output
    model, info = registry.load_champion()
    assert info["version"] == "1"
    assert info["model_class"] == "PureSVD"
    ids, scores = model.recommend_history(model.known_products()[:3], np.ones(3), n=5)
    assert len(ids) == 5 and not set(ids) & set(model.known_products()[:3])
    assert np.all(np.diff(scores) <= 0)
