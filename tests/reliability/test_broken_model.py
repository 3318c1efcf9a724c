"""A champion whose artifact is missing or corrupt when the server starts: popularity, never 500."""

from __future__ import annotations

import shutil

import mlflow
import pytest

from discerner import config, datasets, tracking, training
from discerner.models import PureSVD
from discerner.store import Store
from discerner.tracking import registry


@pytest.fixture(scope="module")
def champion_home(tmp_path_factory):
    """A data folder with a store and a registered champion (PureSVD); returns (home, folder)."""
    home = config.ensure_home(tmp_path_factory.mktemp("broken") / "home")
    data = datasets.generate(n_users=30, n_products=15, n_activities=300, seed=5)
    with Store.open(config.store_dir(home)) as store:
        store.import_interactions(data.activities, progress=False)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", config.tracking_uri(home))
        try:
            tracking.setup(home)
            with mlflow.start_run(experiment_id=tracking.experiment_id(home=home)):
                model = PureSVD(n_components=3).fit(data.activities)
                info = training.log_model(model, data.activities["user_id"].unique())
            version = registry.register(info.model_uri, {"model_class": "PureSVD"})
            registry.promote(version.version)
            folder = registry.model_folder(version)
        finally:
            mlflow.set_tracking_uri(previous)
    return home, folder


def _missing(folder):
    shutil.rmtree(folder)


def _corrupt(folder):
    for path in folder.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage" * 16)


@pytest.fixture(params=[_missing, _corrupt], ids=["missing", "corrupt"])
def settings(request, champion_home, tmp_path):
    """A copy of the data folder, its champion's saved model broken for the test.

    MLflow keeps absolute artifact paths, so the copy's champion is the original's folder:
    that one is broken, and restored afterwards.
    """
    home, folder = champion_home
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    backup = tmp_path / "backup"
    shutil.copytree(folder, backup)
    request.param(folder)
    yield {"DISCERNER_HOME": str(copy)}
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(backup, folder)


def test_a_broken_champion_at_start_serves_popularity(api, store):
    ready = api.get("/ready")
    assert ready.status_code == 200
    assert ready.get_json()["status"] == "degraded", ready.get_json()
    assert "discerner/1" in ready.get_json()["model"]["reason"]
    user = store.interactions()["user_id"].iloc[0]
    recs = api.get(f"/users/{user}/recs?n=5")
    assert recs.status_code == 200
    assert recs.headers["X-Model-Version"] == "popularity"
    history = set(store.user_history(int(user))[0].tolist())
    ranked = [r["product_id"] for r in recs.get_json()]
    assert ranked and not history & set(ranked)
    assert api.get(f"/products/{ranked[0]}/similar").status_code == 200
