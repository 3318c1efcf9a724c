"""In-memory tables: users and products (sorted id arrays) and activities (columnar chunks).

Activities live in chunks of numpy columns: a snapshot or an import is one sealed chunk (read
straight from Parquet), live appends fill fixed-size chunks, so growing never copies the big
arrays. A per-user index maps a user to the global row numbers of their activities: a few
sorted parts (merged like a binary counter), plus a dict for the rows of the open chunk.
A per-product index of the same shape, each product's rows ascending, is built on the first
page asked of a product (sorting outside the store's lock), so such a page is a binary search.
A deleted row is masked (a tombstone); a compaction that finds many of them rebuilds the
columns without them (`ActivityTable.reclaim`).
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

APPEND_CHUNK = 1 << 16
ACTIVITY_FIELDS = ("id", "user", "product", "score", "ts")
ACTIVITY_DTYPES = {"id": np.int64, "user": np.int64, "product": np.int64}
ACTIVITY_DTYPES |= {"score": np.float64, "ts": np.int64}
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

    def record(self, row: int) -> dict:
        """The JSON-ready dict of one row."""
        out = {
            "id": int(self.ids[row]),
            "created_at": iso_utc(self.created[row]),
            "external_id": self.external[row],
        }
        return out | (self.attrs[row] or {})

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


@dataclass
class Chunk:
    """Columns of consecutive activity rows; `n` rows are filled out of the arrays' length."""

    cols: dict[str, np.ndarray]
    alive: np.ndarray
    n: int
    start: int
    sealed: bool

    @classmethod
    def empty(cls, start: int) -> Chunk:
        cols = {f: np.zeros(APPEND_CHUNK, ACTIVITY_DTYPES[f]) for f in ACTIVITY_FIELDS}
        return cls(cols, np.zeros(APPEND_CHUNK, bool), 0, start, False)


@dataclass
class UserIndexPart:
    """Sorted user ids of some rows, with the global row numbers of each user's activities.

    `rows[bounds[i]:bounds[i + 1]]` are the rows of user `users[i]`. Row numbers are int32
    when they fit, halving the index of a large store.
    """

    users: np.ndarray
    bounds: np.ndarray
    rows: np.ndarray

    FILES = ("index_users.npy", "index_bounds.npy", "index_rows.npy")

    @classmethod
    def build(cls, users: np.ndarray, rows: np.ndarray | int) -> UserIndexPart:
        """Index rows by their `users`.

        Args:
            users: The user of each row.
            rows: The rows' global numbers, or an int: the first of consecutive numbers.
        """
        if len(users) == 0:
            return cls(np.empty(0, np.int64), np.zeros(1, np.int64), np.empty(0, np.int32))
        keys = _narrow(users)  # int32 keys when they fit: half the memory, faster sort
        order = cls._order(keys)
        ordered = keys[order]
        firsts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
        bounds = np.concatenate([[0], firsts, [len(ordered)]]).astype(np.int64)
        if isinstance(rows, int):
            order += rows
            picked = order
        else:
            picked = rows[order]
        del order
        return cls(ordered[bounds[:-1]].astype(np.int64), bounds, _narrow(picked))

    @staticmethod
    def _order(keys: np.ndarray) -> np.ndarray:
        return np.argsort(keys)

    @classmethod
    def merge(cls, parts: list[UserIndexPart]) -> UserIndexPart:
        """One part indexing the rows of all `parts`."""
        users = np.concatenate([np.repeat(p.users, np.diff(p.bounds)) for p in parts])
        return cls.build(users, np.concatenate([p.rows.astype(np.int64) for p in parts]))

    def save(self, folder: Path) -> None:
        """Write the part as .npy files (fsynced) into `folder`."""
        for name, array in zip(self.FILES, (self.users, self.bounds, self.rows), strict=True):
            with open(folder / name, "wb") as handle:
                np.save(handle, array)
                handle.flush()
                os.fsync(handle.fileno())

    @classmethod
    def load(cls, folder: Path) -> UserIndexPart | None:
        """The part saved in `folder` (memory-mapped), or None when there is none."""
        if not all((folder / name).exists() for name in cls.FILES):
            return None
        return cls(*(np.load(folder / name, mmap_mode="r") for name in cls.FILES))

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, user: int) -> np.ndarray:
        i = int(np.searchsorted(self.users, user))
        if i == len(self.users) or self.users[i] != user:
            return self.rows[:0]
        return self.rows[self.bounds[i] : self.bounds[i + 1]]


class ProductIndexPart(UserIndexPart):
    """The same index keyed by product (`users` holds product ids), each product's rows ascending.

    Rows ascend with ids, so a keyset page of a product is a binary search in each part's
    slice of that product, then a page of rows: O(log n + page). A stable sort keeps each
    product's rows in order; `merge` joins parts oldest first, so it keeps them too.
    """

    @staticmethod
    def _order(keys: np.ndarray) -> np.ndarray:
        # numpy sorts 16-bit keys by radix, several times faster than int32 on 20M rows.
        small = len(keys) and keys.min() >= 0 and keys.max() <= np.iinfo(np.uint16).max
        return np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")

    def after(self, product: int, row: int, count: int) -> tuple[np.ndarray, bool]:
        """Up to `count` of the product's rows from `row` on, and whether more follow."""
        rows = self.lookup(product)
        start = int(np.searchsorted(rows, row))
        return rows[start : start + count], len(rows) - start > count


def _with_part(parts: list, part: UserIndexPart) -> list:
    """`parts` plus `part`, merging the newest while they are of similar size.

    Like a binary counter, this keeps O(log n) parts at an amortised O(log n) per row.
    """
    parts = [*parts, part]
    while len(parts) >= 2 and len(parts[-2]) <= 2 * len(parts[-1]):
        parts[-2:] = [type(part).merge(parts[-2:])]
    return parts


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of all `arrays`, without a copy when there is only one."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def _narrow(values: np.ndarray) -> np.ndarray:
    """int32 copy of non-negative int64 values when they all fit, else the values."""
    if len(values) and values.min() >= 0 and values.max() < np.iinfo(np.int32).max:
        return values.astype(np.int32)
    return values


@dataclass
class ActivityTable:
    """All activities, in chunks ordered by id, with a per-user index.

    A per-product index of the sealed chunks is built on the first page asked of a product
    (`index_products`) and kept up to date the same way; rows of the open chunk are found by
    looking at that chunk alone.
    """

    chunks: list[Chunk] = field(default_factory=list)
    parts: list[UserIndexPart] = field(default_factory=list)
    recent: dict[int, list[int]] = field(default_factory=dict)
    live: int = 0
    next_id: int = 1
    total: int = 0
    product_parts: list[ProductIndexPart] = field(default_factory=list)
    product_upto: int = 0  # the rows below are in `product_parts`
    layout: int = 0  # changes whenever rows are renumbered (`reclaim`)
    _indexing: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_sealed(self, cols: dict[str, np.ndarray], index: UserIndexPart | None = None):
        """Add a bulk of rows (a snapshot or an import), ids above every id so far.

        Args:
            cols: The rows' columns.
            index: Their per-user index, if already built (a snapshot's, with rows from 0).
        """
        n = len(cols["id"])
        if n == 0:
            return
        self._seal_last()
        self.chunks.append(Chunk(cols, np.ones(n, bool), n, self.total, True))
        if index is None or self.total != 0:
            index = UserIndexPart.build(cols["user"], self.total)
        self._add_part(index)
        self.total += n
        self.live += n
        self.next_id = max(self.next_id, int(cols["id"][-1]) + 1)

    def append(self, rows: list[list]) -> None:
        """Append rows of [id, user, product, score, ts], ids ascending and above all others."""
        for values in rows:
            chunk = self.chunks[-1] if self.chunks else None
            if chunk is None or chunk.sealed or chunk.n == len(chunk.alive):
                self._seal_last()
                chunk = Chunk.empty(self.total)
                self.chunks.append(chunk)
            for name, value in zip(ACTIVITY_FIELDS, values, strict=True):
                chunk.cols[name][chunk.n] = value
            chunk.alive[chunk.n] = True
            self.recent.setdefault(int(values[1]), []).append(self.total)
            chunk.n += 1
            self.total += 1
            self.live += 1
            self.next_id = max(self.next_id, int(values[0]) + 1)

    def _seal_last(self) -> None:
        """Seal the last chunk; an appended one moves from the `recent` dict into an index part."""
        if not self.chunks or self.chunks[-1].sealed:
            return
        chunk = self.chunks[-1]
        chunk.sealed = True
        if chunk.n < len(chunk.alive):  # give back the unused capacity
            chunk.cols = {f: values[: chunk.n].copy() for f, values in chunk.cols.items()}
            chunk.alive = chunk.alive[: chunk.n].copy()
        if chunk.n == 0:
            self.chunks.pop()
            return
        # `recent` only ever holds rows of the one unsealed chunk: they move to a part now.
        self.recent.clear()
        users = chunk.cols["user"][: chunk.n]
        self._add_part(UserIndexPart.build(users, chunk.start))

    def dead(self) -> int:
        """How many rows are masked (tombstones)."""
        return self.total - self.live

    def seal(self) -> int:
        """Seal the last chunk so later appends start a new one; returns the chunk count."""
        self._seal_last()
        return len(self.chunks)

    def reclaim(self, count: int, kept: list[np.ndarray], index: UserIndexPart) -> None:
        """Replace the first `count` chunks by one holding only their rows in `kept`.

        Called after a compaction wrote exactly those rows (the live ones when it started)
        as a snapshot whose per-user index is `index`; rows deleted since stay masked.
        Column by column, so the extra memory is one column at a time.
        """
        old = self.chunks[:count]
        alive = _joined([c.alive[: c.n][k] for c, k in zip(old, kept, strict=True)])
        cols = {}
        for f in ACTIVITY_FIELDS:
            cols[f] = _joined([c.cols[f][: c.n][k] for c, k in zip(old, kept, strict=True)])
            for chunk in old:
                chunk.cols[f] = np.empty(0, ACTIVITY_DTYPES[f])  # not a view: frees it
        shift = sum(c.n for c in old) - len(alive)
        later = self.chunks[count:]
        for chunk in later:
            chunk.start -= shift
        self.recent = {u: [r - shift for r in rows] for u, rows in self.recent.items()}
        self.chunks = [Chunk(cols, alive, len(alive), 0, True), *later]
        self.parts = [index]
        # Row numbers changed: the product index is built again, outside the lock, on demand.
        self.layout += 1
        self.product_parts, self.product_upto = [], 0
        sealed = [c for c in later if c.sealed]
        if sealed:
            users = np.concatenate([c.cols["user"][: c.n] for c in sealed])
            rows = np.concatenate([np.arange(c.start, c.start + c.n) for c in sealed])
            self.parts.append(UserIndexPart.build(users, rows))
        self.total -= shift

    def _add_part(self, part: UserIndexPart) -> None:
        """Add a per-user index part (see `_with_part`)."""
        self.parts = _with_part(self.parts, part)

    def _locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = np.fromiter((c.start for c in self.chunks), np.int64, len(self.chunks))
        which = np.searchsorted(starts, rows, side="right") - 1
        return which, rows - starts[which]

    def gather(self, rows: np.ndarray, names: tuple[str, ...]) -> dict[str, np.ndarray]:
        """Values of the given columns (and "alive") at global `rows`."""
        which, offsets = self._locate(rows)
        out = {name: np.empty(len(rows), ACTIVITY_DTYPES[name]) for name in names}
        out["alive"] = np.empty(len(rows), bool)
        for k in np.unique(which).tolist():
            mask = which == k
            chunk = self.chunks[k]
            for name in names:
                out[name][mask] = chunk.cols[name][offsets[mask]]
            out["alive"][mask] = chunk.alive[offsets[mask]]
        return out

    def user_rows(self, user: int) -> np.ndarray:
        """Global rows of a user's live activities (in no particular order)."""
        pieces = [part.lookup(user) for part in self.parts]
        pieces.append(np.asarray(self.recent.get(user, ()), np.int64))
        rows = np.concatenate(pieces)
        if len(rows) == 0:
            return rows
        return rows[self.gather(rows, ())["alive"]]

    def kill_rows(self, rows: np.ndarray) -> int:
        """Mask live rows; returns how many were masked."""
        which, offsets = self._locate(rows)
        killed = 0
        for k in np.unique(which).tolist():
            alive = self.chunks[k].alive
            hit = offsets[which == k]
            killed += int(alive[hit].sum())
            alive[hit] = False
        self.live -= killed
        return killed

    def kill_product(self, product: int) -> int:
        """Mask every live activity with the product; returns how many."""
        killed = 0
        for chunk in self.chunks:
            hit = np.flatnonzero(
                chunk.alive[: chunk.n] & (chunk.cols["product"][: chunk.n] == product)
            )
            chunk.alive[hit] = False
            killed += len(hit)
        self.live -= killed
        return killed

    def record(self, chunk: Chunk, offset: int) -> dict:
        """The JSON-ready dict of one activity."""
        c = chunk.cols
        return {
            "id": int(c["id"][offset]),
            "user_id": int(c["user"][offset]),
            "product_id": int(c["product"][offset]),
            "score": float(c["score"][offset]),
            "timestamp": iso_utc(c["ts"][offset]),
        }

    def page(self, after: int, limit: int) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending."""
        out: list[dict] = []
        for chunk in self.chunks:
            n = chunk.n
            if n == 0 or chunk.cols["id"][n - 1] <= after:
                continue
            pos = int(np.searchsorted(chunk.cols["id"][:n], after, side="right"))
            window = max(2 * limit, 256)
            while pos < n and len(out) < limit:
                hits = np.flatnonzero(chunk.alive[pos : pos + window]) + pos
                out.extend(self.record(chunk, int(o)) for o in hits[: limit - len(out)])
                pos += window
            if len(out) >= limit:
                break
        return out

    def page_of_rows(self, rows: np.ndarray, after: int, limit: int) -> list[dict]:
        """Up to `limit` activities among global `rows` with id > `after`, ascending."""
        ids = self.gather(rows, ("id",))["id"]
        keep = ids > after
        rows, ids = rows[keep], ids[keep]
        return self.records(rows[np.argsort(ids, kind="stable")][:limit])

    def records(self, rows: np.ndarray) -> list[dict]:
        """The JSON-ready dicts of the activities at global `rows`, in that order."""
        which, offsets = self._locate(np.asarray(rows, np.int64))
        return [
            self.record(self.chunks[k], o)
            for k, o in zip(which.tolist(), offsets.tolist(), strict=True)
        ]

    def index_products(self, lock: AbstractContextManager) -> None:
        """Bring the per-product index up to the last sealed chunk.

        `lock` is the store's writer lock. It is held only to list the chunks to index and to
        swap the finished parts in; the sorting happens outside it, so writers never wait for
        it. One caller indexes at a time; the others wait here, not on `lock`.
        """
        with self._indexing:
            while True:
                with lock:
                    layout, parts = self.layout, self.product_parts
                    todo = [c for c in self.chunks if c.sealed and c.start >= self.product_upto]
                    todo = [(c.start, c.cols["product"][: c.n]) for c in todo]
                if not todo:
                    return
                for start, products in todo:  # sealed columns never change: safe unlocked
                    parts = _with_part(parts, ProductIndexPart.build(products, start))
                with lock:
                    if self.layout == layout:  # else rows were renumbered: index them again
                        self.product_parts = parts
                        self.product_upto = todo[-1][0] + len(todo[-1][1])

    def product_page(self, product: int, after: int, limit: int) -> list[dict] | None:
        """Up to `limit` live activities of a product with id > `after`, ascending.

        O(log n + page) through the per-product index; None when sealed chunks are not
        indexed yet (call `index_products`, then ask again).
        """
        if any(c.sealed and c.start >= self.product_upto for c in self.chunks):
            return None
        first = self._first_row_after(after)
        out = [np.empty(0, np.int64)]
        found, want = 0, max(limit, 64)
        while found < limit:
            rows, horizon = self._product_rows_from(product, first, want)
            rows = rows[self.gather(rows, ())["alive"]][: limit - found] if len(rows) else rows
            out.append(rows)
            found += len(rows)
            if horizon is None:
                break
            first, want = horizon + 1, 2 * want  # past tombstones: look further each round
        return self.records(np.concatenate(out))

    def _product_rows_from(self, product: int, first: int, want: int):
        """The product's rows from global row `first`, ascending, complete up to a horizon.

        Takes up to `want` rows from each index part and the open chunk. Returns (rows,
        horizon): every row of the product from `first` to `horizon` is in `rows` (the whole
        rest of them when `horizon` is None).
        """
        pieces, cuts = [], []
        for part in self.product_parts:
            rows, more = part.after(product, first, want)
            pieces.append(rows)
            if more:
                cuts.append(int(rows[-1]))
        tail = self.chunks[-1] if self.chunks and not self.chunks[-1].sealed else None
        if tail is not None:  # at most APPEND_CHUNK rows, not yet in the index
            skip = max(first - tail.start, 0)
            hits = np.flatnonzero(tail.cols["product"][skip : tail.n] == product)
            if len(hits) > want:
                cuts.append(int(hits[want - 1]) + tail.start + skip)
            pieces.append(hits[:want] + tail.start + skip)
        rows = np.sort(np.concatenate(pieces)) if pieces else np.empty(0, np.int64)
        horizon = min(cuts) if cuts else None
        return (rows if horizon is None else rows[rows <= horizon]), horizon

    def _first_row_after(self, after: int) -> int:
        """The global row of the first activity with id > `after` (ids ascend with rows)."""
        for chunk in self.chunks:
            ids = chunk.cols["id"][: chunk.n]
            if len(ids) and ids[-1] > after:
                return chunk.start + int(np.searchsorted(ids, after, side="right"))
        return self.total

    def views(self) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
        """A consistent picture for readers outside the lock: (columns, alive copy) per chunk.

        Filled rows never change, so only the alive masks are copied.
        """
        return [
            ({f: chunk.cols[f][: chunk.n] for f in ACTIVITY_FIELDS}, chunk.alive[: chunk.n].copy())
            for chunk in self.chunks
        ]
