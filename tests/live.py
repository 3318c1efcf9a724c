"""A live `discerner serve` process for tests, and the small helpers that go with it.

`tests/conftest.py` puts this folder on `sys.path` (pytest's rootdir conftest), so test modules
and conftests import it as `live`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

USERNAME = "alice"
PASSWORD = "correct horse battery staple"


def wait_until(condition, timeout: float = 30.0) -> None:
    """Poll `condition` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_discerner(*args: str, home: Path, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m discerner ARGS` with DISCERNER_HOME set; output captured."""
    env = {**os.environ, "DISCERNER_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [sys.executable, "-m", "discerner", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=60, **kwargs)


class LiveServer:
    """`discerner serve` in a subprocess on a free port; its output goes to `self.log`.

    It can be stopped with SIGTERM or killed with SIGKILL, and started again on the same data
    folder and port. The registry is not polled unless the test asks for it.
    """

    def __init__(self, home: Path, **env: str):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home.parent / f"server-{self.port}.log"
        self.env = {**os.environ, "DISCERNER_HOME": str(home), **env}
        self.env.setdefault("DISCERNER_MODEL_POLL_SECONDS", "3600")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> LiveServer:
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
                # Until the store is open, the worker answers nothing but /health.
                if requests.get(self.url + "/openapi.json", timeout=1).ok:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # the worker is still starting
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not start:\n{self.log.read_text()}")

    def add_account(self, username: str = USERNAME, password: str = PASSWORD) -> None:
        args = ("accounts", "create", username, "--password-stdin")
        done = run_discerner(*args, home=self.home, input=password.encode())
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
