"""Figures and the small tables behind them, on hand-made data."""

import numpy as np
import pandas as pd
import pytest

from discerner.training import plots

WIDE = pd.DataFrame(
    {
        "model": ["a", "b"],
        "ndcg_at_5": [0.1, 0.2],
        "ndcg_at_10": [0.3, 0.4],
        "hit_rate_at_10": [0.5, 0.6],
        "fit_seconds": [1.0, 2.0],
    }
)
# Distinct users per product: 1 -> 3, 2 -> 2, 3 -> 1 (user 1 repeats product 1).
TRAIN = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 1, 1], "product_id": [1, 1, 1, 2, 2, 3, 1]})


def test_metrics_by_k_reads_mlflow_safe_names_and_ignores_the_rest():
    long = plots.metrics_by_k(WIDE)
    assert long.to_dict("list") == {
        "model": ["a", "a", "a", "b", "b", "b"],
        "metric": ["hit_rate", "ndcg", "ndcg", "hit_rate", "ndcg", "ndcg"],
        "k": [10, 5, 10, 10, 5, 10],
        "value": [0.5, 0.1, 0.3, 0.6, 0.2, 0.4],
    }


def test_popularity_percentiles_rank_products_by_distinct_users():
    found = plots.popularity_percentiles(pd.Series([1, 3, 9, 2]), TRAIN)
    np.testing.assert_allclose(found, [100.0, 100 / 3, 0.0, 200 / 3])


def test_metric_against_k_draws_one_panel_per_metric_present():
    figure = plots.metric_against_k(WIDE, metrics=("ndcg", "precision", "hit_rate"))
    assert [axes.get_title() for axes in figure.axes] == ["ndcg", "hit_rate"]
    lines = figure.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["a", "b"]
    np.testing.assert_allclose(lines[1].get_xydata(), [[5, 0.2], [10, 0.4]])


def test_comparison_puts_the_best_model_on_top():
    figure = plots.comparison(WIDE, "ndcg_at_10")
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["a", "b"]  # barh draws bottom-up: the last label is the top bar
    assert [p.get_width() for p in figure.axes[0].patches] == [0.3, 0.4]


def test_comparison_shows_the_best_n_on_an_axis_zoomed_to_their_values():
    scores = 0.16 + 0.04 * np.arange(42) / 41  # 0.16 to 0.20: invisible on an axis from 0
    wide = pd.DataFrame({"model": [f"m{i}" for i in range(42)], "ndcg_at_10": scores})
    axes = plots.comparison(wide, "ndcg_at_10", top=10).axes[0]
    assert len(axes.patches) == 10
    assert [t.get_text() for t in axes.get_yticklabels()][-1] == "m41"  # the best on top
    low, high = axes.get_xlim()
    assert 0.15 < low < scores[-10] and high > scores[-1]
    assert axes.texts[-1].get_text() == "0.2000"  # each bar is labelled with its value
    assert "best 10 of 42" in axes.get_title()


def test_comparison_draws_metrics_that_could_not_be_computed():
    wide = pd.DataFrame({"model": ["a", "b"], "ndcg_at_10": [np.nan, np.nan]})
    assert len(plots.comparison(wide, "ndcg_at_10").axes[0].patches) == 2


def test_activity_over_time_counts_empty_weeks_as_zero():
    days = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-02-26"], utc=True)  # 8 weeks apart
    frame = pd.DataFrame({"user_id": 1, "product_id": 1, "score": 1.0, "timestamp": days})
    bars = plots.activity_over_time(frame).axes[0].patches
    assert [bar.get_height() for bar in bars] == [2, 0, 0, 0, 0, 0, 0, 0, 1]


def test_candidate_metrics_draws_one_line_per_family():
    metrics = {"ndcg_at_5": 0.1, "ndcg_at_10": 0.2, "recall_at_10": 0.3, "fit_seconds": 2.0}
    axes = plots.candidate_metrics("svd", metrics).axes[0]
    assert [line.get_label() for line in axes.get_lines()] == ["ndcg", "precision", "recall"]
    assert axes.get_lines()[0].get_ydata().tolist() == [0.1, 0.2]


def test_popularity_bias_has_a_box_per_model():
    recs = {"blockbusters": pd.DataFrame({"product_id": [1, 1, 2]}), "tail": TRAIN.head(0)}
    figure = plots.popularity_bias(recs, TRAIN)
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == ["blockbusters", "tail"]


@pytest.mark.parametrize(
    "draw",
    [plots.long_tail, plots.activity_over_time, plots.score_distribution, plots.user_activity],
)
def test_data_figures_render_to_png(draw, tmp_path):
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 3],
            "product_id": [1, 2, 1, 1],
            "score": [5.0, 3.0, 4.0, 5.0],
            "timestamp": pd.to_datetime([0, 86400 * 8, 86400 * 15, None], unit="s", utc=True),
        }
    )
    figure = draw(frame)
    figure.savefig(tmp_path / "figure.png")
    assert (tmp_path / "figure.png").read_bytes().startswith(b"\x89PNG")
