"""The training pipeline: runs, plots, data versions, and the champion guard end to end."""

import json

import mlflow
import pandas as pd
import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from discerner import config, training
from discerner.cli import main
from discerner.evaluation.selection import Candidate, grid_candidates
from discerner.feedback import FeedbackTypes
from discerner.models import Popularity, PureSVD
from discerner.tracking import registry
from discerner.training import assessment


def _train(candidates, frame=None, **settings):
    return training.train(training.TrainSettings(candidates=candidates, **settings), frame)


def test_first_training_logs_every_candidate_and_crowns_the_winner(home, generated, candidates):
    outcome = _train(candidates, generated.activities)
    assert outcome.version == "1"
    assert outcome.decision.promote
    assert str(registry.champion().version) == "1"
    assert outcome.winner == outcome.results["model"].iloc[0]
    assert outcome.validation_score == outcome.results["ndcg_at_10"].max()
    client = MlflowClient()
    children = client.search_runs(
        [client.get_run(outcome.run_id).info.experiment_id],
        f"tags.mlflow.parentRunId = '{outcome.run_id}'",
    )
    assert sorted(r.info.run_name for r in children) == sorted(candidates)
    for child in children:
        assert {"ndcg_at_10", "precision_at_10", "fit_seconds", "recommend_seconds"} <= set(
            child.data.metrics
        )
        assert child.data.params["model_class"] in {"Popularity", "PureSVD"}
        plotted = [a.path for a in client.list_artifacts(child.info.run_id, "plots")]
        assert plotted == ["plots/metrics_against_k.png"]
    experiment = client.get_experiment(children[0].info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # UI: runs
    logged = {a.path for a in client.list_artifacts(outcome.run_id, "plots")}
    assert logged == {
        "plots/comparison.png",
        "plots/metric_against_k.png",
        "plots/popularity_bias.png",
    }


def test_personalised_models_beat_popularity_on_planted_data(home, generated, candidates):
    table = _train(candidates, generated.activities).results.set_index("model")
    assert table.loc["svd8", "ndcg_at_10"] > 1.2 * table.loc["popularity", "ndcg_at_10"]


def test_the_winner_is_refitted_on_all_the_data(home, generated, candidates):
    outcome = _train(candidates, generated.activities)
    assert outcome.model.user_items_.nnz == len(
        generated.activities.drop_duplicates(["user_id", "product_id"])
    )


def test_retraining_on_the_same_data_keeps_the_champion(home, generated, candidates):
    first = _train(candidates, generated.activities)
    second = _train(candidates, generated.activities)
    assert second.version == "2"
    assert not second.decision.promote
    assert second.champion_version == "1"
    assert second.champion_score == pytest.approx(first.validation_score)
    assert second.validation_score == pytest.approx(first.validation_score)
    assert "does not beat" in second.decision.reason
    assert str(registry.champion().version) == "1"
    tags = MlflowClient().get_model_version("discerner", "2").tags
    assert float(tags["champion_score"]) == pytest.approx(first.validation_score)
    assert tags["decision"] == "kept champion"


def test_a_worse_candidate_is_never_promoted(home, generated, candidates):
    best = _train(candidates, generated.activities)
    worse = _train({"popularity": Popularity()}, generated.activities)
    # The champion (a PureSVD) is not among the candidates: it was refitted and re-scored on
    # the same validation split, which gives back the first run's score exactly.
    assert worse.champion_score == pytest.approx(best.validation_score)
    assert worse.validation_score < worse.champion_score
    assert not worse.decision.promote
    assert str(registry.champion().version) == "1"


def test_a_better_candidate_takes_over(home, generated):
    _train({"popularity": Popularity()}, generated.activities)
    better = _train({"svd8": PureSVD(n_components=8)}, generated.activities)
    assert better.decision.promote
    assert better.validation_score > better.champion_score
    assert str(registry.champion().version) == "2"


def test_training_reads_the_store_and_records_its_data_version(store_home):
    from discerner.store import Store

    outcome = _train({"popularity": Popularity()})
    with Store.open(config.store_dir(store_home), readonly=True) as store:
        expected = store.data_version()
    expected["feedback"] = FeedbackTypes().version  # the default: no feedback.yaml
    run = mlflow.get_run(outcome.run_id)
    assert json.loads(run.data.tags["data_version"]) == json.loads(json.dumps(expected))
    assert run.data.params["data_hash"] == str(expected["hash"])
    assert run.data.params["seed"] == "42"
    tags = MlflowClient().get_model_version("discerner", outcome.version).tags
    assert json.loads(tags["data_version"])["hash"] == expected["hash"]


def test_training_an_empty_store_says_so(home):
    from discerner.store import Store

    with Store.open(config.store_dir(config.ensure_home(home))):
        pass
    result = CliRunner().invoke(main, ["train"])
    assert result.exit_code != 0
    assert "no activities" in result.output


def test_the_search_runs_on_a_seeded_sample_of_users(generated):
    settings = training.TrainSettings(max_search_users=50)
    train_part, validation = training.validation_split(generated.activities, settings)
    again = training.validation_split(generated.activities, settings)
    pd.testing.assert_frame_equal(train_part, again[0])
    pd.testing.assert_frame_equal(validation, again[1])
    users = set(train_part["user_id"]) | set(validation["user_id"])
    assert len(users) == 50
    everyone = generated.activities[generated.activities["user_id"].isin(users)]
    assert len(train_part) + len(validation) == len(everyone)


def test_candidate_families_come_from_the_library_grid():
    from discerner.evaluation import DEFAULT_CANDIDATES
    from discerner.evaluation.selection import expand_grid

    found = training.candidate_models(training.TrainSettings(families=("popularity",)))
    assert [candidate.name for candidate in found] == ["popularity"]
    assert len(training.candidate_models(training.TrainSettings())) == sum(
        len(expand_grid(grid)) for _, grid in DEFAULT_CANDIDATES.values()
    )
    with pytest.raises(training.TrainingError, match="no candidate family"):
        training.candidate_models(training.TrainSettings(families=("nope",)))


def test_evaluate_versions_refits_each_configuration(home, generated, candidates):
    _train(candidates, generated.activities)
    _train({"popularity": Popularity()}, generated.activities)
    table = assessment.evaluate_versions(versions="all", interactions=generated.activities)
    assert table["version"].tolist() == [1, 2]
    assert table["model_class"].tolist()[1] == "Popularity"
    assert table.loc[0, "ndcg_at_10"] > table.loc[1, "ndcg_at_10"]
    champion_only = assessment.evaluate_versions(
        split="temporal", interactions=generated.activities
    )
    assert champion_only["version"].tolist() == [1]
    tags = MlflowClient().get_model_version("discerner", "1").tags
    assert float(tags["eval_temporal_ndcg_at_10"]) == pytest.approx(
        champion_only.loc[0, "ndcg_at_10"]
    )


def test_cli_models_and_promote(home, generated, candidates):
    _train(candidates, generated.activities)
    _train({"popularity": Popularity()}, generated.activities)
    runner = CliRunner()
    listed = runner.invoke(main, ["models"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[1].split()[0] == "2"  # newest first, not the champion
    assert lines[2].split()[:2] == ["*", "1"]
    promoted = runner.invoke(main, ["promote", "2"])
    assert promoted.exit_code == 0, promoted.output
    assert "discerner@champion -> version 2" in promoted.output
    missing = runner.invoke(main, ["promote", "7"])
    assert missing.exit_code != 0
    assert "cannot promote discerner version 7" in missing.output


def test_cli_evaluate_an_unknown_version_says_so(home, generated):
    _train({"popularity": Popularity()}, generated.activities)
    result = CliRunner().invoke(main, ["evaluate", "--version", "9"])
    assert result.exit_code != 0
    assert "version=9" in result.output and "not found" in result.output


def test_every_trial_of_the_halving_search_is_a_child_run(home, generated):
    from discerner.models import UserKNN

    candidates = [
        Candidate("popularity", {}, Popularity),
        *grid_candidates("pure_svd", PureSVD, {"n_components": [4, 8, 16]}),
        Candidate("user_knn", {"k": 20}, UserKNN),
    ]
    outcome = _train(candidates, generated.activities, first_round_users=60, budget_seconds=None)
    client = MlflowClient()
    run = client.get_run(outcome.run_id)
    # 200 users from about 60: rounds of 67 and 200 users (200 / 3, rounded); a third of the 5
    # candidates (2) go on to the last round, with no family kept for its own sake.
    assert run.data.params["search"] == "halving"
    assert run.data.params["search_rounds"] == "2"
    assert run.data.tags["search_stopped"] == "no"
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{outcome.run_id}'"
    )
    rounds = sorted((c.data.tags["search_round"], c.data.tags["search_users"]) for c in children)
    assert rounds == [("0", "67")] * 5 + [("1", "200")] * 2
    last = {c.info.run_name for c in children if c.data.tags["search_round"] == "1"}
    for child in children:  # the per-candidate plot is drawn for the last round only
        plotted = [a.path for a in client.list_artifacts(child.info.run_id, "plots")]
        in_last = child.data.tags["search_round"] == "1"
        assert child.data.tags["search_rounds"] == "2"
        assert plotted == (["plots/metrics_against_k.png"] if in_last else [])
    assert outcome.winner in last
    assert set(outcome.results.loc[outcome.results["round"] == 1, "model"]) == last
    history = client.get_metric_history(outcome.run_id, "round_users")
    assert [(m.step, m.value) for m in history] == [(0, 67), (1, 200)]


def test_the_search_plan_scales_with_the_data():
    auto = training.TrainSettings()
    # Small data: the whole grid on every user, no budget.
    assert training.search_plan(auto, 100_000, 943) == training.pipeline.SearchPlan(
        True, None, None, None
    )
    # 20M activities of 140k users: budget 300 - (20 + 5 * 20) = 180 s; 143 activities a
    # user, so 1M activities are 7,000 users; a first round of 7,000 // 9 = 777, raised to the
    # floor of 2,000.
    plan = training.search_plan(auto, 20_000_000, 140_000)
    assert plan == training.pipeline.SearchPlan(True, 180.0, 7_000, 2_000)
    # 200M activities of 14M users: 1M activities are 70,000 users, over the ceiling of
    # 20,000; three rounds from 20,000 // 9 = 2,222; 300 - (20 + 5 * 200) < 60: the floor.
    plan = training.search_plan(auto, 200_000_000, 14_000_000)
    assert plan == training.pipeline.SearchPlan(True, 60.0, 20_000, 2_222)
    given = training.TrainSettings(budget_seconds=None, max_search_users=900)
    assert training.search_plan(given, 20_000_000, 140_000).budget_seconds is None
    # An engine that cannot sample users per round (Spark): the plain grid, as before.
    assert training.search_plan(auto, 20_000_000, None) == training.pipeline.SearchPlan(
        False, None, 20_000, None
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("90s", 90.0),
        ("1h", 3600.0),
        ("300", 300.0),
        ("2.5m", 150.0),
        ("none", None),
        ("0", None),
        ("auto", "auto"),
    ],
)
def test_budgets_are_read_as_written(text, seconds):
    assert training.parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["5x", "-3m", "m", "five minutes", ""])
def test_a_bad_budget_is_a_clear_usage_error(text):
    result = CliRunner().invoke(main, ["train", "--budget", text])
    assert result.exit_code == 2
    assert "is not a budget: write 90s, 5m, 1h" in result.output


def test_a_candidate_too_large_for_memory_is_left_out_and_said_so(home, generated):
    from functools import partial

    from discerner.models import EASE

    small_ease = Candidate("ease", {"l2": 100.0}, partial(EASE, max_products=50))
    outcome = _train([Candidate("popularity", {}, Popularity), small_ease], generated.activities)
    assert outcome.winner == "popularity" and outcome.results["model"].tolist() == ["popularity"]
    # The generated data has 60 products, over EASE's max_products=50.
    tag = mlflow.get_run(outcome.run_id).data.tags["left_out"]
    assert tag.startswith("ease(l2=100.0): 60 products exceed max_products=50")
    with pytest.raises(training.TrainingError, match="no candidate can be fitted here"):
        _train([small_ease], generated.activities)
