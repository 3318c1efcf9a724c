"""`discerner serve` in a subprocess on a free port: the one server launcher of the benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

PASSWORD = "benchmark password"


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """`discerner serve` on `home`, its output in `server.log` beside the data folder.

    Args:
        home: The data folder.
        threads: Request threads of the worker.
        **env: More environment variables (`DISCERNER_*` settings).
    """

    def __init__(self, home: Path, threads: int = 8, **env: str):
        self.home = home
        self.url = f"http://127.0.0.1:{free_port()}"
        self.env = {
            **os.environ,
            "DISCERNER_HOME": str(home),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            **env,
        }
        command = [sys.executable, "-m", "discerner", "serve", "--port", self.url.split(":")[-1]]
        self.log = home.parent / "server.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [*command, "--threads", str(threads)], env=self.env, stdout=log, stderr=log
            )

    def wait(self, timeout: float = 120) -> float:
        """Wait until the API answers (the store is open); returns the seconds `/health` took.

        `/health` answers as soon as the process is up, before the store is open.
        """
        started = time.monotonic()
        health = None
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            try:
                if health is None and requests.get(self.url + "/health", timeout=1).ok:
                    health = time.monotonic() - started
                # Until the store is open, the worker answers nothing but /health.
                if health is not None and requests.get(self.url + "/openapi.json", timeout=1).ok:
                    return health
            except requests.RequestException:  # the worker is still starting
                pass
            time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def account(self, username: str, password: str = PASSWORD) -> None:
        """Create the API account, or set its password if it exists (`discerner accounts`)."""
        for action in ("create", "set-password"):
            command = [sys.executable, "-m", "discerner", "accounts", action, username]
            done = subprocess.run(
                [*command, "--password-stdin"],
                input=password.encode(),
                env=self.env,
                capture_output=True,
            )
            if done.returncode == 0:
                return
        raise RuntimeError(f"cannot set up account {username}: {done.stderr.decode()}")

    def login(self, username: str, password: str = PASSWORD) -> requests.Session:
        """A session carrying a fresh token of the account."""
        session = requests.Session()
        response = session.post(self.url + "/token", {"username": username, "password": password})
        response.raise_for_status()
        session.headers["Authorization"] = "Token " + response.json()["token"]
        return session

    def rss(self) -> int:
        """Resident bytes of the master and its worker."""
        try:
            master = psutil.Process(self.process.pid)
            return sum(p.memory_info().rss for p in [master, *master.children(recursive=True)])
        except psutil.Error:
            return 0

    def worker_rss(self) -> int:
        """Resident bytes of the worker alone."""
        try:
            return sum(c.memory_info().rss for c in psutil.Process(self.process.pid).children())
        except psutil.Error:
            return 0

    def stop(self) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)
