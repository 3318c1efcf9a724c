"""Spark training benchmark: agreement with the library, MovieLens accuracy, fit time at scale.

Usage: `python -m benchmarks.bench_spark [--quick] [--activities N] [--master URL] [--no-train]
[--scale-only] [--models pure_svd,item_knn,als] [--similarity-threshold T]
[--train-families popularity,pure_svd]`.

Measured, in one process with a local Spark (`local[2]` by default):
- agreement on small generated data (300 users): the share of users whose top 10 from the
  Spark PureSVD equals the library PureSVD's, and the share of products whose exact Spark
  item-kNN neighbours equal ItemKNN's;
- NDCG@10 on the MovieLens 100k protocol (80/20 per-user split, seed 42) of each Spark-trained
  model, beside the same configuration fitted by the library (skipped without
  ../shared/data/ml-100k);
- on `--activities` generated activities (default 20M; `--quick` 300k): the fit time of each
  Spark model and of the library's, with the peak resident memory of this (driver) process
  and of Spark's JVM during each fit;
- the time of a whole `discerner train --engine spark --data EXPORT` (the pipeline with the
  `--train-families`, by default popularity and PureSVD) on the same activities.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k"


class PeakMemory:
    """Peak RSS of this process and of its child processes (Spark's JVM), sampled every 50 ms."""

    def __init__(self):
        self.driver = self.jvm = 0
        self._stop = threading.Event()

    def _sample(self):
        me = psutil.Process()
        while not self._stop.is_set():
            self.driver = max(self.driver, me.memory_info().rss)
            jvm = sum(c.memory_info().rss for c in me.children(recursive=True) if _alive(c))
            self.jvm = max(self.jvm, jvm)
            time.sleep(0.05)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _alive(process) -> bool:
    try:
        return process.is_running()
    except psutil.Error:
        return False


def spark_fit(spark, model, frame_or_df, similarity_threshold: float = 0.0):
    """Fit on Spark with the history, as the winner's refit does; returns the model."""
    from discerner.spark import data, fit

    activities = (
        data.from_pandas(spark, frame_or_df)
        if isinstance(frame_or_df, pd.DataFrame)
        else frame_or_df
    )
    prepared = data.prepare(spark, activities, model.duplicates)
    try:
        return fit.fit(
            spark, model, prepared, with_history=True, similarity_threshold=similarity_threshold
        )
    finally:
        prepared.unpersist()


def agreement(spark) -> None:
    from discerner import datasets
    from discerner.models import ItemKNN, PureSVD

    frame = datasets.generate(n_users=300, n_products=80, n_activities=6000, seed=7).activities
    local = PureSVD(n_components=8).fit(frame)
    distributed = spark_fit(spark, PureSVD(n_components=8), frame)
    users = local.known_users()

    def tops(model):
        return model.recommend(users, n=10).groupby("user_id")["product_id"].apply(tuple)

    same_svd = (tops(local) == tops(distributed)).mean()
    rng = np.random.default_rng(3)
    scored = frame.assign(score=rng.uniform(0.5, 5.0, len(frame)))
    params = {"k": 10, "weighting": "none", "beta": 0.2}
    knn, spark_knn = ItemKNN(**params).fit(scored), spark_fit(spark, ItemKNN(**params), scored)
    same_knn = np.mean(
        [
            set(knn.similarity_[i].indices) == set(spark_knn.similarity_[i].indices)
            for i in range(knn.similarity_.shape[0])
        ]
    )
    print("| agreement (small data) | share |\n|---|---|")
    print(f"| PureSVD(8): same top 10 | {same_svd:.1%} |")
    print(f"| ItemKNN(k=10) exact: same neighbours | {same_knn:.1%} |")


def movielens(engine) -> None:
    from discerner import datasets
    from discerner.evaluation import random_split, score
    from discerner.models import ImplicitALS, ItemKNN, PureSVD
    from discerner.spark import data

    if not (MOVIELENS / "u.data").exists():
        print("\n(MovieLens 100k absent: skipped)")
        return
    frame = datasets.read_interactions(MOVIELENS / "u.data", "movielens")
    train, test = random_split(frame, 0.2, 42)
    spark_train = data.from_pandas(engine.spark, train).cache()
    spark_test = data.from_pandas(engine.spark, test).cache()
    # Spark's ALS solves ALS-WR's equations (λ scaled by each row's count): the library fits
    # the same equations with `scale_regularization`, and its own (plain λ) in the last row.
    configs = {
        "PureSVD(n_components=16)": lambda: PureSVD(n_components=16),
        "ItemKNN(k=100, alpha=0.7, beta=0.2)": lambda: ItemKNN(k=100, alpha=0.7, beta=0.2),
        "ImplicitALS(n_factors=64), ALS-WR": lambda: ImplicitALS(
            n_factors=64, scale_regularization=True
        ),
    }
    print("\n| MovieLens 100k, 80/20 split | NDCG@10 Spark | NDCG@10 library | Spark fit s |")
    print("|---|---|---|---|")
    for name, make in configs.items():
        on_spark = engine.score(make(), spark_train, spark_test, (10,))
        local = score(make(), train, test, (10,))
        print(
            f"| {name} | {on_spark['ndcg_at_10']:.4f} | {local['ndcg_at_10']:.4f} "
            f"| {on_spark['fit_seconds']:.1f} |"
        )
    own = score(ImplicitALS(n_factors=64), train, test, (10,))
    print(f"| ImplicitALS(n_factors=64), the library's plain λ | | {own['ndcg_at_10']:.4f} | |")


def scale(
    spark,
    n_activities: int,
    folder: Path,
    models: tuple[str, ...] = ("pure_svd", "item_knn", "als"),
    threshold: float = 0.0,
) -> Path:
    from discerner import datasets
    from discerner.models import ImplicitALS, ItemKNN, PureSVD
    from discerner.spark import data

    n_users, n_products = max(n_activities // 140, 100), max(n_activities // 740, 50)
    started = time.perf_counter()
    frame = datasets.generate(
        n_users=n_users, n_products=n_products, n_activities=n_activities, seed=1
    ).activities
    frame = frame.assign(id=np.arange(1, len(frame) + 1))
    frame.to_parquet(folder / "activities.parquet", index=False)
    print(
        f"\n{n_activities:,} activities, {n_users:,} users, {n_products:,} products "
        f"(generated and written in {time.perf_counter() - started:.0f} s)"
    )
    activities, _ = data.read_export(spark, str(folder))
    activities = activities.cache()
    activities.count()
    every = {
        "pure_svd": ("PureSVD(64)", lambda: PureSVD(n_components=64)),
        "item_knn": (
            f"ItemKNN(k=100){' DIMSUM ' + str(threshold) if threshold else ' exact'}",
            lambda: ItemKNN(k=100),
        ),
        "als": ("ImplicitALS(64, 10 it)", lambda: ImplicitALS(n_factors=64)),
    }
    models = dict(every[name] for name in models)
    print("\n| model | Spark fit s | driver peak GB | JVM peak GB | library fit s |")
    print("|---|---|---|---|---|")
    for name, make in models.items():
        with PeakMemory() as peak:
            started = time.perf_counter()
            spark_fit(spark, make(), activities, threshold)
            spark_seconds = time.perf_counter() - started
        started = time.perf_counter()
        make().fit(frame)
        local = f"{time.perf_counter() - started:.1f}"
        print(
            f"| {name} | {spark_seconds:.1f} | {peak.driver / 2**30:.2f} "
            f"| {peak.jvm / 2**30:.2f} | {local} |"
        )
    activities.unpersist()
    return folder


def whole_train(master: str, folder: Path, families: tuple[str, ...]) -> None:
    from discerner import training

    home = Path(tempfile.mkdtemp(prefix="bench-spark-home-"))
    os.environ["DISCERNER_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    settings = training.TrainSettings(
        engine="spark",
        spark_master=master,
        data=str(folder),
        families=families,
    )
    started = time.perf_counter()
    with PeakMemory() as peak:
        outcome = training.train(settings)
    print(
        f"\nwhole `discerner train --engine spark --data EXPORT` ({', '.join(families)}): "
        f"{time.perf_counter() - started:.0f} s, driver peak {peak.driver / 2**30:.2f} GB; "
        f"winner {outcome.winner} ({outcome.validation_score:.4f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_spark", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="300k activities")
    parser.add_argument("--activities", type=int, default=None, help="default 20M (quick 300k)")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--no-train", action="store_true", help="skip the whole train")
    parser.add_argument(
        "--models",
        default="pure_svd,item_knn,als",
        help="models fitted at scale (comma-separated: pure_svd, item_knn, als)",
    )
    parser.add_argument(
        "--similarity-threshold", type=float, default=0.0, help="DIMSUM threshold (0: exact)"
    )
    parser.add_argument(
        "--scale-only", action="store_true", help="skip the small-data agreement and MovieLens"
    )
    parser.add_argument(
        "--train-families",
        default="popularity,pure_svd",
        help="candidate families of the whole train (comma-separated)",
    )
    args = parser.parse_args(argv)
    from discerner import spark as spark_package

    spark_package.require()
    from discerner.spark import SparkEngine

    n_activities = args.activities or (300_000 if args.quick else 20_000_000)
    engine = SparkEngine(args.master)
    with tempfile.TemporaryDirectory(prefix="bench-spark-") as scratch:
        try:
            if not args.scale_only:
                agreement(engine.spark)
                movielens(engine)
            models = tuple(name.strip() for name in args.models.split(",") if name.strip())
            folder = scale(
                engine.spark, n_activities, Path(scratch), models, args.similarity_threshold
            )
        finally:
            engine.close()
        if not args.no_train:
            families = tuple(name.strip() for name in args.train_families.split(","))
            whole_train(args.master, folder, families)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
