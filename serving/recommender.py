"""The model holder: which recommender answers `recs`, kept current beside the serving one."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

POPULARITY = "popularity"


@dataclass(frozen=True)
class Served:
    """A fitted model (anything with `recommend_history`) and the version it answers as."""

    model: Any
    version: str
    loaded_at: float


class ModelHolder:
    """Answers recommendations from the live store with the model being served.

    Until a champion is served, that model is popularity fitted on the store's live data and
    refitted in a background thread once it is older than `popularity_seconds`; requests keep
    using the previous fit meanwhile, so none waits for a refit.

    Args:
        store: The open store; histories are read from it on every request.
        popularity_seconds: The longest a popularity ranking is served before a refit starts.
    """

    def __init__(self, store: Any, popularity_seconds: float = 30.0):
        self.store = store
        self.popularity_seconds = popularity_seconds
        self._popularity: Served | None = None
        self._refit_lock = threading.Lock()
        self._closed = False

    def served(self) -> Served:
        """The model that answers now."""
        current = self._popularity
        if current is None:
            with self._refit_lock:
                if self._popularity is None:
                    self._popularity = self._fit_popularity()
            return self._popularity
        if time.monotonic() - current.loaded_at > self.popularity_seconds:
            self._refit_in_background()
        return current

    def status(self) -> dict[str, Any]:
        """What `/ready` reports about the model."""
        return {"source": POPULARITY, "version": POPULARITY, "reason": "no champion is served"}

    def recommend(
        self,
        user_id: int,
        n: int,
        exclude: Iterable[int] = (),
        allowed: np.ndarray | None = None,
    ) -> tuple[list[dict], str]:
        """Top `n` products for a user, never one in their live history or in `exclude`.

        Args:
            user_id: An existing user.
            n: How many to return at most.
            exclude: More product ids to leave out.
            allowed: When given, only these product ids are candidates.

        Returns:
            `[{"product_id", "score"}, ...]` best first, and the version that answered.
        """
        served = self.served()
        if served.model is None:
            return [], served.version
        history, scores = self.store.user_history(user_id)
        excluded = np.fromiter(exclude, dtype=np.int64)
        # Products deleted since the model was fitted are dropped, so ask for a few more.
        ids, values = served.model.recommend_history(
            history, scores, n=n + 16, exclude=excluded, allowed=allowed
        )
        live = [
            {"product_id": int(p), "score": float(s)}
            for p, s in zip(ids, values, strict=True)
            if self.store.has_product(int(p))
        ]
        return live[:n], served.version

    def close(self) -> None:
        """Stop starting background work."""
        self._closed = True

    def refresh(self) -> None:
        """Refit popularity now, in the calling thread."""
        with self._refit_lock:
            self._popularity = self._fit_popularity()

    def _fit_popularity(self) -> Served:
        from discerner.models import Popularity

        started = time.perf_counter()
        frame = self.store.interactions()
        # With no activities yet there is nothing to rank: serve empty lists until there is.
        model = Popularity().fit(frame) if len(frame) else None
        logger.info("popularity refitted in %.3f s", time.perf_counter() - started)
        return Served(model, POPULARITY, time.monotonic())

    def _refit_in_background(self) -> None:
        if self._closed or not self._refit_lock.acquire(blocking=False):
            return

        def refit() -> None:
            try:
                self._popularity = self._fit_popularity()
            except Exception:
                logger.exception("popularity refit failed; serving the previous fit")
                if self._popularity is not None:  # retry after another interval, not at once
                    self._popularity = replace(self._popularity, loaded_at=time.monotonic())
            finally:
                self._refit_lock.release()

        threading.Thread(target=refit, name="popularity-refit", daemon=True).start()
