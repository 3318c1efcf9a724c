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

__all__ = ["PASSWORD", "USERNAME", "LiveServer", "free_port", "run_discerner", "wait_until"]


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
