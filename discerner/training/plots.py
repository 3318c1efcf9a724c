"""Figures for training runs and notebooks: metrics by k, model comparison, popularity bias, data.

Every function returns a `matplotlib.figure.Figure` built without pyplot, so nothing depends on
the process's backend or global state: figures render to PNG through the Agg canvas (MLflow's
`log_figure`, `Figure.savefig`) and display inline in Jupyter. Metric tables are wide: one row
per model, a `model` column, and metric columns named like `ndcg_at_10`.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from discerner.schema import PRODUCT_ID, SCORE, TIMESTAMP, USER_ID

logger = logging.getLogger(__name__)

MODEL = "model"
_AT_K = re.compile(r"^(?P<metric>[a-z_]+?)_at_(?P<k>\d+)$")


def metrics_by_k(results: pd.DataFrame) -> pd.DataFrame:
    """Turn a wide metric table into long form: `model`, `metric`, `k`, `value`.

    Columns not named `<metric>_at_<k>` are ignored.

    Args:
        results: One row per model, a `model` column and metric columns.

    Returns:
        The long table, sorted by model, metric and k.
    """
    rows = []
    for column in results.columns:
        match = _AT_K.match(str(column))
        if match is None:
            continue
        for model, value in zip(results[MODEL], results[column], strict=True):
            rows.append((model, match["metric"], int(match["k"]), float(value)))
    long = pd.DataFrame(rows, columns=[MODEL, "metric", "k", "value"])
    return long.sort_values([MODEL, "metric", "k"], ignore_index=True)


def metric_against_k(
    results: pd.DataFrame, metrics=("ndcg", "precision", "recall"), top: int = 8
) -> Figure:
    """One panel per metric: each model's value against the cut-off k.

    Args:
        results: Wide metric table (see the module docstring), best model first.
        metrics: Metric families to draw, e.g. `ndcg` for `ndcg_at_5`, `ndcg_at_10`, ...
        top: Draw only the first `top` models, so that the lines stay readable.

    Returns:
        The figure, with one legend below the panels.
    """
    long = metrics_by_k(results.head(top))
    metrics = [m for m in metrics if (long["metric"] == m).any()] or ["ndcg"]
    n_models = long[MODEL].nunique()
    height = 3.8 + 0.22 * ((n_models + 1) // 2)
    figure = Figure(figsize=(4.5 * len(metrics), height), layout="constrained")
    for axes, metric in zip(
        figure.subplots(1, len(metrics), squeeze=False)[0], metrics, strict=True
    ):
        for model, part in long[long["metric"] == metric].groupby(MODEL, sort=False):
            axes.plot(part["k"], part["value"], marker="o", label=str(model))
        axes.set(title=metric, xlabel="k", ylabel=f"{metric}@k")
    handles, labels = figure.axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2, fontsize="small")
    return figure


def candidate_metrics(
    name: str, metrics: dict[str, float], families=("ndcg", "precision", "recall")
) -> Figure:
    """One candidate's ranking metrics against the cut-off k: a small figure for its own run.

    Args:
        name: The candidate's name (the title).
        metrics: Its metrics, named like `ndcg_at_10`; others are ignored.
        families: The metric families drawn, one line each.

    Returns:
        The figure.
    """
    long = metrics_by_k(pd.DataFrame([{MODEL: name, **metrics}]))
    figure = Figure(figsize=(4.5, 3), layout="constrained")
    axes = figure.subplots()
    for metric in families:
        part = long[long["metric"] == metric]
        axes.plot(part["k"], part["value"], marker="o", label=metric)
    axes.set(xlabel="k", ylabel="value at k", xticks=sorted(long["k"].unique()))
    axes.set_title(name, fontsize="small")
    axes.legend(fontsize="small")
    return figure


def comparison(results: pd.DataFrame, metric: str = "ndcg_at_10", top: int = 15) -> Figure:
    """A horizontal bar per model for one metric, best at the top, each bar labelled.

    The axis is zoomed to the values' range (it does not start at 0), so that differences of a
    few hundredths between candidates are visible; the labels give the exact values.

    Args:
        results: Wide metric table (see the module docstring).
        metric: The metric to compare.
        top: Draw only the best `top` models (the title says how many were left out).
    """
    ranked = results.sort_values(metric, ascending=False)
    shown = ranked.head(top).iloc[::-1]  # barh draws bottom-up: the best ends on top
    values = shown[metric].to_numpy(dtype="float64")
    figure = Figure(figsize=(7, 0.32 * len(shown) + 1.3), layout="constrained")
    axes = figure.subplots()
    axes.barh(shown[MODEL].astype(str), values, color="tab:blue")
    finite = values[np.isfinite(values)]  # a metric is NaN when no user could be scored
    if len(finite):
        low, high = float(finite.min()), float(finite.max())
        margin = max(high - low, abs(high) * 0.05, 1e-3)
        axes.set_xlim(
            max(low - 0.3 * margin, 0.0) if low >= 0 else low - 0.3 * margin, high + 0.35 * margin
        )
    for y, value in enumerate(values):
        axes.annotate(
            f"{value:.4f}",
            (value, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize="small",
        )
    left_out = len(ranked) - len(shown)
    title = f"Candidates by {metric}" + (
        f" (best {len(shown)} of {len(ranked)})" if left_out else ""
    )
    axes.set(xlabel=f"{metric} (axis zoomed to the values)", title=title)
    axes.tick_params(axis="y", labelsize="small")
    return figure


def popularity_percentiles(recommended: pd.Series, train: pd.DataFrame) -> np.ndarray:
    """Popularity percentile (0 = least, 100 = most popular in `train`) of each recommended id.

    Popularity is the number of distinct users who interacted with a product in `train`;
    products absent from `train` count as 0.
    """
    counts = train.drop_duplicates([USER_ID, PRODUCT_ID])[PRODUCT_ID].value_counts()
    percentile = counts.rank(pct=True, method="average") * 100.0
    return recommended.map(percentile).fillna(0.0).to_numpy(dtype="float64")


def popularity_bias(recommendations: dict[str, pd.DataFrame], train: pd.DataFrame) -> Figure:
    """Box plots of the popularity percentile of each model's recommended products.

    Args:
        recommendations: Model name -> its `recommend` frame.
        train: The interactions the models were fitted on (defines popularity).

    Returns:
        The figure; a model that only recommends blockbusters sits near 100.
    """
    names = list(recommendations)
    data = [popularity_percentiles(recommendations[n][PRODUCT_ID], train) for n in names]
    figure = Figure(figsize=(6.5, 0.45 * len(names) + 1.5), layout="constrained")
    axes = figure.subplots()
    axes.boxplot(data, orientation="horizontal", tick_labels=names)
    axes.set(
        xlabel="popularity percentile of recommended products",
        xlim=(0, 101),
        title="Popularity bias",
    )
    return figure


def long_tail(interactions: pd.DataFrame) -> Figure:
    """Products ranked by number of interactions, with the share of the head marked."""
    counts = np.sort(interactions[PRODUCT_ID].value_counts().to_numpy())[::-1]
    cumulative = np.cumsum(counts) / max(counts.sum(), 1)
    figure = Figure(figsize=(9, 3.5), layout="constrained")
    left, right = figure.subplots(1, 2)
    left.plot(np.arange(1, len(counts) + 1), counts)
    left.set(
        xscale="log", yscale="log", xlabel="product rank", ylabel="interactions", title="Long tail"
    )
    right.plot(np.arange(1, len(counts) + 1) / max(len(counts), 1) * 100, cumulative * 100)
    right.set(
        xlabel="% of products (most popular first)",
        ylabel="% of interactions",
        title="Concentration",
    )
    return figure


def activity_over_time(interactions: pd.DataFrame, freq: str = "W") -> Figure:
    """Interactions per period (`freq`, a pandas offset alias; weeks by default)."""
    figure = Figure(figsize=(9, 3), layout="constrained")
    axes = figure.subplots()
    times = interactions[TIMESTAMP].dropna()
    if len(times):
        counts = times.dt.tz_localize(None).dt.to_period(freq).value_counts()
        # Every period from the first to the last, empty ones as 0: a line across a gap would
        # claim activity that never happened.
        periods = pd.period_range(counts.index.min(), counts.index.max(), freq=counts.index.freq)
        per_period = counts.reindex(periods, fill_value=0)
        starts = per_period.index.to_timestamp()
        width = (periods[0].end_time - periods[0].start_time) * 0.9
        axes.bar(starts, per_period.to_numpy(), width=width, align="edge", color="tab:blue")
    period = _PERIODS.get(freq, freq)
    axes.set(ylabel="interactions", title=f"Activity per {period} (empty {period}s show as 0)")
    return figure


_PERIODS = {"D": "day", "W": "week", "M": "month", "ME": "month", "Q": "quarter", "Y": "year"}


def score_distribution(interactions: pd.DataFrame, bins: int = 20) -> Figure:
    """Histogram of scores, one bar per distinct score when there are few."""
    scores = interactions[SCORE].to_numpy()
    distinct = np.unique(scores)
    figure = Figure(figsize=(5, 3), layout="constrained")
    axes = figure.subplots()
    if len(distinct) <= bins:
        values, counts = np.unique(scores, return_counts=True)
        axes.bar(values.astype(str), counts)
    else:
        axes.hist(scores, bins=bins)
    axes.set(xlabel="score", ylabel="interactions", title="Score distribution")
    return figure


def user_activity(interactions: pd.DataFrame) -> Figure:
    """Histogram of interactions per user (log scale): how much history users have."""
    per_user = interactions[USER_ID].value_counts().to_numpy()
    figure = Figure(figsize=(5, 3), layout="constrained")
    axes = figure.subplots()
    edges = np.unique(np.geomspace(1, max(per_user.max(initial=1), 2), 30).round())
    axes.hist(per_user, bins=edges)
    axes.set(xscale="log", xlabel="interactions per user", ylabel="users", title="History length")
    return figure
