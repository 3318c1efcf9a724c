"""Experiment status benchmark: `results()` reading the whole training frame vs the activities
that can be outcomes.

Usage: `python -m benchmarks.bench_experiment_status [--quick] [--activities N] [--dir DIR]`.

An embedded store gets N generated activities over three years (`discerner.datasets.generate`;
a score of 5 is a "purchase", the rest "view"s); an experiment starts at a recent moment (its
last `--recent` share of activities, default 1%) with a few thousand impressions of users who
were active since, and counts purchases. The old way is `analyze` on `interactions()` (what
`results` did), the new one `results` (`activities_since` from the first impression, of the
outcome types). Each runs three times, in turn, and the median is reported, with the peak of
Python allocations of one run of each (tracemalloc: numpy and pandas buffers included). Exits
1 when the two reports differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from discerner import datasets
from discerner.experiments import Experiment, Variant
from discerner.experiments.analysis import Report, analyze, results
from discerner.store import Store

RUNS = 3
IMPRESSIONS = 3_000
WINDOW = 3_600.0  # seconds


def _fill(store: Store, activities: int, recent: float) -> Experiment:
    """Import the activities and add the impressions; the experiment that counts purchases."""
    data = datasets.generate(
        n_users=max(activities // 50, 100), n_products=5_000, n_activities=activities, seed=7
    )
    acts = data.activities.assign(type=np.where(data.activities["score"] >= 5, "purchase", "view"))
    store.import_interactions(acts, progress=False)
    start = acts["timestamp"].quantile(1 - recent)
    later = acts[acts["timestamp"] >= start]
    picked = later.sample(IMPRESSIONS, replace=len(later) < IMPRESSIONS, random_state=7)
    rng = np.random.default_rng(7)
    rows = []
    for i, (user, product, moment) in enumerate(
        picked[["user_id", "product_id", "timestamp"]].itertuples(index=False)
    ):
        shown = max(moment - pd.Timedelta(seconds=int(rng.integers(0, 2 * WINDOW))), start)
        rows.append(
            {
                "request_id": f"r{i}",
                "experiment": "bench",
                "variant": "AB"[i % 2],
                "version": "AB"[i % 2],
                "user_id": int(user),
                "product_ids": [int(product), *rng.integers(1, 5_001, 9).tolist()],
                "time": shown.to_pydatetime(),
            }
        )
    store.add_impressions(rows)
    return Experiment(
        "bench",
        (Variant("A", "1", 50), Variant("B", "2", 50)),
        started_at=start.timestamp(),
        window_seconds=WINDOW,
        outcome_types=("purchase",),
    )


def _peak(run: Callable[[], Report]) -> int:
    """Peak bytes Python allocated during one run."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print a markdown table; 1 when the two reports differ."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_experiment_status", description=__doc__
    )
    parser.add_argument("--quick", action="store_true", help="100,000 activities, a smoke run")
    parser.add_argument("--activities", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--recent", type=float, default=0.01, help="share after the start")
    parser.add_argument("--dir", default=None, help="scratch folder (default: system temp)")
    args = parser.parse_args(argv)
    activities = 100_000 if args.quick else args.activities
    with (
        tempfile.TemporaryDirectory(dir=args.dir) as scratch,
        Store.open(Path(scratch) / "store", compact_interval=0) as store,
    ):
        experiment = _fill(store, activities, args.recent)
        ways = {
            "old: analyze(interactions())": lambda: analyze(
                experiment, store.impressions("bench"), store.interactions()
            ),
            "new: results()": lambda: results(experiment, store),
        }
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        reports = {}
        for _ in range(RUNS):
            for name, run in ways.items():
                started = time.perf_counter()
                reports[name] = run()
                seconds[name].append(time.perf_counter() - started)
        peaks = {name: _peak(run) for name, run in ways.items()}
        first = store.impressions("bench")["time"].min()
        read = len(store.activities_since(first, ["purchase"]))  # the rows `results` copies
    old, new = reports.values()
    same = old.to_dict() == new.to_dict()
    clicked = int(new.variants["clicked"].sum())
    print(
        f"{activities:,} activities, {IMPRESSIONS:,} impressions ({clicked:,} clicked), the last"
        f" {args.recent:.0%} after the start ({read:,} purchases read); median of {RUNS}"
    )
    print("\n| way | results() time | peak Python memory |\n|---|---|---|")
    for name in ways:
        median = statistics.median(seconds[name])
        print(f"| {name} | {median * 1000:,.0f} ms | {peaks[name] / 2**20:,.0f} MB |")
    old_way, new_way = (statistics.median(seconds[name]) for name in ways)
    ratio = old_way / new_way
    print(f"\nspeed-up {ratio:.0f}x; same report: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
