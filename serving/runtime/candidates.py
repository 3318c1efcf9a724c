"""Each user's top products by the champion, computed ahead and checked against live history.

Scoring every product and selecting the best is most of a recommendation's cost. After a
champion loads, its top `depth` products for every user it was trained on are computed in
batches in the background (Gorse serves precomputed recommendations the same way), each list
kept under the store's `history_version` of the user when it was computed. A request whose
user still has that version only filters the list (exclusions, deleted products) in plain
Python, with no lock and no numpy computation that would hand the GIL back and forth between
request threads. Any change to the history (a new activity, a cascade delete) changes the
version: the request scores live, and its fresh list replaces the old one. A list is never used
for a history it was not computed from.

On a store that keeps top lists for every server (PostgreSQL: `top_lists`), a champion's block
is computed once, by the first process to take the build's lock, and every other process and
host reads it from there instead of computing it again; history versions come from the same
database, so a list read from there is checked against the same numbers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

BATCH = 1024  # users read from the store and scored at once
SHARED_POLL_SECONDS = 1.0  # how often a process waiting for another's build looks again
FRESH_LIMIT = 50_000  # lists computed on demand kept at most (about 3 kB each)

TopList = tuple[list[int], list[float]]  # product ids and scores, best first


class Candidates:
    """Top-`depth` lists of one model: a block computed at once, and lists computed on demand.

    Args:
        model: The model the lists come from (requests check they are served by the same one).
        depth: Products kept per user.
        name: The model's registered version (`discerner/3`, with the feedback configuration's
            version): names the lists a store shares.
        history: Reads a user's history as the model scores it, (product ids, scores)
            (default: the store's `user_history`, every activity as it was posted).
        feedback: The version of the feedback configuration `history` applies.
    """

    def __init__(
        self,
        model: Any,
        depth: int,
        name: str | None = None,
        history: Callable[[int], tuple[np.ndarray, np.ndarray]] | None = None,
        feedback: str = "",
    ):
        self.model = model
        self.depth = depth
        self.history = history
        self.feedback = feedback
        self.build = None if name is None else f"{name}@{depth}"
        # ({user: row}, versions and list lengths by row, product ids, scores): one tuple,
        # replaced whole, so a reader never sees parts of two builds.
        self.block: tuple[dict[int, int], list[int], list[int], np.ndarray, np.ndarray] = (
            {},
            [],
            [],
            np.empty((0, depth), np.int64),
            np.empty((0, depth), np.float32),
        )
        self.fresh: dict[int, tuple[int, TopList]] = {}
        self.state: dict[str, Any] = {"state": "building", "depth": depth}

    def get(self, user_id: int, version: int) -> TopList | None:
        """The user's list if it was computed from the history at `version`, else None."""
        fresh = self.fresh.get(user_id)
        if fresh is not None and fresh[0] == version:
            return fresh[1]
        rows, versions, lengths, ids, scores = self.block
        row = rows.get(user_id)
        if row is None or versions[row] != version:
            return None
        return ids[row, : lengths[row]].tolist(), scores[row, : lengths[row]].tolist()

    def put(self, user_id: int, version: int, top: TopList) -> None:
        """Keep a list computed live from the history at `version` (dict updates are atomic)."""
        if len(self.fresh) >= FRESH_LIMIT:
            self.fresh.clear()  # memory stays bounded; the cleared lists are recomputed on use
        self.fresh[user_id] = (version, top)

    def fill(self, store: Any) -> None:
        """The lists of every user the model was trained on: shared ones when the store keeps
        them (computed here only by the process holding the build's lock), else computed."""
        shared = store.top_lists() if self.build and hasattr(store, "top_lists") else None
        if shared is None:
            self.compute(store)
            return
        started = time.perf_counter()
        while True:
            if self._adopt(shared.load(self.build), started):
                return
            with shared.building(self.build) as mine:
                if mine:
                    if not self._adopt(shared.load(self.build), started):  # built meanwhile?
                        self.compute(store)
                        shared.save(self.build, self.depth, self._rows(), self.state["seconds"])
                        self.state["shared"] = "computed here"
                    return
            time.sleep(SHARED_POLL_SECONDS)  # another process is computing this build

    def _adopt(self, loaded: tuple | None, started: float) -> bool:
        """Take a block read from the store; False when there is none yet."""
        if loaded is None:
            return False
        users, versions, id_lists, score_lists = loaded
        lengths = [len(ids) for ids in id_lists]
        ids = np.zeros((len(users), self.depth), np.int64)
        scores = np.zeros((len(users), self.depth), np.float32)
        for row, (top, values) in enumerate(zip(id_lists, score_lists, strict=True)):
            ids[row, : len(top)] = top[: self.depth]
            scores[row, : len(top)] = values[: self.depth]
        rows = {int(user): row for row, user in enumerate(users)}
        self.block = (rows, versions.tolist(), lengths, ids, scores)
        seconds = round(time.perf_counter() - started, 2)
        self.state = {"state": "built", "depth": self.depth, "users": len(users)}
        self.state |= {"seconds": seconds, "shared": "read from the store"}
        return True

    def _rows(self):
        rows, versions, lengths, ids, scores = self.block
        for user, row in rows.items():
            length = lengths[row]
            yield user, versions[row], ids[row, :length].tolist(), scores[row, :length].tolist()

    def compute(self, store: Any) -> None:
        """Compute the lists of every user the model was trained on, from the live store."""
        started = time.perf_counter()
        users = self.model.known_users().tolist()
        versions, lengths = [0] * len(users), [0] * len(users)
        ids = np.zeros((len(users), self.depth), np.int64)
        scores = np.zeros((len(users), self.depth), np.float32)
        for start in range(0, len(users), BATCH):
            histories = []
            for row, user in enumerate(users[start : start + BATCH], start=start):
                versions[row] = store.history_version(user)  # before the history
                histories.append((self.history or store.user_history)(user))
            answers = self.model.recommend_histories(histories, n=self.depth)
            for row, (top, values) in enumerate(answers, start=start):
                if not self.model.knows_any(histories[row - start][0]):
                    continue  # an empty list: live popularity answers, as for anyone new
                lengths[row] = len(top)
                ids[row, : len(top)] = top
                scores[row, : len(top)] = values
        rows = {user: row for row, user in enumerate(users)}
        self.block = (rows, versions, lengths, ids, scores)
        seconds = round(time.perf_counter() - started, 2)
        self.state = {
            "state": "built",
            "depth": self.depth,
            "users": len(users),
            "seconds": seconds,
        }

    def fill_in_background(self, store: Any) -> threading.Thread:
        """`fill` in a daemon thread; after a failure (logged) every list is computed on demand."""

        def fill() -> None:
            try:
                self.fill(store)
            except Exception:
                logger.exception("precomputing recommendations failed; requests score live")
                # /ready shows this state publicly: the error's text (paths, SQL) is logged only.
                reason = "precomputing failed; the server log has the details"
                self.state = {"state": "failed", "depth": self.depth, "reason": reason}
                return
            logger.info(
                "precomputed the top %d of %d users in %.1f s (%s)",
                self.depth,
                self.state["users"],
                self.state["seconds"],
                self.state.get("shared", "computed here"),
            )

        thread = threading.Thread(target=fill, name="precompute", daemon=True)
        thread.start()
        return thread
