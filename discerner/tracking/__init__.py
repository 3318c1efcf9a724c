"""The MLflow side: where runs are logged, the model registry, and the pyfunc flavour.

- `runs`: the tracking store of the data folder (SQLite by default), experiments and run tables;
  its functions are this package's own (`tracking.setup`, `tracking.experiment_id`, ...).
- `registry`: registering versions, the champion guard (`registry.decide`), aliases, and
  loading a version's model for serving (`registry.load_champion`, `registry.champion_at`).
- `pyfunc`: the `mlflow.pyfunc` wrapper every registered version is logged with.
"""

from discerner.tracking.runs import (
    EXPERIMENT,
    candidates_frame,
    experiment_id,
    latest_run_id,
    local_path,
    log_new_params,
    runs_frame,
    setup,
)

__all__ = [
    "EXPERIMENT",
    "candidates_frame",
    "experiment_id",
    "latest_run_id",
    "local_path",
    "log_new_params",
    "runs_frame",
    "setup",
]
