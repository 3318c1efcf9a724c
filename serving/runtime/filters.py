"""Which products one request may recommend: its exclusions and filters, and the shop's rules.

A request names products to leave out (`exclude`) and may filter by category and by labels
(any of some, all of some, none of some); the store's product rules (hidden products, expiry
times, the labels themselves) apply to every request from the moment they change, without
retraining. Both are turned into an `Eligibility`: numpy arrays for the
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
        labels_any: Only products with at least one of these labels.
        labels_all: Only products with every one of these labels.
        labels_exclude: Never products with any of these labels.
    """

    exclude: tuple[int, ...] = ()
    category: str | None = None
    labels_any: tuple[str, ...] = ()
    labels_all: tuple[str, ...] = ()
    labels_exclude: tuple[str, ...] = ()


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

    @property
    def unrestricted(self) -> bool:
        """Whether every product is admitted (no set to check one against)."""
        return not (self.outside or self.expires_at or self.within)

    def admits(self, product_id: int) -> bool:
        """Whether the request may return this product (plain Python: a few set look-ups)."""
        for ids in self.outside:
            if product_id in ids:
                return False
        if self.expires_at and self.expires_at.get(product_id, math.inf) <= self.now:
            return False
        for group in self.within:
            for ids in group:
                if product_id in ids:
                    break
            else:
                return False
        return True


UNRESTRICTED = Eligibility()
Members = tuple[np.ndarray, frozenset[int]]  # sorted int64 ids, and the same ids as a set
NO_MEMBERS: Members = (EMPTY, frozenset())


@dataclass(frozen=True)
class _Rules:
    """The arrays of one `ProductRules` object: hidden ids, expiry times, label members."""

    hidden: np.ndarray
    expiring: np.ndarray  # ids of products with an expiry time, and their times below
    expires_at: np.ndarray
    labels: dict[str, Members]


class Catalogue:
    """Category and label members, hidden and expiring products, as arrays and sets.

    Each is built once per version of the store's mappings (`product_categories`,
    `product_rules`: the same object until a product changes, in any process) and shared by
    requests; a request with no filter, in a shop with no hidden or expiring product, pays
    for two attribute reads.

    Args:
        store: The open store.
    """

    def __init__(self, store: Any):
        self.store = store
        self._categories: tuple[Any, dict[str, Members]] | None = None
        self._rules: tuple[Any, _Rules] | None = None

    def category_members(self, category: str) -> np.ndarray:
        """Ids of live products whose category is `category` (int64, ascending)."""
        return self._category(category)[0]

    def eligibility(self, filters: Filters = NO_FILTERS, now: float | None = None) -> Eligibility:
        """The arrays and sets that enforce `filters` and the store's product rules.

        Args:
            filters: The request's constraints.
            now: The request's time, Unix seconds (default: the clock); products whose
                `expires_at` is not after it are left out.

        Returns:
            The request's Eligibility.
        """
        rules, arrays = self._product_rules()
        if filters == NO_FILTERS and not rules.hidden and not rules.expires_at:
            return UNRESTRICTED  # the common case: no array or set to build
        now = time.time() if now is None else now
        groups: list[list[Members]] = []  # a product must be in some member set of each
        if filters.category is not None:
            groups.append([self._category(filters.category)])
        if filters.labels_any:
            groups.append([arrays.labels.get(name, NO_MEMBERS) for name in filters.labels_any])
        groups += [[arrays.labels.get(name, NO_MEMBERS)] for name in filters.labels_all]
        excluded = frozenset(filters.exclude)
        refused = [arrays.labels.get(name, NO_MEMBERS) for name in filters.labels_exclude]
        outside = [excluded, rules.hidden, *(ids for _, ids in refused)]
        banned = [
            np.fromiter(excluded, dtype=np.int64, count=len(excluded)),
            arrays.hidden,
            arrays.expiring[arrays.expires_at <= now],
            *(ids for ids, _ in refused),
        ]
        return Eligibility(
            allowed=_allowed(groups),
            banned=np.concatenate(banned),
            within=tuple(tuple(ids for _, ids in group) for group in groups),
            outside=tuple(ids for ids in outside if ids),
            expires_at=rules.expires_at,
            now=now,
        )

    def _category(self, category: str) -> Members:
        categories = self.store.product_categories()  # the same dict until products change
        cached = self._categories
        if cached is None or cached[0] is not categories:
            cached = self._categories = (categories, _members(categories.items()))
        return cached[1].get(category, NO_MEMBERS)

    def _product_rules(self) -> tuple[Any, _Rules]:
        rules = self.store.product_rules()  # the same object until products change
        cached = self._rules
        if cached is None or cached[0] is not rules:
            expiring = np.fromiter(rules.expires_at.keys(), np.int64, len(rules.expires_at))
            arrays = _Rules(
                hidden=np.fromiter(rules.hidden, np.int64, len(rules.hidden)),
                expiring=expiring,
                expires_at=np.fromiter(rules.expires_at.values(), np.float64, len(expiring)),
                labels=_members(
                    (product_id, label)
                    for product_id, labels in rules.labels.items()
                    for label in labels
                ),
            )
            cached = self._rules = (rules, arrays)
        return cached


def _allowed(groups: list[list[Members]]) -> np.ndarray | None:
    """The ids in some member set of every group (sorted), or None when there is no group."""
    allowed = None
    for group in groups:
        union = group[0][0] if len(group) == 1 else np.unique(np.concatenate([a for a, _ in group]))
        allowed = union if allowed is None else np.intersect1d(allowed, union, assume_unique=True)
    return allowed


def _members(pairs: Iterable[tuple[int, str]]) -> dict[str, Members]:
    """{name: (sorted int64 ids, the same ids as a set)} from (product id, name) pairs."""
    grouped: dict[str, list[int]] = {}
    for product_id, name in pairs:
        grouped.setdefault(name, []).append(product_id)
    return {
        name: (np.sort(np.asarray(ids, dtype=np.int64)), frozenset(ids))
        for name, ids in grouped.items()
    }
