"""How the variants of an experiment fared: outcomes of impressions, rates, intervals, a test.

An impression's outcome is an activity of one of the experiment's outcome types (any type when
none are named) by the same user on one of the impression's products, strictly after the
impression and within the outcome window. Per variant:

- click-through rate = impressions with an outcome / impressions;
- conversion = users with an outcome after any of their impressions / users with impressions.

Intervals are Wilson score intervals (statsmodels `proportion_confint`). Each variant is
compared with the first (the control) on conversion, users being the independent units: the
difference with Newcombe's hybrid score interval, the relative lift (ratio - 1) with a
log-adjusted interval (`confint_proportions_2indep`), and a two-sided two-proportion z-test
(`proportions_ztest`, pooled variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from discerner.experiments.definition import Experiment
from discerner.schema import PRODUCT_ID, TIMESTAMP, TYPE, USER_ID

ALPHA = 0.05  # 95% intervals; a difference is significant when p < ALPHA
IMPRESSION_COLUMNS = ["request_id", "experiment", "variant", "version", USER_ID, "product_ids"]
IMPRESSION_COLUMNS += ["time"]


@dataclass(frozen=True)
class Report:
    """An experiment's results: one row per variant and one per comparison with the control.

    `variants` columns: variant, impressions, clicked, ctr, ctr_low, ctr_high, users,
    converted, conversion, conversion_low, conversion_high. `comparisons` columns: variant,
    control, difference, difference_low, difference_high, lift, lift_low, lift_high, p_value,
    significant.
    """

    experiment: Experiment
    variants: pd.DataFrame
    comparisons: pd.DataFrame

    def better(self, variant: str) -> bool:
        """Whether `variant` converts significantly better than the control."""
        row = self.comparisons[self.comparisons["variant"] == variant]
        return bool(len(row)) and bool(row["significant"].iloc[0] and row["difference"].iloc[0] > 0)

    def to_dict(self) -> dict:
        """The definition and results as JSON-ready values (NaN as None)."""
        definition = self.experiment
        started = pd.Timestamp(definition.started_at, unit="s", tz="UTC")
        variants = [
            {"name": v.name, "target": v.target, "share": v.share}
            | {"version": definition.versions.get(v.name, "")}
            | {k: x for k, x in _plain(row).items() if k != "variant"}
            for v, row in zip(definition.variants, self.variants.to_dict("records"), strict=True)
        ]
        return {
            "name": definition.name,
            "state": definition.state,
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window_seconds": definition.window_seconds,
            "outcome_types": list(definition.outcome_types),
            "sample_rate": definition.sample_rate,
            "variants": variants,
            "comparisons": [_plain(row) for row in self.comparisons.to_dict("records")],
        }


def _plain(row: dict) -> dict:
    """numpy and NaN values of a frame row as plain JSON values."""
    plain = {}
    for key, value in row.items():
        if isinstance(value, float) and math.isnan(value):
            value = None
        plain[key] = value.item() if hasattr(value, "item") else value
    return plain


def outcomes(experiment: Experiment, impressions: pd.DataFrame, activities: pd.DataFrame):
    """The impressions joined with their outcomes.

    Args:
        experiment: Its window and outcome types are used.
        impressions: `IMPRESSION_COLUMNS` (`product_ids` a list per row, `time` UTC).
        activities: user_id, product_id, timestamp, type (the store's `interactions()`).

    Returns:
        The impressions with `clicked` (bool: an outcome followed on one of its products).
    """
    acts = activities
    if experiment.outcome_types:
        acts = acts[acts[TYPE].astype(str).isin(experiment.outcome_types)]
    shown = impressions[["request_id", USER_ID, "product_ids", "time"]].explode("product_ids")
    shown = shown.dropna(subset=["product_ids"]).astype({"product_ids": "int64"})
    joined = shown.merge(
        acts[[USER_ID, PRODUCT_ID, TIMESTAMP]],
        left_on=[USER_ID, "product_ids"],
        right_on=[USER_ID, PRODUCT_ID],
    )
    window = pd.Timedelta(seconds=experiment.window_seconds)
    after = joined[TIMESTAMP] - joined["time"]
    hits = joined.loc[(after > pd.Timedelta(0)) & (after <= window), "request_id"]
    return impressions.assign(clicked=impressions["request_id"].isin(set(hits)))


def analyze(experiment: Experiment, impressions: pd.DataFrame, activities: pd.DataFrame) -> Report:
    """Rates with intervals per variant and the comparison of each variant with the control.

    Args:
        experiment: The definition (its first variant is the control).
        impressions: The experiment's impressions (`IMPRESSION_COLUMNS`).
        activities: user_id, product_id, timestamp, type.

    Returns:
        The Report; a variant without impressions has NaN rates.
    """
    seen = outcomes(experiment, impressions, activities)
    rows = [_variant_row(v.name, seen[seen["variant"] == v.name]) for v in experiment.variants]
    variants = pd.DataFrame(rows)
    control = rows[0]
    compared = [_compare(row, control) for row in rows[1:]]
    return Report(experiment, variants, pd.DataFrame(compared))


def rate(successes: int, trials: int) -> tuple[float, float, float]:
    """A proportion and its 95% Wilson interval; NaNs without trials."""
    if trials == 0:
        return math.nan, math.nan, math.nan
    low, high = proportion_confint(successes, trials, alpha=ALPHA, method="wilson")
    return successes / trials, float(low), float(high)


def _variant_row(name: str, seen: pd.DataFrame) -> dict:
    impressions, clicked = len(seen), int(seen["clicked"].sum())
    per_user = seen.groupby(USER_ID)["clicked"].any()
    users, converted = len(per_user), int(per_user.sum())
    ctr, ctr_low, ctr_high = rate(clicked, impressions)
    conversion, conv_low, conv_high = rate(converted, users)
    return {
        "variant": name,
        "impressions": impressions,
        "clicked": clicked,
        "ctr": ctr,
        "ctr_low": ctr_low,
        "ctr_high": ctr_high,
        "users": users,
        "converted": converted,
        "conversion": conversion,
        "conversion_low": conv_low,
        "conversion_high": conv_high,
    }


def compare(converted: int, users: int, converted_0: int, users_0: int) -> dict:
    """A variant's conversion against the control's: difference, lift, intervals, p-value.

    Returns:
        difference (p - p0) with Newcombe's interval, lift (p / p0 - 1) with a log-adjusted
        interval (NaN when the control has no conversion), the z-test's p-value, and whether
        p < ALPHA. NaNs when either side has no users.
    """
    empty = {"difference": math.nan, "difference_low": math.nan, "difference_high": math.nan}
    empty |= {"lift": math.nan, "lift_low": math.nan, "lift_high": math.nan, "p_value": math.nan}
    if users == 0 or users_0 == 0:
        return empty | {"significant": False}
    counts = (converted, users, converted_0, users_0)
    low, high = confint_proportions_2indep(*counts, method="newcomb", compare="diff", alpha=ALPHA)
    result = dict(empty)
    result |= {"difference": converted / users - converted_0 / users_0}
    result |= {"difference_low": float(low), "difference_high": float(high)}
    if converted_0 > 0 and converted > 0:
        ratio = confint_proportions_2indep(*counts, compare="ratio", alpha=ALPHA)
        lift = (converted / users) / (converted_0 / users_0) - 1
        result |= {"lift": lift, "lift_low": float(ratio[0]) - 1, "lift_high": float(ratio[1]) - 1}
    if 0 < converted + converted_0 < users + users_0:  # the z-test needs both outcomes seen
        _, p_value = proportions_ztest([converted, converted_0], [users, users_0])
        result["p_value"] = float(p_value)
    significant = bool(result["p_value"] < ALPHA) if not math.isnan(result["p_value"]) else False
    return result | {"significant": significant}


def _compare(row: dict, control: dict) -> dict:
    counts = (row["converted"], row["users"], control["converted"], control["users"])
    return {"variant": row["variant"], "control": control["variant"], **compare(*counts)}


def results(experiment: Experiment, store) -> Report:
    """`analyze` on a store's impressions of the experiment and its activities now.

    Only activities that can be outcomes are read (`StoreContract.activities_since`): of the
    outcome types (every type when none are named), at or after the first impression, since
    an outcome strictly follows its impression. Activities from before the experiment, which
    `analyze` would drop anyway, are never copied; the report is the one the whole training
    frame gives.
    """
    impressions = store.impressions(experiment.name)
    if impressions.empty:  # no impression, no outcome: an empty frame of the right columns
        activities = store.activities_since(0, types=[])
    else:
        types = list(experiment.outcome_types) or None
        activities = store.activities_since(impressions["time"].min(), types)
    return analyze(experiment, impressions, activities)
