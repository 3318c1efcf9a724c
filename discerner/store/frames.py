"""Training frames, the data version and exports: pictures taken under the lock, built outside."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from discerner import schema
from discerner.store import activity_types, values
from discerner.store import snapshot as snap
from discerner.store.activity_table import ACTIVITY_DTYPES
from discerner.store.files import replace_atomically
from discerner.store.tables import EntityTable

if TYPE_CHECKING:
    from discerner.store.engine import Engine

INTERACTION_FIELDS = ("user", "product", "score", "ts", "type")  # the training frame's columns


class Frames:
    """Whole-table reads of an open store, for training, notebooks and exports."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def interactions(self) -> pd.DataFrame:
        """A consistent copy of every live activity: user_id, product_id, score, timestamp,
        type."""
        with self.engine.lock:
            views = self.engine.state.acts.views()
        return interactions_frame(concat(views, INTERACTION_FIELDS))

    def since(self, since: object, types: list[str] | None = None) -> pd.DataFrame:
        """The live activities at or after `since` (of `types`), as `interactions` returns them.

        Only the kept rows are copied: the views' alive masks are narrowed first.
        """
        start, codes = values.timestamp(since), type_codes(types)
        with self.engine.lock:
            views = self.engine.state.acts.views()
        return interactions_frame(concat(narrowed(views, start, codes), INTERACTION_FIELDS))

    def users(self) -> pd.DataFrame:
        """Live users: id, created_at, external_id and one column per attribute name."""
        with self.engine.lock:
            frozen = self.engine.state.users.frozen()
        return entity_frame(frozen)

    def products(self) -> pd.DataFrame:
        """Live products: id, created_at, external_id and one column per attribute name."""
        with self.engine.lock:
            frozen = self.engine.state.products.frozen()
        return entity_frame(frozen)

    def data_version(self) -> dict:
        """The version of the data seen now, cached until the next write."""
        with self.engine.lock:
            state = self.engine.state
            cached = state.version_cache
            if cached is not None and cached[0] == state.seq:
                return dict(cached[1])
            picture = state.capture()
        version = version_of(picture)
        with self.engine.lock:
            state.version_cache = (picture["seq"], version)
        return dict(version)

    def export(self, directory: str | os.PathLike[str]) -> dict:
        """Write users, products and activities Parquet files and version.json atomically."""
        with self.engine.lock:
            picture = self.engine.state.capture()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        version = version_of(picture)
        for name, table in entity_tables(picture).items():
            replace_atomically(folder / f"{name}.parquet", lambda t, tb=table: write_table(tb, t))
        replace_atomically(
            folder / "activities.parquet",
            lambda t: snap.write_activities(t, snap.activity_batches(picture["views"])),
        )
        files = [str(folder / f"{n}.parquet") for n in ("users", "products", "activities")]
        (folder / "version.json").write_text(json.dumps(version, indent=1))
        return version | {"files": files}


def type_codes(types: list[str] | None) -> np.ndarray | None:
    """The codes of the known types among `types` (None: every type).

    Raises:
        ValueError: `types` is a single string, or one of them is malformed.
    """
    if types is None:
        return None
    found = (activity_types.find(name) for name in activity_types.check_all(types))
    return np.asarray([c for c in found if c is not None], activity_types.DTYPE)


def narrowed(views, start: int, codes: np.ndarray | None) -> list:
    """Activity views whose alive masks also require ts >= `start` (Unix microseconds) and,
    unless `codes` is None, a type among `codes`."""
    out = []
    for cols, alive in views:
        keep = alive & (cols["ts"] >= start)
        if codes is not None:
            keep &= np.isin(cols["type"], codes)
        out.append((cols, keep))
    return out


def concat(views, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named columns of the live rows of activity views, each as one array."""
    out = {}
    for name in names:
        parts = [cols[name][alive] for cols, alive in views]
        out[name] = np.concatenate(parts) if parts else np.empty(0, ACTIVITY_DTYPES[name])
    return out


def interactions_frame(cols: dict[str, np.ndarray]) -> pd.DataFrame:
    """The training frame of activity columns: `type` is categorical (one code per row)."""
    kinds = cols["type"]
    used = np.flatnonzero(np.bincount(kinds, minlength=1))  # the types present
    names = activity_types.names(used)
    order = np.argsort(names, kind="stable")  # categories by name, whatever the codes
    lookup = np.zeros(len(used) and int(used[-1]) + 1, np.int32)
    lookup[used[order]] = np.arange(len(used))
    categories = pd.Index(names[order], dtype="str")
    return pd.DataFrame(
        {
            schema.USER_ID: cols["user"],
            schema.PRODUCT_ID: cols["product"],
            schema.SCORE: cols["score"],
            schema.TIMESTAMP: times(cols["ts"]),
            schema.TYPE: pd.Categorical.from_codes(lookup[kinds], categories=categories),
        },
        copy=False,
    )


def product_totals(views) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(product ids, activity counts, score sums) over the live rows of activity views."""
    size = max((int(c["product"].max()) + 1 for c, _ in views if len(c["product"])), default=1)
    if size > 1 << 26:  # ids too sparse to count densely: count over the distinct ids
        cols = concat(views, ("product", "score"))
        ids, where = np.unique(cols["product"], return_inverse=True)
        counts = np.bincount(where, minlength=len(ids))
        return ids, counts, np.bincount(where, cols["score"], minlength=len(ids))
    counts, sums = np.zeros(size, np.int64), np.zeros(size)
    for cols, alive in views:
        products = cols["product"][alive]
        counts += np.bincount(products, minlength=size)
        sums += np.bincount(products, weights=cols["score"][alive], minlength=size)
    ids = np.flatnonzero(counts)
    return ids.astype(np.int64), counts[ids], sums[ids]


def times(micros: np.ndarray) -> pd.Series:
    """Microseconds since the epoch as a `datetime64[us, UTC]` series."""
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def entity_frame(table: EntityTable) -> pd.DataFrame:
    """Live rows of an entity table: id, created_at, external_id, one column per attribute."""
    rows = table.live_rows()
    frame = pd.DataFrame(
        {
            "id": table.ids[rows],
            "created_at": times(table.created[rows]),
            "external_id": pd.Series([table.external[r] for r in rows.tolist()], dtype=object),
        }
    )
    attrs = [table.attrs[r] or {} for r in rows.tolist()]
    names = sorted({key for a in attrs for key in a})
    for name in names:
        frame[name] = pd.Series([a.get(name) for a in attrs], dtype=object)
    return frame


def entity_tables(state: dict) -> dict:
    """Arrow tables of the live users and products of a captured state."""
    return {
        "users": snap.entity_table(state["users"], state["users"].live_rows(), category=False),
        "products": snap.entity_table(
            state["products"], state["products"].live_rows(), category=True
        ),
    }


def version_of(state: dict) -> dict:
    """The data version of a captured state: sequence number, counts, content hash."""
    users = state["users"].ids[state["users"].live_rows()]
    products = state["products"].ids[state["products"].live_rows()]
    views = state["views"]
    return {
        "version": state["seq"],
        "users": len(users),
        "products": len(products),
        "activities": int(sum(int(alive.sum()) for _, alive in views)),
        "hash": snap.content_hash(users, products, views),
    }


def write_table(table: pa.Table, path: Path) -> None:
    """Write an Arrow table to one Parquet file."""
    pq.write_table(table, path)
