"""Fixtures of the training tests: small generated data, a store holding it, trained homes."""

import shutil

import pytest

from discerner import config, datasets


@pytest.fixture(scope="session")
def tracking_db(tmp_path_factory):
    """An empty MLflow database, created once: creating one (migrations) costs seconds."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("mlflow-template")
    path = folder / "mlflow.db"
    SqlAlchemyStore(f"sqlite:///{path}", str(folder / "artifacts")).engine.dispose()
    return path


@pytest.fixture
def home(home, tracking_db):
    """The suite's fresh DISCERNER_HOME, with an empty MLflow database already in it."""
    config.ensure_home(home)
    shutil.copy(tracking_db, home / "mlflow.db")
    return home


@pytest.fixture
def candidates():
    """Three cheap candidates; on the generated data a PureSVD beats popularity clearly."""
    from discerner.models import Popularity, PureSVD

    return {
        "popularity": Popularity(),
        "svd8": PureSVD(n_components=8),
        "svd16": PureSVD(n_components=16),
    }


@pytest.fixture(scope="session")
def generated():
    """200 users, 60 products, 4,000 activities with a planted category preference."""
    return datasets.generate(n_users=200, n_products=60, n_activities=4000, seed=7)


@pytest.fixture
def store_home(home, generated):
    """A DISCERNER_HOME whose store holds the generated activities."""
    from discerner.store import Store

    with Store.open(config.store_dir(config.ensure_home(home))) as store:
        store.import_interactions(generated.activities, progress=False)
    return home


@pytest.fixture(scope="module")
def trained_twice(tmp_path_factory, generated, tracking_db):
    """A home trained twice on the generated data (module-wide; tests must not change it).

    Version 1 is the cheap candidates' winner (champion); version 2 is popularity alone,
    which the guard keeps out. Yields (home, first outcome, second outcome).
    """
    from discerner import training
    from discerner.models import Popularity, PureSVD

    home = tmp_path_factory.mktemp("trained") / "home"
    config.ensure_home(home)
    shutil.copy(tracking_db, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DISCERNER_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        small = {"popularity": Popularity(), "svd8": PureSVD(n_components=8)}
        first = training.train(training.TrainSettings(candidates=small), generated.activities)
        alone = training.TrainSettings(candidates={"popularity": Popularity()})
        second = training.train(alone, generated.activities)
    return home, first, second


@pytest.fixture
def trained(trained_twice, monkeypatch):
    """`trained_twice`, with DISCERNER_HOME and MLflow pointed at its home for one test."""
    from discerner import tracking

    home, first, second = trained_twice
    monkeypatch.setenv("DISCERNER_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    tracking.setup(home)
    return first, second
