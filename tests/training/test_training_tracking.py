"""MLflow setup: where the database, experiments and artifacts go."""

import shutil
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from discerner import tracking


@pytest.fixture
def bare_home(tmp_path, monkeypatch):
    """A DISCERNER_HOME with no MLflow database yet."""
    folder = tmp_path / "bare"
    monkeypatch.setenv("DISCERNER_HOME", str(folder))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    return folder


@pytest.fixture
def ready_home(bare_home, tracking_db):
    """`bare_home` with an empty MLflow database copied in (creating one costs seconds)."""
    bare_home.mkdir(parents=True)
    shutil.copy(tracking_db, bare_home / "mlflow.db")
    return bare_home


def test_setup_creates_the_database_with_artifacts_in_the_data_folder(bare_home):
    uri = tracking.setup()
    assert uri == f"sqlite:///{bare_home / 'mlflow.db'}"
    assert (bare_home / "mlflow.db").exists()
    default = MlflowClient().get_experiment("0")
    assert default.artifact_location == str(bare_home / "mlartifacts" / "0")


def test_experiment_is_created_once_with_an_explicit_artifact_location(ready_home):
    tracking.setup()
    first = tracking.experiment_id()
    assert tracking.experiment_id() == first
    experiment = MlflowClient().get_experiment(first)
    assert experiment.name == "discerner"
    assert experiment.artifact_location == str(ready_home / "mlartifacts" / "discerner")


def test_the_environment_wins(bare_home, tracking_db, monkeypatch):
    elsewhere = f"sqlite:///{tracking_db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", elsewhere)
    assert tracking.setup() == elsewhere
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "7")
    assert tracking.experiment_id() == "7"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///data/art", Path("/data/art")),
        ("/data/art", Path("/data/art")),
        ("s3://bucket/art", None),
        ("models:/m-123", None),
    ],
)
def test_local_path(uri, expected):
    assert tracking.local_path(uri) == expected


def test_log_new_params_keeps_what_mlflow_run_logged(ready_home):
    tracking.setup()
    with mlflow.start_run(experiment_id=tracking.experiment_id()) as run:
        mlflow.log_params({"seed": "42"})
        tracking.log_new_params({"seed": 42.0, "metric": "ndcg_at_10"})
    params = MlflowClient().get_run(run.info.run_id).data.params
    assert params == {"seed": "42", "metric": "ndcg_at_10"}


def test_candidates_frame_is_empty_without_training(ready_home):
    tracking.setup()
    assert tracking.latest_run_id() is None
    assert tracking.candidates_frame().empty
