"""A data folder with a small store and two registered versions, for experiment tests."""

from __future__ import annotations

import shutil

import mlflow
import pytest

from discerner import config, datasets, tracking, training
from discerner.models import ItemKNN, Popularity
from discerner.store import Store
from discerner.tracking import registry


@pytest.fixture(scope="session")
def registered_home(tmp_path_factory):
    """A store of 60 users and 30 products, version 1 (popularity, champion) and version 2
    (item kNN) of the registered model."""
    home = config.ensure_home(tmp_path_factory.mktemp("experiments") / "home")
    data = datasets.generate(n_users=60, n_products=30, n_activities=900, seed=3)
    with Store.open(config.store_dir(home)) as store:
        for category in data.products.sort_values("id")["category"]:
            store.create_product(attributes={"category": category})
        store.import_interactions(data.activities, progress=False)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", config.tracking_uri(home))
        try:
            tracking.setup(home)
            for model in (Popularity(), ItemKNN(k=10)):
                with mlflow.start_run(experiment_id=tracking.experiment_id(home=home)):
                    info = training.log_model(
                        model.fit(data.activities), data.activities["user_id"].unique()
                    )
                tags = {"model_class": type(model).__name__}
                version = registry.register(info.model_uri, tags)
                if str(version.version) == "1":
                    registry.promote(1)
        finally:
            mlflow.set_tracking_uri(previous)
    return home


@pytest.fixture
def experiment_home(registered_home, tmp_path, monkeypatch):
    """A copy of the registered data folder as DISCERNER_HOME and MLflow's tracking store."""
    home = tmp_path / "home"
    shutil.copytree(registered_home, home)
    monkeypatch.setenv("DISCERNER_HOME", str(home))
    # Set (not deleted) so that the variable MLflow writes goes back to its state after the test.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", config.tracking_uri(home))
    previous = mlflow.get_tracking_uri()
    tracking.setup(home)  # the library's registry calls use this data folder's registry
    yield home
    mlflow.set_tracking_uri(previous)
