"""The MLproject entry point modules, called in-process (`mlflow run` itself is tested apart)."""

import importlib.util
from pathlib import Path

import mlflow
import pytest

from discerner import config, datasets, tracking
from discerner.tracking import registry

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"


def _entry_point(name: str):
    """Import `pipelines/<name>.py` (the repository root is not on the test path)."""
    spec = importlib.util.spec_from_file_location(f"pipelines.{name}", PIPELINES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def csv_file(tmp_path, generated):
    path = tmp_path / "activities.csv"
    datasets.write_csv(generated.activities, path)
    return path


def test_import_train_evaluate_promote(home, csv_file, generated, capsys):
    from discerner.store import Store

    _entry_point("import_data").main(["--path", str(csv_file), "--format", "csv"])
    with Store.open(config.store_dir(home), readonly=True) as store:
        assert store.count_activities() == len(generated.activities)
    imported = tracking.runs_frame().set_index("tags.mlflow.runName").loc["import"]
    assert imported["metrics.activities"] == len(generated.activities)

    _entry_point("train").main(["--candidates", "popularity", "--seed", "42.0"])
    assert "Registered version 1: promoted to champion" in capsys.readouterr().out
    _entry_point("train").main(["--candidates", "popularity"])
    assert "Registered version 2: champion unchanged" in capsys.readouterr().out

    _entry_point("evaluate").main(["--version", "all", "--split", "temporal"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].split()[:2] == ["version", "model_class"]
    assert [line.split()[0] for line in printed[1:]] == ["1", "2"]

    _entry_point("promote").main(["--version", "2", "--reason", "a person decided"])
    assert "discerner@champion -> version 2" in capsys.readouterr().out
    version = registry.champion()
    assert str(version.version) == "2" and version.tags["reason"] == "a person decided"
    assert mlflow.get_tracking_uri() == f"sqlite:///{home / 'mlflow.db'}"
