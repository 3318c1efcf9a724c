"""How a write becomes durable: the writer's lock, commits through the group-committing log, and
the fall-back to the last durable record when the log fails; also opening and closing.

A write runs in two steps. Under `Engine.lock` it is checked, given the next sequence number,
applied to the tables in memory and queued on the log (`commit`); outside the lock it waits
until the log has written and fsynced it (`wait`), together with every other write queued
meanwhile (group commit, `log.LogWriter`). Only then does the caller get an answer. If the
write or fsync fails, the tables are reloaded up to the last durable record, so no refused
write stays visible, and every later write is refused until a restart.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from discerner.errors import StoreCorruptError, StoreError, StoreLockedError, StoreReadOnlyError
from discerner.store import recovery
from discerner.store import snapshot as snap
from discerner.store.files import fsync_dir
from discerner.store.log import LogWriter, log_name
from discerner.store.state import State

logger = logging.getLogger(__name__)

_OPEN_ATTEMPTS = 20
T = TypeVar("T")


class Engine:
    """One store folder opened for writing (under a `flock`) or read-only, and its state.

    Thread-safe: `lock` guards the state; writes are applied under it and made durable by the
    log outside it. `compact_lock` lets one compaction (or fall-back) run at a time.
    """

    def __init__(self, path: Path, readonly: bool):
        self.path = Path(path)
        self.readonly = readonly
        self.lock = threading.RLock()
        self.compact_lock = threading.Lock()
        # History versions: a tick, process-local and never reused, per change of histories.
        self._ticks = itertools.count(1)
        self.state = self.new_state()
        self.log: LogWriter | None = None
        self.old_logs: list[Path] = []  # retired log files a compaction has not removed yet
        self.closed = False
        self._lock_fd: int | None = None
        self._fell_back = False

    def new_state(self) -> State:
        """An empty state of this folder, sharing the history-version counter."""
        return State(self.path, self._ticks)

    # ----------------------------------------------------------------- opening and closing

    def open_writer(self) -> None:
        """Create the folder if needed, take the lock, recover, and start a log to append to.

        Raises:
            StoreLockedError: Another process holds the lock.
            StoreCorruptError: See `recovery.load`; nothing was changed.
        """
        if not self.path.exists():
            self.path.mkdir(parents=True, mode=0o700)
            fsync_dir(self.path.parent)  # the new folder itself survives a crash
        self._take_lock()
        try:
            for name in ("snapshots", "log", "segments"):
                (self.path / name).mkdir(exist_ok=True)
            fsync_dir(self.path)
            logs = recovery.load(self.state, recover=True)
            recovery.tidy_leftovers(self.state)
            current = logs[-1] if logs else self.path / "log" / log_name(self.state.seq + 1)
            self.old_logs = logs[:-1]
            self.log = LogWriter(current, self.state.seq)
            fsync_dir(current.parent)
        except BaseException:
            self.release_lock()
            raise

    def open_readonly(self) -> None:
        """Load the store; when that fails because a compaction replaced files, load again.

        A writer removes a log, segment or snapshot only after publishing a manifest that no
        longer needs it, so a failure while the manifest stayed the same is the store's own;
        and a load that succeeded saw every write acknowledged before it started: the log
        files' names prove that no records are missing between the snapshot and the end.
        """
        for _ in range(_OPEN_ATTEMPTS):
            self.state = self.new_state()
            try:
                recovery.load(self.state, recover=False)
                return
            except StoreCorruptError:
                if not self._manifest_changed():
                    raise
                logger.debug("store %s changed while opening; reading it again", self.path)
                time.sleep(0.05)
        raise StoreError(f"could not open the store {self.path}: it kept changing while read")

    def _manifest_changed(self) -> bool:
        """Whether the manifest on disk differs from the one the last load read."""
        try:
            return snap.read_manifest(self.path) != self.state.manifest
        except (OSError, ValueError):  # unreadable now: the error to report is the first one
            return False

    def _take_lock(self) -> None:
        fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreLockedError(
                f"the store {self.path} is open for writing by another process (pid {holder});"
                " stop it, or open the store read-only"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def release_lock(self) -> None:
        """Release the writer's `flock` (a no-op when not held)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close_log(self) -> None:
        """Refuse further writes, flush and close the log, and release the lock."""
        try:
            with self.lock:
                self.closed = True
                self.log.close()
        finally:
            self.release_lock()

    # ----------------------------------------------------------------- writing

    def check_writable(self) -> None:
        """Raise unless this store can take writes now.

        Raises:
            StoreError: The store is closed.
            StoreReadOnlyError: It was opened read-only.
        """
        if self.closed:
            raise StoreError(f"the store {self.path} is closed")
        if self.readonly:
            raise StoreReadOnlyError(f"the store {self.path} is open read-only")

    def write(self, build: Callable[[State], tuple[dict, T]]) -> T:
        """Run `build(state)` under the lock to get (op, result), commit op, wait until durable.

        `build` checks the write against the current state and raises to refuse it.
        """
        with self.lock:
            self.check_writable()
            op, result = build(self.state)
            log, seq = self.commit(op)
        self.wait(log, seq)
        return result

    def commit(self, op: dict, segment: dict | None = None) -> tuple[LogWriter, int]:
        """Apply and log one operation; call holding the lock, then `wait` outside it."""
        self.log.check()  # a failed log takes no more writes: apply nothing either
        seq = self.state.seq + 1
        op["s"] = seq
        payload = json.dumps(op, separators=(",", ":")).encode()
        self.state.apply(op, segment)
        self.state.seq = seq
        self.log.append(seq, payload)
        return self.log, seq

    def wait(self, log: LogWriter, seq: int) -> None:
        """Wait until `seq` is durable; if the log failed, fall back to the durable state.

        Raises:
            StoreError: The log could not write or fsync the record (the write is refused).
        """
        try:
            log.wait(seq)
        except StoreError:
            self._fall_back_to_durable(log)
            raise

    def _fall_back_to_durable(self, log: LogWriter) -> None:
        """Reload the state from disk up to the last durable record, once.

        Writes are applied in memory before they are durable; when the log fails, the ones it
        could not make durable were refused to their callers and must not stay visible. The
        log stays failed, so every later write is refused too.
        """
        with self.compact_lock, self.lock:
            if self._fell_back:
                return
            self._fell_back = True
            durable = log.durable_seq
            logger.error("the log failed: reloading the store up to version %d", durable)
            fresh = self.new_state()
            try:
                recovery.load(fresh, recover=False, upto=durable)
            except Exception:
                logger.exception("could not reload %s; reads may show refused writes", self.path)
                return
            fresh.all_histories_tick = next(self._ticks)  # refused writes left the histories
            self.state = fresh
