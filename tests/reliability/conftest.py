"""Fixtures of the reliability tests: an in-process app, and a live server that can be killed."""

from __future__ import annotations

import pytest
from live import PASSWORD, USERNAME, run_discerner, wait_until

from discerner.security import hash_password
from serving import create_app

SECRET = "reliability-tests-secret-of-at-least-256-bits-0123456789"


@pytest.fixture
def secret():
    """The signing secret of the `app` fixture."""
    return SECRET


@pytest.fixture
def account():
    """(username, password) of the account the `app` fixture creates."""
    return USERNAME, PASSWORD


@pytest.fixture
def settings():
    """Extra app settings; a test overrides this fixture to change them."""
    return {}


@pytest.fixture
def app(tmp_path, settings):
    """An app on a fresh data folder with the account alice; the model settles before use."""
    config = {"TESTING": True, "DISCERNER_HOME": str(tmp_path / "home")}
    app = create_app({**config, "DISCERNER_SECRET_KEY": SECRET, **settings})
    services = app.extensions["discerner"]
    wait_until(services.models.ready)
    services.store.create_account(USERNAME, hash_password(PASSWORD))
    yield app
    services.close()


@pytest.fixture
def store(app):
    return app.extensions["discerner"].store


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(client):
    """A valid token of alice."""
    response = client.post("/token", json={"username": USERNAME, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


@pytest.fixture
def api(client, token):
    """The test client with alice's token on every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Token {token}"
    return client


# --------------------------------------------------------------------- a live server process
@pytest.fixture
def cli():
    """`cli(*args, home=...)`: run `discerner ARGS` in a subprocess, output captured."""
    return run_discerner
