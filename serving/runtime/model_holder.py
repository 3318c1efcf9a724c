"""The model holder: which recommender answers, kept current beside the one serving.

Requests read the served model once and use that object to the end, so a swap (a plain
attribute assignment) never changes a model under a request in flight. The champion is looked
up and loaded in a background thread, at start, every `poll_seconds`, and on `request_check`
(SIGHUP). Users with no history the champion knows, and every user while no champion is
loaded, get popularity computed from the store's live counts, refreshed at a bounded interval;
that is also how products created after training reach users: they are ranked by their live
popularity for users without a personal signal, and they top up a champion's list when its own
candidates run out (a category holding mostly new products). Each champion's top lists for the
users it knows are precomputed after it loads (`serving.runtime.candidates`), used only while a
user's history is unchanged.
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from discerner import config
from discerner.feedback import FeedbackTypes
from discerner.models import LivePopularity
from serving.runtime.candidates import Candidates, TopList
from serving.runtime.filters import NO_FILTERS, Catalogue, Eligibility, Filters

logger = logging.getLogger(__name__)

POPULARITY = "popularity"
# /ready is public: its reasons are short, and an exception's text (SQL, paths) is logged only.
SEE_LOG = "; the server log has the details"
SPARE = 16  # extra candidates asked for, to make up for products deleted since a fit
EXPLAIN_TOP = 3  # history products named per recommendation by `explain`
EMPTY_IDS = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Served:
    """A model with `recommend_history` and the version it answers as."""

    model: Any
    version: str
    loaded_at: float = field(default_factory=time.monotonic)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    """One page of a user's ranking.

    Attributes:
        picks: `[{"product_id", "score"}, ...]` best first (with `because` when explained).
        version: The model that answered (`name/version` or `popularity`).
        history_version: The user's history version the ranking was computed from.
        ranking: With the history version, names the ranking: the model version and the
            feedback configuration's (`discerner/3+1f2e3d4c5b6a`).
        more: Whether the ranking holds products past this page.
    """

    picks: list[dict]
    version: str
    history_version: int
    ranking: str
    more: bool


class ChampionSource:
    """Where the champion comes from: the MLflow registry in the data folder.

    Args:
        home: The data folder (its SQLite tracking database, unless MLFLOW_TRACKING_URI).
        name: The registered model.
        alias: The alias to follow.
    """

    def __init__(
        self, home: Path, name: str = config.MODEL_NAME, alias: str = config.CHAMPION_ALIAS
    ):
        self.uri = config.tracking_uri(home)
        self.name = name
        self.alias = alias

    def version(self) -> Any | None:
        """The registered version the alias points at, or None (no registry, model or alias)."""
        if config.tracking_database_missing(self.uri):
            return None  # nothing trained yet: ready at once, without importing MLflow
        # Imported on first use: MLflow takes about a second to import.
        from discerner.tracking import registry

        return registry.champion_at(self.uri, self.name, self.alias)

    def load(self, version: Any) -> Served:
        """Load a version's library model (raises when its artifacts are missing or broken)."""
        from discerner.tracking import registry

        model, info = registry.load_version(version, mlflow_client=registry.client(self.uri))
        return Served(model, f"{info['name']}/{info['version']}", info=info)


class ModelHolder:
    """Answers recommendations and similar products from the live store.

    Args:
        store: The open store; histories are read from it on every request.
        source: Where champions come from; None serves popularity only.
        poll_seconds: How often the registry is checked (0: only at start and on request).
        popularity_seconds: The longest a popularity ranking is served before a refresh starts.
        precompute_depth: Products precomputed per user after a champion loads (0: none).
        feedback: The feedback configuration now (`discerner.feedback.current` of the data
            folder): how each activity type of a history counts. Default: every type positive.
        feedback_seconds: The longest a configuration is used before `feedback` is asked
            again (a file's `stat` and path resolution per request cost more than the rest of
            a precomputed answer).
    """

    def __init__(
        self,
        store: Any,
        source: ChampionSource | None = None,
        poll_seconds: float = 30.0,
        popularity_seconds: float = 30.0,
        precompute_depth: int = 50,
        feedback: Callable[[], FeedbackTypes] = FeedbackTypes,
        feedback_seconds: float = 1.0,
    ):
        self.store = store
        self.read_feedback = feedback
        self.feedback_seconds = feedback_seconds
        self.source = source
        self.poll_seconds = poll_seconds
        self.popularity_seconds = popularity_seconds
        self.precompute_depth = precompute_depth
        self.champion: Served | None = None
        self.candidates: Candidates | None = None  # of the champion, once computed
        self._popularity: Served | None = None
        self._refit_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._lists_lock = threading.Lock()
        self._feedback: tuple[float, FeedbackTypes, str] | None = None  # read at, config, version
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._state: dict[str, Any] = {"state": "loading" if source else "none"}
        self._watcher: threading.Thread | None = None
        self.catalogue = Catalogue(store)
        # Called after each swap, from the watcher thread (the server freezes the GC there).
        self.after_swap: Callable[[], None] | None = None

    # ------------------------------------------------------------------ champion lifecycle
    def start(self) -> None:
        """Look for the champion in a background thread now and every `poll_seconds`."""
        if self.source is None or self._watcher is not None:
            return
        self._watcher = threading.Thread(target=self._watch, name="champion-watcher", daemon=True)
        self._watcher.start()

    def request_check(self) -> None:
        """Look at the registry again now (SIGHUP)."""
        self._wake.set()

    def check(self) -> None:
        """Look up the champion once; load and swap to it when it changed.

        A version that fails to load is logged and reported by `status`; the model already
        serving (or popularity) keeps answering.
        """
        if self.source is None:
            return
        with self._check_lock:
            try:
                version = self.source.version()
            except Exception:
                logger.exception("cannot read the model registry")
                reason = "the model registry cannot be read" + SEE_LOG
                self._state = {"state": "failed", "reason": reason}
                return
            self._follow(version)

    def _follow(self, version: Any) -> None:
        if version is None:
            if self.champion is not None:
                logger.warning("no champion registered any more; serving popularity")
            self.champion = None
            self._state = {"state": "none", "reason": "no champion is registered"}
            return
        label = f"{version.name}/{version.version}"
        if self.champion is not None and self.champion.version == label:
            self._state.pop("reason", None)  # a failed newer version was taken back
            self._state["state"] = "loaded"
            return
        if self._state.get("failed") == label:
            return  # already tried; a new version or a restart will try again
        started = time.perf_counter()
        try:
            loaded = self.source.load(version)
        except Exception:
            logger.exception("champion %s failed to load; still serving %s", label, self._label())
            reason = f"{label} failed to load{SEE_LOG}"
            self._state = {"state": "failed", "failed": label, "reason": reason}
            return
        candidates = self._new_lists(loaded, self.feedback())
        self.candidates = candidates  # set first: requests check it belongs to their model
        self.champion = loaded  # the swap: requests already running keep their reference
        seconds = time.perf_counter() - started
        self._state = {"state": "loaded", "load_seconds": round(seconds, 3)}
        logger.info("now serving %s (loaded in %.2f s)", label, seconds)
        if self.after_swap is not None:
            self.after_swap()
        if candidates is not None:
            candidates.fill_in_background(self.store)

    def _new_lists(self, served: Served, feedback: FeedbackTypes) -> Candidates | None:
        """Top lists of a model for histories read under one feedback configuration."""
        if self.precompute_depth <= 0:
            return None
        name = f"{served.version}+{feedback.version}"  # lists a store shares are named so
        return Candidates(served.model, self.precompute_depth, name, self.history, feedback.version)

    def _watch(self) -> None:
        while not self._closed.is_set():
            self.check()
            self._wake.wait(self.poll_seconds if self.poll_seconds > 0 else None)
            self._wake.clear()

    def close(self) -> None:
        """Stop the watcher and background refreshes."""
        self._closed.set()
        self._wake.set()

    # ------------------------------------------------------------------------------ status
    def _label(self) -> str:
        return self.champion.version if self.champion is not None else POPULARITY

    def ready(self) -> bool:
        """False only while the first look at the registry (and its load) is under way."""
        return self._state["state"] != "loading"

    def status(self) -> dict[str, Any]:
        """What `/ready` and `/metrics` report about the model."""
        report: dict[str, Any] = {"version": self._label(), **self._state}
        report.pop("failed", None)
        if self.champion is not None:
            info = self.champion.info
            if "model_class" in info:
                report["model_class"] = info["model_class"]
            candidates = self.candidates
            if candidates is not None and candidates.model is self.champion.model:
                report["precomputed"] = candidates.state
        else:
            report.setdefault("reason", "no champion is registered")
        return report

    # ------------------------------------------------------------------------------ answers
    def recommend(
        self,
        user_id: int,
        n: int,
        offset: int = 0,
        filters: Filters = NO_FILTERS,
        explain: bool = False,
    ) -> Page:
        """Products `offset` to `offset + n` of a user's ranking, never one in their history.

        The ranking of a user is one list for a given history version, model and filters:
        the model's precomputed top list (what the admitted products of it remain), then the
        model's live scores of every other product, then live popularity for what the model
        cannot rank. Every page is a slice of it, whichever of these parts it falls in, so
        pages of one history never repeat a product.

        Args:
            user_id: An existing user.
            n: How many to return at most.
            offset: How many of the ranking's first products to skip.
            filters: The request's exclusions and filters.
            explain: Add to each product `because`: the history products that contributed
                most to its score (`Recommender.explain`; empty for popularity's products).

        Returns:
            The Page.
        """
        eligible = self.catalogue.eligibility(filters)
        feedback, feedback_version = self._current_feedback()
        version = self.store.history_version(user_id)  # read before the history, never after
        history = functools.cache(lambda: self.history(user_id, feedback))  # read on first use
        depth = offset + n + 1  # one more than the page says whether another page follows
        known = (user_id, version, history, feedback_version)
        picks, model_picks, served = self._ranking(known, depth, eligible)
        page = picks[offset : offset + n]
        if explain:
            _explain(served.model, history, page, model_picks - offset)
        ranking = f"{served.version}+{known[3]}"
        return Page(page, served.version, version, ranking, more=len(picks) > offset + n)

    def feedback(self) -> FeedbackTypes:
        """The feedback configuration in use (read again after `feedback_seconds`)."""
        return self._current_feedback()[0]

    def _current_feedback(self) -> tuple[FeedbackTypes, str]:
        """The configuration and its version, asked for at most every `feedback_seconds`."""
        now = time.monotonic()
        cached = self._feedback
        if cached is None or now - cached[0] >= self.feedback_seconds:
            feedback = self.read_feedback()
            version = cached[2] if cached and cached[1] is feedback else feedback.version
            cached = self._feedback = (now, feedback, version)
        return cached[1], cached[2]

    def _ranking(self, known: tuple, depth: int, eligible) -> tuple[list, int, Served]:
        """The first `depth` products of the ranking, how many the model ranked, who answered.

        `known`: the user, their history version, their history (read on first call) and the
        feedback configuration's version."""
        history = known[2]
        served, head, listed = self.champion, [], EMPTY_IDS
        top = self._top_list(served, *known) if served is not None else None
        if top is not None:
            head = self._available(*top, depth, eligible)
            if len(head) == depth:
                return head, depth, served
            listed = np.asarray(top[0], dtype=np.int64)
        ids, scores = history()
        if served is None or not served.model.knows_any(ids):
            served = self.popularity()
        banned = np.concatenate([eligible.banned, listed])
        picks = head + self._live(served.model, ids, scores, depth - len(head), banned, eligible)
        if served.version == POPULARITY:
            return picks, 0, served
        model_picks = len(picks)
        if len(picks) < depth:
            taken = np.array([pick["product_id"] for pick in picks], dtype=np.int64)
            more = self._live(
                self.popularity().model,
                ids,
                scores,
                depth - len(picks),
                np.concatenate([banned, taken]),
                eligible,
            )
            picks.extend(more)
        return picks, model_picks, served

    def similar(self, product_id: int, n: int) -> tuple[list[dict], str]:
        """Products most similar to `product_id` by the champion; empty without one.

        Every library model answers: with its own item similarity, else by co-occurrence.
        Hidden, expired and deleted products are left out.
        """
        served = self.champion
        if served is None:
            return [], self._label()

        def similar(ask: int) -> tuple[list, list]:
            frame = served.model.similar_products([product_id], n=ask)
            return frame["similar_product_id"].tolist(), frame["score"].tolist()

        return self._first(similar, n, self.catalogue.eligibility()), served.version

    def popularity(self) -> Served:
        """The live popularity ranking, refreshed in the background when older than allowed."""
        current = self._popularity
        if current is None:
            with self._refit_lock:
                if self._popularity is None:
                    self._popularity = self._count_popularity()
            return self._popularity
        if time.monotonic() - current.loaded_at > self.popularity_seconds:
            self._refresh_in_background()
        return current

    def refresh(self) -> None:
        """Recount popularity now, in the calling thread."""
        with self._refit_lock:
            self._popularity = self._count_popularity()

    def category_members(self, category: str) -> np.ndarray:
        """Ids of live products whose category is `category` (int64, ascending)."""
        return self.catalogue.category_members(category)

    def history(
        self, user_id: int, feedback: FeedbackTypes | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The user's live history as the models score it: (product ids, scores), each score
        weighted by its activity type (a dislike negative) by `feedback` (default: the current
        configuration); activities of an ignored type are left out, of the scores and of the
        products excluded from the answer alike."""
        ids, scores, types = self.store.user_activity(user_id)
        ids, scores, _ = (feedback or self.feedback()).apply_history(ids, scores, types)
        return ids, scores

    def _top_list(self, served, user_id, version, history, feedback) -> TopList | None:
        """The model's precomputed list for the user's current history (computed now when
        missing), or None when this model has no precomputed lists."""
        candidates = self.candidates
        if candidates is None or candidates.model is not served.model:
            return None
        if candidates.feedback != feedback:
            self._recompute_lists(served)  # lists of the old configuration are never used
            return None
        found = candidates.get(user_id, version)
        if found is None:
            ids, scores = history()
            found = [], []  # the model knows none of it: popularity answers
            if served.model.knows_any(ids):
                top, values = served.model.recommend_history(ids, scores, n=candidates.depth)
                found = top.tolist(), values.tolist()
            candidates.put(user_id, version, found)
        return found

    def _recompute_lists(self, served: Served) -> None:
        """Start the top lists over in the background: the feedback configuration changed."""
        if not self._lists_lock.acquire(blocking=False):
            return
        try:
            current = self.candidates
            feedback = self.feedback()
            if current is not None and current.feedback != feedback.version:
                logger.info("feedback configuration %s: recomputing top lists", feedback.version)
                self.candidates = self._new_lists(served, feedback)
                if self.candidates is not None:
                    self.candidates.fill_in_background(self.store)
        finally:
            self._lists_lock.release()

    def _live(self, model, ids, scores, n, banned, eligible) -> list[dict]:
        """The model's first `n` admitted, existing products, scored live."""

        def ranked(ask: int) -> tuple[list, list]:
            top, values = model.recommend_history(
                ids, scores, n=ask, exclude=banned, allowed=eligible.allowed
            )
            return top.tolist(), values.tolist()

        return self._first(ranked, n, eligible)

    def _first(self, ranked: Callable[[int], tuple[list, list]], n, eligible) -> list[dict]:
        """The first `n` admitted, existing products of `ranked(ask)` (the top `ask` ids and
        scores), asking for more while deleted or hidden products take the place of ranked
        ones, so that no product is skipped."""
        ask = n + SPARE
        while True:
            ids, values = ranked(ask)
            picks = self._available(ids, values, n, eligible)
            if len(picks) == n or len(ids) < ask:
                return picks
            ask *= 4

    def _available(self, ids, values, n, eligible: Eligibility) -> list[dict]:
        """The first `n` products the request admits that still exist (not deleted)."""
        pairs = zip(ids, values, strict=True)
        if not eligible.unrestricted:
            pairs = ((p, s) for p, s in pairs if eligible.admits(p))
        picks: list[dict] = []
        # One look-up for the candidates likely needed (a query, on PostgreSQL), more if short.
        for size in (n + SPARE, None):
            admitted = list(itertools.islice(pairs, size))
            live = self.store.existing_products([p for p, _ in admitted]) if admitted else set()
            picks += [{"product_id": p, "score": s} for p, s in admitted if p in live]
            if len(picks) >= n or not admitted:
                break
        return picks[:n]

    def _count_popularity(self) -> Served:
        started = time.perf_counter()
        counts = self.store.product_counts()
        ranking = LivePopularity(counts["product_id"].to_numpy(), counts["count"].to_numpy())
        logger.debug("popularity recounted in %.3f s", time.perf_counter() - started)
        return Served(ranking, POPULARITY)

    def _refresh_in_background(self) -> None:
        if self._closed.is_set() or not self._refit_lock.acquire(blocking=False):
            return

        def refresh() -> None:
            try:
                self._popularity = self._count_popularity()
            except Exception:
                logger.exception("popularity refresh failed; serving the previous counts")
                if self._popularity is not None:  # retry after another interval, not at once
                    self._popularity = replace(self._popularity, loaded_at=time.monotonic())
            finally:
                self._refit_lock.release()

        threading.Thread(target=refresh, name="popularity-refresh", daemon=True).start()


def _explain(model: Any, history: Callable, page: list[dict], explained: int) -> None:
    """Add `because` to each pick; the first `explained` were ranked by `model`, the rest by
    popularity (which has no reason to give)."""
    ids = [pick["product_id"] for pick in page[: max(explained, 0)]]
    reasons = model.explain(*history(), ids, top=EXPLAIN_TOP) if ids else []
    for position, pick in enumerate(page):
        because = reasons[position] if position < len(reasons) else []
        pick["because"] = [{"product_id": h, "weight": w} for h, w in because]
