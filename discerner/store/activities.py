"""Activities: record them, page through them, and read users' histories and product totals."""

from __future__ import annotations

import numpy as np
import pandas as pd

from discerner.errors import UnknownProductError, UnknownUserError
from discerner.store import activity_types, frames, values
from discerner.store.engine import Engine
from discerner.store.state import State
from discerner.store.tables import iso_utc


class Activities:
    """The activities of an open store, and what is computed from them for serving."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def add(self, rows: list[dict]) -> list[dict]:
        """Record activities in one durable commit, all or nothing; returns their dicts."""
        parsed = [_activity_values(row) for row in rows]
        if not parsed:
            return []
        for row in parsed:
            activity_types.code(row[4])  # interned now: applying the record cannot fail

        def build(state: State) -> tuple[dict, list[dict]]:
            for user, product, *_ in parsed:
                if state.users.row(user) is None:
                    raise UnknownUserError(user)
                if state.products.row(product) is None:
                    raise UnknownProductError(product)
            first = state.acts.next_id
            records = [[first + i, *values] for i, values in enumerate(parsed)]
            return {"op": "acts", "r": records}, [_activity_dict(r) for r in records]

        return self.engine.write(build)

    def page(
        self,
        after: int,
        limit: int,
        user_id: int | None,
        product_id: int | None,
        kind: str | None = None,
    ) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending, optionally filtered by
        user, product and type.

        A product's page is a search in the per-product index, O(log n + page); the index is
        built on the first such page (and after a compaction renumbers rows), sorting outside
        the writers' lock.
        """
        limit, lock = values.limit(limit), self.engine.lock
        code = None if kind is None else activity_types.find(activity_types.check(kind))
        if kind is not None and code is None:
            return []  # a type no activity has
        while user_id is None and product_id is not None:
            self.engine.state.acts.index_products(lock)
            with lock:  # None: chunks were sealed since; index them too, then page
                page = self.engine.state.acts.product_page(product_id, after, limit, code)
            if page is not None:
                return page
        with lock:
            acts = self.engine.state.acts
            if user_id is None:
                return acts.page(after, limit, code)
            rows = acts.user_rows(user_id)
            if product_id is not None:
                products = acts.gather(rows, ("product",))["product"]
                rows = rows[products == product_id]
            return acts.page_of_rows(rows, after, limit, code)

    def count(self) -> int:
        """Number of live activities."""
        return self.engine.state.acts.live

    def history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids, scores) of a user's live activities, oldest first."""
        products, scores, _ = self.activity(user_id, typed=False)
        return products, scores

    def activity(
        self, user_id: int, typed: bool = True
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(product ids, scores, type names) of a user's live activities, oldest first (the
        names only when `typed`, else the codes)."""
        with self.engine.lock:
            acts = self.engine.state.acts
            rows = acts.user_rows(user_id)
            got = acts.gather(rows, ("id", "product", "score", "ts", "type"))
        order = np.lexsort((got["id"], got["ts"]))
        kinds = got["type"][order]
        return (
            got["product"][order],
            got["score"][order],
            (activity_types.names(kinds) if typed else kinds),
        )

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed; lock-free."""
        return self.engine.state.history_version(user_id)

    def product_counts(self) -> pd.DataFrame:
        """Per product with live activities: product_id, count, score_sum; ascending id."""
        with self.engine.lock:
            views = self.engine.state.acts.views()
        totals = frames.product_totals(views)
        counts = {"product_id": totals[0], "count": totals[1], "score_sum": totals[2]}
        return pd.DataFrame(counts)

    def product_categories(self) -> dict[int, str]:
        """{product id: category}, the same dict object until a product changes."""
        with self.engine.lock:
            state = self.engine.state
            table = state.products
            if state.categories is None or state.categories[0] != table.changes:
                found = {}
                for row in table.live_rows().tolist():
                    category = (table.attrs[row] or {}).get("category")
                    if category is not None:
                        found[int(table.ids[row])] = str(category)
                state.categories = (table.changes, found)
            return state.categories[1]


def _activity_values(row: dict) -> tuple[int, int, float, int, str]:
    return (
        values.entity_id(row.get("user_id"), "user_id"),
        values.entity_id(row.get("product_id"), "product_id"),
        values.score(row.get("score", 1.0) if row.get("score") is not None else 1.0),
        values.timestamp(row.get("timestamp")),
        activity_types.check(row.get("type")),
    )


def _activity_dict(record: list) -> dict:
    return dict(zip(("id", "user_id", "product_id", "score"), record[:4], strict=True)) | {
        "timestamp": iso_utc(record[4]),
        "type": record[5],
    }
