"""`ProductRules`: which products are hidden, when they expire, and their labels, at one moment.

The server reads it on every recommendation (`StoreContract.product_rules`), so a backend keeps
one object until a product changes and builds it from products' attributes (`labels`,
`hidden`, `expires_at`, see `discerner.store.values.product_field`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from discerner.store.tables import parse_iso_micros


@dataclass(frozen=True)
class ProductRules:
    """Immutable: `hidden` product ids, `expires_at` (Unix seconds) and `labels` per product id.

    A product is in `expires_at` or `labels` only when it has one; an expired product is still
    listed (it is the reader's clock that decides).
    """

    hidden: frozenset[int] = frozenset()
    expires_at: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))
    labels: Mapping[int, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, products: Iterable[tuple[int, dict | None]]) -> ProductRules:
        """The rules of (product id, attributes) pairs; values of another shape are ignored."""
        hidden, expires, labels = set(), {}, {}
        for product_id, attrs in products:
            if not attrs:
                continue
            if attrs.get("hidden") is True:
                hidden.add(product_id)
            moment = _seconds(attrs.get("expires_at"))
            if moment is not None:
                expires[product_id] = moment
            found = attrs.get("labels")
            if isinstance(found, list) and found and all(isinstance(x, str) for x in found):
                labels[product_id] = tuple(found)
        return cls(frozenset(hidden), MappingProxyType(expires), MappingProxyType(labels))


def _seconds(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso_micros(value) / 1_000_000
    except ValueError:
        return None
