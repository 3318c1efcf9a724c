"""`mlflow run . -e train` end to end, in subprocesses, on a store of generated data."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest

from discerner import tracking
from discerner.tracking import registry

REPO = Path(__file__).resolve().parents[2]


def _mlflow_run(home: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "DISCERNER_HOME": str(home),
        "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),
        "MLFLOW_EXPERIMENT_NAME": tracking.EXPERIMENT,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [str(bin_dir / "mlflow"), "run", str(REPO), "--env-manager", "local", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_mlflow_run_train_registers_a_champion_and_a_rerun_keeps_it(store_home):
    tracking.setup()
    tracking.experiment_id()  # created with its artifacts inside the data folder
    cheap = ("-e", "train", "-P", "candidates=popularity")
    first = _mlflow_run(store_home, *cheap)
    assert "Registered version 1: promoted to champion" in first.stdout
    assert str(registry.champion().version) == "1"

    second = _mlflow_run(store_home, *cheap)
    assert "Registered version 2: champion unchanged" in second.stdout
    assert "does not beat the champion's" in second.stdout
    assert str(registry.champion().version) == "1"
    table = registry.versions_frame()
    assert table["champion_score"].iloc[0] == pytest.approx(table["validation_score"].iloc[1])
    artifacts = store_home / "mlartifacts" / tracking.EXPERIMENT
    assert any(artifacts.rglob("MLmodel")), "the model's artifacts stay in the data folder"
