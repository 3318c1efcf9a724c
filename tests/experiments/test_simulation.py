"""Planted populations: variant B truly converts 20% more than A, and an A/A test."""

from __future__ import annotations

import numpy as np
import pandas as pd

from discerner.experiments import Experiment, Variant, assign
from discerner.experiments.analysis import analyze

N_USERS, N_PRODUCTS, LIST = 20_000, 200, 10
T0 = pd.Timestamp("2026-11-30", tz="UTC")


def _simulate(rates: dict[str, float], seed: int) -> tuple[Experiment, pd.DataFrame, pd.DataFrame]:
    """Each user sees one list of their variant; with their variant's planted rate they buy one
    of its products within the hour (an outcome). Noise that must not count: everyone views a
    shown product (a type that is not an outcome), and 10% of users buy a product never shown
    to them or buy a shown product two days later (outside the window)."""
    experiment = Experiment(
        "planted",
        tuple(Variant(name, str(i + 1), 50) for i, name in enumerate(rates)),
        started_at=0.0,
        window_seconds=3600.0,
        outcome_types=("purchase",),
    )
    rng = np.random.default_rng(seed)
    users = np.arange(1, N_USERS + 1)
    variant = np.array([assign(experiment, int(u)).name for u in users])
    shown = np.stack([rng.choice(N_PRODUCTS, LIST, replace=False) for _ in users]) + 1
    times = T0 + pd.to_timedelta(rng.integers(0, 86_400, N_USERS), unit="s")
    impressions = pd.DataFrame(
        {
            "request_id": [f"r{u}" for u in users],
            "experiment": "planted",
            "variant": variant,
            "version": "1",
            "user_id": users,
            "product_ids": list(shown),
            "time": times,
        }
    )
    planted = np.array([rates[v] for v in variant])
    buys = rng.random(N_USERS) < planted
    pick = shown[np.arange(N_USERS), rng.integers(0, LIST, N_USERS)]
    later = pd.to_timedelta(rng.integers(1, 3600, N_USERS), unit="s")
    noise = rng.random(N_USERS) < 0.1
    frames = [
        _acts(users[buys], pick[buys], (times + later)[buys], "purchase"),
        _acts(users, shown[:, 0], times + later, "view"),
        _acts(
            users[noise], np.full(noise.sum(), N_PRODUCTS + 1), (times + later)[noise], "purchase"
        ),
        _acts(users[noise], shown[noise, 1], (times + pd.Timedelta(days=2))[noise], "purchase"),
    ]
    return experiment, impressions, pd.concat(frames, ignore_index=True)


def _acts(users, products, times, kind) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": users, "product_id": products, "timestamp": times, "type": kind}
    )


def test_b_converting_20_percent_more_is_found():
    experiment, impressions, activities = _simulate({"A": 0.10, "B": 0.12}, seed=7)
    report = analyze(experiment, impressions, activities)
    rows = report.variants.set_index("variant")
    # ~10,000 users per arm: se of a rate ~0.003, so each lands within 0.01 of its plant.
    assert abs(rows.loc["A", "conversion"] - 0.10) < 0.01
    assert abs(rows.loc["B", "conversion"] - 0.12) < 0.01
    assert rows["users"].sum() == N_USERS
    (comparison,) = report.comparisons.to_dict("records")
    # se of the difference = sqrt(0.1 * 0.9 / 1e4 + 0.12 * 0.88 / 1e4) = 0.0044: z about 4.5.
    assert comparison["difference_low"] > 0
    assert comparison["lift_low"] > 0 and abs(comparison["lift"] - 0.2) < 0.1
    assert comparison["p_value"] < 0.001
    assert report.better("B")


def test_an_a_a_test_finds_no_difference():
    experiment, impressions, activities = _simulate({"A": 0.10, "A2": 0.10}, seed=7)
    report = analyze(experiment, impressions, activities)
    (comparison,) = report.comparisons.to_dict("records")
    assert comparison["difference_low"] < 0 < comparison["difference_high"]
    assert not comparison["significant"]
    assert not report.better("A2")
