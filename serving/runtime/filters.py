"""Which products one request may recommend: its exclusions and filters, and the shop's rules.

A request names products to leave out (`exclude`) and may filter by category; the store's
product rules (hidden products, expiry times, labels) apply to every request from the moment
they change, without retraining. Both are turned into an `Eligibility`: numpy arrays for the
scoring path (`allowed`, `banned`, handed to `recommend_history`) and Python sets for the
precomputed lists, whose few candidates are checked one by one without numpy. The arrays and
sets of each category and label are built once per version of the store's mappings (the store
returns the same object until products change) and shared by every request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EMPTY = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class Filters:
    """A request's own constraints (all optional).

    Attributes:
        exclude: Product ids never to return.
        category: Only products of this category.
    """

    exclude: tuple[int, ...] = ()
    category: str | None = None


NO_FILTERS = Filters()


@dataclass(frozen=True)
class Eligibility:
    """What one request may recommend, for both ways of ranking.

    Attributes:
        allowed: Sorted ids the answer must come from; None admits every product.
        banned: Ids never to return (exclusions, hidden and expired products).
        within: Groups of id sets: a product must be in some set of every group.
        outside: Id sets a product must be in none of.
        expires_at: Expiry time (Unix seconds) of products that have one.
        now: The time of the request.
    """

    allowed: np.ndarray | None = None
    banned: np.ndarray = field(default_factory=lambda: EMPTY)
    within: tuple[tuple[Set[int], ...], ...] = ()
    outside: tuple[Set[int], ...] = ()
    expires_at: Mapping[int, float] = field(default_factory=dict)
    now: float = 0.0

    def admits(self, product_id: int) -> bool:
        """Whether the request may return this product (plain Python: a few set look-ups)."""
        if any(product_id in ids for ids in self.outside):
            return False
        if self.expires_at and self.expires_at.get(product_id, math.inf) <= self.now:
            return False
        return all(any(product_id in ids for ids in group) for group in self.within)


class Catalogue:
    """Category members, cached by the identity of the store's category mapping.

    Args:
        store: The open store (`product_categories`).
    """

    def __init__(self, store: Any):
        self.store = store
        self._categories: tuple[Any, dict[str, tuple[np.ndarray, frozenset[int]]]] | None = None

    def category_members(self, category: str) -> np.ndarray:
        """Ids of live products whose category is `category` (int64, ascending)."""
        return self._category(category)[0]

    def eligibility(self, filters: Filters = NO_FILTERS, now: float | None = None) -> Eligibility:
        """The arrays and sets that enforce `filters` and the store's product rules.

        Args:
            filters: The request's constraints.
            now: The request's time (default: the clock).

        Returns:
            The request's Eligibility.
        """
        within: list[tuple[frozenset[int], ...]] = []
        allowed = None
        if filters.category is not None:
            members, member_set = self._category(filters.category)
            allowed, within = members, [(member_set,)]
        excluded = frozenset(filters.exclude)
        banned = np.fromiter(excluded, dtype=np.int64, count=len(excluded))
        return Eligibility(
            allowed=allowed,
            banned=banned,
            within=tuple(within),
            outside=(excluded,) if excluded else (),
            now=time.time() if now is None else now,
        )

    def _category(self, category: str) -> tuple[np.ndarray, frozenset[int]]:
        categories = self.store.product_categories()  # the same dict until products change
        cached = self._categories
        if cached is None or cached[0] is not categories:
            cached = self._categories = (categories, _members(categories.items()))
        return cached[1].get(category, (EMPTY, frozenset()))


def _members(pairs: Iterable[tuple[int, str]]) -> dict[str, tuple[np.ndarray, frozenset[int]]]:
    """{name: (sorted int64 ids, the same ids as a set)} from (product id, name) pairs."""
    grouped: dict[str, list[int]] = {}
    for product_id, name in pairs:
        grouped.setdefault(name, []).append(product_id)
    return {
        name: (np.sort(np.asarray(ids, dtype=np.int64)), frozenset(ids))
        for name, ids in grouped.items()
    }
