"""Experiment statistics on tiny data, each answer computed by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from discerner.experiments import Experiment, Variant
from discerner.experiments.analysis import analyze, compare, rate

T0 = pd.Timestamp("2026-11-30 12:00", tz="UTC")


def _at(seconds: float) -> pd.Timestamp:
    return T0 + pd.Timedelta(seconds=seconds)


def test_wilson_interval_by_hand():
    # p = 2/10, z = 1.96: centre = (0.2 + z^2/20) / (1 + z^2/10) = 0.392073 / 1.384146 = 0.28326;
    # half = z * sqrt(0.2 * 0.8 / 10 + z^2 / 400) / 1.384146 = 0.313616 / 1.384146 = 0.226576.
    value, low, high = rate(2, 10)
    assert value == 0.2
    assert low == pytest.approx(0.28326 - 0.226576, abs=1e-4)
    assert high == pytest.approx(0.28326 + 0.226576, abs=1e-4)
    assert all(pd.isna(x) for x in rate(0, 0))


def test_two_proportion_test_by_hand():
    # 30/100 against 20/100: pooled p = 0.25, se = sqrt(0.25 * 0.75 * 2 / 100) = 0.061237,
    # z = 0.1 / 0.061237 = 1.63299, two-sided p = 2 * (1 - Phi(1.63299)) = 0.10247.
    result = compare(30, 100, 20, 100)
    assert result["difference"] == pytest.approx(0.1)
    assert result["p_value"] == pytest.approx(0.10247, abs=1e-4)
    assert not result["significant"]
    assert result["difference_low"] < 0 < result["difference_high"]
    assert result["lift"] == pytest.approx(0.5)  # 0.3 / 0.2 - 1
    assert result["lift_low"] < 0.5 < result["lift_high"]
    # Twice the sample: se = 0.043301, z = 2.3094, p = 0.02092: significant.
    doubled = compare(60, 200, 40, 200)
    assert doubled["p_value"] == pytest.approx(0.02092, abs=1e-4)
    assert doubled["significant"] and doubled["difference_low"] > 0


def test_outcomes_by_type_product_and_window():
    experiment = Experiment(
        "tiny",
        (Variant("A", "1", 50), Variant("B", "2", 50)),
        started_at=0.0,
        window_seconds=60.0,
        outcome_types=("purchase",),
    )
    impressions = pd.DataFrame(
        {
            "request_id": ["r1", "r2", "r3", "r4"],
            "experiment": "tiny",
            "variant": ["A", "A", "A", "B"],
            "version": ["1", "1", "1", "2"],
            "user_id": [1, 1, 2, 3],
            "product_ids": [[10, 11], [12], [10], [10, 11]],
            "time": [_at(0), _at(100), _at(0), _at(0)],
        }
    )
    activities = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3, 3, 1],
            "product_id": [11, 12, 10, 10, 11, 13],
            "timestamp": [_at(30), _at(200), _at(10), _at(-5), _at(60), _at(5)],
            "type": ["purchase", "purchase", "view", "purchase", "purchase", "purchase"],
        }
    )
    # r1: user 1 bought 11 30 s later: an outcome. r2: 12 bought 100 s after it (window 60 s):
    # none. r3: user 2 only viewed: none. r4: 10 bought before it (none), 11 bought at exactly
    # 60 s (inside). Product 13 was never shown. A: 3 impressions, 1 clicked; users 1 and 2,
    # user 1 converted. B: 1 impression, clicked; user 3 converted.
    report = analyze(experiment, impressions, activities)
    rows = report.variants.set_index("variant")
    assert rows.loc["A", ["impressions", "clicked", "users", "converted"]].tolist() == [3, 1, 2, 1]
    assert rows.loc["B", ["impressions", "clicked", "users", "converted"]].tolist() == [1, 1, 1, 1]
    assert rows.loc["A", "ctr"] == pytest.approx(1 / 3)
    assert rows.loc["A", "conversion"] == 0.5
    assert report.comparisons["control"].tolist() == ["A"]
    assert report.comparisons["difference"].tolist() == [pytest.approx(0.5)]
    assert not report.better("B")  # one user against two proves nothing
