"""The store at one moment: its tables in memory, what its files hold, and how an operation applies.

One `State` is swapped in whole: a read-only open that must read again starts a fresh one, and
a writer whose log failed loads a fresh one up to the last durable record (`Engine`), so no
half-replaced tables and no cache of refused writes can outlive the swap.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from pathlib import Path

import numpy as np

from discerner.errors import StoreCorruptError
from discerner.store.activity_table import ActivityTable
from discerner.store.product_rules import ProductRules
from discerner.store.tables import EntityTable


class State:
    """Tables, sequence number, history versions, and the snapshot, imports and deletes on disk.

    Args:
        folder: The store folder (imports' segments are in `segments/` under it).
        ticks: The store's counter of history versions, shared by every state of one open
            store so that a version is never reused.
    """

    def __init__(self, folder: Path, ticks: itertools.count):
        self.folder = folder
        self.users, self.products = EntityTable(), EntityTable()
        self.acts = ActivityTable()
        self.seq = 0  # the last operation applied
        self.ticks = ticks
        self.history_ticks: dict[int, int] = {}  # user -> tick of their last history change
        self.all_histories_tick = next(ticks)  # tick of the last change to many users
        self.manifest: dict | None = None  # the manifest the snapshot was loaded from
        self.snapshot_seq = 0  # the last operation the snapshot on disk holds
        self.segments: list[Path] = []  # imports the log names, not yet in a snapshot
        # (seq, monotonic time) of each delete not yet folded into a snapshot, oldest first.
        self.deletes: deque[tuple[int, float]] = deque()
        self.version_cache: tuple[int, dict] | None = None  # (seq, data version)
        self.categories: tuple[int, dict] | None = None  # (products' changes, categories)
        self.rules: tuple[int, ProductRules] | None = None  # (products' changes, rules)

    def apply(self, op: dict, segment: dict | None = None) -> None:
        """Apply one checked operation to the tables (an import with its segment's columns)."""
        kind = op["op"]
        if kind == "user":
            self.users.append(op["id"], op["t"], op.get("x"), op.get("a"))
        elif kind == "product":
            self.products.append(op["id"], op["t"], op.get("x"), op.get("a"))
        elif kind == "acts":
            tick = next(self.ticks)
            self.history_ticks.update((record[1], tick) for record in op["r"])
            self.acts.append(op["r"])
        elif kind in ("upd_user", "upd_product"):
            table = self.users if kind == "upd_user" else self.products
            table.update(op["id"], op.get("x"), op.get("a"))
        elif kind == "del_user":
            self.deletes.append((op["s"], time.monotonic()))  # to purge from disk soon
            self.history_ticks[op["id"]] = next(self.ticks)
            self.users.delete(op["id"])
            self.acts.kill_rows(self.acts.user_rows(op["id"]))
            self.acts.recent.pop(op["id"], None)
        elif kind == "del_product":
            self.deletes.append((op["s"], time.monotonic()))
            self.all_histories_tick = next(self.ticks)
            self.products.delete(op["id"])
            self.acts.kill_product(op["id"])
        elif kind == "import":
            self.all_histories_tick = next(self.ticks)
            self.users.add_many(np.asarray(op["users"], np.int64), op["t"])
            self.products.add_many(np.asarray(op["products"], np.int64), op["t"])
            self.acts.add_sealed(segment)
            self.segments.append(self.folder / "segments" / op["segment"])
        else:
            raise StoreCorruptError(f"unknown log operation {kind!r}", path=str(self.folder))

    def history_version(self, user_id: int) -> int:
        """The tick of the last change that may have reached the user's history."""
        return max(self.history_ticks.get(user_id, 0), self.all_histories_tick)

    def capture(self) -> dict:
        """A consistent picture of every table, cheap to take under the store's lock."""
        return {
            "seq": self.seq,
            "users": self.users.frozen(),
            "products": self.products.frozen(),
            "views": self.acts.views(),
            "next_ids": {
                "users": self.users.next_id,
                "products": self.products.next_id,
                "activities": self.acts.next_id,
            },
        }
