"""Serving fixtures, as flaskr's: `app` (on a tmp_path store) -> `client` -> `auth` -> `api`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from live import PASSWORD, USERNAME, LiveServer, wait_until

from discerner.security import hash_password
from serving import create_app
from serving.runtime.model_holder import Served

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def build_app(home, **settings):
    """An app on a fresh data folder, with a fixed secret and the given settings.

    Returns once the first look for a champion is done, so tests see a settled model.
    """
    config = {"TESTING": True, "DISCERNER_HOME": str(home), "DISCERNER_SECRET_KEY": SECRET}
    app = create_app({**config, **settings})
    wait_until(app.extensions["discerner"].models.ready)
    return app


@pytest.fixture
def settings():
    """Extra app settings; a test overrides this fixture to change them."""
    return {}


@pytest.fixture
def app(tmp_path, settings):
    app = build_app(tmp_path / "home", **settings)
    yield app
    app.extensions["discerner"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["discerner"].store


class AuthActions:
    """Create accounts and log in through the API."""

    def __init__(self, client, store):
        self.client = client
        self.store = store

    def create_account(self, username=USERNAME, password=PASSWORD):
        self.store.create_account(username, hash_password(password))

    def login(self, username=USERNAME, password=PASSWORD, **kwargs):
        return self.client.post(
            "/token", data={"username": username, "password": password}, **kwargs
        )

    def token(self, username=USERNAME, password=PASSWORD):
        response = self.login(username, password)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["token"]

    def headers(self, scheme="Token"):
        return {"Authorization": f"{scheme} {self.token()}"}


@pytest.fixture
def auth(client, store):
    actions = AuthActions(client, store)
    actions.create_account()
    return actions


@pytest.fixture
def api(client, auth):
    """The test client with a valid token on every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = auth.headers()["Authorization"]
    return client


# --------------------------------------------------------------------- a live server process
@pytest.fixture(scope="module")
def live_settings():
    """Environment of the module's live server; a module overrides this fixture to change it."""
    return {}


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, live_settings):
    """One server for a module's live tests, on a fresh data folder, with the account alice."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "home", **live_settings).start()
    server.add_account()
    yield server
    assert server.stop() == 0


# ------------------------------------------------------------------- a champion without MLflow
class ModelSource:
    """A registry holding one version, `m/1`, of a fitted model (ChampionSource's face)."""

    def __init__(self, model):
        self.model = model

    def version(self):
        return SimpleNamespace(name="m", version=1)

    def load(self, version):
        return Served(self.model, "m/1")


@pytest.fixture
def serve(app, wait_until):
    """`serve(model, depth=0)`: the app's champion becomes `model` (version `m/1`), with its
    top `depth` products precomputed per user (0: every answer scored live)."""

    def serve(model, depth=0):
        models = app.extensions["discerner"].models
        models.source, models.precompute_depth = ModelSource(model), depth
        models.check()
        if depth:
            wait_until(lambda: models.status()["precomputed"]["state"] == "built")
        return models

    return serve
