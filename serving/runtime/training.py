"""Training runs started from the admin page: `discerner train` as a child process of the server.

One run at a time per data folder. The child holds an exclusive `flock` on `training.lock` in
the data folder for as long as it lives (it inherits the descriptor; the server closes its own
copy at once), so a second start, from this or any other worker process, finds the lock taken;
the lock goes away with the child however it ends, even by SIGKILL. What the run is doing is
kept in `training.json` beside it (written atomically) and its output in `training.log`, so
every worker reports the same run. The server that started a run stops it when it shuts down.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil

from discerner.store.files import replace_atomically

logger = logging.getLogger(__name__)

LOCK_FILE = "training.lock"
STATE_FILE = "training.json"
LOG_FILE = "training.log"
LOG_LINES = 20  # the output's tail shown with the state
STOP_SECONDS = 10.0
# Progress bars would fill the log with carriage returns; the log keeps the lines that matter.
QUIET = {"TQDM_DISABLE": "1", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


class TrainingRunning(Exception):
    """A training run is already running on this data folder."""


class TrainingRunner:
    """Starts `discerner train` in the background and reports on it.

    Args:
        home: The data folder; the child trains on its store (or `env`'s DISCERNER_STORE).
        env: The child's environment (DISCERNER_HOME and the store settings of the server).
        arguments: Options given to every run (`--name`, `--alias`).
        on_finish: Called from a background thread when a run this process started ends
            (the server looks for a new champion at once).
    """

    def __init__(
        self,
        home: Path,
        env: dict[str, str],
        arguments: Sequence[str] = (),
        on_finish: Callable[[], None] | None = None,
    ):
        self.home = Path(home)
        self.env = env
        self.arguments = list(arguments)
        self.on_finish = on_finish
        self._process: subprocess.Popen | None = None
        self._waiter: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self, families: Sequence[str] | None, started_by: str) -> dict:
        """Start a run unless one is running.

        Args:
            families: Candidate families to fit (None: the library's whole grid).
            started_by: The account that asked, recorded in the state.

        Returns:
            The run's state (see `status`), `running`.

        Raises:
            TrainingRunning: A run holds the data folder's training lock.
        """
        command = [sys.executable, "-m", "discerner", "train", *self.arguments]
        if families:
            command += ["--candidates", ",".join(families)]
        with self._lock:
            lock = os.open(self.home / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise TrainingRunning("a training run is already running") from None
                process = self._spawn(command, lock)
            finally:
                os.close(lock)  # the child's copy keeps the lock while it lives
            self._process = process
            state = {
                "id": f"{int(time.time())}-{process.pid}",
                "state": "running",
                "pid": process.pid,
                "process_started": psutil.Process(process.pid).create_time(),
                "started_at": _now(),
                "started_by": started_by,
                "candidates": list(families or []),
            }
            self._write(state)
        self._waiter = threading.Thread(target=self._wait, args=(process, state), daemon=True)
        self._waiter.start()
        logger.info("training run %s started by %s", state["id"], started_by)
        return self.status()

    def _spawn(self, command: list[str], lock: int) -> subprocess.Popen:
        with open(self.home / LOG_FILE, "wb") as log:
            return subprocess.Popen(
                command,
                env={**self.env, **QUIET},
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(lock,),
                start_new_session=True,  # a Ctrl-C meant for the server does not reach it
            )

    def _wait(self, process: subprocess.Popen, state: dict) -> None:
        code = process.wait()
        with self._lock:
            if self._process is process:
                self._process = None
            ended = {"state": "succeeded" if code == 0 else "failed", "exit_code": code}
            self._write({**state, **ended, "finished_at": _now()})
        logger.info("training run %s ended with exit code %s", state["id"], code)
        if self.on_finish is not None:
            self.on_finish()

    def status(self) -> dict:
        """The newest run's state, from any process: `idle` when none was ever started.

        Returns:
            {"state": idle|running|succeeded|failed|interrupted, "id", "pid", "started_at",
            "started_by", "candidates", "finished_at", "exit_code", "output"}: a run whose
            process is gone without a recorded end (its server was killed) is `interrupted`.
        """
        with self._lock:  # the file and our own process, as of one moment
            try:
                state = json.loads((self.home / STATE_FILE).read_text())
            except FileNotFoundError:
                return {"state": "idle"}
            own = self._process  # ours runs until its end is written, even as a zombie
            mine = own is not None and own.pid == state["pid"]
        if state["state"] == "running" and not mine and not _alive(state):
            state["state"] = "interrupted"
        state.pop("process_started", None)
        state["output"] = _tail(self.home / LOG_FILE, LOG_LINES)
        return state

    def close(self) -> None:
        """Stop a run this process started (SIGTERM, then SIGKILL after a while); its end is
        recorded before this returns."""
        process, waiter = self._process, self._waiter
        if process is not None and process.poll() is None:
            logger.warning("stopping training run (pid %d): the server stops", process.pid)
            process.terminate()
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
        if waiter is not None:
            waiter.join(STOP_SECONDS)

    def _write(self, state: dict) -> None:
        text = json.dumps(state, indent=1)
        replace_atomically(self.home / STATE_FILE, lambda temp: temp.write_text(text))


def _alive(state: dict) -> bool:
    """Whether the run's process still runs (the same pid and start time: pids are reused)."""
    try:
        process = psutil.Process(state["pid"])
        same = process.create_time() == state["process_started"]
        return same and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 16_384))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
