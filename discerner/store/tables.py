"""In-memory users and products (`EntityTable`), and the store's clock: microseconds since 1970.

An entity table keeps ids ascending in numpy arrays, with a dict from id to row and one from
external id to id. A deleted entity is masked; its external id and attributes go at once, its
id and creation time stay, so ids are never reused. The activities are in `activity_table`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import numpy as np

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def iso_utc(micros: int) -> str:
    """Format microseconds since the Unix epoch as ISO 8601 UTC ending in "Z"."""
    moment = _NAIVE_EPOCH + timedelta(microseconds=int(micros))
    return moment.isoformat(timespec="microseconds") + "Z"  # isoformat: 10x faster than strftime


def parse_iso_micros(text: str) -> int:
    """Microseconds since the Unix epoch of an ISO 8601 time (naive times are UTC)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def now_micros() -> int:
    """The current time in microseconds since the Unix epoch."""
    return time.time_ns() // 1000


class EntityTable:
    """Users or products: ids ascending, with creation time, external id and attributes."""

    def __init__(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.created = np.empty(0, np.int64)
        self.alive = np.empty(0, bool)
        self.n = 0
        self.external: list[str | None] = []
        self.attrs: list[dict | None] = []
        self.rows: dict[int, int] = {}
        self.by_external: dict[str, int] = {}
        self.live = 0
        self.next_id = 1
        self.changes = 0

    def load(self, ids, created, external: list, attrs: list) -> None:
        """Replace the content with ascending `ids` and their columns (from a snapshot)."""
        self.ids, self.created = np.asarray(ids, np.int64), np.asarray(created, np.int64)
        self.n = len(self.ids)
        self.alive = np.ones(self.n, bool)
        self.external, self.attrs = list(external), list(attrs)
        self._reindex()

    def _reindex(self) -> None:
        self.rows = dict(zip(self.ids[: self.n].tolist(), range(self.n), strict=True))
        self.by_external = {
            x: int(self.ids[r]) for r, x in enumerate(self.external) if x and self.alive[r]
        }
        self.live = int(self.alive[: self.n].sum())
        if self.n:
            self.next_id = max(self.next_id, int(self.ids[self.n - 1]) + 1)
        self.changes += 1

    def row(self, entity_id: int) -> int | None:
        """The row of a live entity, or None."""
        row = self.rows.get(entity_id)
        return row if row is not None and self.alive[row] else None

    def append(self, entity_id: int, created: int, external: str | None, attrs: dict | None):
        """Add one entity whose id is above every id so far."""
        if self.n == len(self.ids):
            capacity = max(1024, 2 * self.n)
            self.ids = _grown(self.ids, capacity)
            self.created = _grown(self.created, capacity)
            self.alive = _grown(self.alive, capacity)
        self.ids[self.n], self.created[self.n], self.alive[self.n] = entity_id, created, True
        self.external.append(external)
        self.attrs.append(attrs)
        self.rows[entity_id] = self.n
        if external:
            self.by_external[external] = entity_id
        self.n += 1
        self.live += 1
        self.next_id = max(self.next_id, entity_id + 1)
        self.changes += 1

    def add_many(self, ids: np.ndarray, created: int) -> None:
        """Create entities with the given ids (none of them live), keeping ids ascending."""
        ids = np.asarray(ids, np.int64)
        revived = [i for i in ids.tolist() if i in self.rows]
        for entity_id in revived:
            row = self.rows[entity_id]
            self.alive[row], self.created[row] = True, created
            self.external[row], self.attrs[row] = None, None
        new = np.setdiff1d(ids, np.asarray(revived, np.int64))
        ids_all = np.concatenate([self.ids[: self.n], new])
        order = np.argsort(ids_all, kind="stable")
        self.ids = ids_all[order]
        self.created = np.concatenate([self.created[: self.n], np.full(len(new), created)])[order]
        self.alive = np.concatenate([self.alive[: self.n], np.ones(len(new), bool)])[order]
        order_list = order.tolist()
        external = self.external + [None] * len(new)
        attrs = self.attrs + [None] * len(new)
        self.external = [external[i] for i in order_list]
        self.attrs = [attrs[i] for i in order_list]
        self.n = len(self.ids)
        self._reindex()

    def delete(self, entity_id: int) -> bool:
        """Mask a live entity; False when there is none with that id."""
        row = self.row(entity_id)
        if row is None:
            return False
        self.alive[row] = False
        self.by_external.pop(self.external[row] or "", None)
        # The personal data goes now; the id and creation time stay (ids are never reused).
        self.external[row] = self.attrs[row] = None
        self.live -= 1
        self.changes += 1
        return True

    def update(self, entity_id: int, external: str | None, attrs: dict | None) -> None:
        """Replace a live entity's external id and attributes."""
        row = self.rows[entity_id]
        self.by_external.pop(self.external[row] or "", None)
        if external:
            self.by_external[external] = entity_id
        self.external[row], self.attrs[row] = external, attrs
        self.changes += 1

    def record(self, row: int) -> dict:
        """The JSON-ready dict of one row (lists copied: callers may change what they get)."""
        out = {
            "id": int(self.ids[row]),
            "created_at": iso_utc(self.created[row]),
            "external_id": self.external[row],
        }
        attrs = self.attrs[row] or {}
        return out | {k: list(v) if isinstance(v, list) else v for k, v in attrs.items()}

    def page(self, after: int, limit: int) -> list[dict]:
        """Up to `limit` live rows with id > `after`, ascending."""
        row = int(np.searchsorted(self.ids[: self.n], after, side="right"))
        out: list[dict] = []
        while row < self.n and len(out) < limit:
            if self.alive[row]:
                out.append(self.record(row))
            row += 1
        return out

    def frozen(self) -> EntityTable:
        """A copy for readers outside the lock (no look-up dicts)."""
        copy = EntityTable()
        copy.n, copy.live, copy.next_id = self.n, self.live, self.next_id
        copy.ids, copy.created = self.ids[: self.n].copy(), self.created[: self.n].copy()
        copy.alive = self.alive[: self.n].copy()
        copy.external, copy.attrs = list(self.external), list(self.attrs)
        return copy

    def live_rows(self) -> np.ndarray:
        """Row numbers of live entities, ascending by id."""
        return np.flatnonzero(self.alive[: self.n])


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    out = np.zeros(capacity, array.dtype)
    out[: len(array)] = array
    return out
