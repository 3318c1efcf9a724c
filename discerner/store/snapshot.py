"""Parquet snapshot and import-segment files, the manifest, and the content hash."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from discerner.store.files import fsync_dir, fsync_file, write_bytes_atomically
from discerner.store.tables import ACTIVITY_DTYPES, ACTIVITY_FIELDS, EntityTable, UserIndexPart

MANIFEST = "manifest.json"
FORMAT = 1
TIME = pa.timestamp("us", tz="UTC")
ACTIVITY_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("user_id", pa.int64()),
        ("product_id", pa.int64()),
        ("score", pa.float64()),
        ("timestamp", TIME),
    ]
)
_COLUMN_OF = dict(zip(ACTIVITY_FIELDS, ACTIVITY_SCHEMA.names, strict=True))
ROW_GROUP = 1 << 20


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a store folder, or None when it has never been compacted."""
    try:
        return json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return None


def write_manifest(folder: Path, manifest: dict) -> None:
    """Swap in a new manifest atomically and durably."""
    write_bytes_atomically(folder / MANIFEST, json.dumps(manifest, indent=1).encode())


def activity_batches(views, rows_per_batch: int = ROW_GROUP):
    """Yield Arrow record batches of the live rows of activity chunk views."""
    for cols, alive in views:
        for start in range(0, len(alive), rows_per_batch):
            keep = alive[start : start + rows_per_batch]
            arrays = [cols[f][start : start + rows_per_batch][keep] for f in ACTIVITY_FIELDS]
            arrays[-1] = arrays[-1].view("datetime64[us]")
            yield pa.RecordBatch.from_arrays(
                [pa.array(a, type=t) for a, t in zip(arrays, ACTIVITY_SCHEMA.types, strict=True)],
                schema=ACTIVITY_SCHEMA,
            )


def write_activities(path: Path, batches) -> int:
    """Write activity batches to one Parquet file (fsynced); returns the row count."""
    rows = 0
    # Dictionary-encode only the columns that repeat: ids and times never do, and trying
    # costs half the writing time.
    dictionary = ["user_id", "product_id", "score"]
    with pq.ParquetWriter(path, ACTIVITY_SCHEMA, use_dictionary=dictionary) as writer:
        for batch in batches:
            writer.write_batch(batch, row_group_size=ROW_GROUP)
            rows += batch.num_rows
    fsync_file(path)
    return rows


def read_activities(path: Path) -> dict[str, np.ndarray]:
    """Read an activities Parquet file into numpy columns.

    Row group by row group into preallocated arrays, so the peak memory is the arrays plus one
    row group, whatever the file's size.
    """
    source = pq.ParquetFile(path)
    n = source.metadata.num_rows
    out = {f: np.empty(n, ACTIVITY_DTYPES[f]) for f in ACTIVITY_FIELDS}
    position = 0
    for group in range(source.num_row_groups):
        table = source.read_row_group(group)
        rows = table.num_rows
        for field, column in _COLUMN_OF.items():
            values = table.column(column)
            if field == "ts":
                values = values.cast(pa.int64())
            out[field][position : position + rows] = values.to_numpy()
        position += rows
    return out


def entity_table(table: EntityTable, rows: np.ndarray, category: bool) -> pa.Table:
    """Arrow table of entity rows: id, created_at, external_id, [category], attributes."""
    attrs = [table.attrs[r] for r in rows.tolist()]
    columns = {
        "id": pa.array(table.ids[rows], pa.int64()),
        "created_at": pa.array(table.created[rows].view("datetime64[us]"), TIME),
        "external_id": pa.array([table.external[r] for r in rows.tolist()], pa.string()),
    }
    if category:
        columns["category"] = pa.array([_category(a) for a in attrs], pa.string())
    columns["attributes"] = pa.array([json.dumps(a) if a else None for a in attrs], pa.string())
    return pa.table(columns)


def _category(attrs: dict | None) -> str | None:
    value = (attrs or {}).get("category")
    return None if value is None else str(value)


def load_entities(path: Path, table: EntityTable) -> None:
    """Fill an entity table from its snapshot file."""
    data = pq.read_table(path)
    attrs = [json.loads(a) if a else None for a in data.column("attributes").to_pylist()]
    table.load(
        data.column("id").to_numpy(),
        data.column("created_at").cast(pa.int64()).to_numpy(),
        data.column("external_id").to_pylist(),
        attrs,
    )


def write_snapshot(folder: Path, name: str, tables: dict, views, index: UserIndexPart) -> Path:
    """Write users, products and activities Parquet files into a new snapshot folder.

    The files go to a temporary folder that is renamed into place once every file is durable.

    Args:
        folder: The store's `snapshots` folder.
        name: The new snapshot's folder name.
        tables: {"users": pa.Table, "products": pa.Table}.
        views: Activity chunk views (see `ActivityTable.views`).
        index: The per-user index of the snapshot's activities (rows numbered from 0).

    Returns:
        The snapshot folder.
    """
    temp = folder / f".{name}.tmp"
    temp.mkdir(parents=True, exist_ok=True)
    for table_name, table in tables.items():
        pq.write_table(table, temp / f"{table_name}.parquet")
        fsync_file(temp / f"{table_name}.parquet")
    write_activities(temp / "activities.parquet", activity_batches(views))
    index.save(temp)
    fsync_dir(temp)
    final = folder / name
    os.replace(temp, final)
    fsync_dir(folder)
    return final


def snapshot_index(views) -> UserIndexPart:
    """The per-user index of the live rows of activity views, numbered as a snapshot stores them."""
    pieces = [cols["user"][alive] for cols, alive in views if alive.any()]
    small = all(p.min() >= 0 and p.max() < np.iinfo(np.int32).max for p in pieces)
    # Narrow each piece before joining them: the index of 20M rows then needs 80 MB less.
    users = np.concatenate([p.astype(np.int32 if small else np.int64) for p in pieces] or [[]])
    return UserIndexPart.build(users.astype(np.int32 if small else np.int64, copy=False), 0)


def release_memory() -> None:
    """Hand memory Arrow keeps for reuse back to the system (after big reads and writes)."""
    pa.default_memory_pool().release_unused()


def content_hash(users: np.ndarray, products: np.ndarray, views) -> str:
    """A hash of the live content: user ids, product ids and every activity column.

    Independent of how rows are chunked, so the same data always hashes the same.
    """
    hashers = {f: hashlib.blake2b(digest_size=16) for f in ACTIVITY_FIELDS}
    for cols, alive in views:
        for start in range(0, len(alive), ROW_GROUP):  # in slices: little extra memory
            keep = alive[start : start + ROW_GROUP]
            for f in ACTIVITY_FIELDS:
                hashers[f].update(
                    np.ascontiguousarray(cols[f][start : start + ROW_GROUP][keep]).data
                )
    total = hashlib.blake2b(digest_size=16)
    total.update(np.ascontiguousarray(users, np.int64).data)
    total.update(b"|")
    total.update(np.ascontiguousarray(products, np.int64).data)
    for f in ACTIVITY_FIELDS:
        total.update(hashers[f].digest())
    return total.hexdigest()
