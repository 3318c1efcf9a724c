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
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

BATCH = 1024  # users read from the store and scored at once
FRESH_LIMIT = 50_000  # lists computed on demand kept at most (about 3 kB each)

TopList = tuple[list[int], list[float]]  # product ids and scores, best first


class Candidates:
    """Top-`depth` lists of one model: a block computed at once, and lists computed on demand.

    Args:
        model: The model the lists come from (requests check they are served by the same one).
        depth: Products kept per user.
    """

    def __init__(self, model: Any, depth: int):
        self.model = model
        self.depth = depth
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
                histories.append(store.user_history(user))
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
                "precomputed the top %d of %d users in %.1f s",
                self.depth,
                self.state["users"],
                self.state["seconds"],
            )

        thread = threading.Thread(target=fill, name="precompute", daemon=True)
        thread.start()
        return thread
