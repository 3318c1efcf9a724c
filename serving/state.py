"""The objects a running app shares between requests, kept in `app.extensions["discerner"]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from discerner.store import Store
    from serving.metrics import Metrics
    from serving.recommender import ModelHolder
    from serving.throttle import LoginThrottle
    from serving.tokens import TokenCache


@dataclass
class Services:
    """The store, the model holder, the login throttle, verified tokens and metrics of one app."""

    store: Store
    models: ModelHolder
    throttle: LoginThrottle
    tokens: TokenCache
    metrics: Metrics
    token_seconds: int
    closed: bool = False

    def store_open(self) -> bool:
        """Whether the store is open (it closes once, at shutdown)."""
        return not self.closed

    def close(self) -> None:
        """Stop background work and close the store (idempotent)."""
        if not self.closed:
            self.closed = True
            self.models.close()
            self.store.close()


def services() -> Services:
    """The current app's shared objects."""
    return current_app.extensions["discerner"]
