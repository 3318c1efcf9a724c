"""The champion guard, registering, promoting, listing and loading versions."""

import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from discerner import tracking, training
from discerner.models import Popularity
from discerner.tracking import registry


@pytest.mark.parametrize(
    ("candidate", "champion", "promote"),
    [
        (0.30, None, True),  # nothing to beat
        (0.30, math.nan, True),  # a champion that could not be scored
        (0.31, 0.30, True),
        (0.30, 0.30, False),  # a tie keeps the champion: retraining must not churn it
        (0.29, 0.30, False),
    ],
)
def test_decide_promotes_only_a_strictly_better_score(candidate, champion, promote):
    decision = registry.decide(candidate, champion, "ndcg_at_10")
    assert decision.promote is promote
    assert f"ndcg_at_10 {candidate:.4f}" in decision.reason or "no champion" in decision.reason


def test_decide_says_why_it_keeps_the_champion():
    decision = registry.decide(0.25, 0.4)
    assert decision.reason == "ndcg_at_10 0.2500 does not beat the champion's 0.4000"


def test_versions_frame_lists_scores_and_the_champion(trained):
    first, _ = trained
    table = registry.versions_frame()
    assert table["version"].tolist() == [2, 1]
    assert table["champion"].tolist() == [False, True]
    assert table["model_class"].tolist() == ["Popularity", "PureSVD"]
    assert table.loc[1, "validation_score"] == pytest.approx(first.validation_score)
    assert table.loc[0, "champion_score"] == pytest.approx(first.validation_score)
    assert table.loc[0, "decision"] == "kept champion"
    assert math.isnan(table.loc[1, "champion_score"])


def test_load_champion_gives_the_trained_model_and_its_version(trained):
    first, _ = trained
    model, info = registry.load_champion()
    assert (info["name"], info["version"], info["model_class"]) == ("discerner", "1", "PureSVD")
    assert info["run_id"] == first.run_id
    assert info["validation_score"] == pytest.approx(first.validation_score)
    users = np.array([1, 2, 3, 10_000])  # the last is unknown: popularity fallback
    pd.testing.assert_frame_equal(model.recommend(users, n=5), first.model.recommend(users, n=5))


def test_load_champion_reads_an_explicit_tracking_uri(trained, monkeypatch, tmp_path):
    uri = mlflow.get_tracking_uri()
    monkeypatch.setenv("DISCERNER_HOME", str(tmp_path / "elsewhere"))
    _, info = registry.load_champion(tracking_uri=uri)
    assert info["version"] == "1"


@pytest.fixture
def registered(home, generated):
    """Two registered versions of Popularity, no champion yet (no training, so it is quick)."""
    tracking.setup()
    model = Popularity().fit(generated.activities)
    with mlflow.start_run(experiment_id=tracking.experiment_id()) as run:
        info = training.log_model(model, np.array([1, 2]))
    tags = {"run_id": run.info.run_id, "model_class": "Popularity", "model_params": {}}
    return [registry.register(info.model_uri, tags).version for _ in range(2)]


def test_the_model_is_logged_as_code_not_as_a_pickled_object(registered):
    # A pickled `python_model` is what makes MLflow warn about CloudPickle at every training.
    folder = mlflow.artifacts.download_artifacts("models:/discerner/1")
    files = {path.name for path in Path(folder).rglob("*")}
    assert "python_model.pkl" not in files
    assert "pyfunc_model.py" in files


def test_register_numbers_versions_and_tags_them(registered):
    assert [str(v) for v in registered] == ["1", "2"]
    version = registry.client().get_model_version("discerner", "2")
    assert version.tags["model_class"] == "Popularity"
    assert version.tags["model_params"] == "{}"
    assert registry.champion() is None


def test_promote_by_hand_moves_the_alias_and_records_why(registered):
    registry.promote(1)
    registry.promote(2, reason="testing by hand")
    assert str(registry.champion().version) == "2"
    row = registry.versions_frame().set_index("version").loc[2]
    assert row["champion"]
    assert (row["decision"], row["reason"]) == ("promoted", "testing by hand")
    model, info = registry.load_champion()
    assert info["version"] == "2"
    assert type(model) is Popularity


def test_promote_an_unknown_version_fails_and_keeps_the_champion(registered):
    registry.promote(1)
    with pytest.raises(MlflowException):
        registry.promote(9)
    assert str(registry.champion().version) == "1"


def test_load_champion_with_nothing_registered_is_a_lookup_error(home):
    with pytest.raises(LookupError, match="no registered model 'discerner'"):
        registry.load_champion()


def test_load_champion_never_creates_a_tracking_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCERNER_HOME", str(tmp_path / "fresh"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(LookupError, match="no tracking database"):
        registry.load_champion()
    assert not (tmp_path / "fresh").exists()


def test_versions_frame_is_empty_before_any_training(home):
    tracking.setup()
    assert registry.versions_frame().empty
