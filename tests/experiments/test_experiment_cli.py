"""`discerner experiment start|list|status|stop` on a real registry and store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mlflow
import pytest
from click.testing import CliRunner

from discerner import config
from discerner.cli import main
from discerner.experiments import assign, book
from discerner.experiments.tracking import MLFLOW_EXPERIMENT, TAG
from discerner.store import Store
from discerner.tracking import registry


def _run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, ["experiment", *args])
    assert (result.exit_code == 0) == ok, result.output
    return result.output


def test_bad_definitions_are_refused_with_a_reason(experiment_home):
    assert "summing to 100: 50 + 40" in _run(
        "start", "e", "--variant", "champion:50", "--variant", "2:40", ok=False
    )
    assert "has no version '9'" in _run(
        "start", "e", "--variant", "champion:50", "--variant", "9:50", ok=False
    )
    assert "has no alias 'nope'" in _run(
        "start", "e", "--variant", "nope:50", "--variant", "2:50", ok=False
    )
    assert "TARGET:SHARE" in _run("start", "e", "--variant", "2", ok=False)
    assert _run("list") == ""  # nothing was stored


def test_start_status_and_stop_with_promotion(experiment_home):
    output = _run(
        "start",
        "knn",
        "--variant",
        "champion:50",
        "--variant",
        "2:50",
        "--outcome-type",
        "purchase",
        "--window-hours",
        "1",
    )
    assert "champion (discerner/1) 50%, 2 (discerner/2) 50%" in output
    assert "is running: stop it first" in _run(
        "start", "other", "--variant", "1:50", "--variant", "2:50", ok=False
    )
    assert _run("list").startswith("knn\trunning\tchampion=champion:50 2=2:50")
    # Users 1-6 each saw products 1 and 2; every user bought product 2 ten minutes later.
    defined = book.get("knn")
    now = datetime.now(UTC)
    rows = [
        {
            "request_id": f"r{u}",
            "experiment": "knn",
            "variant": assign(defined, u).name,
            "version": "x",
            "user_id": u,
            "product_ids": [1, 2],
            "time": now,
        }
        for u in range(1, 7)
    ]
    with Store.open(config.store_dir(experiment_home)) as store:
        store.add_impressions(rows)
        for u in range(1, 7):
            store.add_activity(u, 2, timestamp=now + timedelta(minutes=10), type="purchase")
    arms = [assign(defined, u).name for u in range(1, 7)]
    status = _run("status")
    for name in ("champion", "2"):
        line = next(x for x in status.splitlines() if x.split()[:1] == [name])
        # impressions, clicked, ctr = 1 (all bought), ..., users, converted, conversion = 1
        assert line.split()[1:3] == [str(arms.count(name))] * 2
    assert "2 vs champion: conversion difference +0.0000" in status
    run = mlflow.MlflowClient().search_runs(
        [mlflow.get_experiment_by_name(MLFLOW_EXPERIMENT).experiment_id],
        filter_string=f"tags.`{TAG}` = 'knn'",
    )
    assert len(run) == 1 and run[0].data.metrics["champion.conversion"] == 1.0
    assert run[0].data.params["variant.2"] == "2:50"
    assert "has no variant 'x'" in _run("stop", "knn", "--promote", "x", ok=False)
    stopped = _run("stop", "knn", "--promote", "2")
    assert "discerner@champion -> version 2" in stopped
    assert str(registry.champion().version) == "2"
    assert "won experiment knn as variant 2" in registry.champion().tags["reason"]
    assert _run("list").startswith("knn\tstopped")
    assert "not running" in _run("stop", "knn", ok=False)


@pytest.mark.parametrize("args", [["status"], ["status", "nope"]])
def test_status_without_an_experiment(experiment_home, args):
    assert "Error" in _run(*args, ok=False)
