"""The objects a running app shares between requests, kept in `app.extensions["discerner"]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from discerner.store import StoreContract
    from serving.runtime.experiments import Experiments
    from serving.runtime.metrics import Metrics
    from serving.runtime.model_holder import ModelHolder
    from serving.runtime.throttle import LoginThrottle, SharedLoginThrottle
    from serving.runtime.tokens import TokenCache
    from serving.runtime.training import TrainingRunner


@dataclass
class Services:
    """The store, the model holder, the login throttle, verified tokens, metrics and training
    runs started from the admin page, of one app."""

    store: StoreContract
    models: ModelHolder
    throttle: LoginThrottle | SharedLoginThrottle
    tokens: TokenCache
    metrics: Metrics
    token_seconds: int
    training: TrainingRunner | None = None
    experiments: Experiments | None = None
    closed: bool = False

    def store_open(self) -> bool:
        """Whether the store is open (it closes once, at shutdown)."""
        return not self.closed

    def close(self) -> None:
        """Stop background work and close the store (idempotent)."""
        if not self.closed:
            self.closed = True
            if self.training is not None:
                self.training.close()
            if self.experiments is not None:
                self.experiments.close()  # writes buffered impressions to the open store
            self.models.close()
            self.store.close()


def services() -> Services:
    """The current app's shared objects."""
    return current_app.extensions["discerner"]
