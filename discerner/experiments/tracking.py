"""Experiment results in MLflow: one run per experiment, updated by each `status` and `stop`."""

from __future__ import annotations

import math
import time

import mlflow
from mlflow.entities import Metric

from discerner.experiments.analysis import Report
from discerner.tracking import runs

MLFLOW_EXPERIMENT = "ab-experiments"
TAG = "discerner.experiment"
METRICS = ("impressions", "users", "ctr", "ctr_low", "ctr_high", "conversion")
METRICS += ("conversion_low", "conversion_high")
COMPARED = ("difference", "difference_low", "difference_high", "lift", "lift_low", "lift_high")
COMPARED += ("p_value",)


def log_report(report: Report) -> str:
    """Log a report to its experiment's run (created on first use) in the current tracking
    store (`discerner.tracking.runs.setup`); returns the run id.

    Params: the definition (variants as `variant.<name>` = `target:share`, versions, window,
    outcome types, sample rate). Metrics: `<variant>.<metric>` per variant and
    `<variant>.vs_control.<metric>` per comparison; NaNs are left out.
    """
    definition = report.experiment
    client = mlflow.MlflowClient()
    experiment_id = runs.experiment_id(MLFLOW_EXPERIMENT)
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG}` = '{definition.name}'", max_results=1
    )
    if found:
        run_id = found[0].info.run_id
    else:
        run = client.create_run(
            experiment_id, tags={TAG: definition.name}, run_name=definition.name
        )
        run_id = run.info.run_id
        params = {f"variant.{v.name}": f"{v.target}:{v.share}" for v in definition.variants}
        params |= {f"version.{k}": v for k, v in definition.versions.items()}
        params |= {"window_seconds": definition.window_seconds}
        params |= {"outcome_types": ",".join(definition.outcome_types) or "(any)"}
        params |= {"sample_rate": definition.sample_rate}
        for key, value in params.items():
            client.log_param(run_id, key, value)
    metrics = {}
    for row in report.variants.to_dict("records"):
        metrics |= {f"{row['variant']}.{m}": row[m] for m in METRICS}
    for row in report.comparisons.to_dict("records"):
        metrics |= {f"{row['variant']}.vs_control.{m}": row[m] for m in COMPARED}
    now = int(time.time() * 1000)
    logged = [Metric(_metric_name(k), float(v), now, 0) for k, v in metrics.items()]
    client.log_batch(run_id, metrics=[m for m in logged if not math.isnan(m.value)])
    client.set_tag(run_id, "state", definition.state)
    return run_id


def _metric_name(key: str) -> str:
    """MLflow names: letters, digits, `_ - . / space` only."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in key)
