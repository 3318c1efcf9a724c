"""Each user's top products by the champion, computed ahead and checked against live history.

Scoring every product and selecting the best is most of a recommendation's cost. After a
champion loads, its top `depth` products for every user it was trained on are computed in
batches in the background (Gorse serves precomputed recommendations the same way), each list
keyed by a digest of the live history it was computed from. A request whose history still has
that digest only filters the list (exclusions, deleted products). Any change to the history (a
new activity, a cascade delete) changes the digest: the request scores live, and its fresh
list replaces the old one. A list is never used for a history it was not computed from.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from discerner.matrix import index_of

logger = logging.getLogger(__name__)

BATCH = 1024  # users read from the store and scored at once
FRESH_LIMIT = 50_000  # lists computed on demand kept at most (about 1 kB each)


def digest(product_ids: np.ndarray, scores: np.ndarray) -> int:
    """A 64-bit digest of a live history (equal histories, equal digests, in one process)."""
    return hash((product_ids.tobytes(), scores.tobytes()))


class Candidates:
    """Top-`depth` lists of one model: a block computed at once, and lists computed on demand.

    Args:
        model: The model the lists come from (requests check they are served by the same one).
        depth: Products kept per user.
    """

    def __init__(self, model: Any, depth: int):
        self.model = model
        self.depth = depth
        # (users ascending, digests, model columns -1 past a list's end, scores), replaced whole
        self.block = (
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty((0, depth), np.int32),
            np.empty((0, depth), np.float32),
        )
        self.fresh: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}
        self.state: dict[str, Any] = {"state": "building", "depth": depth}

    def get(self, user_id: int, key: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The user's (product ids, scores), best first, if computed from the history `key`."""
        fresh = self.fresh.get(user_id)
        if fresh is not None and fresh[0] == key:
            return fresh[1], fresh[2]
        users, digests, columns, scores = self.block
        row = int(np.searchsorted(users, user_id))
        if row == len(users) or users[row] != user_id or digests[row] != key:
            return None
        found = columns[row][columns[row] >= 0]
        return self.model.product_ids_[found], scores[row, : len(found)]

    def put(self, user_id: int, key: int, product_ids: np.ndarray, scores: np.ndarray) -> None:
        """Keep a list computed live from the history `key` (dict updates are thread-safe)."""
        if len(self.fresh) >= FRESH_LIMIT:
            self.fresh.clear()  # memory stays bounded; the cleared lists are recomputed on use
        self.fresh[user_id] = (key, product_ids, scores)

    def fill(self, store: Any, progress: bool = False) -> None:
        """Compute the lists of every user the model was trained on, from the live store."""
        started = time.perf_counter()
        users = self.model.user_ids_
        digests = np.zeros(len(users), np.int64)
        columns = np.full((len(users), self.depth), -1, np.int32)
        scores = np.full((len(users), self.depth), -np.inf, np.float32)
        with tqdm(total=len(users), desc="precomputing", unit="user", disable=not progress) as bar:
            for start in range(0, len(users), BATCH):
                block = slice(start, start + BATCH)
                histories = [store.user_history(int(user)) for user in users[block]]
                digests[block] = [digest(ids, values) for ids, values in histories]
                answers = self.model.recommend_histories(histories, n=self.depth)
                for row, (ids, values) in enumerate(answers, start=start):
                    columns[row, : len(ids)] = index_of(self.model.product_ids_, ids)
                    scores[row, : len(ids)] = values
                bar.update(len(histories))
        self.block = (users, digests, columns, scores)
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
            except Exception as error:
                logger.exception("precomputing recommendations failed; requests score live")
                self.state = {"state": "failed", "depth": self.depth, "reason": str(error)}
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
