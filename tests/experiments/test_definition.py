"""Experiment definitions: assignment by a stable hash, shares, and refused definitions."""

from __future__ import annotations

import re

import pytest

from discerner.experiments import Experiment, ExperimentError, Variant, assign, parse_variant
from discerner.experiments.definition import sampled


def _experiment(*shares: int, name: str = "exp", **settings) -> Experiment:
    variants = tuple(Variant(f"v{i}", str(i + 1), s) for i, s in enumerate(shares))
    return Experiment(name, variants, started_at=0.0, **settings)


def test_shares_are_respected_on_100k_users():
    experiment = _experiment(30, 70)
    counts = {"v0": 0, "v1": 0}
    for user_id in range(1, 100_001):
        counts[assign(experiment, user_id).name] += 1
    # Binomial(100000, 0.3): sd = sqrt(100000 * 0.3 * 0.7) = 145; 5 sd = 725 users.
    assert abs(counts["v0"] - 30_000) < 725
    assert counts["v0"] + counts["v1"] == 100_000


def test_three_way_split_and_stable_assignment():
    experiment = _experiment(20, 30, 50)
    first = [assign(experiment, u).name for u in range(1, 30_001)]
    again = [assign(_experiment(20, 30, 50), u).name for u in range(1, 30_001)]
    assert first == again  # same experiment and user: same variant, every time
    # Binomial(30000, 0.2): sd = 69, 5 sd = 346; Binomial(30000, 0.3): sd = 79, 5 sd = 397.
    assert abs(first.count("v0") - 6_000) < 346
    assert abs(first.count("v1") - 9_000) < 397


def test_experiments_split_users_independently():
    one = [assign(_experiment(50, 50, name="one"), u).name for u in range(1, 10_001)]
    two = [assign(_experiment(50, 50, name="two"), u).name for u in range(1, 10_001)]
    same = sum(a == b for a, b in zip(one, two, strict=True))
    # Independent halves agree for half the users: sd = sqrt(10000 / 4) = 50; 5 sd = 250.
    assert abs(same - 5_000) < 250


def test_sampling_keeps_the_rate_of_users():
    experiment = _experiment(50, 50, sample_rate=0.1)
    kept = sum(sampled(experiment, u) for u in range(1, 50_001))
    # Binomial(50000, 0.1): sd = 67; 5 sd = 335.
    assert abs(kept - 5_000) < 335
    assert all(sampled(_experiment(50, 50), u) for u in range(1, 100))


@pytest.mark.parametrize(
    ("shares", "message"),
    [
        ((50, 40), "summing to 100: 50 + 40"),
        ((60, 50), "summing to 100: 60 + 50"),
        ((100, 0), "positive whole percents"),
        ((100,), "at least two variants"),
    ],
)
def test_bad_shares_are_refused(shares, message):
    with pytest.raises(ExperimentError, match=re.escape(message)):
        _experiment(*shares)


def test_bad_names_and_settings_are_refused():
    with pytest.raises(ExperimentError, match="experiment name"):
        _experiment(50, 50, name="no spaces")
    with pytest.raises(ExperimentError, match="sample rate"):
        _experiment(50, 50, sample_rate=0.0)
    with pytest.raises(ExperimentError, match="must differ"):
        Experiment("e", (Variant("a", "1", 50), Variant("a", "2", 50)), 0.0)


def test_parse_variant():
    assert parse_variant("champion:50") == Variant("champion", "champion", 50)
    assert parse_variant("7:25") == Variant("7", "7", 25)
    assert parse_variant("new=7:25") == Variant("new", "7", 25)
    for bad in ("champion", "7:", ":50", "7:half"):
        with pytest.raises(ExperimentError, match="TARGET:SHARE"):
            parse_variant(bad)


def test_definition_survives_json():
    experiment = _experiment(50, 50, outcome_types=("purchase",), window_seconds=60.0)
    assert Experiment.from_json(experiment.to_json()) == experiment
    with pytest.raises(ExperimentError, match="unreadable"):
        Experiment.from_json('{"name": "x"}')
