"""Fixtures of the reliability tests: an in-process app, and a live server that can be killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from discerner.security import hash_password
from serving import create_app

USERNAME = "alice"
PASSWORD = "correct horse battery staple"
SECRET = "reliability-tests-secret-of-at-least-256-bits-0123456789"


def wait_until(condition, timeout: float = 30.0) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


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
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def discerner(*args: str, home: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m discerner ARGS` with DISCERNER_HOME set; output captured."""
    env = {**os.environ, "DISCERNER_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [sys.executable, "-m", "discerner", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=60, **kwargs)


@pytest.fixture
def cli():
    """`cli(*args, home=...)`: run `discerner ARGS` in a subprocess, output captured."""
    return discerner


class Server:
    """`discerner serve` in a subprocess on a free port; its output goes to `self.log`.

    Unlike a fixture server, this one can be killed with SIGKILL and started again on the same
    data folder and port.
    """

    def __init__(self, home: Path, **env: str):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"server-{self.port}.log"
        self.env = {**os.environ, "DISCERNER_HOME": str(home), **env}
        self.env.setdefault("DISCERNER_MODEL_POLL_SECONDS", "3600")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "discerner", "serve", "--port", str(self.port)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log.read_text()}")
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def add_account(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        done = discerner(
            "accounts",
            "create",
            username,
            "--password-stdin",
            home=self.home,
            input=password.encode(),
        )
        assert done.returncode == 0, done.stderr

    def login(self, username: str = USERNAME, password: str = PASSWORD) -> requests.Session:
        """A session carrying a fresh token."""
        session = requests.Session()
        response = session.post(
            self.url + "/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        session.headers["Authorization"] = "Token " + response.json()["token"]
        return session

    def kill(self) -> None:
        """SIGKILL the whole server (master and worker) and wait for it to be gone."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@pytest.fixture(scope="session")
def server_class():
    """The `Server` class, for module-scoped servers."""
    return Server


@pytest.fixture
def server(tmp_path):
    """A function starting a `Server` on a data folder (default a fresh one); stopped at the end."""
    started: list[Server] = []

    def start(home: Path | None = None, **env: str) -> Server:
        home = home or tmp_path / f"home{len(started)}"
        started.append(Server(home, **env).start())
        return started[-1]

    yield start
    for each in started:
        if each.process.poll() is None:
            each.stop()
