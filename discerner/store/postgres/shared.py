"""What the servers on one database share besides the data: the signing secret, failed logins,
and each champion's precomputed top lists (tables of migration 0002 and `login_failures`).

Everything a server keeps across requests and that must hold for every process and host lives
here, so that `discerner serve --workers N` and servers on many hosts act as one service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import psycopg

from discerner.store.postgres.database import Database

_LOCKS = 1684628326  # advisory lock namespace of login keys and top-list builds
SECRET_NAME = "token_signing"
KEEP_BUILDS = 2  # top-list builds kept: the newest champion's and the one before


def signing_secret(db: Database, make: Callable[[], str]) -> str:
    """The token signing secret of every server on this database, created by the first caller.

    Args:
        db: The store's database.
        make: Makes a new secret, used only when the database holds none.
    """
    insert = (
        "INSERT INTO server_secrets (name, value) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
    )
    with db.writing(counted=False) as conn:
        conn.execute(insert, (SECRET_NAME, make()))
        row = conn.execute("SELECT value FROM server_secrets WHERE name = %s", (SECRET_NAME,))
        return row.fetchone()[0]


class LoginFailures:
    """Failed logins per key (`user:alice`, `addr:10.0.0.7`) in a sliding window, in the database.

    A login holds a place in every limit while its password is checked: `hold` inserts an
    unsettled row per key, `release` settles them as failures or deletes them (a success).
    Keys are locked (transaction advisory locks, in sorted order) while they are counted, so
    simultaneous logins on any number of hosts cannot all pass the limit. An unsettled row
    older than `settle_seconds` (its server died mid-check) counts as a failure.

    Args:
        db: The store's database.
        limits: Failures allowed inside the window, per key prefix (`{"user": 5, "addr": 20}`).
        window: The window's length in seconds.
        settle_seconds: The longest a login waits for attempts in progress to settle.
    """

    def __init__(
        self, db: Database, limits: dict[str, int], window: float, settle_seconds: float = 10.0
    ):
        self.db, self.limits, self.window = db, dict(limits), float(window)
        self.settle_seconds = settle_seconds

    def hold(self, keys: Iterable[str]) -> int | list[int]:
        """Hold a place in every key's limit: the held rows' ids, or the seconds to wait."""
        keys = sorted(set(keys))
        deadline = time.monotonic() + self.settle_seconds
        while True:
            with self.db.writing(counted=False) as conn:
                for key in keys:
                    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCKS, key))
                wait, busy = self._count(conn, keys)
                if wait is not None:
                    return wait
                if not busy:
                    insert = (
                        "INSERT INTO login_failures (key, settled) VALUES (%s, false) RETURNING id"
                    )
                    return [conn.execute(insert, (key,)).fetchone()[0] for key in keys]
            if time.monotonic() > deadline:
                return 1  # attempts stuck in progress: refuse rather than queue forever
            time.sleep(0.02)  # attempts in progress may use up the limit: wait for them

    def _count(self, conn: psycopg.Connection, keys: list[str]) -> tuple[int | None, bool]:
        conn.execute(
            "DELETE FROM login_failures WHERE key = ANY(%s)"
            " AND at <= clock_timestamp() - make_interval(secs => %s)",
            (keys, self.window),
        )
        rows = conn.execute(
            "SELECT key, count(*) FILTER (WHERE settled OR at < clock_timestamp() - make_interval("
            "secs => %s)), count(*), extract(epoch FROM min(at) FILTER (WHERE settled)"
            " + make_interval(secs => %s) - clock_timestamp())"
            " FROM login_failures WHERE key = ANY(%s) GROUP BY key",
            (self.settle_seconds, self.window, keys),
        ).fetchall()
        waits, busy = [], False
        for key, failures, holding, left in rows:
            limit = self.limits[key.split(":", 1)[0]]
            if failures >= limit:
                waits.append(float(left if left is not None else self.window))
            busy = busy or holding >= limit
        return (max(1, math.ceil(max(waits))) if waits else None), busy

    def release(self, held: list[int], failed: bool) -> None:
        """Settle held places: as failures (counted from now), or gone (a success)."""
        with self.db.writing(counted=False) as conn:
            if failed:
                conn.execute(
                    "UPDATE login_failures SET settled = true, at = clock_timestamp()"
                    " WHERE id = ANY(%s)",
                    (held,),
                )
            else:
                conn.execute("DELETE FROM login_failures WHERE id = ANY(%s)", (held,))

    def failed(self, keys: Iterable[str]) -> None:
        """Record one failed login against each key."""
        with self.db.writing(counted=False) as conn:
            for key in keys:
                conn.execute("INSERT INTO login_failures (key) VALUES (%s)", (key,))

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait before any of `keys` may try again, or None."""
        with self.db.writing(counted=False) as conn:
            return self._count(conn, sorted(set(keys)))[0]

    def clear(self, key: str) -> None:
        """Forget the failures of `key` (a username that just logged in)."""
        with self.db.writing(counted=False) as conn:
            conn.execute("DELETE FROM login_failures WHERE key = %s", (key,))


class TopLists:
    """Precomputed top lists in the database: one process computes a build, every process reads it.

    A build is named by its model version and depth (`discerner/3@50`). Its rows are
    (user_id, history_version, product_ids, scores); `top_list_builds` holds a row once every
    list of the build is in, written in the same transaction.
    """

    def __init__(self, db: Database):
        self.db = db

    def load(self, build: str) -> tuple[np.ndarray, np.ndarray, list, list] | None:
        """(user ids, history versions, product id lists, score lists) of a build, or None."""
        with self.db.snapshot() as conn:
            done = conn.execute("SELECT 1 FROM top_list_builds WHERE model_version = %s", (build,))
            if done.fetchone() is None:
                return None
            rows = conn.execute(
                "SELECT user_id, history_version, product_ids, scores FROM top_lists"
                " WHERE model_version = %s ORDER BY user_id",
                (build,),
            ).fetchall()
        users = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        versions = np.fromiter((r[1] for r in rows), np.int64, len(rows))
        return users, versions, [r[2] for r in rows], [r[3] for r in rows]

    @contextmanager
    def building(self, build: str) -> Iterator[bool]:
        """Whether this process may compute `build` now: True while it holds the build's lock.

        The lock is a session advisory lock on one connection, so a process that dies while
        computing frees it and another takes over.
        """
        with self.db.reading() as conn:
            key = (_LOCKS, build)
            got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", key).fetchone()[0]
            try:
                yield got
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    def save(self, build: str, depth: int, rows: Iterable[tuple], seconds: float) -> None:
        """Store a whole build (rows of user_id, history_version, product_ids, scores) at once;
        builds older than the newest `KEEP_BUILDS` are deleted."""
        with self.db.writing(counted=False) as conn:
            conn.execute("DELETE FROM top_lists WHERE model_version = %s", (build,))
            count = 0
            columns = "model_version, user_id, history_version, product_ids, scores"
            with conn.cursor().copy(f"COPY top_lists ({columns}) FROM STDIN") as copy:
                for user, version, ids, scores in rows:
                    copy.write_row((build, user, version, ids, scores))
                    count += 1
            conn.execute(
                "INSERT INTO top_list_builds (model_version, depth, users, seconds)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (model_version) DO NOTHING",
                (build, depth, count, seconds),
            )
            old = conn.execute(
                "SELECT model_version FROM top_list_builds ORDER BY built_at DESC OFFSET %s",
                (KEEP_BUILDS,),
            ).fetchall()
            if old:
                names = [row[0] for row in old]
                conn.execute("DELETE FROM top_lists WHERE model_version = ANY(%s)", (names,))
                conn.execute("DELETE FROM top_list_builds WHERE model_version = ANY(%s)", (names,))
