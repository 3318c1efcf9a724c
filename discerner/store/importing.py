"""Bulk import: a frame's rows go to one Parquet segment that a single log record commits.

The segment is written and fsynced under a temporary name and renamed into place; then one
`import` record naming it (with its CRC) goes through the log like any write. A crash before
that record is durable leaves a segment no record names, which the next open moves aside
to `orphans/`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from discerner import schema
from discerner.store import activity_types
from discerner.store import snapshot as snap
from discerner.store.engine import Engine
from discerner.store.files import replace_atomically
from discerner.store.state import State
from discerner.store.tables import now_micros


def import_interactions(engine: Engine, frame: pd.DataFrame, progress: bool) -> dict:
    """Bulk-load interactions, keeping the frame's ids (see `StoreContract.import_interactions`)."""
    frame = schema.validate_interactions(frame)
    n = len(frame)
    if n == 0:
        return {
            "activities": 0,
            "users_created": 0,
            "products_created": 0,
            "version": engine.state.seq,
        }
    with tqdm(total=n, unit="row", desc="import", disable=not progress) as bar:
        with engine.lock:
            engine.check_writable()
            op, cols = _plan(engine.state, frame)
            op["sum"] = _write_segment(engine, op["segment"], cols, bar)
            log, seq = engine.commit(op, segment=cols)
        engine.wait(log, seq)
    return {
        "activities": n,
        "users_created": len(op["users"]),
        "products_created": len(op["products"]),
        "version": seq,
    }


def _plan(state: State, frame: pd.DataFrame) -> tuple[dict, dict]:
    """The import's log record (without its checksum) and its rows' columns."""
    now = now_micros()
    users = np.unique(frame[schema.USER_ID].to_numpy())
    products = np.unique(frame[schema.PRODUCT_ID].to_numpy())
    first = state.acts.next_id
    ts = pd.DatetimeIndex(frame[schema.TIMESTAMP]).as_unit("us").asi8.copy()
    ts[ts == np.iinfo(np.int64).min] = now
    cols = {
        "id": np.arange(first, first + len(frame), dtype=np.int64),
        "user": frame[schema.USER_ID].to_numpy(np.int64),
        "product": frame[schema.PRODUCT_ID].to_numpy(np.int64),
        "score": frame[schema.SCORE].to_numpy(np.float64),
        "ts": ts,
        "type": activity_types.from_frame(frame),
    }
    op = {
        "op": "import",
        "segment": f"{state.seq + 1:020d}.parquet",
        "rows": len(frame),
        "users": [u for u in users.tolist() if state.users.row(u) is None],
        "products": [p for p in products.tolist() if state.products.row(p) is None],
        "t": now,
    }
    return op, cols


def _write_segment(engine: Engine, name: str, cols: dict, bar) -> dict:
    """Write an import's rows to a segment file; returns its checksum for the log record."""

    def batches():
        n = len(cols["id"])
        for batch in snap.activity_batches([(cols, np.ones(n, bool))], 1 << 18):
            bar.update(batch.num_rows)
            yield batch

    path = engine.path / "segments" / name
    replace_atomically(path, lambda temp: snap.write_activities(temp, batches()))
    return snap.checksum(path)
