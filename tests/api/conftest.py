"""Serving fixtures, as flaskr's: `app` (on a tmp_path store) -> `client` -> `auth` -> `api`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from discerner.security import hash_password
from serving import create_app

USERNAME = "alice"
PASSWORD = "correct horse battery staple"
SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def build_app(home, **settings):
    """An app on a fresh data folder, with a fixed secret and the given settings.

    Returns once the first look for a champion is done, so tests see a settled model.
    """
    config = {"TESTING": True, "DISCERNER_HOME": str(home), "DISCERNER_SECRET_KEY": SECRET}
    app = create_app({**config, **settings})
    _wait_until(app.extensions["discerner"].models.ready)
    return app


def _wait_until(condition, timeout=30.0):
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


@pytest.fixture
def wait_until():
    """`wait_until(condition, timeout=30)`: poll until true, else fail the test."""
    return _wait_until


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
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def discerner(*args, home, **kwargs):
    """Run `python -m discerner ARGS` with DISCERNER_HOME set."""
    env = {**os.environ, "DISCERNER_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    return subprocess.run([sys.executable, "-m", "discerner", *args], env=env, check=True, **kwargs)


class LiveServer:
    """`discerner serve` in a subprocess on a free port, with its own data folder."""

    def __init__(self, home, **env):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"server-{self.port}.log"
        self.env = {**os.environ, "DISCERNER_HOME": str(home), **env}

    def start(self, timeout=30.0):
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "discerner", "serve", "--port", str(self.port)]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()}")
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # the worker is still starting
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def add_account(self, username=USERNAME, password=PASSWORD):
        args = ("accounts", "create", username, "--password-stdin")
        discerner(*args, home=self.home, input=password.encode(), capture_output=True)

    def stop(self, timeout=30.0):
        """SIGTERM, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    """One server for a module's live tests, on a fresh data folder, with the account alice."""
    server = LiveServer(tmp_path_factory.mktemp("live") / "home").start()
    server.add_account()
    yield server
    assert server.stop() == 0


@pytest.fixture
def new_server(tmp_path):
    """A function that starts a `LiveServer` on a fresh data folder (stopped at teardown)."""
    servers = []

    def start(home=None, **env):
        home = home or tmp_path / f"home{len(servers)}"
        servers.append(LiveServer(home, **env).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
