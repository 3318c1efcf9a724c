"""The running A/B experiment in a server: one served model per variant, and its impressions.

`Experiments` looks for the running experiment in the registry (`discerner.experiments.book`)
at start and every `poll_seconds`, like the champion, so `discerner experiment start|stop`
takes effect in every process within that interval. Each variant is served by a
`ModelHolder` of its own that follows the variant's target (a fixed version, or an alias,
hot-swapped when the alias moves); a variant targeting the alias the server already follows
reuses the server's holder. A new experiment is served once each variant's model has loaded.

Impressions are telemetry, kept cheap on the request path: `record` appends to a bounded
in-memory buffer that a background thread writes to the store (`add_impressions`) about every
`flush_seconds`, and at close. A `kill -9` loses what was buffered (at most about a second of
impressions); a full buffer (`MAX_BUFFERED`, a stuck store) drops new impressions and counts
them in `dropped`. Without a running experiment nothing is recorded and `route` is one
attribute read.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from discerner import config
from discerner.experiments import Experiment, Variant, assign, sampled
from serving.runtime.model_holder import ChampionSource, ModelHolder, Page

logger = logging.getLogger(__name__)

MAX_BUFFERED = 100_000  # impressions held while the store is slow, before dropping new ones


class TargetSource(ChampionSource):
    """A variant's model: a fixed registered version (digits) or whatever an alias names."""

    def __init__(self, uri: str, name: str, target: str):
        self.uri, self.name, self.target = uri, name, target
        self.alias = target

    def version(self) -> Any | None:
        """The version the target names now, or None (no such version or alias)."""
        if config.tracking_database_missing(self.uri):
            return None
        from mlflow.exceptions import MlflowException

        from discerner.tracking import registry

        if not self.target.isdigit():
            return registry.champion_at(self.uri, self.name, self.target)
        try:
            return registry.client(self.uri).get_model_version(self.name, self.target)
        except MlflowException:
            return None


@dataclass(frozen=True)
class Running:
    """The running experiment and the holder serving each of its variants."""

    experiment: Experiment
    holders: dict[str, ModelHolder]


@dataclass(frozen=True)
class Routed:
    """Where a request goes: the experiment, the user's variant and its served model."""

    experiment: Experiment
    variant: Variant
    models: ModelHolder


class Experiments:
    """Follows the running experiment and routes users to its variants.

    Args:
        store: The open store (impressions are written to it).
        champion: The server's model holder; its source names the registry, model and alias,
            and its settings are copied to the variants' holders.
        poll_seconds: How often the registry is checked (0: at start and on `request_check`).
        flush_seconds: How often buffered impressions are written.
    """

    def __init__(
        self,
        store: Any,
        champion: ModelHolder,
        poll_seconds: float = 30.0,
        flush_seconds: float = 1.0,
    ):
        self.store = store
        self.champion = champion
        self.poll_seconds = poll_seconds
        self.flush_seconds = flush_seconds
        self.running: Running | None = None
        self.dropped = 0
        self._buffer: list[dict] = []
        self._buffer_lock = threading.Lock()
        self._check_lock = threading.Lock()  # the watcher, and callers that cannot wait for it
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Watch the registry and flush impressions in background threads."""
        if self.champion.source is None or self._threads:
            return
        for target, name in (
            (self._watch, "experiment-watcher"),
            (self._flush_loop, "impressions"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def request_check(self) -> None:
        """Look at the registry again now."""
        self._wake.set()

    def check(self) -> None:
        """Read the running experiment; build its variants' holders when it changed."""
        source = self.champion.source
        if source is None or config.tracking_database_missing(source.uri):
            return
        from discerner.experiments import book
        from discerner.tracking import registry

        with self._check_lock:
            try:
                found = book.running(name=source.name, mlflow_client=registry.client(source.uri))
            except Exception:
                logger.exception("cannot read the running experiment; keeping the current one")
                return
            self._follow(found)

    def _follow(self, found: Experiment | None) -> None:
        """Serve `found` (None: no experiment) unless it is the one served."""
        current = self.running
        if current is not None and found is not None and current.experiment == found:
            return
        if found is None and current is None:
            return
        self.running = self._serve(found) if found is not None else None
        if current is not None:
            self._retire(current)
        logger.info("experiment now running: %s", found.name if found else "none")

    def _serve(self, experiment: Experiment) -> Running:
        """Holders for every variant, each with its model loaded (or failed) before use."""
        source = self.champion.source
        holders = {}
        for variant in experiment.variants:
            if variant.target == source.alias:
                holders[variant.name] = self.champion
                continue
            holder = ModelHolder(
                self.store,
                TargetSource(source.uri, source.name, variant.target),
                poll_seconds=self.champion.poll_seconds,
                popularity_seconds=self.champion.popularity_seconds,
                precompute_depth=self.champion.precompute_depth,
                feedback=self.champion.read_feedback,
                feedback_seconds=self.champion.feedback_seconds,
            )
            holder.check()  # loaded here, in the watcher thread, before any request sees it
            holder.start()
            holders[variant.name] = holder
        return Running(experiment, holders)

    def _retire(self, old: Running) -> None:
        for holder in old.holders.values():
            if holder is not self.champion:
                holder.close()

    def _watch(self) -> None:
        # MLflow is imported by the champion's first look: two threads importing it at once
        # deadlock in the import system, so this one starts after that look.
        while not self.champion.ready() and not self._closed.wait(0.05):
            pass
        while not self._closed.is_set():
            self.check()
            self._wake.wait(self.poll_seconds if self.poll_seconds > 0 else None)
            self._wake.clear()

    # ------------------------------------------------------------------ request path
    def route(self, user_id: int) -> Routed | None:
        """The user's variant of the running experiment, or None when none runs."""
        running = self.running
        if running is None:
            return None
        variant = assign(running.experiment, user_id)
        return Routed(running.experiment, variant, running.holders[variant.name])

    def record(self, routed: Routed, user_id: int, page: Page) -> str:
        """Buffer the impression of a served page (if the user is sampled); its request id."""
        request_id = uuid.uuid4().hex
        if not sampled(routed.experiment, user_id):
            return request_id
        row = {
            "request_id": request_id,
            "experiment": routed.experiment.name,
            "variant": routed.variant.name,
            "version": page.version,
            "user_id": user_id,
            "product_ids": [pick["product_id"] for pick in page.picks],
            "time": datetime.now(UTC),
        }
        with self._buffer_lock:
            if len(self._buffer) < MAX_BUFFERED:
                self._buffer.append(row)
            else:
                self.dropped += 1
        return request_id

    # ------------------------------------------------------------------ impressions
    def flush(self) -> int:
        """Write the buffered impressions now; how many were written."""
        with self._buffer_lock:
            rows, self._buffer = self._buffer, []
        if rows:
            try:
                self.store.add_impressions(rows)
            except Exception:
                logger.exception("cannot write %d impressions; they are dropped", len(rows))
                self.dropped += len(rows)
                return 0
        return len(rows)

    def _flush_loop(self) -> None:
        while not self._closed.wait(self.flush_seconds):
            self.flush()

    def close(self) -> None:
        """Stop the threads, write what is buffered, close the variants' holders."""
        self._closed.set()
        self._wake.set()
        for thread in self._threads:
            if thread.name == "impressions":
                thread.join(timeout=10)  # its last write ends before the store closes
        self.flush()
        if self.running is not None:
            self._retire(self.running)
