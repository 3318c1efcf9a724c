"""In-memory activities: numpy columns in chunks, with tombstones, pages and index upkeep.

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

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import numpy as np

from discerner.store import activity_types
from discerner.store.indexes import ProductIndexPart, UserIndexPart, with_part
from discerner.store.tables import iso_utc

APPEND_CHUNK = 1 << 16
# "type" holds `activity_types` codes; a log record names the type (or omits it: "score").
ACTIVITY_FIELDS = ("id", "user", "product", "score", "ts", "type")
ACTIVITY_DTYPES = {"id": np.int64, "user": np.int64, "product": np.int64}
ACTIVITY_DTYPES |= {"score": np.float64, "ts": np.int64, "type": activity_types.DTYPE}


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


def _joined(arrays: list[np.ndarray]) -> np.ndarray:
    """One array of all `arrays`, without a copy when there is only one."""
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


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
        """Append rows of [id, user, product, score, ts, type name] (without the type: "score"),
        ids ascending and above all others."""
        for values in rows:
            chunk = self.chunks[-1] if self.chunks else None
            if chunk is None or chunk.sealed or chunk.n == len(chunk.alive):
                self._seal_last()
                chunk = Chunk.empty(self.total)
                self.chunks.append(chunk)
            for name, value in zip(ACTIVITY_FIELDS[:5], values[:5], strict=True):
                chunk.cols[name][chunk.n] = value
            kind = values[5] if len(values) > 5 else None
            chunk.cols["type"][chunk.n] = activity_types.code(kind) if kind else 0
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
        """Add a per-user index part (see `with_part`)."""
        self.parts = with_part(self.parts, part)

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
            "type": activity_types.name(c["type"][offset]),
        }

    def page(self, after: int, limit: int, kind: int | None = None) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending; of type code `kind` only,
        when given (a rare type costs a pass over the columns, in numpy)."""
        out: list[dict] = []
        for chunk in self.chunks:
            n = chunk.n
            if n == 0 or chunk.cols["id"][n - 1] <= after:
                continue
            pos = int(np.searchsorted(chunk.cols["id"][:n], after, side="right"))
            window = max(2 * limit, 256) if kind is None else n
            while pos < n and len(out) < limit:
                wanted = chunk.alive[pos : pos + window]
                if kind is not None:
                    wanted = wanted & (chunk.cols["type"][pos : pos + window] == kind)
                hits = np.flatnonzero(wanted) + pos
                out.extend(self.record(chunk, int(o)) for o in hits[: limit - len(out)])
                pos += window
            if len(out) >= limit:
                break
        return out

    def page_of_rows(
        self, rows: np.ndarray, after: int, limit: int, kind: int | None = None
    ) -> list[dict]:
        """Up to `limit` activities among global `rows` with id > `after` (and of type code
        `kind`, when given), ascending."""
        got = self.gather(rows, ("id", "type"))
        keep = got["id"] > after
        if kind is not None:
            keep &= got["type"] == kind
        rows, ids = rows[keep], got["id"][keep]
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
                    parts = with_part(parts, ProductIndexPart.build(products, start))
                with lock:
                    if self.layout == layout:  # else rows were renumbered: index them again
                        self.product_parts = parts
                        self.product_upto = todo[-1][0] + len(todo[-1][1])

    def product_page(
        self, product: int, after: int, limit: int, kind: int | None = None
    ) -> list[dict] | None:
        """Up to `limit` live activities of a product with id > `after` (and of type code
        `kind`, when given), ascending.

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
            if len(rows):
                got = self.gather(rows, ("type",))
                keep = got["alive"] if kind is None else got["alive"] & (got["type"] == kind)
                rows = rows[keep][: limit - found]
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
