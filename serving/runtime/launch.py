"""`discerner serve` as a child process on a free port: the one launcher of tests and benchmarks."""

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


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_discerner(
    *args: str, home: Path, timeout: float = 60, env: dict | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run `python -m discerner ARGS` with DISCERNER_HOME (and `env`) set; output captured."""
    env = {
        **os.environ,
        **(env or {}),
        "DISCERNER_HOME": str(home),
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    command = [sys.executable, "-m", "discerner", *args]
    return subprocess.run(command, env=env, capture_output=True, timeout=timeout, **kwargs)


class ServerProcess:
    """`discerner serve` on a data folder; its output is appended to `server-<port>.log` beside it.

    It can be stopped with SIGTERM or killed with SIGKILL, and started again on the same data
    folder and port.

    Args:
        home: The data folder.
        threads: Request threads of each worker (default: the server's own).
        workers: Worker processes (default: one); more need `DISCERNER_STORE` (PostgreSQL).
        **env: More environment variables (`DISCERNER_*` settings, `DISCERNER_STORE`).
    """

    def __init__(
        self, home: Path, threads: int | None = None, workers: int | None = None, **env: str
    ):
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.home.parent / f"server-{self.port}.log"
        self.threads = threads
        self.workers = workers
        self.env = {
            **os.environ,
            "DISCERNER_HOME": str(home),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            **env,
        }
        self.process: subprocess.Popen | None = None
        self.health_seconds: float | None = None  # from start to the first /health answer

    def start(self, timeout: float = 120.0) -> ServerProcess:
        """Start the server and wait until its API answers (the store is open)."""
        self.home.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "discerner", "serve", "--port", str(self.port)]
        if self.threads is not None:
            command += ["--threads", str(self.threads)]
        if self.workers is not None:
            command += ["--workers", str(self.workers)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=log, start_new_session=True
            )
        self._wait(timeout)
        return self

    def _wait(self, timeout: float) -> None:
        started = time.monotonic()
        self.health_seconds = None
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log.read_text()}")
            try:
                if self.health_seconds is None and requests.get(self.url + "/health", timeout=1).ok:
                    self.health_seconds = time.monotonic() - started
                # `/health` answers as soon as the process is up; until the store is open the
                # worker answers nothing else.
                if requests.get(self.url + "/openapi.json", timeout=1).ok:
                    return
            except requests.RequestException:  # the worker is still starting
                pass
            time.sleep(0.05)
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")

    def account(self, username: str, password: str) -> None:
        """Create the API account, or set its password if it exists (`discerner accounts`)."""
        for action in ("create", "set-password"):
            args = ("accounts", action, username, "--password-stdin")
            done = run_discerner(*args, home=self.home, env=self.env, input=password.encode())
            if done.returncode == 0:
                return
        raise RuntimeError(f"cannot set up account {username}: {done.stderr.decode()}")

    def login(self, username: str, password: str) -> requests.Session:
        """A session carrying a fresh token of the account."""
        session = requests.Session()
        response = session.post(
            self.url + "/token", data={"username": username, "password": password}
        )
        if response.status_code != 200:
            raise RuntimeError(f"login as {username} failed: {response.text}")
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
        """Resident bytes of the workers (without the master)."""
        return sum(self.worker_rss_each())

    def worker_rss_each(self) -> list[int]:
        """Resident bytes of each worker."""
        try:
            return [c.memory_info().rss for c in psutil.Process(self.process.pid).children()]
        except psutil.Error:
            return []

    def kill_workers(self) -> list[int]:
        """SIGKILL the worker processes only (the master starts new ones); their pids."""
        workers = psutil.Process(self.process.pid).children()
        for worker in workers:
            worker.kill()
        return [worker.pid for worker in workers]

    def kill(self) -> None:
        """SIGKILL the whole server (master and worker) and wait for it to be gone."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for a clean exit; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)
