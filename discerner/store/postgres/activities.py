"""Activities in PostgreSQL: record, page through, histories and their versions, product totals."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from discerner.errors import UnknownProductError, UnknownUserError
from discerner.store import activity_types, values
from discerner.store.activities import _activity_values as activity_values
from discerner.store.postgres.database import Database, db_id, iso, to_datetime
from discerner.store.postgres.entities import _after

_COLUMNS = "id, user_id, product_id, score, timestamp, type"
# Locks each named user's row until COMMIT (so a delete of the user waits, then sees the new
# activities) and gives their history a new version: writes to one user take turns on the
# row, so that user's versions grow in commit order.
_TOUCH_USERS = (
    "UPDATE users SET history_version = nextval('history_versions') WHERE id = ANY(%s) RETURNING id"
)
_LOCK_PRODUCTS = "SELECT id FROM products WHERE id = ANY(%s) FOR KEY SHARE"
_INSERT = (
    "WITH block AS (SELECT discerner_take_ids('activities_ids', %s) AS first)"
    f" INSERT INTO activities ({_COLUMNS})"
    " SELECT block.first + r.n - 1, r.u, r.p, r.s, r.t, r.k FROM block,"
    " unnest(%s::bigint[], %s::bigint[], %s::float8[], %s::timestamptz[], %s::text[])"
    " WITH ORDINALITY AS r(u, p, s, t, k, n)"
    " RETURNING id"
)
# A user's history version: their own (a fresh sequence value per write, kept in their row)
# plus the number of writes that may have reached every history (deletes, imports). Both only
# grow, so the sum changes whenever either does and never repeats; an absent user has the
# negative -(1 + that number), which a user delete bumps too.
_HISTORY_VERSION = (
    "SELECT (SELECT history_version FROM users WHERE id = %s),"
    " (SELECT sum(cascades) FROM write_counts)::bigint"
)


class Activities:
    """The activities of a PostgreSQL store, and what serving computes from them."""

    def __init__(self, db: Database):
        self.db = db
        self._categories: tuple[int, dict[int, str]] | None = None
        self._categories_lock = threading.Lock()

    def add(self, rows: list[dict]) -> list[dict]:
        """Record activities in one transaction, all or nothing, consecutive ids."""
        parsed = [activity_values(row) for row in rows]
        if not parsed:
            return []
        users, products, scores, times, kinds = (list(c) for c in zip(*parsed, strict=True))
        with self.db.writing() as conn:
            live_users = {r[0] for r in conn.execute(_TOUCH_USERS, (sorted(set(users)),))}
            live_products = {r[0] for r in conn.execute(_LOCK_PRODUCTS, (sorted(set(products)),))}
            for user, product in zip(users, products, strict=True):
                if user not in live_users:
                    raise UnknownUserError(user)
                if product not in live_products:
                    raise UnknownProductError(product)
            moments = [to_datetime(t) for t in times]
            params = (len(parsed), users, products, scores, moments, kinds)
            first = min(row[0] for row in conn.execute(_INSERT, params))
        rows = zip(users, products, scores, moments, kinds, strict=True)
        return [_record(first + i, *row) for i, row in enumerate(rows)]

    def page(
        self,
        after: int,
        limit: int,
        user_id: int | None,
        product_id: int | None,
        kind: str | None = None,
    ) -> list[dict]:
        """Up to `limit` activities with id > `after`, ascending, optionally of one user,
        product and/or type (an index range scan on (user_id, id), (product_id, id) or
        (type, id))."""
        limit, after = values.limit(limit), _after(after)
        kind = None if kind is None else activity_types.check(kind)
        where, params = ["id > %s"], [after]
        for column, wanted in (("user_id", user_id), ("product_id", product_id)):
            if wanted is not None:
                where.append(f"{column} = %s")
                params.append(db_id(wanted))
        if limit == 0 or None in params:
            return []
        if kind is not None:
            where.append("type = %s")
            params.append(kind)
        query = (
            f"SELECT {_COLUMNS} FROM activities WHERE {' AND '.join(where)} ORDER BY id LIMIT %s"
        )
        with self.db.reading() as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [_record(*row) for row in rows]

    def count(self) -> int:
        """Number of activities."""
        with self.db.reading() as conn:
            return conn.execute("SELECT count(*) FROM activities").fetchone()[0]

    def history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids, scores) of a user's activities, oldest first (then by id)."""
        products, scores, _ = self.activity(user_id, typed=False)
        return products, scores

    def activity(
        self, user_id: int, typed: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(product ids, scores, types) of a user's activities, oldest first (then by id);
        without `typed`, the types are not read (an empty array)."""
        wanted = db_id(user_id)
        kinds = "string_agg(type, ',' ORDER BY timestamp, id)" if typed else "NULL::text"
        query = (
            "SELECT string_agg(int8send(product_id), '' ORDER BY timestamp, id),"
            f" string_agg(float8send(score), '' ORDER BY timestamp, id), {kinds}"
            " FROM activities WHERE user_id = %s"
        )
        found = (None, None, None)
        if wanted is not None:
            with self.db.reading() as conn:
                found = conn.execute(query, (wanted,), binary=True).fetchone()
        products, scores, names = found
        return (
            np.frombuffer(products or b"", ">i8").astype(np.int64),
            np.frombuffer(scores or b"", ">f8").astype(np.float64),
            np.asarray(names.split(",") if names else [], dtype=str),  # no type has a comma
        )

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed (one query)."""
        with self.db.reading() as conn:
            own, shared = conn.execute(_HISTORY_VERSION, (db_id(user_id) or 0,)).fetchone()
        return -(1 + shared) if own is None else own + shared

    def product_counts(self) -> pd.DataFrame:
        """Per product with activities: product_id, count, score_sum; ascending id."""
        query = (
            "SELECT product_id, count(*), sum(score) FROM activities"
            " GROUP BY product_id ORDER BY product_id"
        )
        with self.db.reading() as conn:
            rows = conn.execute(query).fetchall()
        ids, counts, sums = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [])
        return pd.DataFrame(
            {
                "product_id": np.asarray(ids, np.int64),
                "count": np.asarray(counts, np.int64),
                "score_sum": np.asarray(sums, np.float64),
            }
        )

    def product_categories(self) -> dict[int, str]:
        """{product id: category}, the same dict object until a product changes anywhere.

        Every product write counts itself in `write_counts`, so one small sum tells whether
        the cached dict is current.
        """
        with self.db.snapshot() as conn:
            changes = conn.execute("SELECT sum(product_writes) FROM write_counts").fetchone()[0]
            cached = self._categories
            if cached is not None and cached[0] == changes:
                return cached[1]
            rows = conn.execute(
                "SELECT id, attributes->>'category' FROM products"
                " WHERE attributes ? 'category' ORDER BY id"
            ).fetchall()
        with self._categories_lock:
            if self._categories is None or self._categories[0] != changes:
                self._categories = (changes, {i: c for i, c in rows if c is not None})
            return self._categories[1]


def _record(activity_id: int, user: int, product: int, score: float, moment, kind: str) -> dict:
    return {
        "id": activity_id,
        "user_id": user,
        "product_id": product,
        "score": score,
        "timestamp": iso(moment),
        "type": kind,
    }
