"""A live `discerner serve` process for tests (`serving.runtime.launch`), with the tests' defaults.

`tests/conftest.py` puts this folder on `sys.path` (pytest's rootdir conftest), so test modules
and conftests import it as `live`.
"""

from __future__ import annotations

import time
from pathlib import Path

import requests

from serving.runtime.launch import ServerProcess, free_port, run_discerner

USERNAME = "alice"
PASSWORD = "correct horse battery staple"

__all__ = [
    "PASSWORD",
    "USERNAME",
    "LiveServer",
    "free_port",
    "run_discerner",
    "trained_twice",
    "wait_until",
]


def wait_until(condition, timeout: float = 30.0) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


class LiveServer(ServerProcess):
    """A server process that does not poll the registry unless the test asks for it."""

    def __init__(self, home: Path, workers: int | None = None, **env: str):
        super().__init__(home, workers=workers, **{"DISCERNER_MODEL_POLL_SECONDS": "3600", **env})

    def start(self, timeout: float = 30.0) -> LiveServer:
        super().start(timeout)
        return self

    def add_account(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        self.account(username, password)

    def login(self, username: str = USERNAME, password: str = PASSWORD) -> requests.Session:
        """A session carrying a fresh token."""
        return super().login(username, password)


def trained_twice(home: Path):
    """Fill a new data folder's store with generated data and train popularity on it twice.

    Version 1 becomes the champion (nothing to beat); version 2 scores the same and the
    guard keeps it out. MLflow's tracking URI in this process is left as it was.

    Returns:
        The generated data (60 users, 30 products, 900 activities from 2020 to 2023).
    """
    import mlflow
    import pytest

    from discerner import config, datasets, training
    from discerner.models import Popularity
    from discerner.store import Store

    data = datasets.generate(n_users=60, n_products=30, n_activities=900, seed=3)
    with Store.open(config.store_dir(config.ensure_home(home))) as store:
        for category in data.products.sort_values("id")["category"]:
            store.create_product(attributes={"category": category})
        store.import_interactions(data.activities, progress=False)
    previous = mlflow.get_tracking_uri()
    # MLflow keeps its URI in the environment too: the context puts the variable back after.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", config.tracking_uri(home))
        try:
            for _ in range(2):
                candidates = {"popularity": Popularity()}
                training.train(training.TrainSettings(home=home, candidates=candidates))
        finally:
            mlflow.set_tracking_uri(previous)
    return data
